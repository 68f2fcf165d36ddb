//! Administrators: the people who log in to manage keys.

use crate::ids::AdminId;
use crate::permission::Grant;
use crate::ValidationError;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRole {
    Superadmin,
    Admin,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminRole::Superadmin => "superadmin",
            AdminRole::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<AdminRole, ValidationError> {
        match s {
            "superadmin" => Ok(AdminRole::Superadmin),
            "admin" => Ok(AdminRole::Admin),
            other => Err(ValidationError::new("role", format!("must be `superadmin` or `admin`, not {other:?}"))),
        }
    }
}

/// An administrator as stored. `password_hash` is an argon2id PHC string.
#[derive(Clone, PartialEq)]
pub struct Admin {
    pub id: AdminId,
    /// Stored lower-case: emails are unique case-insensitively.
    pub email: String,
    pub name: String,
    pub role: AdminRole,
    pub can_manage_keys: bool,
    /// The ceiling of what keys this admin creates may do.
    pub permissions: Vec<Grant>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub password_hash: String,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// Emails: trimmed, lower-cased, `local@domain`, at most 254 characters.
pub fn normalize_email(email: &str) -> Result<String, ValidationError> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if valid {
        Ok(e)
    } else {
        Err(ValidationError::new("email", format!("{email:?} is not an email address")))
    }
}

/// Passwords: 8 to 1024 characters.
pub fn validate_password(password: &str) -> Result<(), ValidationError> {
    let len = password.chars().count();
    if !(8..=1024).contains(&len) {
        return Err(ValidationError::new("password", "must be between 8 and 1024 characters"));
    }
    Ok(())
}

/// Display names: 1 to 255 characters.
pub fn validate_admin_name(name: &str) -> Result<(), ValidationError> {
    let len = name.chars().count();
    if name.trim().is_empty() || len > 255 || name.chars().any(char::is_control) {
        return Err(ValidationError::new("name", "must be 1 to 255 printable characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(normalize_email(" Alice@Example.COM ").unwrap(), "alice@example.com");
        for bad in ["", "alice", "@x", "a@", "a b@c", "a@b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("long enough").is_ok());
        assert!(validate_admin_name("").is_err());
        assert!(validate_admin_name("Alice").is_ok());
    }
}

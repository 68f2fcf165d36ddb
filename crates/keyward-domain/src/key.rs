//! The API key record and the rules that derive its status, expiry and privileges.

use crate::catalog::{Catalog, RoleAssignment};
use crate::ids::{AdminId, KeyId};
use crate::permission::Grant;
use crate::secret::SecretHash;
use crate::ValidationError;
use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;

/// A key's privileges: roles and direct grants, or "same as my privileges".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Privileges {
    pub roles: Vec<RoleAssignment>,
    pub grants: Vec<Grant>,
    /// The key has exactly its owner's current permissions.
    pub inherit: bool,
}

impl Privileges {
    /// `inherit` excludes roles and grants of its own.
    pub fn new(roles: Vec<RoleAssignment>, grants: Vec<Grant>, inherit: bool) -> Result<Self, ValidationError> {
        if inherit && (!roles.is_empty() || !grants.is_empty()) {
            return Err(ValidationError::new(
                "inherit",
                "a key with `inherit: true` has exactly its owner's privileges: give no roles or grants with it",
            ));
        }
        Ok(Privileges { roles, grants, inherit })
    }

    /// The grants these privileges stand for by themselves (roles expanded), before the owner's
    /// ceiling is applied. `None` for `inherit`, which stands for the owner's grants.
    pub fn own_grants(&self, catalog: &Catalog) -> Option<Vec<Grant>> {
        if self.inherit {
            return None;
        }
        let mut grants = catalog.expand_roles(&self.roles);
        grants.extend(self.grants.iter().cloned());
        Some(grants)
    }

    /// What a key with these privileges may do now: its own grants intersected with its owner's
    /// current ones (SPEC §1 rule 4).
    pub fn effective(&self, catalog: &Catalog, owner: &[Grant]) -> Vec<Grant> {
        match self.own_grants(catalog) {
            None => crate::permission::intersect_all(owner, owner),
            Some(own) => crate::permission::intersect_all(&own, owner),
        }
    }
}

/// `opaque` secrets (the default) or `jwt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Opaque,
    Jwt,
}

impl KeyFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyFormat::Opaque => "opaque",
            KeyFormat::Jwt => "jwt",
        }
    }

    pub fn parse(s: &str) -> Option<KeyFormat> {
        match s {
            "opaque" => Some(KeyFormat::Opaque),
            "jwt" => Some(KeyFormat::Jwt),
            _ => None,
        }
    }
}

/// `active`, `expired` or `revoked`, derived at the moment of reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }
}

/// The previous secret after a refresh with a grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreviousSecret {
    pub hash: SecretHash,
    pub valid_until: DateTime<Utc>,
}

/// An API key as stored. The secret itself is never here: only its keyed hash.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: KeyId,
    pub owner_id: AdminId,
    pub name: String,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The lifetime chosen at creation; `regenerate` reuses it.
    pub lifetime_days: Option<u32>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub privileges: Privileges,
    pub initial_privileges: Privileges,
    pub networks: Vec<IpNet>,
    pub format: KeyFormat,
    pub verify_key: Option<String>,
    pub require_signed_writes: bool,
    pub secret_hash: SecretHash,
    pub previous_secret: Option<PreviousSecret>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    /// How many times the key was verified successfully (from the usage stream, coalesced).
    pub use_count: u64,
    /// Bumped by every update; storage refuses an update made from a stale read, so two
    /// concurrent changes (a refresh racing a patch) never silently lose one of them.
    pub version: i64,
}

impl ApiKey {
    /// Revoked wins over expired.
    pub fn status(&self, now: DateTime<Utc>) -> KeyStatus {
        if self.revoked_at.is_some() || self.deleted_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }

    /// Whole days until expiry, rounded up (a key made for 30 days shows 30); `0` once expired,
    /// `None` when it never expires.
    pub fn remaining_days(&self, now: DateTime<Utc>) -> Option<i64> {
        self.expires_at.map(|e| days_rounded_up(e - now).max(0))
    }

    /// Does `hash` match the current secret, or the previous one within its grace period?
    pub fn secret_matches(&self, hash: &SecretHash, now: DateTime<Utc>) -> bool {
        let current = self.secret_hash.ct_eq(hash);
        let previous = self.previous_secret.is_some_and(|p| p.valid_until > now && p.hash.ct_eq(hash));
        current | previous
    }
}

fn days_rounded_up(d: Duration) -> i64 {
    let secs = d.num_seconds();
    if secs <= 0 {
        0
    } else {
        (secs + 86_399) / 86_400
    }
}

/// The limits expiry input is checked against (from configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryRules {
    pub default_lifetime_days: u32,
    pub max_lifetime_days: Option<u32>,
    pub allow_never_expire: bool,
}

/// How the caller asked a key to expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryInput {
    At(DateTime<Utc>),
    LifetimeDays(i64),
    Never,
}

impl ExpiryInput {
    /// At most one of the three fields may be given; `never_expires: false` counts as absent.
    pub fn from_fields(
        expires_at: Option<DateTime<Utc>>,
        lifetime_days: Option<i64>,
        never_expires: Option<bool>,
    ) -> Result<Option<ExpiryInput>, ValidationError> {
        let never = never_expires == Some(true);
        let given = usize::from(expires_at.is_some()) + usize::from(lifetime_days.is_some()) + usize::from(never);
        if given > 1 {
            return Err(ValidationError::new(
                "expires_at",
                "give at most one of `expires_at`, `lifetime_days` and `never_expires`",
            ));
        }
        Ok(expires_at
            .map(ExpiryInput::At)
            .or(lifetime_days.map(ExpiryInput::LifetimeDays))
            .or(never.then_some(ExpiryInput::Never)))
    }

    /// The resulting `expires_at`, and the lifetime in days it stands for.
    pub fn resolve(
        self,
        now: DateTime<Utc>,
        rules: &ExpiryRules,
    ) -> Result<(Option<DateTime<Utc>>, Option<u32>), ValidationError> {
        let max = rules.max_lifetime_days;
        match self {
            ExpiryInput::Never => {
                if rules.allow_never_expire && max.is_none() {
                    Ok((None, None))
                } else {
                    Err(ValidationError::new("never_expires", "keys that never expire are not allowed here"))
                }
            }
            ExpiryInput::LifetimeDays(days) => {
                let limit = max.unwrap_or(36_500);
                if days < 1 || days > i64::from(limit) {
                    return Err(ValidationError::new("lifetime_days", format!("must be between 1 and {limit} days")));
                }
                Ok((Some(now + Duration::days(days)), Some(days as u32)))
            }
            ExpiryInput::At(at) => {
                if at <= now {
                    return Err(ValidationError::new("expires_at", "must be in the future"));
                }
                let days = days_rounded_up(at - now);
                let limit = max.unwrap_or(36_500);
                if days > i64::from(limit) {
                    return Err(ValidationError::new(
                        "expires_at",
                        format!("is more than the maximum lifetime of {limit} days away"),
                    ));
                }
                Ok((Some(at), Some(days as u32)))
            }
        }
    }
}

/// Key names: 1–255 characters, no control characters.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let len = name.chars().count();
    if name.trim().is_empty() {
        return Err(ValidationError::new("name", "must not be empty"));
    }
    if len > 255 {
        return Err(ValidationError::new("name", format!("must be at most 255 characters, got {len}")));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new("name", "must not contain control characters"));
    }
    Ok(())
}

/// Descriptions ("comments"): at most 1024 characters.
pub fn validate_description(description: &str) -> Result<(), ValidationError> {
    let len = description.chars().count();
    if len > 1024 {
        return Err(ValidationError::new("description", format!("must be at most 1024 characters, got {len}")));
    }
    Ok(())
}

/// Grace periods after a refresh: at most 7 days.
pub const MAX_GRACE_SECONDS: i64 = 7 * 86_400;

pub fn validate_grace(seconds: i64) -> Result<Duration, ValidationError> {
    if !(0..=MAX_GRACE_SECONDS).contains(&seconds) {
        return Err(ValidationError::new(
            "grace_period_seconds",
            format!("must be between 0 and {MAX_GRACE_SECONDS} (7 days)"),
        ));
    }
    Ok(Duration::seconds(seconds))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rules() -> ExpiryRules {
        ExpiryRules { default_lifetime_days: 180, max_lifetime_days: None, allow_never_expire: true }
    }

    #[test]
    fn expiry_forms() {
        let now = Utc::now();
        assert!(ExpiryInput::from_fields(Some(now), Some(3), None).is_err());
        assert!(ExpiryInput::from_fields(None, Some(3), Some(true)).is_err());
        assert_eq!(ExpiryInput::from_fields(None, Some(3), Some(false)).unwrap(), Some(ExpiryInput::LifetimeDays(3)));
        assert_eq!(ExpiryInput::from_fields(None, None, None).unwrap(), None);
        let (at, days) = ExpiryInput::LifetimeDays(30).resolve(now, &rules()).unwrap();
        assert_eq!((at, days), (Some(now + Duration::days(30)), Some(30)));
        let (_, days) = ExpiryInput::At(now + Duration::hours(25)).resolve(now, &rules()).unwrap();
        assert_eq!(days, Some(2));
        assert!(ExpiryInput::At(now - Duration::seconds(1)).resolve(now, &rules()).is_err());
        assert!(ExpiryInput::LifetimeDays(0).resolve(now, &rules()).is_err());
        assert_eq!(ExpiryInput::Never.resolve(now, &rules()).unwrap(), (None, None));
        let strict = ExpiryRules { max_lifetime_days: Some(90), allow_never_expire: false, ..rules() };
        assert!(ExpiryInput::Never.resolve(now, &strict).is_err());
        assert!(ExpiryInput::LifetimeDays(91).resolve(now, &strict).is_err());
        assert!(ExpiryInput::At(now + Duration::days(91)).resolve(now, &strict).is_err());
    }

    #[test]
    fn names_and_descriptions() {
        assert!(validate_name("ok").is_ok());
        assert!(validate_name(&"é".repeat(255)).is_ok());
        assert!(validate_name(&"x".repeat(256)).is_err());
        assert!(validate_name("  ").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_description(&"x".repeat(1024)).is_ok());
        assert!(validate_description(&"x".repeat(1025)).is_err());
        assert!(validate_grace(7 * 86_400).is_ok());
        assert!(validate_grace(7 * 86_400 + 1).is_err());
        assert!(validate_grace(-1).is_err());
    }

    #[test]
    fn remaining_days_rounds_up_and_floors_at_zero() {
        assert_eq!(days_rounded_up(Duration::days(30)), 30);
        assert_eq!(days_rounded_up(Duration::days(30) - Duration::seconds(1)), 30);
        assert_eq!(days_rounded_up(Duration::seconds(1)), 1);
        assert_eq!(days_rounded_up(Duration::seconds(-5)), 0);
    }
}

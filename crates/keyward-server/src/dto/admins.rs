//! Wire types of administrators and sessions (`/v1/auth/*`, `/v1/admins`).

use super::{grants, GrantDto, GrantInputDto};
use chrono::{DateTime, Utc};
use keyward_domain::admin::Admin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An administrator. Never carries the password hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminDto {
    pub id: String,
    #[schema(example = "alice@example.com")]
    pub email: String,
    pub name: String,
    /// `superadmin` or `admin`.
    #[schema(example = "admin")]
    pub role: String,
    /// The "API keys permission": may create and manage keys.
    pub can_manage_keys: bool,
    /// The ceiling of what this admin's keys may do.
    pub permissions: Vec<GrantDto>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&Admin> for AdminDto {
    fn from(a: &Admin) -> Self {
        AdminDto {
            id: a.id.to_string(),
            email: a.email.clone(),
            name: a.name.clone(),
            role: a.role.as_str().to_string(),
            can_manage_keys: a.can_manage_keys,
            permissions: grants(&a.permissions),
            disabled: a.disabled,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminList {
    pub items: Vec<AdminDto>,
    /// Always `null`: the list of administrators is not paginated.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(example = "admin@localhost")]
    pub email: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <session_token>`.
    pub session_token: String,
    /// Echo in `X-CSRF-Token` on writes authenticated by the session cookie.
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub admin: AdminDto,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdminRequest {
    pub email: String,
    pub name: String,
    pub password: String,
    /// `admin` (default) or `superadmin`.
    #[serde(default = "default_role")]
    pub role: String,
    #[serde(default)]
    pub can_manage_keys: bool,
    #[serde(default)]
    pub permissions: Vec<GrantInputDto>,
}

fn default_role() -> String {
    "admin".into()
}

/// A partial change of an administrator: absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAdminRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: Option<String>,
    pub can_manage_keys: Option<bool>,
    pub permissions: Option<Vec<GrantInputDto>>,
    /// Disabling ends the admin's sessions and stops their keys (`owner_disabled`).
    pub disabled: Option<bool>,
    /// A new password; resetting another admin's password ends their sessions.
    pub password: Option<String>,
}

/// An administrator's change of their own password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

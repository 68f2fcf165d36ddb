//! Wire types: what the HTTP API reads and writes, with serde and OpenAPI schemas.
//!
//! The domain and service types know nothing of JSON (the domain has no `serde_json`, no
//! `utoipa`), so every answer is built here by an explicit conversion, and every request body is
//! a DTO that denies unknown fields and is handed to the service as plain values. No output type
//! here has a field for a secret hash; the only secret ever written is the one just issued
//! ([`IssuedKeyResponse`]). Request types holding passwords or keys deliberately do not derive
//! `Debug`, so they cannot end up in a log by accident.
//!
//! # Layout
//! - this module: the pieces every area shares (grants, roles, owners, privileges);
//! - `admins`: administrators and sessions; `keys`: API keys; `logs`: log records and
//!   the catalog; `verify`: verification and operations; `tokens`: OAuth 2.0 and signing keys.

mod admins;
mod keys;
mod logs;
mod tokens;
mod verify;

pub use admins::*;
pub use keys::*;
pub use logs::*;
pub use tokens::*;
pub use verify::*;

use keyward_domain::catalog::{GrantInput, RoleAssignment, RoleInput};
use keyward_domain::key::Privileges;
use keyward_domain::permission::Grant;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// A permission with the targets it applies to; `["*"]` means all targets.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantDto {
    #[schema(example = "events.alerts:read")]
    pub permission: String,
    #[schema(example = json!(["*"]))]
    pub targets: Vec<String>,
}

impl From<&Grant> for GrantDto {
    fn from(g: &Grant) -> Self {
        GrantDto { permission: g.permission.to_string(), targets: g.targets.to_list() }
    }
}

pub fn grants(list: &[Grant]) -> Vec<GrantDto> {
    list.iter().map(GrantDto::from).collect()
}

/// A role given to a key, with its targets (`["*"]` = all).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleAssignmentDto {
    #[schema(example = "cloud_account_viewer")]
    pub role: String,
    pub targets: Vec<String>,
}

impl From<&RoleAssignment> for RoleAssignmentDto {
    fn from(r: &RoleAssignment) -> Self {
        RoleAssignmentDto { role: r.role.clone(), targets: r.targets.to_list() }
    }
}

/// Who owns a key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OwnerDto {
    pub id: String,
    pub email: String,
}

/// Roles, grants and "same as my privileges".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivilegesDto {
    pub roles: Vec<RoleAssignmentDto>,
    pub grants: Vec<GrantDto>,
    pub inherit: bool,
}

impl From<&Privileges> for PrivilegesDto {
    fn from(p: &Privileges) -> Self {
        PrivilegesDto { roles: p.roles.iter().map(Into::into).collect(), grants: grants(&p.grants), inherit: p.inherit }
    }
}

/// A grant as accepted on input: a bare permission string (all targets), or an object.
#[derive(Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum GrantInputDto {
    #[schema(example = "events.alerts:read")]
    Bare(String),
    Full(GrantObject),
}

/// A grant with explicit targets.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantObject {
    #[schema(example = "accounts.config:read")]
    pub permission: String,
    /// Omitted, `[]` or `["*"]`: all targets.
    #[serde(default)]
    #[schema(example = json!(["123456789012"]))]
    pub targets: Option<Vec<String>>,
}

impl<'de> Deserialize<'de> for GrantInputDto {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(GrantInputDto::Bare(s)),
            object @ serde_json::Value::Object(_) => {
                serde_json::from_value(object).map(GrantInputDto::Full).map_err(D::Error::custom)
            }
            _ => Err(D::Error::custom("a grant is a permission string or an object {\"permission\", \"targets\"?}")),
        }
    }
}

impl From<GrantInputDto> for GrantInput {
    fn from(g: GrantInputDto) -> Self {
        match g {
            GrantInputDto::Bare(p) => GrantInput::Bare(p),
            GrantInputDto::Full(GrantObject { permission, targets }) => GrantInput::Full { permission, targets },
        }
    }
}

pub fn grant_inputs(list: Option<Vec<GrantInputDto>>) -> Option<Vec<GrantInput>> {
    list.map(|l| l.into_iter().map(Into::into).collect())
}

/// A role to give a key.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleInputDto {
    #[schema(example = "cloud_account_viewer")]
    pub role: String,
    /// Required (a list, or `["*"]`) for roles that declare `requires_targets`.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

pub fn role_inputs(list: Option<Vec<RoleInputDto>>) -> Option<Vec<RoleInput>> {
    list.map(|l| l.into_iter().map(|r| RoleInput { role: r.role, targets: r.targets }).collect())
}

/// `Some(None)` for an explicit `null`, `None` when the field is absent (with `#[serde(default)]`).
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

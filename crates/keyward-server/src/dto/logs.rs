//! Wire types of log records (`/v1/logs`) and the permission catalog (`/v1/catalog`).

use chrono::{DateTime, Utc};
use keyward_domain::catalog::Catalog;
use keyward_domain::policy::Actor;
use keyward_service::LogRecord;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// Who did something. For a key, `email` is its owner's; `system` is the command line or the
/// server itself (bootstrap, failed logins), with no `id`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActorDto {
    /// `admin`, `key` or `system`.
    #[serde(rename = "type")]
    #[schema(example = "admin")]
    pub type_: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl From<&Actor> for ActorDto {
    fn from(a: &Actor) -> Self {
        let (type_, id, email) = match a {
            Actor::Admin { id, email } => ("admin", Some(id.to_string()), Some(email.clone())),
            // Usage records do not name the owner's email (the data plane does not look it up).
            Actor::Key { id, owner_email } => {
                ("key", Some(id.to_string()), Some(owner_email.clone()).filter(|e| !e.is_empty()))
            }
            Actor::System => ("system", None, None),
        };
        ActorDto { type_: type_.into(), id, email }
    }
}

/// One record of the searchable log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogRecordDto {
    pub id: String,
    pub time: DateTime<Utc>,
    /// `audit` or `usage`.
    pub kind: String,
    #[schema(example = "key.created")]
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub actor: ActorDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// The target (resource instance) a usage record's check named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The node that answered the check (usage records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<&LogRecord> for LogRecordDto {
    fn from(r: &LogRecord) -> Self {
        LogRecordDto {
            id: r.id.clone(),
            time: r.time,
            kind: r.kind.as_str().to_string(),
            action: r.action.clone(),
            key_id: r.key_id.as_ref().map(ToString::to_string),
            actor: (&r.actor).into(),
            client_ip: r.client_ip.clone(),
            code: r.code.clone(),
            permission: r.permission.clone(),
            target: r.target.clone(),
            node: r.node.clone(),
            details: r.details.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogList {
    pub items: Vec<LogRecordDto>,
    pub next_cursor: Option<String>,
}

/// Filters of `GET /v1/logs` (documentation only: the query is parsed by hand because `key_id`
/// repeats).
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogQueryParams {
    /// Repeatable: `?key_id=a&key_id=b`.
    pub key_id: Option<Vec<String>>,
    /// `audit` or `usage`.
    pub kind: Option<String>,
    /// e.g. `key.created`.
    pub action: Option<String>,
    /// RFC 3339.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339.
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeDto {
    pub name: String,
    pub description: String,
    pub resources: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RoleDefDto {
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    /// Every assignment must list targets (or `["*"]`).
    pub requires_targets: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogDto {
    pub scopes: Vec<ScopeDto>,
    pub roles: Vec<RoleDefDto>,
}

impl From<&Catalog> for CatalogDto {
    fn from(c: &Catalog) -> Self {
        CatalogDto {
            scopes: c
                .scopes()
                .iter()
                .map(|s| ScopeDto {
                    name: s.name.clone(),
                    description: s.description.clone(),
                    resources: s.resources.clone(),
                })
                .collect(),
            roles: c
                .roles()
                .iter()
                .map(|r| RoleDefDto {
                    name: r.name.clone(),
                    description: r.description.clone(),
                    permissions: r.permissions.iter().map(ToString::to_string).collect(),
                    requires_targets: r.requires_targets,
                })
                .collect(),
        }
    }
}

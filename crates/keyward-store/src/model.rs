//! Records storage exchanges with the service that are not domain types: queries, pages, log
//! records and sessions.

use chrono::{DateTime, Utc};
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::ApiKey;
use keyward_domain::policy::{Actor, Visibility};

/// One page of a list, and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A key with its owner's email, as lists show it.
#[derive(Debug, Clone)]
pub struct KeyWithOwner {
    pub key: ApiKey,
    pub owner_email: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Active,
    Expired,
    Revoked,
}

/// A filtered, paginated listing of keys.
#[derive(Debug, Clone)]
pub struct KeyQuery {
    pub visibility: Visibility,
    pub now: DateTime<Utc>,
    pub status: StatusFilter,
    /// Case-insensitive substring of id, name, description or owner email.
    pub q: Option<String>,
    pub owner: Option<AdminId>,
    /// Only keys active now that expire at or before this instant.
    pub expiring_before: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StatsQuery {
    pub visibility: Visibility,
    pub now: DateTime<Utc>,
    pub expiring_before: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyStats {
    pub total: u64,
    pub active: u64,
    pub expired: u64,
    pub revoked: u64,
    pub expiring_soon: u64,
}

/// A login session. Only a hash of its token is stored.
#[derive(Debug, Clone)]
pub struct Session {
    pub token_hash: [u8; 32],
    pub admin_id: AdminId,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Audit,
    Usage,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Audit => "audit",
            LogKind::Usage => "usage",
        }
    }
}

/// One record of the searchable log (SPEC §3). Never holds a secret.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub id: String,
    pub time: DateTime<Utc>,
    pub kind: LogKind,
    pub action: String,
    pub key_id: Option<KeyId>,
    /// Whose key the record concerns, so admins see their own keys' records.
    pub key_owner_id: Option<AdminId>,
    /// Whose login (or admin change) the record concerns, so admins see their own `auth.*`.
    pub subject_admin_id: Option<AdminId>,
    pub actor: Actor,
    pub client_ip: Option<String>,
    pub code: Option<String>,
    pub permission: Option<String>,
    /// The target a check named (usage records).
    pub target: Option<String>,
    /// The node that answered (usage records).
    pub node: Option<String>,
    pub details: Option<serde_json::Value>,
}

/// The database connection pool's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

/// Successful uses of one key, coalesced from a batch of usage records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyUse {
    pub key_id: KeyId,
    /// The latest successful use in the batch, and the client address it came from.
    pub last_used_at: DateTime<Utc>,
    pub last_used_ip: Option<String>,
    /// How many successful uses the batch holds.
    pub count: u64,
}

/// The result of walking the audit hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// How many audit records were checked.
    pub records: u64,
    /// The first record where the chain breaks, if any.
    pub first_break: Option<ChainBreak>,
}

/// Where the audit chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// 1-based position in the chain of the first record that does not fit.
    pub position: u64,
    pub record_id: String,
    pub reason: String,
}

/// A search in the logs.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub visibility: Visibility,
    pub key_ids: Vec<KeyId>,
    pub kind: Option<LogKind>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    pub cursor: Option<String>,
}

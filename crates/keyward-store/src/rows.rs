//! Database rows as both backends return them, and their conversion into domain values.
//!
//! The columns are the same on SQLite and PostgreSQL (integers for times, text for JSON, bytes
//! for hashes, booleans), so one row type per table serves both backends.

use crate::codec::*;
use crate::{KeyWithOwner, LogKind, LogRecord, StoreError, StoreResult};
use keyward_domain::admin::{Admin, AdminRole};
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::{ApiKey, KeyFormat, PreviousSecret};
use keyward_domain::secret::SecretHash;

/// The columns [`AdminRow`] reads.
pub(crate) const ADMIN_COLUMNS: &str =
    "id, email, name, role, can_manage_keys, permissions, disabled, password_hash, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct AdminRow {
    id: String,
    email: String,
    name: String,
    role: String,
    can_manage_keys: bool,
    permissions: String,
    disabled: bool,
    password_hash: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<AdminRow> for Admin {
    type Error = StoreError;
    fn try_from(r: AdminRow) -> StoreResult<Admin> {
        Ok(Admin {
            id: AdminId::from_string(r.id),
            email: r.email,
            name: r.name,
            role: if r.role == "superadmin" { AdminRole::Superadmin } else { AdminRole::Admin },
            can_manage_keys: r.can_manage_keys,
            permissions: decode_grants(&r.permissions)?,
            disabled: r.disabled,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
            password_hash: r.password_hash,
        })
    }
}

/// The columns [`KeyRow`] reads, from [`KEY_SOURCE`].
pub(crate) const KEY_COLUMNS: &str = "k.id, k.owner_id, k.name, k.description, k.created_at, k.updated_at, \
     k.expires_at, k.lifetime_days, k.revoked_at, k.deleted_at, k.privileges, k.initial_privileges, k.networks, \
     k.format, k.verify_key, k.require_signed_writes, k.secret_hash, k.previous_secret_hash, \
     k.previous_secret_until, u.last_used_at, u.last_used_ip, COALESCE(u.use_count, 0) AS use_count, k.version, \
     a.email AS owner_email";

/// A key with its owner and its use. Uses live in their own narrow table (`key_usage`): the usage
/// writer updates many keys' uses per batch, and narrow rows put many keys on one page, where
/// updating the wide `api_keys` rows rewrote one page per key.
pub(crate) const KEY_SOURCE: &str =
    "api_keys k LEFT JOIN admins a ON a.id = k.owner_id LEFT JOIN key_usage u ON u.key_id = k.id";

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    owner_id: String,
    name: String,
    description: Option<String>,
    created_at: i64,
    updated_at: i64,
    expires_at: Option<i64>,
    lifetime_days: Option<i64>,
    revoked_at: Option<i64>,
    deleted_at: Option<i64>,
    privileges: String,
    initial_privileges: String,
    networks: String,
    format: String,
    verify_key: Option<String>,
    require_signed_writes: bool,
    secret_hash: Vec<u8>,
    previous_secret_hash: Option<Vec<u8>>,
    previous_secret_until: Option<i64>,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    use_count: i64,
    version: i64,
    owner_email: Option<String>,
}

fn secret_hash(bytes: &[u8]) -> StoreResult<SecretHash> {
    SecretHash::from_slice(bytes).ok_or_else(|| corrupt("secret hash", "wrong length"))
}

impl TryFrom<KeyRow> for KeyWithOwner {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> StoreResult<KeyWithOwner> {
        let previous_secret = match (r.previous_secret_hash, r.previous_secret_until) {
            (Some(h), Some(until)) => Some(PreviousSecret { hash: secret_hash(&h)?, valid_until: time(until)? }),
            _ => None,
        };
        let key = ApiKey {
            id: KeyId::from_string(r.id),
            owner_id: AdminId::from_string(r.owner_id),
            name: r.name,
            description: r.description,
            created_at: time(r.created_at)?,
            updated_at: time(r.updated_at)?,
            expires_at: opt_time(r.expires_at)?,
            lifetime_days: r.lifetime_days.map(|d| d.clamp(0, i64::from(u32::MAX)) as u32),
            revoked_at: opt_time(r.revoked_at)?,
            deleted_at: opt_time(r.deleted_at)?,
            privileges: decode_privileges(&r.privileges)?,
            initial_privileges: decode_privileges(&r.initial_privileges)?,
            networks: decode_networks(&r.networks)?,
            format: KeyFormat::parse(&r.format).ok_or_else(|| corrupt("format", &r.format))?,
            verify_key: r.verify_key,
            require_signed_writes: r.require_signed_writes,
            secret_hash: secret_hash(&r.secret_hash)?,
            previous_secret,
            last_used_at: opt_time(r.last_used_at)?,
            last_used_ip: r.last_used_ip,
            use_count: r.use_count.max(0) as u64,
            version: r.version,
        };
        Ok(KeyWithOwner { key, owner_email: r.owner_email.unwrap_or_default() })
    }
}

/// The columns [`LogRow`] reads (callers may select more, e.g. `seq` and the chain hashes).
pub(crate) const LOG_COLUMNS: &str = "id, time, kind, action, key_id, key_owner_id, subject_admin_id, actor_type, \
     actor_id, actor_email, client_ip, code, permission, target, node, details";

#[derive(sqlx::FromRow)]
pub(crate) struct LogRow {
    id: String,
    time: i64,
    kind: String,
    action: String,
    key_id: Option<String>,
    key_owner_id: Option<String>,
    subject_admin_id: Option<String>,
    actor_type: String,
    actor_id: Option<String>,
    actor_email: Option<String>,
    client_ip: Option<String>,
    code: Option<String>,
    permission: Option<String>,
    target: Option<String>,
    node: Option<String>,
    details: Option<String>,
}

impl TryFrom<LogRow> for LogRecord {
    type Error = StoreError;
    fn try_from(r: LogRow) -> StoreResult<LogRecord> {
        Ok(LogRecord {
            id: r.id,
            time: time(r.time)?,
            kind: if r.kind == "usage" { LogKind::Usage } else { LogKind::Audit },
            action: r.action,
            key_id: r.key_id.map(KeyId::from_string),
            key_owner_id: r.key_owner_id.map(AdminId::from_string),
            subject_admin_id: r.subject_admin_id.map(AdminId::from_string),
            actor: actor_from(&r.actor_type, r.actor_id, r.actor_email),
            client_ip: r.client_ip,
            code: r.code,
            permission: r.permission,
            target: r.target,
            node: r.node,
            details: r.details.map(|d| serde_json::from_str(&d)).transpose().map_err(|e| corrupt("details", e))?,
        })
    }
}

/// A key's place in the newest-first order of listings: its `created_at` in milliseconds and
/// its id (`ORDER BY created_at DESC, id DESC`).
pub(crate) type Position = (i64, String);

/// Cursor of a key listing: `<created_at ms>.<id>` of the last key the request examined (the
/// last item of a full page, or where a bounded walk stopped). The next page starts after it.
pub(crate) fn key_cursor(k: &ApiKey) -> String {
    format!("{}.{}", millis(k.created_at), k.id)
}

/// [`key_cursor`] of a position.
pub(crate) fn position_cursor((ms, id): &Position) -> String {
    format!("{ms}.{id}")
}

/// The position a cursor names; anything [`key_cursor`] cannot have made is `InvalidCursor`
/// (a `400` for the client). Any well-formed position is a place in the order, so a cursor
/// changed by hand can only move where the listing resumes.
pub(crate) fn parse_key_cursor(c: &str) -> StoreResult<Position> {
    let (ms, id) = c.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let ms = ms.parse().map_err(|_| StoreError::InvalidCursor)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(StoreError::InvalidCursor);
    }
    Ok((ms, id.to_string()))
}

/// A `LIKE` pattern matching `q` anywhere, with `%`, `_` and `\` taken literally (`ESCAPE '\'`).
pub(crate) fn like_pattern(q: &str) -> String {
    let escaped = q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

/// The columns [`SessionRow`] reads (the token hash is the lookup key, not read back).
pub(crate) const SESSION_COLUMNS: &str = "admin_id, csrf_token, created_at, expires_at";

#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    admin_id: String,
    csrf_token: String,
    created_at: i64,
    expires_at: i64,
}

impl SessionRow {
    pub(crate) fn into_session(self, token_hash: [u8; 32]) -> StoreResult<crate::Session> {
        Ok(crate::Session {
            token_hash,
            admin_id: AdminId::from_string(self.admin_id),
            csrf_token: self.csrf_token,
            created_at: time(self.created_at)?,
            expires_at: time(self.expires_at)?,
        })
    }
}

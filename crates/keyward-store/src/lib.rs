//! Keyward's storage: small capability traits ([`AdminStore`], [`KeyStore`], [`SessionStore`],
//! [`LogStore`], [`SettingsStore`], [`NonceStore`]) and one module per backend.
//!
//! # Layout
//! - [`model`] — the records storage exchanges with the service (domain types plus the few
//!   storage-only shapes: pages, queries, log records, sessions).
//! - [`sqlite`] — the embedded default backend.
//! - [`postgres`] — the backend for clusters of nodes sharing one database.
//!
//! Architecture invariants: this is the only crate that knows SQL. Every change that has an
//! audit record is written in the same transaction as that record, so there is no change
//! without its record. Callers never branch on the backend: they hold a `dyn Store`.

mod codec;
pub mod model;
pub mod postgres;
mod queries;
mod rows;
pub mod sqlite;
pub mod tokens;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_domain::admin::Admin;
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::ApiKey;
pub use model::*;
pub use tokens::{RevokedToken, SigningKeyRecord, TokenStore};

/// What can go wrong in storage. Only `Backend` is unexpected; the others are answers.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a key name already used by this owner).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The record changed since it was read; read it again and retry.
    #[error("the record was changed concurrently")]
    VersionConflict,
    /// A pagination cursor that this store did not make.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The record does not exist.
    #[error("not found")]
    NotFound,
    /// The database failed; the message is for the log, never for a client.
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait AdminStore: Send + Sync {
    async fn count_admins(&self) -> StoreResult<u64>;
    /// Fails with `Conflict` when the email is taken by an admin that is not deleted.
    async fn insert_admin(&self, admin: &Admin, audit: &LogRecord) -> StoreResult<()>;
    /// Admins that are not deleted.
    async fn get_admin(&self, id: &AdminId) -> StoreResult<Option<Admin>>;
    async fn get_admin_by_email(&self, email: &str) -> StoreResult<Option<Admin>>;
    async fn list_admins(&self) -> StoreResult<Vec<Admin>>;
    /// Saves every field of `admin`; with `end_sessions` its sessions are deleted in the same
    /// transaction (disabling an admin ends their sessions at once).
    async fn update_admin(&self, admin: &Admin, end_sessions: bool, audit: &LogRecord) -> StoreResult<()>;
    /// Deletes the admin and their sessions, and revokes every key of theirs that is not yet
    /// revoked, writing `revocation_audit(key)` for each, all in one transaction.
    async fn delete_admin(
        &self,
        id: &AdminId,
        at: DateTime<Utc>,
        revocation_audit: &(dyn for<'k> Fn(&'k KeyId) -> LogRecord + Send + Sync),
        audit: &LogRecord,
    ) -> StoreResult<Vec<KeyId>>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Fails with `Conflict` when the owner already has a key of that name that is not deleted.
    async fn insert_key(&self, key: &ApiKey, audit: &LogRecord) -> StoreResult<()>;
    /// The key, deleted or not (verification answers a deleted key as revoked).
    async fn get_key(&self, id: &KeyId) -> StoreResult<Option<ApiKey>>;
    /// The key with its owner's email (even when the owner was deleted since).
    async fn get_key_with_owner(&self, id: &KeyId) -> StoreResult<Option<KeyWithOwner>>;
    /// Saves every field of `key` if the stored version equals `expected_version` (else
    /// `VersionConflict`), with its audit records, in one transaction. Fails with `Conflict` on a
    /// name clash.
    async fn update_key(&self, key: &ApiKey, expected_version: i64, audits: &[LogRecord]) -> StoreResult<()>;
    /// Keys that are not deleted, newest first, filtered.
    async fn list_keys(&self, query: &KeyQuery) -> StoreResult<Page<KeyWithOwner>>;
    async fn key_stats(&self, query: &StatsQuery) -> StoreResult<KeyStats>;
    /// Writes a batch of usage records and the keys' `last_used_*` / use counts they imply, in
    /// one transaction. Not audited: usage is not a change.
    async fn record_usage(&self, records: &[LogRecord], uses: &[KeyUse]) -> StoreResult<()>;
    /// Deletes up to `limit` usage records older than `before` (never audit records); returns
    /// how many it deleted.
    async fn prune_usage(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session and writes its login record in the same transaction.
    async fn insert_session(&self, session: &Session, audit: &LogRecord) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Session>>;
    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()>;
    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64>;
}

#[async_trait]
pub trait LogStore: Send + Sync {
    /// A record with no change attached (a failed login).
    async fn insert_log(&self, record: &LogRecord) -> StoreResult<()>;
    async fn search_logs(&self, query: &LogQuery) -> StoreResult<Page<LogRecord>>;
    /// Walks the audit hash chain from the first record and reports the first record that was
    /// altered, removed or inserted.
    async fn verify_audit_chain(&self) -> StoreResult<ChainReport>;
}

/// Single-use nonces of signed requests, shared by every node on the same database.
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// Records the use of `nonce` by key `key_id`, remembered until `expires_at`. `false` when
    /// it was used before and is still remembered (a replay); atomic across nodes.
    async fn use_nonce(
        &self,
        key_id: &KeyId,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Deletes up to `limit` nonces no longer remembered at `now`; returns how many.
    async fn prune_nonces(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Stores `value` under `name` unless a value is there already; returns the value that is.
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>>;
}

/// What a node must drop from its verification cache because another node changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    Key(KeyId),
    /// Every key of this owner (their status or permissions changed).
    Owner(AdminId),
    /// An access token was revoked (its `jti`).
    Token(String),
    /// The signing keys changed (a rotation): reload them.
    SigningKeys,
    /// Everything: notifications may have been missed.
    Everything,
}

impl Invalidation {
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Key(id) => format!("k:{id}"),
            Invalidation::Owner(id) => format!("o:{id}"),
            Invalidation::Token(jti) => format!("t:{jti}"),
            Invalidation::SigningKeys => "s:".into(),
            Invalidation::Everything => "*".into(),
        }
    }

    /// Unknown payloads mean "drop everything": safe, if slower.
    pub fn decode(payload: &str) -> Invalidation {
        match payload.split_once(':') {
            Some(("k", id)) => Invalidation::Key(KeyId::from_string(id)),
            Some(("o", id)) => Invalidation::Owner(AdminId::from_string(id)),
            Some(("t", jti)) => Invalidation::Token(jti.into()),
            Some(("s", _)) => Invalidation::SigningKeys,
            _ => Invalidation::Everything,
        }
    }
}

/// A subscription to the invalidations every node publishes.
#[async_trait]
pub trait InvalidationListener: Send {
    /// The next invalidation. After a lost connection it answers `Everything` once it is back,
    /// since notifications sent meanwhile are lost.
    async fn next(&mut self) -> StoreResult<Invalidation>;
}

/// How a node learns about changes made by other nodes.
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// A live subscription, or `None` for a backend that serves a single node (SQLite).
    async fn listen(&self) -> StoreResult<Option<Box<dyn InvalidationListener>>>;
    /// Keys, admins, revoked tokens and signing keys changed at or after `since`, for periodic reconciliation (bounds how
    /// long a missed notification can leave a stale cache entry).
    async fn changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Invalidation>>;
}

/// Everything a Keyward node needs from storage.
#[async_trait]
pub trait Store:
    AdminStore + KeyStore + SessionStore + LogStore + SettingsStore + NonceStore + TokenStore + ChangeFeed
{
    /// Is the database reachable (for `/readyz`)?
    async fn ping(&self) -> StoreResult<()>;
    /// Which backend, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    /// Connections open and idle, for `/metrics` (pool saturation).
    fn pool_stats(&self) -> PoolStats;
}

pub use queries::DEFAULT_LIST_WALK_LIMIT;

/// How a store behaves where both backends offer a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// The most keys one listing request reads of a walk: the newest-first index, each key
    /// tested against the filters (`?q=` shorter than a trigram, `status=`, a large expiry
    /// range). When the walk reaches it before the page is full, the page holds the matches
    /// found so far (possibly none) and its next cursor resumes the walk after the last key
    /// examined. Default [`DEFAULT_LIST_WALK_LIMIT`]; tests set it small.
    pub list_walk_limit: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { list_walk_limit: DEFAULT_LIST_WALK_LIMIT }
    }
}

/// Opens the store a URL names: `sqlite://path` (created when missing) or `postgres://…`.
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    open_with(url, StoreOptions::default()).await
}

/// [`open`] with options other than the defaults.
pub async fn open_with(url: &str, options: StoreOptions) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(std::sync::Arc::new(postgres::PostgresStore::open(url, options).await?))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database URL scheme in {url:?}: use sqlite://PATH or postgres://…"
        )))
    }
}

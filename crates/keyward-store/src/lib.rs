//! Keyward's storage: small capability traits ([`AdminStore`], [`KeyStore`], [`SessionStore`],
//! [`LogStore`], [`SettingsStore`]) and one module per backend.
//!
//! # Layout
//! - [`model`] — the records storage exchanges with the service (domain types plus the few
//!   storage-only shapes: pages, queries, log records, sessions).
//! - [`sqlite`] — the embedded default backend.
//!
//! Architecture invariants: this is the only crate that knows SQL. Every change that has an
//! audit record is written in the same transaction as that record, so there is no change
//! without its record. Callers never branch on the backend: they hold a `dyn Store`.

mod codec;
pub mod model;
pub mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_domain::admin::Admin;
use keyward_domain::ids::{AdminId, KeyId};
use keyward_domain::key::ApiKey;
pub use model::*;

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
    async fn update_admin(
        &self,
        admin: &Admin,
        end_sessions: bool,
        audit: &LogRecord,
    ) -> StoreResult<()>;
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
    async fn update_key(
        &self,
        key: &ApiKey,
        expected_version: i64,
        audits: &[LogRecord],
    ) -> StoreResult<()>;
    /// Keys that are not deleted, newest first, filtered.
    async fn list_keys(&self, query: &KeyQuery) -> StoreResult<Page<KeyWithOwner>>;
    async fn key_stats(&self, query: &StatsQuery) -> StoreResult<KeyStats>;
    /// Records a successful use. Not audited: usage is not a change.
    async fn touch_key(&self, id: &KeyId, at: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()>;
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
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Stores `value` under `name` unless a value is there already; returns the value that is.
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>>;
}

/// Everything a Keyward node needs from storage.
#[async_trait]
pub trait Store: AdminStore + KeyStore + SessionStore + LogStore + SettingsStore {
    /// Is the database reachable (for `/readyz`)?
    async fn ping(&self) -> StoreResult<()>;
    /// Which backend, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
}

/// Opens the store a URL names: `sqlite://path` (created when missing).
pub async fn open(url: &str) -> StoreResult<std::sync::Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(sqlite::SqliteStore::open(url).await?))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Err(StoreError::Backend(
            "PostgreSQL support is not built yet in this version; use sqlite://".into(),
        ))
    } else {
        Err(StoreError::Backend(format!(
            "unsupported database URL scheme in {url:?}: use sqlite://PATH"
        )))
    }
}

//! Storage of the instance's token-signing keys and of revoked access tokens.
//!
//! Both backends run the same statements (`$n` placeholders work on SQLite too); only the
//! PostgreSQL one also publishes an invalidation, so other nodes load a rotated key and learn
//! of a revoked token at once.

use crate::{LogRecord, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use keyward_domain::ids::KeyId;

/// One of the instance's token-signing keys.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The key id tokens name in their `kid` header (the RFC 7638 thumbprint of the public key).
    pub kid: String,
    /// `ES256`.
    pub algorithm: String,
    /// The public key as an uncompressed SEC1 point (65 bytes for P-256).
    pub public_key: Vec<u8>,
    /// The PKCS#8 private key encrypted under a key derived from the pepper (nonce ‖ ciphertext);
    /// `None` once the key is retired: a retired key never signs again.
    pub encrypted_private_key: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// An access token revoked before it expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedToken {
    pub jti: String,
    /// The key (OAuth client) the token was issued to.
    pub key_id: KeyId,
    /// Until when the token would have been valid; the entry is useless after that.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: DateTime<Utc>,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Every signing key: the current one first, then the retired ones, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Makes `key` the current signing key, with its audit record, in one transaction. With
    /// `retire_current` the key that was current is retired at `key.created_at` and its private
    /// key erased; without it nothing is written when a current key exists already (answers
    /// `false`: another node created the first key at the same moment).
    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_current: bool,
        audit: &LogRecord,
    ) -> StoreResult<bool>;
    /// Denylists an access token until it expires, with its audit record (idempotent).
    async fn revoke_token(&self, token: &RevokedToken, audit: &LogRecord) -> StoreResult<()>;
    /// Revoked tokens that have not expired at `now`.
    async fn revoked_tokens(&self, now: DateTime<Utc>) -> StoreResult<Vec<RevokedToken>>;
    /// Forgets revoked tokens that expired before `before`; returns how many.
    async fn prune_revoked_tokens(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

pub(crate) const SELECT_SIGNING_KEYS: &str = "SELECT kid, algorithm, public_key, encrypted_private_key, \
     created_at, retired_at FROM signing_keys ORDER BY is_current IS NULL, created_at DESC, kid";
pub(crate) const RETIRE_CURRENT: &str =
    "UPDATE signing_keys SET retired_at = $1, encrypted_private_key = NULL, is_current = NULL WHERE is_current = 1";
pub(crate) const INSERT_SIGNING_KEY: &str = "INSERT INTO signing_keys \
     (kid, algorithm, public_key, encrypted_private_key, created_at, retired_at, is_current) \
     VALUES ($1, $2, $3, $4, $5, NULL, 1) ON CONFLICT (is_current) DO NOTHING";
pub(crate) const INSERT_REVOKED: &str = "INSERT INTO revoked_tokens (jti, key_id, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (jti) DO NOTHING";
pub(crate) const SELECT_REVOKED: &str =
    "SELECT jti, key_id, expires_at, revoked_at FROM revoked_tokens WHERE expires_at > $1";
pub(crate) const PRUNE_REVOKED: &str = "DELETE FROM revoked_tokens WHERE expires_at < $1";

/// The columns of [`SELECT_SIGNING_KEYS`], as both backends decode them.
#[derive(sqlx::FromRow)]
pub(crate) struct SigningKeyRow {
    kid: String,
    algorithm: String,
    public_key: Vec<u8>,
    encrypted_private_key: Option<Vec<u8>>,
    created_at: i64,
    retired_at: Option<i64>,
}

impl SigningKeyRow {
    pub(crate) fn decode(self) -> StoreResult<SigningKeyRecord> {
        Ok(SigningKeyRecord {
            kid: self.kid,
            algorithm: self.algorithm,
            public_key: self.public_key,
            encrypted_private_key: self.encrypted_private_key,
            created_at: crate::codec::time(self.created_at)?,
            retired_at: crate::codec::opt_time(self.retired_at)?,
        })
    }
}

/// The columns of [`SELECT_REVOKED`].
#[derive(sqlx::FromRow)]
pub(crate) struct RevokedRow {
    jti: String,
    key_id: String,
    expires_at: i64,
    revoked_at: i64,
}

impl RevokedRow {
    pub(crate) fn decode(self) -> StoreResult<RevokedToken> {
        Ok(RevokedToken {
            jti: self.jti,
            key_id: KeyId::from_string(self.key_id),
            expires_at: crate::codec::time(self.expires_at)?,
            revoked_at: crate::codec::time(self.revoked_at)?,
        })
    }
}

//! [`TokenStore`] on SQLite: one node, so nothing to publish.

use super::{backend, commit, insert_log_tx, SqliteStore};
use crate::codec::millis;
use crate::tokens::*;
use crate::{LogRecord, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        let rows: Vec<SigningKeyRow> =
            sqlx::query_as(SELECT_SIGNING_KEYS).fetch_all(&self.reader).await.map_err(backend)?;
        rows.into_iter().map(SigningKeyRow::decode).collect()
    }

    async fn insert_signing_key(
        &self,
        key: &SigningKeyRecord,
        retire_current: bool,
        audit: &LogRecord,
    ) -> StoreResult<bool> {
        let mut tx = self.begin().await?;
        if retire_current {
            sqlx::query(RETIRE_CURRENT).bind(millis(key.created_at)).execute(&mut *tx).await.map_err(backend)?;
        }
        let inserted = sqlx::query(INSERT_SIGNING_KEY)
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.public_key)
            .bind(&key.encrypted_private_key)
            .bind(millis(key.created_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected()
            == 1;
        if inserted {
            insert_log_tx(&mut tx, audit).await?;
        }
        commit(tx).await?;
        Ok(inserted)
    }

    async fn revoke_token(&self, token: &RevokedToken, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let inserted = sqlx::query(INSERT_REVOKED)
            .bind(&token.jti)
            .bind(token.key_id.as_str())
            .bind(millis(token.expires_at))
            .bind(millis(token.revoked_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        if inserted == 1 {
            insert_log_tx(&mut tx, audit).await?;
        }
        commit(tx).await
    }

    async fn revoked_tokens(&self, now: DateTime<Utc>) -> StoreResult<Vec<RevokedToken>> {
        let rows: Vec<RevokedRow> =
            sqlx::query_as(SELECT_REVOKED).bind(millis(now)).fetch_all(&self.reader).await.map_err(backend)?;
        rows.into_iter().map(RevokedRow::decode).collect()
    }

    async fn prune_revoked_tokens(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query(PRUNE_REVOKED).bind(millis(before)).execute(&self.writer).await.map_err(backend)?;
        Ok(done.rows_affected())
    }
}

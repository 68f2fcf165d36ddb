//! The embedded SQLite backend: WAL, `synchronous = FULL` (an acknowledged write survives
//! `kill -9` and power loss), forward-only migrations embedded in the binary.
//!
//! All writes go through one connection (`writer`), so transactions never contend for SQLite's
//! single write lock and never fail with `SQLITE_BUSY` halfway; reads use a separate pool and
//! proceed concurrently under WAL.

mod tokens;

use crate::codec::*;
use crate::rows::*;
use crate::*;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{FromRow, QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    options: StoreOptions,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.message().to_string());
        }
    }
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and migrates it.
    pub async fn open(url: &str, options: StoreOptions) -> StoreResult<SqliteStore> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer =
            SqlitePoolOptions::new().max_connections(1).connect_with(connect.clone()).await.map_err(backend)?;
        MIGRATOR.run(&writer).await.map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        let reader =
            SqlitePoolOptions::new().max_connections(4).connect_with(connect.read_only(true)).await.map_err(backend)?;
        Ok(SqliteStore { writer, reader, options })
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer.begin().await.map_err(backend)
    }
}

async fn commit(tx: Transaction<'static, Sqlite>) -> StoreResult<()> {
    tx.commit().await.map_err(backend)
}

/// Appends a log record; audit records are chained to the previous audit record's hash.
async fn insert_log_tx(tx: &mut Transaction<'static, Sqlite>, r: &LogRecord) -> StoreResult<()> {
    let (prev, hash) = if r.kind == LogKind::Audit {
        let prev: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT hash FROM logs WHERE kind = 'audit' ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await
                .map_err(backend)?
                .flatten();
        let hash = chain_hash(prev.as_deref(), r);
        (prev, Some(hash))
    } else {
        (None, None)
    };
    let (actor_type, actor_id, actor_email) = actor_columns(&r.actor);
    sqlx::query(
        "INSERT INTO logs (id, time, kind, action, key_id, key_owner_id, subject_admin_id, actor_type, actor_id, \
         actor_email, client_ip, code, permission, details, prev_hash, hash, target, node) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&r.id)
    .bind(millis(r.time))
    .bind(r.kind.as_str())
    .bind(&r.action)
    .bind(r.key_id.as_ref().map(|k| k.as_str()))
    .bind(r.key_owner_id.as_ref().map(|k| k.as_str()))
    .bind(r.subject_admin_id.as_ref().map(|k| k.as_str()))
    .bind(actor_type)
    .bind(actor_id)
    .bind(actor_email)
    .bind(&r.client_ip)
    .bind(&r.code)
    .bind(&r.permission)
    .bind(r.details.as_ref().map(|d| d.to_string()))
    .bind(prev)
    .bind(hash)
    .bind(&r.target)
    .bind(&r.node)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

fn admin_from(row: &SqliteRow) -> StoreResult<Admin> {
    AdminRow::from_row(row).map_err(backend)?.try_into()
}

fn key_from(row: &SqliteRow) -> StoreResult<KeyWithOwner> {
    KeyRow::from_row(row).map_err(backend)?.try_into()
}

fn log_from(row: &SqliteRow) -> StoreResult<LogRecord> {
    LogRow::from_row(row).map_err(backend)?.try_into()
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM admins").fetch_one(&self.reader).await.map_err(backend)?;
        Ok(n as u64)
    }

    async fn insert_admin(&self, a: &Admin, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!("INSERT INTO admins ({ADMIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(a.id.as_str())
            .bind(&a.email)
            .bind(&a.name)
            .bind(a.role.as_str())
            .bind(a.can_manage_keys)
            .bind(encode_grants(&a.permissions))
            .bind(a.disabled)
            .bind(&a.password_hash)
            .bind(millis(a.created_at))
            .bind(millis(a.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        insert_log_tx(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_admin(&self, id: &AdminId) -> StoreResult<Option<Admin>> {
        sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE id = ? AND deleted_at IS NULL"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(admin_from)
            .transpose()
    }

    async fn get_admin_by_email(&self, email: &str) -> StoreResult<Option<Admin>> {
        sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE email = ? AND deleted_at IS NULL"))
            .bind(email)
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(admin_from)
            .transpose()
    }

    async fn list_admins(&self) -> StoreResult<Vec<Admin>> {
        sqlx::query(&format!("SELECT {ADMIN_COLUMNS} FROM admins WHERE deleted_at IS NULL ORDER BY created_at, id"))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?
            .iter()
            .map(admin_from)
            .collect()
    }

    async fn update_admin(&self, a: &Admin, end_sessions: bool, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "UPDATE admins SET email = ?, name = ?, role = ?, can_manage_keys = ?, permissions = ?, disabled = ?, \
             password_hash = ?, updated_at = ? WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(&a.email)
        .bind(&a.name)
        .bind(a.role.as_str())
        .bind(a.can_manage_keys)
        .bind(encode_grants(&a.permissions))
        .bind(a.disabled)
        .bind(&a.password_hash)
        .bind(millis(a.updated_at))
        .bind(a.id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        if end_sessions {
            sqlx::query("DELETE FROM sessions WHERE admin_id = ?")
                .bind(a.id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        insert_log_tx(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn delete_admin(
        &self,
        id: &AdminId,
        at: DateTime<Utc>,
        revocation_audit: &(dyn for<'k> Fn(&'k KeyId) -> LogRecord + Send + Sync),
        audit: &LogRecord,
    ) -> StoreResult<Vec<KeyId>> {
        let mut tx = self.begin().await?;
        let revoked: Vec<String> = sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = ?, previous_secret_hash = NULL, previous_secret_until = NULL, \
             updated_at = ?, version = version + 1 WHERE owner_id = ? AND revoked_at IS NULL RETURNING id",
        )
        .bind(millis(at))
        .bind(millis(at))
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let revoked: Vec<KeyId> = revoked.into_iter().map(KeyId::from_string).collect();
        for key in &revoked {
            insert_log_tx(&mut tx, &revocation_audit(key)).await?;
        }
        let done = sqlx::query("UPDATE admins SET deleted_at = ?, disabled = 1 WHERE id = ? AND deleted_at IS NULL")
            .bind(millis(at))
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE admin_id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        insert_log_tx(&mut tx, audit).await?;
        commit(tx).await?;
        Ok(revoked)
    }
}

fn bind_key<'q>(
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    k: &'q ApiKey,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    q.bind(k.owner_id.as_str())
        .bind(&k.name)
        .bind(&k.description)
        .bind(millis(k.created_at))
        .bind(millis(k.updated_at))
        .bind(k.expires_at.map(millis))
        .bind(k.lifetime_days.map(i64::from))
        .bind(k.revoked_at.map(millis))
        .bind(k.deleted_at.map(millis))
        .bind(encode_privileges(&k.privileges))
        .bind(encode_privileges(&k.initial_privileges))
        .bind(encode_networks(&k.networks))
        .bind(k.format.as_str())
        .bind(&k.verify_key)
        .bind(k.require_signed_writes)
        .bind(k.secret_hash.0.to_vec())
        .bind(k.previous_secret.map(|p| p.hash.0.to_vec()))
        .bind(k.previous_secret.map(|p| millis(p.valid_until)))
        .bind(k.version)
}

/// `?q=` of three characters or more: the key's id, name and description through the FTS5
/// trigram index (`api_keys_search`, kept by triggers).
fn trigram_match<'a>(qb: &mut QueryBuilder<'a, Sqlite>, q: &str) {
    qb.push(" AND k.search_seq IN (SELECT rowid FROM api_keys_search WHERE api_keys_search MATCH ")
        .push_bind(trigram_phrase(q))
        .push(")");
}

/// `q` as an FTS5 phrase, which the trigram tokenizer matches as a substring.
fn trigram_phrase(q: &str) -> String {
    format!("\"{}\"", q.replace('"', "\"\""))
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &ApiKey, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let q = sqlx::query(
            "INSERT INTO api_keys (owner_id, name, description, created_at, updated_at, expires_at, lifetime_days, \
             revoked_at, deleted_at, privileges, initial_privileges, networks, format, verify_key, \
             require_signed_writes, secret_hash, previous_secret_hash, previous_secret_until, version, id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        bind_key(q, key).bind(key.id.as_str()).execute(&mut *tx).await.map_err(backend)?;
        insert_log_tx(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_key(&self, id: &KeyId) -> StoreResult<Option<ApiKey>> {
        Ok(self.get_key_with_owner(id).await?.map(|k| k.key))
    }

    async fn get_key_with_owner(&self, id: &KeyId) -> StoreResult<Option<KeyWithOwner>> {
        sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM {KEY_SOURCE} WHERE k.id = ?"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(key_from)
            .transpose()
    }

    async fn update_key(&self, key: &ApiKey, expected_version: i64, audits: &[LogRecord]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let q = sqlx::query(
            "UPDATE api_keys SET owner_id = ?, name = ?, description = ?, created_at = ?, updated_at = ?, expires_at = ?, lifetime_days = ?, revoked_at = ?, deleted_at = ?, privileges = ?, initial_privileges = ?, networks = ?, format = ?, verify_key = ?, require_signed_writes = ?, secret_hash = ?, previous_secret_hash = ?, previous_secret_until = ?, version = ? WHERE id = ? AND version = ?",
        );
        let done =
            bind_key(q, key).bind(key.id.as_str()).bind(expected_version).execute(&mut *tx).await.map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::VersionConflict);
        }
        for audit in audits {
            insert_log_tx(&mut tx, audit).await?;
        }
        commit(tx).await
    }

    async fn list_keys(&self, query: &KeyQuery) -> StoreResult<Page<KeyWithOwner>> {
        let cursor = query.cursor.as_deref().map(parse_key_cursor).transpose()?;
        let search = crate::queries::Search { like: "LIKE", trigram: trigram_match };
        let mut plan = crate::queries::ListPlan::default();
        let mut owners = Vec::new();
        if let Some(q) = &query.q {
            owners = crate::queries::matching_owners::<Sqlite>(query, q, search.like)
                .build_query_scalar()
                .fetch_all(&self.reader)
                .await
                .map_err(backend)?;
            if q.chars().count() >= 3 {
                let matches: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM (SELECT rowid FROM api_keys_search WHERE api_keys_search MATCH ? LIMIT ?)",
                )
                .bind(trigram_phrase(q))
                .bind(crate::queries::SEEK_LIMIT + 1)
                .fetch_one(&self.reader)
                .await
                .map_err(backend)?;
                if matches <= crate::queries::SEEK_LIMIT {
                    plan.text = crate::queries::TextPlan::Seek;
                }
            }
        }
        if let Some(mut qb) = crate::queries::count_expiry_range::<Sqlite>(query) {
            let n: i64 = qb.build_query_scalar().fetch_one(&self.reader).await.map_err(backend)?;
            plan.seek_expiry = n <= crate::queries::SEEK_LIMIT;
        }
        let scope = plan.walk(query, &owners);
        let limit = self.options.list_walk_limit;
        let stop = match crate::queries::walk_stop::<Sqlite>(query, cursor.as_ref(), &owners, scope, limit) {
            Some(mut qb) => {
                crate::queries::stop_from(qb.build_query_as().fetch_all(&self.reader).await.map_err(backend)?)
            }
            None => None,
        };
        let mut qb = crate::queries::list_keys::<Sqlite>(query, cursor.as_ref(), stop.as_ref(), &search, &owners, plan);
        let rows = qb.build().fetch_all(&self.reader).await.map_err(backend)?;
        let items = rows.iter().map(key_from).collect::<StoreResult<Vec<_>>>()?;
        Ok(crate::queries::finish_page(items, query.limit, stop))
    }

    async fn key_stats(&self, query: &StatsQuery) -> StoreResult<KeyStats> {
        let mut qb = crate::queries::key_stats::<Sqlite>(query);
        let row = qb.build().fetch_one(&self.reader).await.map_err(backend)?;
        let n = |i: usize| row.try_get::<i64, _>(i).map_err(backend);
        Ok(crate::queries::stats_from_counts(n(0)?, n(1)?, n(2)?, n(3)?))
    }

    async fn record_usage(&self, records: &[LogRecord], uses: &[KeyUse]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for chunk in records.chunks(500) {
            let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO logs (id, time, kind, action, key_id, key_owner_id, subject_admin_id, actor_type, \
                 actor_id, actor_email, client_ip, code, permission, target, node, details) ",
            );
            qb.push_values(chunk, |mut row, r| {
                let (actor_type, actor_id, actor_email) = actor_columns(&r.actor);
                row.push_bind(r.id.clone())
                    .push_bind(millis(r.time))
                    .push_bind(r.kind.as_str())
                    .push_bind(r.action.clone())
                    .push_bind(r.key_id.as_ref().map(|k| k.to_string()))
                    .push_bind(r.key_owner_id.as_ref().map(|k| k.to_string()))
                    .push_bind(r.subject_admin_id.as_ref().map(|k| k.to_string()))
                    .push_bind(actor_type)
                    .push_bind(actor_id)
                    .push_bind(actor_email)
                    .push_bind(r.client_ip.clone())
                    .push_bind(r.code.clone())
                    .push_bind(r.permission.clone())
                    .push_bind(r.target.clone())
                    .push_bind(r.node.clone())
                    .push_bind(r.details.as_ref().map(|d| d.to_string()));
            });
            qb.build().execute(&mut *tx).await.map_err(backend)?;
        }
        for chunk in uses.chunks(500) {
            crate::queries::record_uses::<Sqlite>(chunk, "MAX").build().execute(&mut *tx).await.map_err(backend)?;
        }
        commit(tx).await
    }

    async fn prune_usage(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE kind = 'usage' AND time < ? \
             ORDER BY time LIMIT ?)",
        )
        .bind(millis(before))
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &Session, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO sessions (token_hash, admin_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(s.token_hash.to_vec())
        .bind(s.admin_id.as_str())
        .bind(&s.csrf_token)
        .bind(millis(s.created_at))
        .bind(millis(s.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        insert_log_tx(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_session(&self, token_hash: &[u8; 32]) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?"))
                .bind(token_hash.to_vec())
                .fetch_optional(&self.reader)
                .await
                .map_err(backend)?;
        row.map(|r| r.into_session(*token_hash)).transpose()
    }

    async fn delete_session(&self, token_hash: &[u8; 32]) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = ?")
            .bind(token_hash.to_vec())
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_sessions(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= ?")
            .bind(millis(now))
            .execute(&self.writer)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl LogStore for SqliteStore {
    async fn insert_log(&self, record: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        insert_log_tx(&mut tx, record).await?;
        commit(tx).await
    }

    async fn search_logs(&self, query: &LogQuery) -> StoreResult<Page<LogRecord>> {
        let mut qb = crate::queries::search_logs::<Sqlite>(query)?;
        let rows = qb.build().fetch_all(&self.reader).await.map_err(backend)?;
        let has_more = rows.len() > query.limit as usize;
        let rows = &rows[..rows.len().min(query.limit as usize)];
        let items = rows.iter().map(log_from).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if has_more {
            rows.last().map(|r| r.try_get::<i64, _>("seq").map(|s| s.to_string()).map_err(backend)).transpose()?
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn verify_audit_chain(&self) -> StoreResult<ChainReport> {
        walk_audit_chain(&self.reader, 0).await
    }
}

/// Walks the audit chain in `seq` order, a batch at a time.
async fn walk_audit_chain(pool: &SqlitePool, first_seq: i64) -> StoreResult<ChainReport> {
    let mut report = ChainReport { records: 0, first_break: None };
    let mut after = first_seq;
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let rows = sqlx::query(
            &format!("SELECT seq, {LOG_COLUMNS}, prev_hash, hash FROM logs WHERE kind = 'audit' AND seq > ? ORDER BY seq LIMIT ?"),
        )
        .bind(after)
        .bind(CHAIN_BATCH)
        .fetch_all(pool)
        .await
        .map_err(backend)?;
        if rows.is_empty() {
            return Ok(report);
        }
        for row in &rows {
            report.records += 1;
            after = row.try_get("seq").map_err(backend)?;
            let stored_prev: Option<Vec<u8>> = row.try_get("prev_hash").map_err(backend)?;
            let stored_hash: Option<Vec<u8>> = row.try_get("hash").map_err(backend)?;
            let record = log_from(row)?;
            if let Some(b) =
                check_link(report.records, prev.as_deref(), stored_prev.as_deref(), stored_hash.as_deref(), &record)
            {
                report.first_break = Some(b);
                return Ok(report);
            }
            prev = stored_hash;
        }
    }
}

#[async_trait]
impl NonceStore for SqliteStore {
    async fn use_nonce(
        &self,
        key_id: &KeyId,
        nonce: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // A row still remembered is left alone (0 rows: a replay); an expired one is reused.
        let done = sqlx::query(
            "INSERT INTO signature_nonces (key_id, nonce, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (key_id, nonce) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE signature_nonces.expires_at <= ?",
        )
        .bind(key_id.as_str())
        .bind(nonce)
        .bind(millis(expires_at))
        .bind(millis(now))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn prune_nonces(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM signature_nonces WHERE (key_id, nonce) IN (SELECT key_id, nonce FROM signature_nonces \
             WHERE expires_at <= ? LIMIT ?)",
        )
        .bind(millis(now))
        .bind(i64::from(limit))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let stored: Vec<u8> = sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        commit(tx).await?;
        Ok(stored)
    }
}

/// Keys, admins, revoked tokens and signing keys changed at or after `since` (shared by both
/// backends' reconciliation).
const CHANGED_SINCE: &str = "SELECT 'k:' || id FROM api_keys WHERE updated_at >= $1 \
     UNION ALL SELECT 'o:' || id FROM admins WHERE updated_at >= $1 OR deleted_at >= $1 \
     UNION ALL SELECT 't:' || jti FROM revoked_tokens WHERE revoked_at >= $1 \
     UNION ALL SELECT 's:' || kid FROM signing_keys WHERE created_at >= $1";

#[async_trait]
impl ChangeFeed for SqliteStore {
    /// One SQLite file serves one node: every change goes through this node's own cache.
    async fn listen(&self) -> StoreResult<Option<Box<dyn InvalidationListener>>> {
        Ok(None)
    }

    async fn changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Invalidation>> {
        let rows: Vec<String> =
            sqlx::query_scalar(CHANGED_SINCE).bind(millis(since)).fetch_all(&self.reader).await.map_err(backend)?;
        Ok(rows.iter().map(|r| Invalidation::decode(r)).collect())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await.map_err(backend)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn pool_stats(&self) -> PoolStats {
        PoolStats {
            size: self.writer.size() + self.reader.size(),
            idle: (self.writer.num_idle() + self.reader.num_idle()) as u32,
        }
    }
}

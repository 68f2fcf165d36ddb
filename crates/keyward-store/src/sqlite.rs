//! The embedded SQLite backend: WAL, `synchronous = FULL` (an acknowledged write survives
//! `kill -9` and power loss), forward-only migrations embedded in the binary.
//!
//! All writes go through one connection (`writer`), so transactions never contend for SQLite's
//! single write lock and never fail with `SQLITE_BUSY` halfway; reads use a separate pool and
//! proceed concurrently under WAL.

use crate::codec::*;
use crate::*;
use keyward_domain::admin::AdminRole;
use keyward_domain::key::{KeyFormat, PreviousSecret};
use keyward_domain::policy::Visibility;
use keyward_domain::secret::SecretHash;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
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
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(format!("migration failed: {e}")))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await
            .map_err(backend)?;
        Ok(SqliteStore { writer, reader })
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
        let prev: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT hash FROM logs WHERE kind = 'audit' ORDER BY seq DESC LIMIT 1",
        )
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
         actor_email, client_ip, code, permission, details, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

const ADMIN_COLUMNS: &str =
    "id, email, name, role, can_manage_keys, permissions, disabled, password_hash, created_at, updated_at";

fn admin_from(row: &SqliteRow) -> StoreResult<Admin> {
    let role: String = row.try_get("role").map_err(backend)?;
    Ok(Admin {
        id: AdminId::from_string(row.try_get::<String, _>("id").map_err(backend)?),
        email: row.try_get("email").map_err(backend)?,
        name: row.try_get("name").map_err(backend)?,
        role: if role == "superadmin" {
            AdminRole::Superadmin
        } else {
            AdminRole::Admin
        },
        can_manage_keys: row.try_get("can_manage_keys").map_err(backend)?,
        permissions: decode_grants(&row.try_get::<String, _>("permissions").map_err(backend)?)?,
        disabled: row.try_get("disabled").map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        updated_at: time(row.try_get("updated_at").map_err(backend)?)?,
        password_hash: row.try_get("password_hash").map_err(backend)?,
    })
}

const KEY_COLUMNS: &str = "k.id, k.owner_id, k.name, k.description, k.created_at, k.updated_at, k.expires_at, \
     k.lifetime_days, k.revoked_at, k.deleted_at, k.privileges, k.initial_privileges, k.networks, k.format, \
     k.verify_key, k.require_signed_writes, k.secret_hash, k.previous_secret_hash, k.previous_secret_until, \
     k.last_used_at, k.last_used_ip, k.version, a.email AS owner_email";

fn key_from(row: &SqliteRow) -> StoreResult<KeyWithOwner> {
    let get_s = |c: &str| row.try_get::<String, _>(c).map_err(backend);
    let hash = |bytes: Vec<u8>| {
        SecretHash::from_slice(&bytes).ok_or_else(|| corrupt("secret hash", "wrong length"))
    };
    let previous_hash: Option<Vec<u8>> = row.try_get("previous_secret_hash").map_err(backend)?;
    let previous_until = opt_time(row.try_get("previous_secret_until").map_err(backend)?)?;
    let previous_secret = match (previous_hash, previous_until) {
        (Some(h), Some(until)) => Some(PreviousSecret {
            hash: hash(h)?,
            valid_until: until,
        }),
        _ => None,
    };
    let lifetime: Option<i64> = row.try_get("lifetime_days").map_err(backend)?;
    let key = ApiKey {
        id: KeyId::from_string(get_s("id")?),
        owner_id: AdminId::from_string(get_s("owner_id")?),
        name: get_s("name")?,
        description: row.try_get("description").map_err(backend)?,
        created_at: time(row.try_get("created_at").map_err(backend)?)?,
        updated_at: time(row.try_get("updated_at").map_err(backend)?)?,
        expires_at: opt_time(row.try_get("expires_at").map_err(backend)?)?,
        lifetime_days: lifetime.map(|d| d as u32),
        revoked_at: opt_time(row.try_get("revoked_at").map_err(backend)?)?,
        deleted_at: opt_time(row.try_get("deleted_at").map_err(backend)?)?,
        privileges: decode_privileges(&get_s("privileges")?)?,
        initial_privileges: decode_privileges(&get_s("initial_privileges")?)?,
        networks: decode_networks(&get_s("networks")?)?,
        format: KeyFormat::parse(&get_s("format")?).ok_or_else(|| corrupt("format", "unknown"))?,
        verify_key: row.try_get("verify_key").map_err(backend)?,
        require_signed_writes: row.try_get("require_signed_writes").map_err(backend)?,
        secret_hash: hash(row.try_get("secret_hash").map_err(backend)?)?,
        previous_secret,
        last_used_at: opt_time(row.try_get("last_used_at").map_err(backend)?)?,
        last_used_ip: row.try_get("last_used_ip").map_err(backend)?,
        version: row.try_get("version").map_err(backend)?,
    };
    Ok(KeyWithOwner {
        key,
        owner_email: row
            .try_get::<Option<String>, _>("owner_email")
            .map_err(backend)?
            .unwrap_or_default(),
    })
}

fn log_from(row: &SqliteRow) -> StoreResult<LogRecord> {
    let get_o = |c: &str| row.try_get::<Option<String>, _>(c).map_err(backend);
    let kind: String = row.try_get("kind").map_err(backend)?;
    let actor_type: String = row.try_get("actor_type").map_err(backend)?;
    Ok(LogRecord {
        id: row.try_get("id").map_err(backend)?,
        time: time(row.try_get("time").map_err(backend)?)?,
        kind: if kind == "usage" {
            LogKind::Usage
        } else {
            LogKind::Audit
        },
        action: row.try_get("action").map_err(backend)?,
        key_id: get_o("key_id")?.map(KeyId::from_string),
        key_owner_id: get_o("key_owner_id")?.map(AdminId::from_string),
        subject_admin_id: get_o("subject_admin_id")?.map(AdminId::from_string),
        actor: actor_from(&actor_type, get_o("actor_id")?, get_o("actor_email")?),
        client_ip: get_o("client_ip")?,
        code: get_o("code")?,
        permission: get_o("permission")?,
        details: get_o("details")?
            .map(|d| serde_json::from_str(&d))
            .transpose()
            .map_err(|e| corrupt("details", e))?,
    })
}

/// Cursor of a key listing: `<created_at ms>.<id>` of the last item.
fn key_cursor(k: &ApiKey) -> String {
    format!("{}.{}", millis(k.created_at), k.id)
}

fn parse_key_cursor(c: &str) -> StoreResult<(i64, String)> {
    let (ms, id) = c.split_once('.').ok_or(StoreError::InvalidCursor)?;
    let ms = ms.parse().map_err(|_| StoreError::InvalidCursor)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(StoreError::InvalidCursor);
    }
    Ok((ms, id.to_string()))
}

fn push_visibility(qb: &mut QueryBuilder<'_, Sqlite>, v: &Visibility, column: &str) {
    if let Visibility::OwnedBy(owner) = v {
        qb.push(format!(" AND {column} = "))
            .push_bind(owner.to_string());
    }
}

fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM admins")
            .fetch_one(&self.reader)
            .await
            .map_err(backend)?;
        Ok(n as u64)
    }

    async fn insert_admin(&self, a: &Admin, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO admins ({ADMIN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
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
        sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS} FROM admins WHERE id = ? AND deleted_at IS NULL"
        ))
        .bind(id.as_str())
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .as_ref()
        .map(admin_from)
        .transpose()
    }

    async fn get_admin_by_email(&self, email: &str) -> StoreResult<Option<Admin>> {
        sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS} FROM admins WHERE email = ? AND deleted_at IS NULL"
        ))
        .bind(email)
        .fetch_optional(&self.reader)
        .await
        .map_err(backend)?
        .as_ref()
        .map(admin_from)
        .transpose()
    }

    async fn list_admins(&self) -> StoreResult<Vec<Admin>> {
        sqlx::query(&format!(
            "SELECT {ADMIN_COLUMNS} FROM admins WHERE deleted_at IS NULL ORDER BY created_at, id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(backend)?
        .iter()
        .map(admin_from)
        .collect()
    }

    async fn update_admin(
        &self,
        a: &Admin,
        end_sessions: bool,
        audit: &LogRecord,
    ) -> StoreResult<()> {
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
        let done = sqlx::query(
            "UPDATE admins SET deleted_at = ?, disabled = 1 WHERE id = ? AND deleted_at IS NULL",
        )
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
        .bind(k.last_used_at.map(millis))
        .bind(&k.last_used_ip)
        .bind(k.version)
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &ApiKey, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let q = sqlx::query(
            "INSERT INTO api_keys (owner_id, name, description, created_at, updated_at, expires_at, lifetime_days, \
             revoked_at, deleted_at, privileges, initial_privileges, networks, format, verify_key, \
             require_signed_writes, secret_hash, previous_secret_hash, previous_secret_until, last_used_at, \
             last_used_ip, version, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        bind_key(q, key)
            .bind(key.id.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        insert_log_tx(&mut tx, audit).await?;
        commit(tx).await
    }

    async fn get_key(&self, id: &KeyId) -> StoreResult<Option<ApiKey>> {
        Ok(self.get_key_with_owner(id).await?.map(|k| k.key))
    }

    async fn get_key_with_owner(&self, id: &KeyId) -> StoreResult<Option<KeyWithOwner>> {
        sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM api_keys k LEFT JOIN admins a ON a.id = k.owner_id WHERE k.id = ?"))
            .bind(id.as_str())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?
            .as_ref()
            .map(key_from)
            .transpose()
    }

    async fn update_key(
        &self,
        key: &ApiKey,
        expected_version: i64,
        audits: &[LogRecord],
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let q = sqlx::query(
            "UPDATE api_keys SET owner_id = ?, name = ?, description = ?, created_at = ?, updated_at = ?, \
             expires_at = ?, lifetime_days = ?, revoked_at = ?, deleted_at = ?, privileges = ?, \
             initial_privileges = ?, networks = ?, format = ?, verify_key = ?, require_signed_writes = ?, \
             secret_hash = ?, previous_secret_hash = ?, previous_secret_until = ?, last_used_at = ?, \
             last_used_ip = ?, version = ? WHERE id = ? AND version = ?",
        );
        let done = bind_key(q, key)
            .bind(key.id.as_str())
            .bind(expected_version)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::VersionConflict);
        }
        for audit in audits {
            insert_log_tx(&mut tx, audit).await?;
        }
        commit(tx).await
    }

    async fn list_keys(&self, query: &KeyQuery) -> StoreResult<Page<KeyWithOwner>> {
        let now = millis(query.now);
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {KEY_COLUMNS} FROM api_keys k LEFT JOIN admins a ON a.id = k.owner_id WHERE k.deleted_at IS NULL"
        ));
        push_visibility(&mut qb, &query.visibility, "k.owner_id");
        if let Some(owner) = &query.owner {
            qb.push(" AND k.owner_id = ").push_bind(owner.to_string());
        }
        match query.status {
            StatusFilter::All => {}
            StatusFilter::Active => {
                qb.push(" AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ")
                    .push_bind(now)
                    .push(")");
            }
            StatusFilter::Expired => {
                qb.push(" AND k.revoked_at IS NULL AND k.expires_at <= ")
                    .push_bind(now);
            }
            StatusFilter::Revoked => {
                qb.push(" AND k.revoked_at IS NOT NULL");
            }
        }
        if let Some(before) = query.expiring_before {
            qb.push(" AND k.revoked_at IS NULL AND k.expires_at > ")
                .push_bind(now)
                .push(" AND k.expires_at <= ")
                .push_bind(millis(before));
        }
        if let Some(q) = &query.q {
            let pattern = like_pattern(q);
            qb.push(" AND (");
            for (i, column) in ["k.id", "k.name", "k.description", "a.email"]
                .iter()
                .enumerate()
            {
                if i > 0 {
                    qb.push(" OR ");
                }
                qb.push(format!("{column} LIKE "))
                    .push_bind(pattern.clone())
                    .push(" ESCAPE '\\'");
            }
            qb.push(")");
        }
        if let Some(cursor) = &query.cursor {
            let (ms, id) = parse_key_cursor(cursor)?;
            qb.push(" AND (k.created_at < ")
                .push_bind(ms)
                .push(" OR (k.created_at = ")
                .push_bind(ms)
                .push(" AND k.id < ")
                .push_bind(id)
                .push("))");
        }
        qb.push(" ORDER BY k.created_at DESC, k.id DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await.map_err(backend)?;
        let mut items = rows.iter().map(key_from).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if items.len() > query.limit as usize {
            items.truncate(query.limit as usize);
            items.last().map(|k| key_cursor(&k.key))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn key_stats(&self, query: &StatsQuery) -> StoreResult<KeyStats> {
        let now = millis(query.now);
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT COUNT(*), COALESCE(SUM(CASE WHEN revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ");
        qb.push_bind(now)
            .push(") THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN revoked_at IS NULL AND expires_at <= ")
            .push_bind(now)
            .push(" THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN revoked_at IS NOT NULL THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN revoked_at IS NULL AND expires_at > ")
            .push_bind(now)
            .push(" AND expires_at <= ")
            .push_bind(millis(query.expiring_before))
            .push(" THEN 1 ELSE 0 END), 0) FROM api_keys WHERE deleted_at IS NULL");
        push_visibility(&mut qb, &query.visibility, "owner_id");
        let row = qb.build().fetch_one(&self.reader).await.map_err(backend)?;
        let n = |i: usize| row.try_get::<i64, _>(i).map(|v| v as u64).map_err(backend);
        Ok(KeyStats {
            total: n(0)?,
            active: n(1)?,
            expired: n(2)?,
            revoked: n(3)?,
            expiring_soon: n(4)?,
        })
    }

    async fn touch_key(&self, id: &KeyId, at: DateTime<Utc>, ip: Option<&str>) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = ?, last_used_ip = COALESCE(?, last_used_ip) \
             WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        )
        .bind(millis(at))
        .bind(ip)
        .bind(id.as_str())
        .bind(millis(at))
        .execute(&self.writer)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, s: &Session, audit: &LogRecord) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO sessions (token_hash, admin_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)")
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
        let row = sqlx::query("SELECT admin_id, csrf_token, created_at, expires_at FROM sessions WHERE token_hash = ?")
            .bind(token_hash.to_vec())
            .fetch_optional(&self.reader)
            .await
            .map_err(backend)?;
        row.map(|r| {
            Ok(Session {
                token_hash: *token_hash,
                admin_id: AdminId::from_string(
                    r.try_get::<String, _>("admin_id").map_err(backend)?,
                ),
                csrf_token: r.try_get("csrf_token").map_err(backend)?,
                created_at: time(r.try_get("created_at").map_err(backend)?)?,
                expires_at: time(r.try_get("expires_at").map_err(backend)?)?,
            })
        })
        .transpose()
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
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT seq, id, time, kind, action, key_id, key_owner_id, subject_admin_id, actor_type, actor_id, \
             actor_email, client_ip, code, permission, details FROM logs WHERE 1 = 1",
        );
        if let Visibility::OwnedBy(owner) = &query.visibility {
            qb.push(" AND (key_owner_id = ")
                .push_bind(owner.to_string())
                .push(" OR (key_id IS NULL AND action LIKE 'auth.%' AND subject_admin_id = ")
                .push_bind(owner.to_string())
                .push("))");
        }
        if !query.key_ids.is_empty() {
            qb.push(" AND key_id IN (");
            let mut list = qb.separated(", ");
            for id in &query.key_ids {
                list.push_bind(id.to_string());
            }
            qb.push(")");
        }
        if let Some(kind) = query.kind {
            qb.push(" AND kind = ").push_bind(kind.as_str());
        }
        if let Some(action) = &query.action {
            qb.push(" AND action = ").push_bind(action.clone());
        }
        if let Some(since) = query.since {
            qb.push(" AND time >= ").push_bind(millis(since));
        }
        if let Some(until) = query.until {
            qb.push(" AND time <= ").push_bind(millis(until));
        }
        if let Some(cursor) = &query.cursor {
            let seq: i64 = cursor.parse().map_err(|_| StoreError::InvalidCursor)?;
            qb.push(" AND seq < ").push_bind(seq);
        }
        qb.push(" ORDER BY seq DESC LIMIT ")
            .push_bind(i64::from(query.limit) + 1);
        let rows = qb.build().fetch_all(&self.reader).await.map_err(backend)?;
        let has_more = rows.len() > query.limit as usize;
        let rows = &rows[..rows.len().min(query.limit as usize)];
        let items = rows.iter().map(log_from).collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if has_more {
            rows.last()
                .map(|r| {
                    r.try_get::<i64, _>("seq")
                        .map(|s| s.to_string())
                        .map_err(backend)
                })
                .transpose()?
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
    let mut report = ChainReport {
        records: 0,
        first_break: None,
    };
    let mut after = first_seq;
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let rows = sqlx::query(
            "SELECT seq, id, time, kind, action, key_id, key_owner_id, subject_admin_id, actor_type, actor_id, \
             actor_email, client_ip, code, permission, details, prev_hash, hash FROM logs \
             WHERE kind = 'audit' AND seq > ? ORDER BY seq LIMIT ?",
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
            if let Some(b) = check_link(
                report.records,
                prev.as_deref(),
                stored_prev.as_deref(),
                stored_hash.as_deref(),
                &record,
            ) {
                report.first_break = Some(b);
                return Ok(report);
            }
            prev = stored_hash;
        }
    }
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn setting_or_insert(&self, name: &str, value: &[u8]) -> StoreResult<Vec<u8>> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
        )
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

/// Keys and admins changed at or after `since` (shared by both backends' reconciliation).
const CHANGED_SINCE: &str = "SELECT 'k:' || id FROM api_keys WHERE updated_at >= $1 \
     UNION ALL SELECT 'o:' || id FROM admins WHERE updated_at >= $1 OR deleted_at >= $1";

#[async_trait]
impl ChangeFeed for SqliteStore {
    /// One SQLite file serves one node: every change goes through this node's own cache.
    async fn listen(&self) -> StoreResult<Option<Box<dyn InvalidationListener>>> {
        Ok(None)
    }

    async fn changed_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<Invalidation>> {
        let rows: Vec<String> = sqlx::query_scalar(CHANGED_SINCE)
            .bind(millis(since))
            .fetch_all(&self.reader)
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(|r| Invalidation::decode(r)).collect())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
            .await
            .map_err(backend)?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

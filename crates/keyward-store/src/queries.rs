//! The filtered listings both backends run (keys, key stats, log search), built once, generic
//! over the database. The only dialect difference is passed in: the case-insensitive `LIKE`.

use crate::codec::millis;
use crate::rows::{parse_key_cursor, KEY_COLUMNS, KEY_SOURCE, LOG_COLUMNS};
use crate::{KeyQuery, KeyStats, LogQuery, StatsQuery, StatusFilter, StoreError, StoreResult};
use keyward_domain::policy::Visibility;
use sqlx::{Database, Encode, QueryBuilder, Type};

fn push_visibility<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, v: &Visibility, column: &str)
where
    String: Encode<'a, DB> + Type<DB>,
{
    if let Visibility::OwnedBy(owner) = v {
        qb.push(format!(" AND {column} = ")).push_bind(owner.to_string());
    }
}

/// `SELECT … FROM api_keys` for a listing page: one row more than the limit, to tell whether a
/// next page exists. `search` pushes the dialect's condition for `?q=` (a substring of the id,
/// name, description or owner email, case-insensitive, served by a trigram index).
pub(crate) fn list_keys<'a, DB: Database>(
    query: &KeyQuery,
    search: fn(&mut QueryBuilder<'a, DB>, &str),
) -> StoreResult<QueryBuilder<'a, DB>>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let now = millis(query.now);
    let mut qb = QueryBuilder::new(format!("SELECT {KEY_COLUMNS} FROM {KEY_SOURCE} WHERE k.deleted_at IS NULL"));
    push_visibility(&mut qb, &query.visibility, "k.owner_id");
    if let Some(owner) = &query.owner {
        qb.push(" AND k.owner_id = ").push_bind(owner.to_string());
    }
    match query.status {
        StatusFilter::All => {}
        StatusFilter::Active => {
            qb.push(" AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ").push_bind(now).push(")");
        }
        StatusFilter::Expired => {
            qb.push(" AND k.revoked_at IS NULL AND k.expires_at <= ").push_bind(now);
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
        search(&mut qb, q);
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
    qb.push(" ORDER BY k.created_at DESC, k.id DESC LIMIT ").push_bind(i64::from(query.limit) + 1);
    Ok(qb)
}

/// `SELECT` of the counts behind `GET /v1/keys/stats`: keys (not deleted) and revoked keys from
/// the per-owner counters the triggers keep (`key_counts`), then expired and expiring-soon keys
/// counted from the stats indexes over just their range of `expires_at`. Nothing here reads
/// every key. [`stats_from_counts`] turns the row into [`KeyStats`].
pub(crate) fn key_stats<'a, DB: Database>(query: &StatsQuery) -> QueryBuilder<'a, DB>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let now = millis(query.now);
    let mut qb = QueryBuilder::new("SELECT (SELECT CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM key_counts WHERE TRUE");
    push_visibility(&mut qb, &query.visibility, "owner_id");
    qb.push("), (SELECT CAST(COALESCE(SUM(revoked), 0) AS BIGINT) FROM key_counts WHERE TRUE");
    push_visibility(&mut qb, &query.visibility, "owner_id");
    qb.push("), (SELECT COUNT(*) FROM api_keys WHERE deleted_at IS NULL AND revoked_at IS NULL");
    push_visibility(&mut qb, &query.visibility, "owner_id");
    qb.push(" AND expires_at <= ").push_bind(now);
    qb.push("), (SELECT COUNT(*) FROM api_keys WHERE deleted_at IS NULL AND revoked_at IS NULL");
    push_visibility(&mut qb, &query.visibility, "owner_id");
    qb.push(" AND expires_at > ").push_bind(now).push(" AND expires_at <= ").push_bind(millis(query.expiring_before));
    qb.push(")");
    qb
}

/// [`KeyStats`] from the four counts [`key_stats`] selects: total, revoked, expired, expiring.
pub(crate) fn stats_from_counts(total: i64, revoked: i64, expired: i64, expiring_soon: i64) -> KeyStats {
    let n = |v: i64| v.max(0) as u64;
    KeyStats {
        total: n(total),
        active: n(total - revoked - expired),
        expired: n(expired),
        revoked: n(revoked),
        expiring_soon: n(expiring_soon),
    }
}

/// `SELECT seq, … FROM logs` for a search page, newest first, one row more than the limit.
pub(crate) fn search_logs<'a, DB: Database>(query: &LogQuery) -> StoreResult<QueryBuilder<'a, DB>>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(format!("SELECT seq, {LOG_COLUMNS} FROM logs WHERE TRUE"));
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
        qb.push(" AND kind = ").push_bind(kind.as_str().to_string());
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
    qb.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(query.limit) + 1);
    Ok(qb)
}

/// One upsert applying a batch of key uses: use counts added, and `last_used_*` moved to each
/// batch's latest use unless a later one is stored already (SET expressions see the row as it
/// was). `greatest` is the dialect's two-argument maximum (`MAX` / `GREATEST`).
pub(crate) fn record_uses<'a, DB: Database>(uses: &[crate::KeyUse], greatest: &str) -> QueryBuilder<'a, DB>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    Option<String>: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new("INSERT INTO key_usage (key_id, use_count, last_used_at, last_used_ip) ");
    qb.push_values(uses, |mut row, u| {
        row.push_bind(u.key_id.to_string())
            .push_bind(u.count as i64)
            .push_bind(millis(u.last_used_at))
            .push_bind(u.last_used_ip.clone());
    });
    qb.push(format!(
        " ON CONFLICT (key_id) DO UPDATE SET use_count = key_usage.use_count + excluded.use_count, \
         last_used_ip = CASE WHEN key_usage.last_used_at <= excluded.last_used_at \
         THEN COALESCE(excluded.last_used_ip, key_usage.last_used_ip) ELSE key_usage.last_used_ip END, \
         last_used_at = {greatest}(key_usage.last_used_at, excluded.last_used_at)"
    ));
    qb
}

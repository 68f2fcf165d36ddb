//! The filtered listings both backends run (keys, key stats, log search), built once, generic
//! over the database. The dialect differences are passed in: the case-insensitive `LIKE`, the
//! trigram match and `GREATEST`.

use crate::codec::millis;
use crate::rows::{key_cursor, like_pattern, position_cursor, Position, KEY_COLUMNS, KEY_SOURCE, LOG_COLUMNS};
use crate::{KeyQuery, KeyStats, KeyWithOwner, LogQuery, Page, StatsQuery, StatusFilter, StoreError, StoreResult};
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

/// How a dialect matches `?q=`: its case-insensitive `LIKE` operator, and the condition its
/// trigram index serves (given the text of the query, three characters or more).
pub(crate) struct Search<'a, DB: Database> {
    pub like: &'static str,
    pub trigram: fn(&mut QueryBuilder<'a, DB>, &str),
}

/// The dividing line between reading a filter's keys from its index and sorting them (up to
/// this many keys), and walking the newest-first index and skipping the others (more than this
/// many match, so at 10^6 keys a page is found within about 25,000 index entries; a walk is
/// bounded anyway, see [`DEFAULT_LIST_WALK_LIMIT`]).
pub(crate) const SEEK_LIMIT: i64 = 2_000;

/// The production default of [`crate::StoreOptions::list_walk_limit`]: the most keys one
/// listing request reads of a newest-first walk. Testing each key of a walk against the filters
/// costs about 3–6 µs at 10^6 keys (a `LIKE`/`ILIKE` over three columns of a row read from
/// anywhere in the table; 6 µs on SQLite in the benchmarks of 2026-12-06, where 5,000 keys took
/// 27–31 ms at the median and up to 78 ms at p99), so a request stays near 15 ms even when
/// nothing matches; it is above the largest page (1,000) and above [`SEEK_LIMIT`].
pub const DEFAULT_LIST_WALK_LIMIT: u32 = 2_500;

/// Which index serves a listing: decided by the store from bounded counts where the planner
/// cannot tell from a bound parameter how many keys a range or a substring holds (SQLite keeps
/// no statistics). `+column` keeps a planner from serving a condition from an index; it is a
/// no-op on the value in both dialects.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ListPlan {
    /// The `expires_at` range (`status=expired`, `expiring_within_days`) holds at most
    /// [`SEEK_LIMIT`] keys: read them from the range index and sort them.
    pub seek_expiry: bool,
    pub text: TextPlan,
}

/// The keys a listing walks newest first, testing each against its filters; a bounded walk
/// reads at most `list_walk_limit` of them per request (see [`walk_stop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WalkScope {
    /// No walk: every branch reads a seek's matches (at most [`SEEK_LIMIT`]) and sorts them.
    None,
    /// The keys the caller may see (and `?owner=`'s): the listing without `?q=`, or `?q=`'s
    /// text branch walking with `LIKE`.
    Visible,
    /// Only the keys of the owners whose email matches `?q=`, when the text branch is served by
    /// the trigram index: the owners' branch is the one walk.
    Owners,
}

impl ListPlan {
    /// Which keys this listing walks, given the owners whose email matched `?q=`.
    pub(crate) fn walk(&self, query: &KeyQuery, owners: &[String]) -> WalkScope {
        let has_range = query.status == StatusFilter::Expired || query.expiring_before.is_some();
        if has_range && self.seek_expiry {
            return WalkScope::None;
        }
        match &query.q {
            None => WalkScope::Visible,
            Some(_) if self.text == TextPlan::Walk => WalkScope::Visible,
            Some(_) if !owners.is_empty() => WalkScope::Owners,
            Some(_) => WalkScope::None,
        }
    }
}

/// How the text branch of `?q=` is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum TextPlan {
    /// `LIKE` on each key in the newest-first walk, bounded per request: a query shorter than a
    /// trigram, or a substring more than [`SEEK_LIMIT`] keys hold (a page is found early).
    #[default]
    Walk,
    /// The trigram index's matches (at most [`SEEK_LIMIT`]), read and sorted.
    Seek,
    /// The trigram condition, and the planner chooses between the index and the walk from its
    /// statistics of the indexed expression (PostgreSQL). Not bounded by the store (it cannot
    /// tell which the planner chose; bounding the index's matches too would cut a rare
    /// substring's one page into hundreds): the planner walks only a substring its statistics
    /// find common, which fills a page early.
    Planner,
}

/// Pushes the listing's `expires_at` bounds onto a query of live, non-revoked keys; returns
/// whether there were any.
fn push_expiry_range<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, query: &KeyQuery, column: &str) -> bool
where
    i64: Encode<'a, DB> + Type<DB>,
{
    let now = millis(query.now);
    let mut any = false;
    if query.status == StatusFilter::Expired {
        qb.push(format!(" AND {column} <= ")).push_bind(now);
        any = true;
    }
    if let Some(before) = query.expiring_before {
        qb.push(format!(" AND {column} > "))
            .push_bind(now)
            .push(format!(" AND {column} <= "))
            .push_bind(millis(before));
        any = true;
    }
    any
}

/// The visibility and `?owner=` conditions on `column`.
fn push_owner<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, query: &KeyQuery, column: &str)
where
    String: Encode<'a, DB> + Type<DB>,
{
    push_visibility(qb, &query.visibility, column);
    if let Some(owner) = &query.owner {
        qb.push(format!(" AND {column} = ")).push_bind(owner.to_string());
    }
}

/// Counts, up to [`SEEK_LIMIT`] + 1, the visible keys in the listing's `expires_at` range (from
/// the stats indexes); `None` when the listing has no such range. Gives
/// [`ListPlan::seek_expiry`].
pub(crate) fn count_expiry_range<'a, DB: Database>(query: &KeyQuery) -> Option<QueryBuilder<'a, DB>>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(
        "SELECT COUNT(*) FROM (SELECT 1 FROM api_keys k WHERE k.deleted_at IS NULL AND k.revoked_at IS NULL",
    );
    push_owner(&mut qb, query, "k.owner_id");
    if !push_expiry_range(&mut qb, query, "k.expires_at") {
        return None;
    }
    qb.push(" LIMIT ").push_bind(SEEK_LIMIT + 1).push(") r");
    Some(qb)
}

/// The ids of the admins whose email contains `q` (case-insensitive) among the owners the
/// listing may show. Admins are few: the store looks them up first, so that the keys' query
/// needs no `OR` across tables, which no planner serves from the keys' indexes.
pub(crate) fn matching_owners<'a, DB: Database>(query: &KeyQuery, q: &str, like: &str) -> QueryBuilder<'a, DB>
where
    String: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(format!("SELECT id FROM admins WHERE email {like} "));
    qb.push_bind(like_pattern(q)).push(" ESCAPE '\\'");
    push_owner(&mut qb, query, "id");
    qb
}

/// Where this request's walk stops: `SELECT created_at, id` of the `walk_limit`-th key of the
/// walk after the cursor, and of the one after it, from the newest-first index alone (no row is
/// read). Two rows: the walk goes on past the first, so the page is cut there ([`list_keys`]'s
/// `stop`) and, unless it fills first, the next cursor points at it. Fewer: the rest of the walk
/// is within the bound. `None` when the listing does not walk.
///
/// The bound counts every key of the walk, whatever the filters make of it (a deleted or revoked
/// key, a key `?q=` does not match): that is what the walk costs.
pub(crate) fn walk_stop<'a, DB: Database>(
    query: &KeyQuery,
    cursor: Option<&Position>,
    owners: &[String],
    scope: WalkScope,
    walk_limit: u32,
) -> Option<QueryBuilder<'a, DB>>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    if scope == WalkScope::None {
        return None;
    }
    let mut qb = QueryBuilder::new("SELECT k.created_at, k.id FROM api_keys k WHERE TRUE");
    push_owner(&mut qb, query, "k.owner_id");
    if scope == WalkScope::Owners {
        push_owner_list(&mut qb, owners);
    }
    push_after(&mut qb, cursor, false);
    qb.push(" ORDER BY k.created_at DESC, k.id DESC LIMIT 2 OFFSET ").push_bind(i64::from(walk_limit.max(1)) - 1);
    Some(qb)
}

/// The stop [`walk_stop`]'s rows give: the first of two.
pub(crate) fn stop_from(mut rows: Vec<Position>) -> Option<Position> {
    (rows.len() == 2).then(|| rows.swap_remove(0))
}

/// A page from the rows of [`list_keys`] (one more than the limit when a next page exists):
/// the next cursor points after the last key shown when the page is full, else where the walk
/// stopped (the page may then be short, even empty), else nowhere: the listing is complete.
pub(crate) fn finish_page(mut items: Vec<KeyWithOwner>, limit: u32, stop: Option<Position>) -> Page<KeyWithOwner> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|k| key_cursor(&k.key))
    } else {
        stop.as_ref().map(position_cursor)
    };
    Page { items, next_cursor }
}

/// `AND k.owner_id IN (…)`.
fn push_owner_list<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, owners: &[String])
where
    String: Encode<'a, DB> + Type<DB>,
{
    qb.push(" AND k.owner_id IN (");
    let mut list = qb.separated(", ");
    for id in owners {
        list.push_bind(id.clone());
    }
    qb.push(")");
}

/// Keys after `cursor` in the newest-first order (a row value, which both dialects serve as a
/// range of the `(created_at, id)` indexes; `sorted`: hidden from them with `+`).
fn push_after<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, cursor: Option<&Position>, sorted: bool)
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    if let Some((ms, id)) = cursor {
        let column = if sorted { "+k.created_at" } else { "k.created_at" };
        qb.push(format!(" AND ({column}, k.id) < (")).push_bind(*ms).push(", ").push_bind(id.clone()).push(")");
    }
}

/// Keys at or before the walk's stop (newest first), as [`push_after`].
fn push_until<'a, DB: Database>(qb: &mut QueryBuilder<'a, DB>, stop: Option<&Position>, sorted: bool)
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    if let Some((ms, id)) = stop {
        let column = if sorted { "+k.created_at" } else { "k.created_at" };
        qb.push(format!(" AND ({column}, k.id) >= (")).push_bind(*ms).push(", ").push_bind(id.clone()).push(")");
    }
}

/// `SELECT … FROM api_keys` for a listing page, newest first: one row more than the limit, to
/// tell whether a next page exists.
///
/// `?q=` (a case-insensitive substring of the id, name, description or owner email) is two
/// branches, each served by an index and each cut to a page: the keys whose text matches (see
/// [`TextPlan`]), and, when `owners` (from [`matching_owners`]) is not empty, the keys
/// of those owners (the per-owner index); their `UNION` is sorted and cut to a page.
///
/// Every branch reads only the keys after `cursor` and, when the walk is bounded, at or before
/// `stop` (from [`walk_stop`]): the keys the walk examines in this request.
pub(crate) fn list_keys<'a, DB: Database>(
    query: &KeyQuery,
    cursor: Option<&Position>,
    stop: Option<&Position>,
    search: &Search<'a, DB>,
    owners: &[String],
    plan: ListPlan,
) -> QueryBuilder<'a, DB>
where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let page = Branch { query, cursor, stop, plan };
    let mut qb = QueryBuilder::new("");
    match &query.q {
        Some(q) if !owners.is_empty() => {
            qb.push("SELECT * FROM (");
            page.push(&mut qb, Some((search, q)), &[]);
            qb.push(") t UNION SELECT * FROM (");
            page.push(&mut qb, None, owners);
            qb.push(") o ORDER BY created_at DESC, id DESC LIMIT ").push_bind(i64::from(query.limit) + 1);
        }
        Some(q) => page.push(&mut qb, Some((search, q)), &[]),
        None => page.push(&mut qb, None, &[]),
    }
    qb
}

/// One branch of a listing: the keys matching every filter, newest first, one page.
struct Branch<'q> {
    query: &'q KeyQuery,
    cursor: Option<&'q Position>,
    stop: Option<&'q Position>,
    plan: ListPlan,
}

impl Branch<'_> {
    /// `text`: the `?q=` text branch; `owners`: the branch of keys whose owner's email matched.
    fn push<'a, DB: Database>(
        &self,
        qb: &mut QueryBuilder<'a, DB>,
        text: Option<(&Search<'a, DB>, &String)>,
        owners: &[String],
    ) where
        i64: Encode<'a, DB> + Type<DB>,
        String: Encode<'a, DB> + Type<DB>,
    {
        let (query, plan) = (self.query, self.plan);
        let now = millis(query.now);
        let seek_text = text.is_some() && plan.text == TextPlan::Seek;
        let has_range = query.status == StatusFilter::Expired || query.expiring_before.is_some();
        qb.push(format!("SELECT {KEY_COLUMNS} FROM {KEY_SOURCE} WHERE k.deleted_at IS NULL"));
        // The trigram branch starts from the index's matches: the owner's index must not compete.
        push_owner(qb, query, if seek_text { "k.owner_id || ''" } else { "k.owner_id" });
        match query.status {
            StatusFilter::All | StatusFilter::Expired => {}
            StatusFilter::Active => {
                qb.push(" AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ")
                    .push_bind(now)
                    .push(")");
            }
            StatusFilter::Revoked => {
                qb.push(" AND k.revoked_at IS NOT NULL");
            }
        }
        if has_range {
            qb.push(" AND k.revoked_at IS NULL");
            push_expiry_range(qb, query, if plan.seek_expiry { "k.expires_at" } else { "+k.expires_at" });
        }
        match text {
            Some((search, q)) if plan.text != TextPlan::Walk => (search.trigram)(qb, q),
            Some((search, q)) => {
                let (pattern, like) = (like_pattern(q), search.like);
                qb.push(format!(" AND (k.id {like} ")).push_bind(pattern.clone());
                qb.push(format!(" ESCAPE '\\' OR k.name {like} ")).push_bind(pattern.clone());
                qb.push(format!(" ESCAPE '\\' OR k.description {like} ")).push_bind(pattern);
                qb.push(" ESCAPE '\\')");
            }
            None => {}
        }
        if !owners.is_empty() {
            push_owner_list(qb, owners);
        }
        // A seek sorts what its index found; a walk reads the newest-first index in order, from
        // the cursor to the stop.
        let sorted = seek_text || (has_range && plan.seek_expiry);
        push_after(qb, self.cursor, sorted);
        push_until(qb, self.stop, sorted);
        qb.push(if sorted {
            " ORDER BY +k.created_at DESC, k.id DESC"
        } else {
            " ORDER BY k.created_at DESC, k.id DESC"
        });
        qb.push(" LIMIT ").push_bind(i64::from(query.limit) + 1);
    }
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

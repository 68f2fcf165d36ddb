//! `GET /v1/logs`: search in the audit and usage records the caller may see.
//!
//! The query is parsed by hand from the raw query string because `key_id` repeats
//! (`?key_id=a&key_id=b`). Unknown parameters and unparseable values are `400`.

use crate::dto::{LogList, LogQueryParams, LogRecordDto};
use crate::error::{ApiError, Problem};
use crate::extract::Caller;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::{DateTime, Utc};
use keyward_domain::policy::authorize_logs;
use keyward_service::logs::LogSearch;

/// Parses `?key_id=&kind=&action=&since=&until=&limit=&cursor=`.
pub fn parse_log_query(raw: Option<&str>) -> Result<LogSearch, ApiError> {
    let mut search = LogSearch::default();
    let Some(raw) = raw else { return Ok(search) };
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let value = value.into_owned();
        match name.as_ref() {
            "key_id" => search.key_ids.push(value),
            "kind" => search.kind = Some(value),
            "action" => search.action = Some(value),
            "since" => search.since = Some(time("since", &value)?),
            "until" => search.until = Some(time("until", &value)?),
            "limit" => {
                let limit = value
                    .parse::<i64>()
                    .map_err(|_| ApiError::malformed(format!("limit: {value:?} is not a whole number")))?;
                search.limit = Some(limit);
            }
            "cursor" => search.cursor = Some(value),
            other => {
                return Err(ApiError::malformed(format!(
                    "unknown query parameter {other:?}; known: key_id, kind, action, since, until, limit, cursor"
                )))
            }
        }
    }
    Ok(search)
}

fn time(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ApiError::malformed(format!("{name}: {value:?} is not an RFC 3339 time (e.g. 2025-01-31T12:00:00Z)"))
    })
}

/// Search in logs, newest first.
///
/// A superadmin sees every record; an admin the records of their own keys and their own
/// `auth.*` records; an API key with `keyward.logs:read` what its owner sees. In records, an
/// `actor` of type `system` is the command line or the server itself (bootstrap, failed
/// logins); for a `key` actor, `email` is the key owner's.
#[utoipa::path(
    get, path = "/v1/logs", tag = "logs",
    params(LogQueryParams),
    responses(
        (status = 200, body = LogList),
        (status = 400, description = "Bad query syntax, unknown parameter, or a time that is not RFC 3339", body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []), ("api_key" = []), ("basic" = []))
)]
pub async fn search_logs(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<LogList>, ApiError> {
    let access = authorize_logs(&caller.auth.principal)?;
    let search = parse_log_query(raw.as_deref())?;
    let page = state.keyward.search_logs(&access, search).await?;
    Ok(Json(LogList { items: page.items.iter().map(LogRecordDto::from).collect(), next_cursor: page.next_cursor }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn repeated_key_ids_and_times() {
        let s =
            parse_log_query(Some("key_id=a&key_id=b+c&kind=audit&since=2025-01-01T00:00:00%2B02:00&limit=5")).unwrap();
        assert_eq!(s.key_ids, ["a", "b c"]);
        assert_eq!(s.kind.as_deref(), Some("audit"));
        assert_eq!(s.since.unwrap().to_rfc3339(), "2024-12-31T22:00:00+00:00");
        assert_eq!(s.limit, Some(5));
        assert!(parse_log_query(Some("since=yesterday")).is_err());
        assert!(parse_log_query(Some("limit=x")).is_err());
        assert!(parse_log_query(Some("api_key=x")).is_err());
        assert!(parse_log_query(None).unwrap().key_ids.is_empty());
    }
}

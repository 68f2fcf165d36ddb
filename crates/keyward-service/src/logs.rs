//! Search in logs: audit and usage records, for the keys (and logins) the caller may see.

use crate::keys::page_limit;
use crate::{Keyward, ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use keyward_domain::ids::KeyId;
use keyward_domain::policy::LogAccess;
use keyward_store::{ChainReport, LogKind, LogQuery, LogRecord, Page};

/// Filters of `GET /v1/logs`, as given.
#[derive(Debug, Clone, Default)]
pub struct LogSearch {
    pub key_ids: Vec<String>,
    pub kind: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

impl Keyward {
    /// Walks the audit hash chain (`keyward audit verify`). An operator's tool: whoever runs it
    /// already has the database.
    pub async fn verify_audit_chain(&self) -> ServiceResult<ChainReport> {
        Ok(self.store().verify_audit_chain().await?)
    }

    pub async fn search_logs(&self, access: &LogAccess, search: LogSearch) -> ServiceResult<Page<LogRecord>> {
        let kind = match search.kind.as_deref() {
            None | Some("") | Some("all") => None,
            Some("audit") => Some(LogKind::Audit),
            Some("usage") => Some(LogKind::Usage),
            Some(other) => {
                return Err(ServiceError::validation("kind", format!("must be audit or usage, not {other:?}")))
            }
        };
        if search.key_ids.len() > 100 {
            return Err(ServiceError::validation("key_id", "at most 100 key ids per search"));
        }
        if let (Some(since), Some(until)) = (search.since, search.until) {
            if since > until {
                return Err(ServiceError::validation("since", "must not be after `until`"));
            }
        }
        let query = LogQuery {
            visibility: access.visibility.clone(),
            key_ids: search.key_ids.into_iter().map(KeyId::from_string).collect(),
            kind,
            action: search.action.filter(|a| !a.is_empty()),
            since: search.since,
            until: search.until,
            limit: page_limit(search.limit)?,
            cursor: search.cursor,
        };
        Ok(self.store().search_logs(&query).await?)
    }
}

//! The service's error enum. Each variant is an answer a client gets (mapped to problem+json
//! in exactly one place, in the server crate), except `Internal`, whose text goes to the log
//! only.

use keyward_domain::policy::Denied;
use keyward_domain::ValidationError;
use keyward_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// 400: the request could not be understood (bad cursor, bad query syntax).
    #[error("{0}")]
    Malformed(String),
    /// 401: no valid credential.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown, or not visible to the caller (the two are indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409: name taken, or the action is impossible in the record's state.
    #[error("{0}")]
    Conflict(String),
    /// 422: well-formed but invalid.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// 429: too many attempts; retry after this many seconds.
    #[error("too many failed attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: u64 },
    /// 500: something broke that the caller cannot fix. The text is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl From<Denied> for ServiceError {
    fn from(d: Denied) -> Self {
        ServiceError::Forbidden(d.0)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => ServiceError::Conflict(what),
            StoreError::InvalidCursor => ServiceError::Malformed("the cursor is not one this server made".into()),
            StoreError::NotFound => ServiceError::NotFound("record"),
            StoreError::VersionConflict => {
                ServiceError::Conflict("the record was changed by another request; retry".into())
            }
            StoreError::Backend(msg) => ServiceError::Internal(msg),
        }
    }
}

impl ServiceError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        ServiceError::Validation(ValidationError::new(field, message))
    }
}

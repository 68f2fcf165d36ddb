//! The one place where errors become HTTP answers: RFC 9457 problem details
//! (`application/problem+json`) with a stable machine-readable `code` per status.
//!
//! | status | `code` |
//! |---|---|
//! | 400 | `malformed_request` |
//! | 401 | `unauthorized` |
//! | 403 | `forbidden` |
//! | 404 | `not_found` |
//! | 405 | `method_not_allowed` |
//! | 409 | `conflict` |
//! | 413 | `payload_too_large` |
//! | 415 | `unsupported_media_type` |
//! | 422 | `validation_failed` |
//! | 429 | `rate_limited` |
//! | 500 | `internal_error` |
//! | 503 | `unavailable` |
//!
//! The `type` member is `urn:keyward:problem:<code>`: stable and not meant to be dereferenced.
//! Internal errors are logged with their real message and answered with a generic detail, so
//! no SQL or file-system text ever reaches a client.

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_service::ServiceError;
use serde::Serialize;
use std::future::Future;
use utoipa::ToSchema;

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details document, as sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:keyward:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:keyward:problem:validation_failed")]
    pub type_: String,
    /// The HTTP status phrase.
    #[schema(example = "Unprocessable Entity")]
    pub title: String,
    pub status: u16,
    /// What went wrong, for the person who sent the request. Validation errors read
    /// `<field>: <message>`.
    #[schema(example = "networks[0]: 10.1.2.3/8 has host bits set; did you mean 10.0.0.0/8?")]
    pub detail: String,
    /// Stable machine-readable code (see the table in the API description).
    #[schema(example = "validation_failed")]
    pub code: String,
}

/// An error answer under construction. Every handler and extractor fails with this type.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    detail: String,
    retry_after_secs: Option<u64>,
}

/// The stable code of a status (see the module table).
pub fn code_for(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "malformed_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        422 => "validation_failed",
        429 => "rate_limited",
        503 => "unavailable",
        s if s >= 500 => "internal_error",
        _ => "malformed_request",
    }
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError { status, detail: detail.into(), retry_after_secs: None }
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn validation(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {message}"))
    }

    /// A generic 500 whose real cause has been logged by the caller.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; it has been logged")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    fn problem(&self) -> Problem {
        let code = code_for(self.status);
        Problem {
            type_: format!("urn:keyward:problem:{code}"),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: code.to_string(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Malformed(m) => ApiError::malformed(m),
            ServiceError::Unauthorized(m) => ApiError::unauthorized(m),
            ServiceError::Forbidden(m) => ApiError::forbidden(m),
            ServiceError::NotFound(_) => ApiError::not_found(e.to_string()),
            ServiceError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            ServiceError::Validation(v) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.to_string()),
            ServiceError::RateLimited { retry_after_secs } => ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                detail: e.to_string(),
                retry_after_secs: Some(retry_after_secs.max(1)),
            },
            ServiceError::Internal(message) => {
                tracing::error!(error = %message, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<keyward_domain::policy::Denied> for ApiError {
    fn from(d: keyward_domain::policy::Denied) -> Self {
        ApiError::forbidden(d.0)
    }
}

impl From<keyward_domain::ValidationError> for ApiError {
    fn from(v: keyward_domain::ValidationError) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, v.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"keyward\""));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The answer to a path no route serves.
pub async fn not_found_fallback() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json for the API")
}

/// The answer to a method a path does not support; the router adds the `Allow` header.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "this method is not supported on this path; see the Allow header")
}

/// Turns error answers that did not come from [`ApiError`] (axum's own plain-text rejections, a
/// caught panic) into problem details, keeping their headers (`Allow`, `Retry-After`, …).
/// Client-error text is kept as the detail; server-error text is logged and replaced.
///
/// Any other answer is ready as it is: only a conversion, which reads the answer's body, is an
/// `async` step of its own (boxed, so the futures of every request do not carry its size).
pub fn ensure_problem_json(response: Response) -> impl Future<Output = Response> {
    use futures_util::future::{ready, Either};
    let status = response.status();
    let is_json =
        || response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/"));
    if !(status.is_client_error() || status.is_server_error()) || is_json() {
        return Either::Left(ready(response));
    }
    Either::Right(Box::pin(as_problem_json(response)))
}

/// An error answer that is not JSON, as a problem (see [`ensure_problem_json`]).
async fn as_problem_json(response: Response) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let error = if status.is_server_error() {
        tracing::error!(status = status.as_u16(), detail = %text, "internal error without a problem body");
        ApiError::new(status, "an internal error occurred; it has been logged")
    } else if text.is_empty() {
        ApiError::new(status, status.canonical_reason().unwrap_or("error").to_lowercase())
    } else {
        ApiError::new(status, text)
    };
    let mut fixed = error.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !fixed.headers().contains_key(name) {
            fixed.headers_mut().append(name, value.clone());
        }
    }
    fixed
}

/// Converts a caught panic into a plain 500 that [`ensure_problem_json`] then shapes.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    ApiError::internal().into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    async fn problem_of(response: Response) -> (Response, serde_json::Value) {
        let fixed = ensure_problem_json(response).await;
        let (parts, body) = fixed.into_parts();
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap();
        (Response::from_parts(parts, Body::empty()), serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_plain_text_rejection_becomes_a_problem_keeping_its_headers() {
        let mut plain = (StatusCode::METHOD_NOT_ALLOWED, "use GET").into_response();
        plain.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
        let (fixed, problem) = problem_of(plain).await;
        assert_eq!(fixed.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(fixed.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(fixed.headers()[header::ALLOW], "GET");
        assert_eq!(problem["detail"], "use GET");
    }

    #[tokio::test]
    async fn a_server_errors_text_is_not_shown() {
        let (fixed, problem) =
            problem_of((StatusCode::INTERNAL_SERVER_ERROR, "SELECT secret_hash FROM keys").into_response()).await;
        assert_eq!(fixed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(fixed.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(!problem["detail"].as_str().unwrap().contains("SELECT"));
    }

    #[tokio::test]
    async fn success_and_json_answers_are_left_as_they_are() {
        let ok = ensure_problem_json((StatusCode::OK, "fine").into_response()).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(axum::body::to_bytes(ok.into_body(), 64).await.unwrap(), "fine");
        let json = ApiError::new(StatusCode::CONFLICT, "taken").into_response();
        let kept = ensure_problem_json(json).await;
        let body = axum::body::to_bytes(kept.into_body(), 4096).await.unwrap();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["detail"], "taken");
    }

    #[test]
    fn every_service_error_has_its_status_and_code() {
        let cases = [
            (ServiceError::Malformed("x".into()), 400, "malformed_request"),
            (ServiceError::Unauthorized("x".into()), 401, "unauthorized"),
            (ServiceError::Forbidden("x".into()), 403, "forbidden"),
            (ServiceError::NotFound("key"), 404, "not_found"),
            (ServiceError::Conflict("x".into()), 409, "conflict"),
            (ServiceError::validation("name", "too long"), 422, "validation_failed"),
            (ServiceError::RateLimited { retry_after_secs: 3 }, 429, "rate_limited"),
            (ServiceError::Internal("SELECT secret FROM".into()), 500, "internal_error"),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!(api.status().as_u16(), status);
            let p = api.problem();
            assert_eq!(p.code, code);
            assert_eq!(p.type_, format!("urn:keyward:problem:{code}"));
            assert!(!p.detail.contains("SELECT"));
        }
        let v = ApiError::from(ServiceError::validation("name", "too long"));
        assert_eq!(v.detail(), "name: too long");
    }
}

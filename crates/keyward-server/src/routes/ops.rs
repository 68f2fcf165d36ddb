//! Operations: liveness, readiness, metrics and the OpenAPI document.

use crate::dto::{HealthResponse, ReadyResponse};
use crate::error::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, body = HealthResponse)),
    security(())
)]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".into() })
}

/// Readiness: the database is reachable.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = ReadyResponse),
        (status = 503, description = "The database is not reachable", body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<ReadyResponse>, ApiError> {
    match state.keyward.ready().await {
        Ok(backend) => Ok(Json(ReadyResponse { status: "ready".into(), backend: backend.into() })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the database is not reachable"))
        }
    }
}

/// The node's metrics in the Prometheus text format (unauthenticated, like `/healthz`).
///
/// Verifications by code (`keyward_verifications_total{code}`, every code present), request
/// latency histograms per method and route template
/// (`keyward_http_request_duration_seconds{method,route}`), verification cache hits, misses
/// and size, usage-log queue depth, capacity, drops and writes, and database connections (open
/// and idle). Counters are per node and start at zero when it starts. Nothing here names a key
/// or an administrator; restrict access to `/metrics` at the proxy if the counts themselves
/// are sensitive.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)),
    security(())
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = crate::metrics::render(&state.keyward.metrics(), &state.http_metrics);
    let mut response = text.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    response
}

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
    security(())
)]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json.to_string().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

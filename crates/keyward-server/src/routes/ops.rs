//! Operations: liveness, readiness, the OpenAPI document, and the placeholder at `/` where the
//! console will be served.

use crate::dto::{HealthResponse, ReadyResponse};
use crate::error::{ApiError, Problem};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "operations",
    responses((status = 200, body = HealthResponse)),
    security(())
)]
pub async fn healthz() -> Json<HealthResponse> {
    Json(HealthResponse {
        status: "ok".into(),
    })
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
        Ok(backend) => Ok(Json(ReadyResponse {
            status: "ready".into(),
            backend: backend.into(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database is not reachable",
            ))
        }
    }
}

/// This document (OpenAPI 3.1).
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")),
    security(())
)]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    let mut response = state.openapi_json.to_string().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Keyward</title></head>
<body>
<h1>Keyward</h1>
<p>API key management. The web console is not part of this build yet.</p>
<p>The API is described in <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
</body>
</html>
"#;

/// The console's place (a placeholder page linking to the API description).
#[utoipa::path(
    get, path = "/", tag = "operations",
    responses((status = 200, description = "An HTML page", content_type = "text/html")),
    security(())
)]
pub async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_SECURITY_POLICY, "default-src 'none'")],
        Html(INDEX),
    )
}

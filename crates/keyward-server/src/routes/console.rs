//! The web console's files (crate `keyward-console`): the HTML shell at `/` and its assets at
//! `/console/{path}`.
//!
//! Every answer here carries the console's strict Content-Security-Policy. The shell is
//! `no-store` (the `finish` middleware's default), so a new binary's console is picked up at
//! once; assets are `no-cache` with an `ETag` of their content, so a browser revalidates them
//! with a cheap `304` instead of downloading them again.

use crate::error::{ApiError, Problem};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use keyward_console::{asset, ASSET_PREFIX, CSP, SHELL};

fn csp() -> (header::HeaderName, HeaderValue) {
    (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP))
}

/// The web console (a single-page application; its pages are `#/…` routes of this one page).
#[utoipa::path(
    get, path = "/", tag = "console",
    responses((status = 200, description = "The console's HTML shell", content_type = "text/html")),
    security(())
)]
pub async fn index() -> impl IntoResponse {
    ([csp()], Html(SHELL))
}

/// A file of the web console (stylesheet, script module, icon).
///
/// Also served one folder down (`/console/views/keys.js`): the router mounts this handler at
/// `/console/{dir}/{path}` too, and the handler reads the file's name from the request path.
#[utoipa::path(
    get, path = "/console/{path}", tag = "console",
    params(("path" = String, Path, description = "The file's path, e.g. `app.js` or `views/keys.js`")),
    responses(
        (status = 200, description = "The file, with an `ETag`"),
        (status = 304, description = "The `If-None-Match` ETag is current"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ),
    security(())
)]
pub async fn console_asset(uri: Uri, request_headers: HeaderMap) -> Response {
    let Some(file) = uri.path().strip_prefix(ASSET_PREFIX).and_then(asset) else {
        let mut response = ApiError::not_found("the console has no such file").into_response();
        response.headers_mut().extend([csp()]);
        return response;
    };
    let etag = format!("\"{:016x}\"", file.hash);
    let fresh = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == etag || tag.trim() == "*");
    let etag = HeaderValue::from_str(&etag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
    let headers = [
        csp(),
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::CONTENT_TYPE, HeaderValue::from_static(file.content_type)),
    ];
    if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, file.body).into_response()
    }
}

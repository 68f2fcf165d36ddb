//! The HTTP side of signed requests (RFC 9421): turning what arrives — a management call, the
//! `request` object of `/v1/verify`, the headers a proxy forwards to forward-auth — into the
//! domain's [`HttpRequest`], whose signature the service then checks.
//!
//! Management calls made with an API key have their body buffered by [`capture_body`] (bodies
//! are at most 1 MiB anyway), because a signed write must cover `content-digest` and the digest
//! is checked against the exact bytes received. Requests authenticated by a session never need
//! a signature and are not buffered.

use crate::client_ip::is_trusted;
use crate::dto::SignedRequestDto;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::header_names::{
    SIGNATURE, SIGNATURE_INPUT, X_FORWARDED_HOST, X_FORWARDED_METHOD, X_FORWARDED_PROTO, X_FORWARDED_URI,
    X_ORIGINAL_METHOD, X_ORIGINAL_URI,
};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use keyward_domain::signature::HttpRequest;
use std::net::SocketAddr;

/// The body of a management request made with an API key, as received.
#[derive(Debug, Clone)]
pub struct BufferedBody(pub Bytes);

/// Is the request authenticated by something other than a session (an API key)?
fn carries_api_key(headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).is_some_and(|v| {
        let v = v.trim();
        !(v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") && v[7..].trim_start().starts_with("session."))
    })
}

/// Middleware of the management routes: buffers the body of API-key requests into
/// [`BufferedBody`] so the signature check can see it; the handler reads it as usual.
pub async fn capture_body(request: Request, next: Next) -> Response {
    if !carries_api_key(request.headers()) {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than {BODY_LIMIT} bytes (1 MiB)"),
            )
            .into_response()
        }
    };
    let mut request = Request::from_parts(parts, Body::from(bytes.clone()));
    request.extensions_mut().insert(BufferedBody(bytes));
    next.run(request).await
}

fn headers_into(request: &mut HttpRequest, headers: &HeaderMap) {
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            request.add_header(name.as_str(), v);
        }
    }
}

/// A management request as its client sent it, when it has to be (a write) or can be (it
/// carries a signature) checked: the target URI is rebuilt from the scheme and `Host` (or, from
/// a trusted proxy, `X-Forwarded-Proto` and `X-Forwarded-Host`) and the path.
pub fn management_request(parts: &Parts, state: &AppState, write: bool) -> Result<Option<HttpRequest>, ApiError> {
    let signed = parts.headers.contains_key(SIGNATURE_INPUT) || parts.headers.contains_key(SIGNATURE);
    if !write && !signed {
        return Ok(None);
    }
    let config = state.keyward.config();
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(a)| a.ip());
    let from_proxy = peer.is_some_and(|ip| is_trusted(ip, &config.trusted_proxies));
    let forwarded = |name: HeaderName| {
        from_proxy.then(|| parts.headers.get(name).and_then(|v| v.to_str().ok())).flatten().map(str::trim)
    };
    let scheme = forwarded(X_FORWARDED_PROTO).unwrap_or(if config.tls_cert.is_some() { "https" } else { "http" });
    let authority = forwarded(X_FORWARDED_HOST)
        .or_else(|| parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()))
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = HttpRequest::new(parts.method.as_str(), &format!("{scheme}://{authority}{path}"))
        .map_err(|e| ApiError::forbidden(format!("signature_invalid: {e}")))?;
    headers_into(&mut request, &parts.headers);
    // Without [`capture_body`] (a route registered after its layer) the body counts as empty:
    // a signature over the real body then fails, rather than the body going unchecked.
    let body = parts.extensions.get::<BufferedBody>().map(|BufferedBody(b)| b.to_vec()).unwrap_or_default();
    request.set_body(body);
    Ok(Some(request))
}

/// The `request` object of `/v1/verify`.
pub fn verify_request(dto: &SignedRequestDto) -> Result<HttpRequest, ApiError> {
    let mut request = HttpRequest::new(&dto.method, &dto.target_uri)
        .map_err(|_| ApiError::validation("request.target_uri", "must be an absolute http(s) URI"))?;
    for (name, value) in &dto.headers {
        request.add_header(name, value);
    }
    if let Some(body) = &dto.body_base64 {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .map_err(|_| ApiError::validation("request.body_base64", "is not standard base64"))?;
        request.set_body(bytes);
        request.require_digest();
    }
    Ok(request)
}

/// The client's request as a proxy forwards it to forward-auth, for a request that carries a
/// signature: method from `X-Original-Method`/`X-Forwarded-Method`, the target URI from
/// `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Original-URI`/`X-Forwarded-Uri`, and every
/// header as received. The body is not seen: checking it against `Content-Digest` is then the
/// upstream's job. Forward-auth asks only when `Signature-Input` or `Signature` is present.
pub fn forwarded_request(headers: &HeaderMap) -> Result<HttpRequest, ApiError> {
    let get = |names: &[HeaderName]| names.iter().find_map(|n| headers.get(n).and_then(|v| v.to_str().ok()));
    let missing = |what: &str| {
        ApiError::malformed(format!(
            "a signed request needs {what} from the proxy (see docs/DEPLOYMENT.md \"Signed requests behind a proxy\")"
        ))
    };
    let method = get(&[X_ORIGINAL_METHOD, X_FORWARDED_METHOD]).ok_or_else(|| missing("X-Original-Method"))?;
    let uri = get(&[X_ORIGINAL_URI, X_FORWARDED_URI]).ok_or_else(|| missing("X-Original-URI"))?.trim();
    let target = if uri.starts_with("http://") || uri.starts_with("https://") {
        uri.to_string()
    } else {
        let proto = get(&[X_FORWARDED_PROTO]).ok_or_else(|| missing("X-Forwarded-Proto"))?.trim();
        let host = get(&[X_FORWARDED_HOST]).ok_or_else(|| missing("X-Forwarded-Host"))?.trim();
        format!("{proto}://{host}{uri}")
    };
    let mut request =
        HttpRequest::new(method, &target).map_err(|e| ApiError::malformed(format!("forwarded request: {e}")))?;
    headers_into(&mut request, headers);
    Ok(request)
}

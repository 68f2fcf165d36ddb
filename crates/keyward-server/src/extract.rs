//! Extractors whose rejections are problem details, so no request, however malformed, is
//! answered with axum's plain-text defaults.
//!
//! - [`ApiJson`]: a JSON body. Wrong or missing `Content-Type` → `415`; unparseable JSON →
//!   `400`; well-formed JSON of the wrong shape (wrong types, unknown fields: every request DTO
//!   denies unknown fields) → `422` naming the field; over 1 MiB → `413`.
//! - [`OptionalJson`]: the same, but an empty body (with or without a `Content-Type`) is the
//!   type's default; for actions like refresh whose body is optional.
//! - [`ApiQuery`]: a query string; any failure → `400`.
//! - [`Ctx`]: the [`RequestContext`] (client address, see [`crate::client_ip`]).
//! - [`Caller`]: the authenticated principal (session or API key), with CSRF enforced for
//!   cookie-authenticated writes and RFC 9421 signatures for writes of keys that need them.
//! - [`VerifierCaller`]: the caller of `/v1/verify`, an API key holding `keyward.verify:read`.

use crate::auth;
use crate::client_ip::client_ip;
use crate::error::ApiError;
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use keyward_service::auth::Authenticated;
use keyward_service::RequestContext;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::SocketAddr;

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// A JSON request body.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

/// An optional JSON request body: empty means `T::default()`.
#[derive(Debug, Clone)]
pub struct OptionalJson<T>(pub T);

/// A query string.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().as_bytes();
    let (application, suffix) = (b"application/".as_slice(), b"+json".as_slice());
    essence.eq_ignore_ascii_case(b"application/json")
        || (essence.len() >= application.len() + suffix.len()
            && essence[..application.len()].eq_ignore_ascii_case(application)
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix))
}

pub fn unsupported_media_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "send the request body as JSON with `Content-Type: application/json`",
    )
}

/// The whole body, at most [`BODY_LIMIT`] bytes. The limit is applied here rather than left to
/// a router layer, so the data plane's fast path (which skips the router) enforces the same one.
///
/// Read frame by frame: a body that arrives in one piece (a small JSON document, the usual
/// case) is that piece, without a list of frames or a copy; only a body in several pieces is
/// joined.
pub async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {BODY_LIMIT} bytes (1 MiB)"),
        )
    };
    let mut first: Option<Bytes> = None;
    let mut joined: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::malformed("the request body could not be read"))?;
        // Trailers carry no body.
        let Ok(data) = frame.into_data() else { continue };
        let read = first.as_ref().map_or(0, Bytes::len) + joined.len();
        if read + data.len() > BODY_LIMIT {
            return Err(too_large());
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            earlier => {
                if let Some(earlier) = earlier {
                    joined.extend_from_slice(&earlier);
                }
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| joined.into()))
}

/// Parses a JSON document, telling syntax errors (`400`) from shape errors (`422`, naming the
/// field as `<path>: <message>`).
pub fn parse_json<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body" } else { path.as_str() };
                ApiError::validation(field, inner)
            }
            _ => ApiError::malformed(format!("the request body is not valid JSON: {inner}")),
        }
    })?;
    deserializer.end().map_err(|e| ApiError::malformed(format!("the request body is not valid JSON: {e}")))?;
    Ok(value)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(request.headers()) {
            return Err(unsupported_media_type());
        }
        let bytes = read_body(request.into_body()).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(request.headers());
        let bytes = read_body(request.into_body()).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(T::default()));
        }
        if !json {
            return Err(unsupported_media_type());
        }
        parse_json(&bytes).map(OptionalJson)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(q)| ApiQuery(q))
            .map_err(|rejection| ApiError::malformed(rejection.body_text()))
    }
}

/// The request's context (client address) for the service.
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestContext);

/// The client address of a request: see [`crate::client_ip`].
pub fn request_context(parts: &Parts, state: &AppState) -> RequestContext {
    context_of(&parts.headers, crate::connect_info(&parts.extensions), state)
}

/// The context of a request with these headers that arrived from `peer` (the data plane's fast
/// path knows its connection's peer without a request's extensions).
pub fn context_of(headers: &HeaderMap, peer: Option<SocketAddr>, state: &AppState) -> RequestContext {
    RequestContext { client_ip: client_ip(peer.map(|p| p.ip()), headers, &state.keyward.config().trusted_proxies) }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Ctx(request_context(parts, state)))
    }
}

/// An authenticated caller: an admin's session, or an API key acting as its owner.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who, and for a session its CSRF token.
    pub auth: Authenticated,
    /// The request's context, for audit records.
    pub ctx: RequestContext,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ctx = request_context(parts, state);
        let keyward = &state.keyward;
        if let Some(credential) = auth::authorization(&parts.headers)? {
            let write = auth::is_unsafe(&parts.method);
            let request = crate::signed::management_request(parts, state, write)?;
            let authenticated =
                keyward.authenticate_request(credential.as_str(), &ctx, request.as_ref(), write).await?;
            return Ok(Caller { auth: authenticated, ctx });
        }
        let Some(token) = auth::cookie(&parts.headers, auth::SESSION_COOKIE) else {
            return Err(ApiError::unauthorized(
                "log in (POST /v1/auth/login) and send `Authorization: Bearer <session token>`, or send an API key",
            ));
        };
        if !token.starts_with("session.") {
            return Err(ApiError::unauthorized(
                "the keyward_session cookie does not hold a session token; log in again",
            ));
        }
        let authenticated = keyward.authenticate(token, &ctx).await?;
        if auth::is_unsafe(&parts.method) {
            auth::check_csrf(&parts.headers, authenticated.csrf_token.as_deref())?;
        }
        Ok(Caller { auth: authenticated, ctx })
    }
}

/// The caller of the verification endpoints: an API key (Bearer, or Basic `id:secret`) that
/// holds `keyward.verify:read`. Sessions and cookies are not accepted here.
#[derive(Debug, Clone, Copy)]
pub struct VerifierCaller;

impl FromRequestParts<AppState> for VerifierCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        VerifierCaller::authenticate(&parts.headers, crate::connect_info(&parts.extensions), state).await
    }
}

impl VerifierCaller {
    /// The caller of a request with these headers from `peer` (`POST /v1/verify`'s fast path
    /// passes its connection's peer rather than putting it in the request's extensions: that
    /// allocates a map per request).
    pub async fn authenticate(
        headers: &HeaderMap,
        peer: Option<SocketAddr>,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        let ctx = context_of(headers, peer, state);
        let Some(credential) = auth::authorization(headers)? else {
            return Err(ApiError::unauthorized(
                "callers of this endpoint authenticate with an API key holding keyward.verify:read \
                 (`Authorization: Bearer <key>` or Basic `id:secret`)",
            ));
        };
        state.keyward.authenticate_verifier(credential.as_str(), &ctx).await?;
        Ok(VerifierCaller)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    fn streamed(pieces: Vec<Vec<u8>>) -> axum::body::Body {
        let stream = futures_util::stream::iter(pieces.into_iter().map(|p| Ok::<_, std::io::Error>(Bytes::from(p))));
        axum::body::Body::from_stream(stream)
    }

    #[tokio::test]
    async fn bodies_are_read_whole_in_one_piece_or_several_up_to_the_limit() {
        let read = |pieces: Vec<Vec<u8>>| read_body(streamed(pieces));
        assert_eq!(read(vec![]).await.unwrap(), Bytes::new());
        assert_eq!(read(vec![b"{}".to_vec()]).await.unwrap(), Bytes::from_static(b"{}"));
        let pieces = vec![b"".to_vec(), b"{\"a\":".to_vec(), b"".to_vec(), b"1}".to_vec()];
        assert_eq!(read(pieces).await.unwrap(), Bytes::from_static(b"{\"a\":1}"));
        let exactly = vec![vec![b'x'; BODY_LIMIT / 2], vec![b'y'; BODY_LIMIT / 2]];
        assert_eq!(read(exactly).await.unwrap().len(), BODY_LIMIT);
        for over in [vec![vec![b'x'; BODY_LIMIT + 1]], vec![vec![b'x'; BODY_LIMIT], vec![b'y']]] {
            assert_eq!(read(over).await.unwrap_err().status(), StatusCode::PAYLOAD_TOO_LARGE);
        }
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let error = read_body(axum::body::Body::from_stream(failing)).await.unwrap_err();
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn json_errors_are_classified() {
        assert!(parse_json::<Body>(br#"{"name":"x"}"#).is_ok());
        let syntax = parse_json::<Body>(br#"{"name":"#).unwrap_err();
        assert_eq!(syntax.status(), StatusCode::BAD_REQUEST);
        let trailing = parse_json::<Body>(br#"{"name":"x"} x"#).unwrap_err();
        assert_eq!(trailing.status(), StatusCode::BAD_REQUEST);
        let wrong_type = parse_json::<Body>(br#"{"name":5}"#).unwrap_err();
        assert_eq!(wrong_type.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(wrong_type.detail().starts_with("name: "), "{}", wrong_type.detail());
        let nested = parse_json::<Body>(br#"{"name":"x","tags":["a",1]}"#).unwrap_err();
        assert!(nested.detail().starts_with("tags[1]: "), "{}", nested.detail());
        let unknown = parse_json::<Body>(br#"{"name":"x","nope":1}"#).unwrap_err();
        assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(unknown.detail().contains("nope"), "{}", unknown.detail());
        let missing = parse_json::<Body>(br#"{}"#).unwrap_err();
        assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "application/merge-patch+json".parse().unwrap());
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
        // As the media type's essence, lowercased, says.
        let reference = |value: &str| {
            let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
        };
        let values = [
            "APPLICATION/JSON",
            " application/Json ;x=1",
            "application/+json",
            "application+json",
            "application/json2",
            "application/problem+JSON",
            "application/",
            "+json",
            "",
            ";",
            "applicatioN/jsoN;",
            "text/json",
            "application/ json",
            "\tapplication/json\t;q=1",
            "application/vnd.api+json \t",
        ];
        for value in values {
            h.insert(header::CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_json(&h), reference(value), "{value:?}");
        }
    }
}

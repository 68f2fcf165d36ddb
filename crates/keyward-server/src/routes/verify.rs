//! The data plane over HTTP: `POST /v1/verify` (for a platform's back end, authenticated with a
//! verifier key) and `GET /v1/forward-auth` (for reverse proxies; the presented key is the only
//! credential).
//!
//! Forward-auth is the hot path: it borrows everything from the request, parses the permission
//! header without touching storage, and leaves the rest to the service's in-memory cache (no
//! database access for a cached key; the clock is read once there).

use crate::auth::decode_basic;
use crate::dto::{ForwardAuthBody, VerifyRequest, VerifyResponse};
use crate::error::{ApiError, Problem};
use crate::extract::{context_of, is_json, parse_json, read_body, unsupported_media_type, VerifierCaller};
use crate::header_names::{
    SIGNATURE, SIGNATURE_INPUT, X_API_KEY, X_FORWARDED_METHOD, X_KEYWARD_CODE, X_KEYWARD_KEY_ID, X_KEYWARD_OWNER,
    X_KEYWARD_PERMISSION, X_KEYWARD_TARGET, X_ORIGINAL_METHOD,
};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_domain::permission::{Access, Permission};
use keyward_service::cache::CachedKey;
use keyward_service::metrics::CODES;
use keyward_service::verify::{Channel, VerifyCode, VerifyQuery};
use std::net::{IpAddr, SocketAddr};
use std::sync::{LazyLock, OnceLock};

/// Is this key valid, from this client address, for this permission (and target)?
///
/// The caller authenticates with an API key holding `keyward.verify:read` (Bearer, or Basic
/// `id:secret`): `401` without a valid one, `403` when it lacks the permission. The answer is
/// `200` either way; `valid: false` carries `key_id` only when the caller held the key's full
/// secret. With `request`, a key's RFC 9421 signature is checked (SPEC §2 "Signed requests");
/// `body_base64` makes `content-digest` coverage mandatory and is checked against it. Every
/// answer is recorded in the usage log (`key.verified`, with the code, permission, target and
/// `client_ip`; the key id only when the caller held its full secret).
#[utoipa::path(
    post, path = "/v1/verify", tag = "verification",
    request_body = VerifyRequest,
    responses(
        (status = 200, description = "The verdict", body = VerifyResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unparseable `permission` or `client_ip`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []), ("basic" = []))
)]
pub async fn verify(State(state): State<AppState>, request: Request) -> Response {
    let peer = crate::connect_info(request.extensions());
    let (parts, body) = request.into_parts();
    verify_request(&state, &parts.headers, body, peer).await
}

/// `POST /v1/verify` from `peer`, for the router's handler and the fast path of [`crate::App`]
/// alike: the caller is authenticated first (`401`/`403`), then the body is read as JSON (`415`,
/// `413`, `400`, `422`).
///
/// The headers are borrowed: the fast path boxes this future for every request, and an `async
/// fn` keeps what it is given by value twice in its future.
pub(crate) async fn verify_request(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    peer: Option<SocketAddr>,
) -> Response {
    if let Err(e) = VerifierCaller::authenticate(headers, peer, state).await {
        return e.into_response();
    }
    if !is_json(headers) {
        return unsupported_media_type().into_response();
    }
    let bytes = match read_body(body).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    // The common case without the bookkeeping that names a failing field; a body that does
    // not parse is parsed again for that classified error.
    let body = match serde_json::from_slice::<VerifyRequest<'_>>(&bytes).or_else(|_| parse_json(&bytes)) {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    match verify_checked(state, &body).await {
        Ok(answer) => answer,
        Err(e) => e.into_response(),
    }
}

async fn verify_checked(state: &AppState, body: &VerifyRequest<'_>) -> Result<Response, ApiError> {
    let permission = match body.permission.as_deref() {
        Some(p) => Some(p.parse::<Permission>().map_err(|e| ApiError::validation("permission", e))?),
        None => None,
    };
    let client_ip = match body.client_ip.as_deref() {
        Some(ip) => Some(
            ip.trim()
                .parse::<IpAddr>()
                .map_err(|_| ApiError::validation("client_ip", format!("{ip:?} is not an IPv4 or IPv6 address")))?,
        ),
        None => None,
    };
    // Boxed: few checks carry a request, and every check's future would otherwise hold room for one.
    let request = body.request.as_ref().map(|r| crate::signed::verify_request(r).map(Box::new)).transpose()?;
    let query = VerifyQuery {
        key: &body.key,
        permission: permission.as_ref(),
        target: body.target.as_deref(),
        client_ip,
        request: request.as_deref(),
    };
    let verdict = state.keyward.check(query, Channel::Verify).await?;
    let body = match (verdict.code, verdict.key.as_deref()) {
        (VerifyCode::Valid, Some(key)) => match valid_verify_answer(key) {
            Some(body) => body,
            None => serialize_answer(&VerifyResponse::new(verdict.code, Some(key)))?.into(),
        },
        _ => serialize_answer(&VerifyResponse::from(&verdict))?.into(),
    };
    let mut response = Response::new(Body::from(body));
    *response.headers_mut() = VERIFY_HEADERS.clone();
    Ok(response)
}

/// A verify answer's headers, made once (see [`Answer`]).
static VERIFY_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::with_capacity(ANSWER_HEADERS);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    crate::secure_headers(&mut headers);
    headers
});

const VERIFY_ANSWER_BYTES: usize = 512;

/// A verify answer's body, serialized straight into a buffer the size of a typical answer (a
/// key with a few grants).
fn serialize_answer(answer: &VerifyResponse<'_>) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::with_capacity(VERIFY_ANSWER_BYTES);
    serde_json::to_writer(&mut body, answer).map_err(|e| {
        tracing::error!(error = %e, "cannot serialize a verdict");
        ApiError::internal()
    })?;
    Ok(body)
}

/// Verify's answer about a key when it is valid, rendered once per snapshot of the key (in its
/// [`CachedKey::memo`]) when it is first needed: a key checked again and again is then answered
/// without serializing anything; a change of the key makes a new snapshot, rendered anew.
///
/// Forward-auth's key headers are not kept there: a header value made once is shared, and
/// sharing it costs each answer two atomic updates of its count, in memory of its own (read
/// from RAM when many keys are checked in turn), where a value made for the answer costs a
/// small copy from the snapshot (measured in docs/BENCHMARKS.md).
#[derive(Default)]
struct Rendered {
    verify_answer: OnceLock<Option<Bytes>>,
}

fn rendered(key: &CachedKey) -> Option<&Rendered> {
    key.memo.get_or_make(Rendered::default)
}

/// A valid answer's body (`None` when it cannot be serialized: then the caller serializes it
/// again, for the error).
fn valid_verify_answer(key: &CachedKey) -> Option<Bytes> {
    let answer = rendered(key)?.verify_answer.get_or_init(|| {
        // Held as long as the snapshot: without the buffer's spare room.
        let body = serialize_answer(&VerifyResponse::new(VerifyCode::Valid, Some(key))).ok()?;
        Some(Bytes::from(body.into_boxed_slice()))
    });
    answer.clone()
}

/// Authorization for a reverse proxy (nginx `auth_request`, Traefik ForwardAuth, …).
///
/// The key comes from `Authorization: Bearer`, `X-API-Key`, or `Authorization: Basic`
/// (`id:secret`), in that order. `X-Keyward-Permission: scope.resource:access` is checked as
/// given; `scope.resource` takes the access from `X-Original-Method` or `X-Forwarded-Method`
/// (`GET`, `HEAD`, `OPTIONS` → read, others → write; **neither header → write**, failing
/// closed); without the header only validity and networks are checked. `X-Keyward-Target`
/// names the target. The client address is the TCP peer, or what a trusted proxy reports in
/// `X-Forwarded-For`/`X-Real-IP`. A request carrying `Signature-Input`/`Signature` is rebuilt
/// from `X-Original-Method`, `X-Forwarded-Proto`, `X-Forwarded-Host` and `X-Original-URI` (or
/// `X-Forwarded-Method`/`X-Forwarded-Uri`) and its signature checked (`400` when one of them is
/// missing and the key has a verify key); the body is not seen, so its `Content-Digest` is the
/// upstream's to check. Every answer carries `X-Keyward-Code`. Every check of a presented
/// credential is recorded in the usage log (`forward_auth`); a request without any
/// credential is not.
#[utoipa::path(
    get, path = "/v1/forward-auth", tag = "verification",
    params(
        ("X-API-Key" = Option<String>, Header, description = "The key, when not in `Authorization`"),
        ("X-Keyward-Permission" = Option<String>, Header, description = "`scope.resource:access`, or `scope.resource`"),
        ("X-Keyward-Target" = Option<String>, Header, description = "The target (resource instance) the request is for"),
        ("X-Original-Method" = Option<String>, Header, description = "The original request's method"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "The original request's method (Traefik)"),
        ("X-Original-URI" = Option<String>, Header, description = "Signed requests: the original path and query (or absolute URI); Traefik: `X-Forwarded-Uri`"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "Signed requests: the original scheme"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "Signed requests: the original host (and port)"),
        ("Signature-Input" = Option<String>, Header, description = "RFC 9421 signature parameters of the original request"),
        ("Signature" = Option<String>, Header, description = "RFC 9421 signature of the original request"),
    ),
    responses(
        (status = 200, description = "Allowed", body = ForwardAuthBody, headers(
            ("X-Keyward-Key-Id" = String, description = "The key's id"),
            ("X-Keyward-Owner" = String, description = "The key owner's email"),
        )),
        (status = 400, description = "Unparseable `X-Keyward-Permission`, or a signed request without the forwarded method/URI", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Key missing, malformed, unknown, expired or revoked (with `WWW-Authenticate`)", body = ForwardAuthBody),
        (status = 403, description = "`ip_not_allowed`, `insufficient_permission`, `owner_disabled`, `signature_required` or `signature_invalid`", body = ForwardAuthBody),
    ),
    security(("api_key" = []), ("x_api_key" = []), ("basic" = []))
)]
pub async fn forward_auth(State(state): State<AppState>, request: Request) -> Response {
    forward_auth_answer(&state, request.headers(), crate::connect_info(request.extensions())).await
}

/// Forward-auth's answer to a request with these headers from this peer (the router's handler
/// and the fast path of [`crate::App`] both come here).
pub(crate) async fn forward_auth_answer(state: &AppState, headers: &HeaderMap, peer: Option<SocketAddr>) -> Response {
    let client = context_of(headers, peer, state).client_ip;
    let read = ForwardAuthHeaders::read(headers);
    let permission = match header_permission(&read) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let target = read.target.and_then(|v| v.to_str().ok());
    let basic_pair;
    let key = match presented_key(&read) {
        Presented::Direct(k) => k,
        Presented::Basic(encoded) => match decode_basic(encoded) {
            Some(pair) => {
                basic_pair = pair;
                basic_pair.as_str()
            }
            // Checked as the empty key: rejected without a lookup, but counted and logged
            // (`not_found`) like any other unusable credential.
            None => "",
        },
        Presented::Unusable => "",
        Presented::Missing => return ANSWERS.missing_credential.response(),
    };
    // A signed request whose method or URI the proxy did not forward cannot be checked; that
    // is a `400` only for keys that have a verify key (other keys ignore signatures).
    // Boxed, as in `verify_checked`: few requests are signed.
    let (request, unforwarded) = match read.signed.then(|| crate::signed::forwarded_request(headers)) {
        None => (None, None),
        Some(Ok(r)) => (Some(Box::new(r)), None),
        Some(Err(e)) => (None, Some(Box::new(e))),
    };
    let query =
        VerifyQuery { key, permission: permission.as_ref(), target, client_ip: client, request: request.as_deref() };
    let verdict = match state.keyward.check(query, Channel::ForwardAuth).await {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if let Some(e) = unforwarded.filter(|_| verdict.key.as_ref().is_some_and(|k| k.verify_key.is_some())) {
        return (*e).into_response();
    }
    code_answer(verdict.code, verdict.key.as_deref())
}

/// The request headers forward-auth reads, found in one pass over the request's headers: a
/// lookup by name hashes the name and probes the table (five lookups were a tenth of the
/// handler's instructions), where a request's few names are compared here. A name that occurs
/// more than once gives its first value, as a lookup does.
#[derive(Default)]
struct ForwardAuthHeaders<'h> {
    authorization: Option<&'h HeaderValue>,
    api_key: Option<&'h HeaderValue>,
    permission: Option<&'h HeaderValue>,
    target: Option<&'h HeaderValue>,
    original_method: Option<&'h HeaderValue>,
    forwarded_method: Option<&'h HeaderValue>,
    /// A `Signature-Input` or `Signature` header is present.
    signed: bool,
}

impl<'h> ForwardAuthHeaders<'h> {
    fn read(headers: &'h HeaderMap) -> Self {
        let mut read = ForwardAuthHeaders::default();
        for (name, value) in headers {
            let slot = if name == header::AUTHORIZATION {
                &mut read.authorization
            } else if name == X_API_KEY {
                &mut read.api_key
            } else if name == X_KEYWARD_PERMISSION {
                &mut read.permission
            } else if name == X_KEYWARD_TARGET {
                &mut read.target
            } else if name == X_ORIGINAL_METHOD {
                &mut read.original_method
            } else if name == X_FORWARDED_METHOD {
                &mut read.forwarded_method
            } else {
                read.signed |= name == SIGNATURE_INPUT || name == SIGNATURE;
                continue;
            };
            slot.get_or_insert(value);
        }
        read
    }
}

enum Presented<'a> {
    Direct(&'a str),
    Basic(&'a str),
    /// An `Authorization` header Keyward cannot use, and no `X-API-Key`.
    Unusable,
    Missing,
}

fn presented_key<'h>(headers: &ForwardAuthHeaders<'h>) -> Presented<'h> {
    let authorization = headers.authorization.map(|v| {
        let v = v.to_str().unwrap_or("").trim();
        v.split_once(' ').map(|(scheme, rest)| (scheme, rest.trim())).unwrap_or((v, ""))
    });
    if let Some((scheme, rest)) = authorization {
        if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            return Presented::Direct(rest);
        }
    }
    if let Some(key) = headers.api_key.and_then(|v| v.to_str().ok()) {
        return Presented::Direct(key.trim());
    }
    match authorization {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("basic") && !rest.is_empty() => Presented::Basic(rest),
        Some(_) => Presented::Unusable,
        None => Presented::Missing,
    }
}

/// The permission `X-Keyward-Permission` asks for; `400` when it does not parse.
fn header_permission(headers: &ForwardAuthHeaders<'_>) -> Result<Option<Permission>, ApiError> {
    let Some(value) = headers.permission else {
        return Ok(None);
    };
    let raw = value.to_str().map_err(|_| ApiError::malformed("X-Keyward-Permission is not printable ASCII"))?.trim();
    let parsed = if raw.contains(':') {
        raw.parse::<Permission>()
    } else {
        let method = headers.original_method.or(headers.forwarded_method).and_then(|v| v.to_str().ok());
        // No method header: the request may change something, so ask for write (fail closed).
        let access = method.map_or(Access::Write, Access::for_method);
        // Without writing `raw:access` out, unless it is wrong: then its error is the one the
        // whole text gives.
        Permission::with_access(raw, access).or_else(|_| [raw, ":", access.as_str()].concat().parse::<Permission>())
    };
    parsed.map(Some).map_err(|e| {
        ApiError::malformed(format!(
            "X-Keyward-Permission: {e} (or `scope.resource` to take the access from the method)"
        ))
    })
}

const ANSWER_HEADERS: usize = 12;

/// One of forward-auth's answers without the key's own headers, made once: an answer is a copy
/// (cloning a header map copies its entries, where inserting hashes each name; the ten inserts
/// of a valid answer cost more than the rest of it).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn new(status: StatusCode, code: &'static str, invalid_token: bool) -> Answer {
        // Room for every header an answer ends with, so a copy is never grown.
        let mut h = HeaderMap::with_capacity(ANSWER_HEADERS);
        if status == StatusCode::OK {
            // Set to the key's for each answer, in place ([`set_key_headers`]); first, so that
            // they are the first entries it looks at.
            h.insert(X_KEYWARD_KEY_ID, HeaderValue::from_static(""));
            h.insert(X_KEYWARD_OWNER, HeaderValue::from_static(""));
        }
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(X_KEYWARD_CODE, HeaderValue::from_static(code));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if invalid_token {
                "Bearer realm=\"keyward\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"keyward\""
            };
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        } else if code == "insufficient_permission" {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keyward\", error=\"insufficient_scope\""),
            );
        }
        crate::secure_headers(&mut h);
        Answer { status, headers: h, body: Bytes::from(format!("{{\"code\":\"{code}\"}}")) }
    }

    fn response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Forward-auth's answers: one for a request without a credential, and one for each code.
struct Answers {
    missing_credential: Answer,
    /// At `code as usize` (the order of `keyward_service::metrics::CODES`).
    by_code: Vec<Answer>,
}

static ANSWERS: LazyLock<Answers> = LazyLock::new(|| Answers {
    missing_credential: Answer::new(StatusCode::UNAUTHORIZED, "missing_credential", false),
    by_code: CODES
        .iter()
        .map(|&code| Answer::new(answer_status(code), code.as_str(), code != VerifyCode::Valid))
        .collect(),
});

/// Sets a valid answer's `X-Keyward-Key-Id` and `X-Keyward-Owner` (left out when `None`: the
/// text cannot be a header value). Their entries are found by walking the copy's entries,
/// where they come first, and comparing names: inserting would hash each name and probe the
/// table (a fifth of the answer's instructions, counted with callgrind).
fn set_key_headers(h: &mut HeaderMap, mut id: Option<HeaderValue>, mut owner: Option<HeaderValue>) {
    if id.is_none() {
        h.remove(X_KEYWARD_KEY_ID);
    }
    if owner.is_none() {
        h.remove(X_KEYWARD_OWNER);
    }
    for (name, slot) in h.iter_mut() {
        if id.is_none() && owner.is_none() {
            break;
        }
        let value = if name == X_KEYWARD_KEY_ID {
            id.take()
        } else if name == X_KEYWARD_OWNER {
            owner.take()
        } else {
            continue;
        };
        if let Some(v) = value {
            *slot = v;
        }
    }
    // Left only when the map had no such entry (never, from a template).
    if let Some(v) = id {
        h.insert(X_KEYWARD_KEY_ID, v);
    }
    if let Some(v) = owner {
        h.insert(X_KEYWARD_OWNER, v);
    }
}

/// `200` for a valid key, `401` when the credential itself is no good, `403` otherwise.
fn answer_status(code: VerifyCode) -> StatusCode {
    match code {
        VerifyCode::Valid => StatusCode::OK,
        code if code.is_authentication_failure() => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    }
}

/// The answer for `code` (for a valid key, with the key's id and owner).
fn code_answer(code: VerifyCode, key: Option<&CachedKey>) -> Response {
    let Some(template) = ANSWERS.by_code.get(code as usize) else {
        return ApiError::internal().into_response();
    };
    match (code, key) {
        (VerifyCode::Valid, Some(k)) => {
            let mut response = template.response();
            let id = HeaderValue::from_str(k.id.as_str()).ok();
            let owner = HeaderValue::from_bytes(k.owner_email.as_bytes()).ok();
            set_key_headers(response.headers_mut(), id, owner);
            response
        }
        // A check is only valid with the key it found; without one, the credential is no good.
        (VerifyCode::Valid, None) => Answer::new(StatusCode::UNAUTHORIZED, code.as_str(), true).response(),
        _ => template.response(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn permission_header_rules() {
        let p = |pairs: &[(&'static str, &str)]| {
            header_permission(&ForwardAuthHeaders::read(&headers(pairs))).map(|p| p.map(|p| p.to_string()))
        };
        assert_eq!(p(&[]).unwrap(), None);
        assert_eq!(p(&[("x-keyward-permission", "events.alerts:read")]).unwrap().unwrap(), "events.alerts:read");
        let with_method = |m: &str| p(&[("x-keyward-permission", "events.alerts"), ("x-original-method", m)]);
        assert_eq!(with_method("GET").unwrap().unwrap(), "events.alerts:read");
        assert_eq!(with_method("head").unwrap().unwrap(), "events.alerts:read");
        assert_eq!(with_method("DELETE").unwrap().unwrap(), "events.alerts:write");
        let traefik = p(&[("x-keyward-permission", "events.alerts"), ("x-forwarded-method", "OPTIONS")]);
        assert_eq!(traefik.unwrap().unwrap(), "events.alerts:read");
        assert_eq!(p(&[("x-keyward-permission", "events.alerts")]).unwrap().unwrap(), "events.alerts:write");
        assert!(p(&[("x-keyward-permission", "events")]).is_err());
        assert!(p(&[("x-keyward-permission", "events.alerts:admin")]).is_err());
    }

    #[test]
    fn key_headers_are_set_in_the_valid_answers_copy() {
        let valid = || ANSWERS.by_code[VerifyCode::Valid as usize].response();
        let template_len = valid().headers().len();
        let id = || Some(HeaderValue::from_static("k1"));
        let owner = || Some(HeaderValue::from_static("alice@example.com"));
        let set = |id, owner| {
            let mut response = valid();
            set_key_headers(response.headers_mut(), id, owner);
            response.into_parts().0.headers
        };
        let both = set(id(), owner());
        assert_eq!(both.get(X_KEYWARD_KEY_ID).unwrap(), "k1");
        assert_eq!(both.get(X_KEYWARD_OWNER).unwrap(), "alice@example.com");
        assert_eq!(both.len(), template_len, "set in place, nothing added");
        assert_eq!(both.get(X_KEYWARD_CODE).unwrap(), "valid");
        // A value that cannot be made leaves its header out, the other still set.
        let no_owner = set(id(), None);
        assert_eq!(no_owner.get(X_KEYWARD_KEY_ID).unwrap(), "k1");
        assert!(!no_owner.contains_key(X_KEYWARD_OWNER));
        let no_id = set(None, owner());
        assert!(!no_id.contains_key(X_KEYWARD_KEY_ID));
        assert_eq!(no_id.get(X_KEYWARD_OWNER).unwrap(), "alice@example.com");
        assert_eq!(no_id.len(), template_len - 1);
        // A map without the entries gets them.
        let mut bare = HeaderMap::new();
        set_key_headers(&mut bare, id(), owner());
        assert_eq!(bare.get(X_KEYWARD_KEY_ID).unwrap(), "k1");
        assert_eq!(bare.get(X_KEYWARD_OWNER).unwrap(), "alice@example.com");
    }

    fn read(headers: &HeaderMap) -> ForwardAuthHeaders<'_> {
        ForwardAuthHeaders::read(headers)
    }

    #[test]
    fn one_pass_finds_what_lookups_find() {
        let mut h = HeaderMap::new();
        for (name, value) in [
            ("host", "keyward"),
            ("x-keyward-permission", "events.alerts:read"),
            ("authorization", "Bearer k1"),
            ("authorization", "Bearer k2"),
            ("x-api-key", "k3"),
            ("x-keyward-target", "t1"),
            ("x-original-method", "GET"),
            ("x-forwarded-method", "POST"),
            ("x-keyward-permission", "events.alerts:write"),
        ] {
            h.append(name, HeaderValue::from_static(value));
        }
        let r = read(&h);
        let names = [
            header::AUTHORIZATION,
            X_API_KEY,
            X_KEYWARD_PERMISSION,
            X_KEYWARD_TARGET,
            X_ORIGINAL_METHOD,
            X_FORWARDED_METHOD,
        ];
        let found = [r.authorization, r.api_key, r.permission, r.target, r.original_method, r.forwarded_method];
        for (name, value) in names.iter().zip(found) {
            assert_eq!(value, h.get(name), "{name}");
        }
        assert_eq!(r.authorization.unwrap(), "Bearer k1", "the first of several values");
        assert!(!r.signed);
        assert!(read(&headers(&[("signature-input", "sig1=()")])).signed);
        assert!(read(&headers(&[("signature", "sig1=:AA==:")])).signed);
        let none = HeaderMap::new();
        let empty = read(&none);
        assert!(empty.authorization.is_none() && empty.permission.is_none() && !empty.signed);
    }

    #[test]
    fn key_sources_in_order() {
        assert!(matches!(
            presented_key(&read(&headers(&[("authorization", "Bearer k1"), ("x-api-key", "k2")]))),
            Presented::Direct("k1")
        ));
        assert!(matches!(
            presented_key(&read(&headers(&[("authorization", "Basic abc"), ("x-api-key", "k2")]))),
            Presented::Direct("k2")
        ));
        assert!(matches!(presented_key(&read(&headers(&[("authorization", "Basic abc")]))), Presented::Basic("abc")));
        assert!(matches!(presented_key(&read(&headers(&[("authorization", "Digest x")]))), Presented::Unusable));
        assert!(matches!(presented_key(&read(&HeaderMap::new())), Presented::Missing));
    }
}

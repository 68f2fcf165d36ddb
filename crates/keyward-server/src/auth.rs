//! Credentials on the wire: where a request carries them, and the cookies the console uses.
//!
//! - `Authorization: Bearer <token>`: a session token (`session.…`) or an API key.
//! - `Authorization: Basic base64(id:secret)`: an API key; the decoded `id:secret` is handed to
//!   the service, which parses it like any presented key.
//! - Cookie `keyward_session`: a session token, set by login for the console. Because a browser
//!   sends cookies on cross-site requests, cookie-authenticated writes must echo the session's
//!   CSRF token in `X-CSRF-Token` (the double-submit pattern; the token is also readable from
//!   the non-`HttpOnly` cookie `keyward_csrf` and from `GET /v1/auth/me`). Requests with an
//!   `Authorization` header need no CSRF token: browsers never add that header by themselves.
//!
//! Keys are read only from headers, never from the query string.

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use base64::Engine;

pub const SESSION_COOKIE: &str = "keyward_session";
pub const CSRF_COOKIE: &str = "keyward_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A credential found in the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum HeaderCredential<'a> {
    Bearer(&'a str),
    /// The decoded `id:secret` of Basic authentication.
    Basic(String),
}

impl HeaderCredential<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            HeaderCredential::Bearer(t) => t,
            HeaderCredential::Basic(s) => s,
        }
    }
}

impl std::fmt::Debug for HeaderCredential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderCredential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            HeaderCredential::Basic(_) => f.write_str("Basic(<redacted>)"),
        }
    }
}

/// The credential of the `Authorization` header: `None` when there is no header; `401` for a
/// header Keyward cannot use.
pub fn authorization(headers: &HeaderMap) -> Result<Option<HeaderCredential<'_>>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value =
        value.to_str().map_err(|_| ApiError::unauthorized("the Authorization header is not printable ASCII"))?.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(ApiError::unauthorized("the Authorization header has no credential after its scheme"));
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(HeaderCredential::Bearer(rest)))
    } else if scheme.eq_ignore_ascii_case("basic") {
        decode_basic(rest)
            .map(|pair| Some(HeaderCredential::Basic(pair)))
            .ok_or_else(|| ApiError::unauthorized("the Basic credential is not base64 of `id:secret`"))
    } else {
        Err(ApiError::unauthorized(
            "use `Authorization: Bearer <token or key>` or `Authorization: Basic base64(id:secret)`",
        ))
    }
}

/// `base64(id:secret)` → `id:secret`, when it is UTF-8 with a colon.
pub fn decode_basic(encoded: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
    let pair = String::from_utf8(bytes).ok()?;
    pair.contains(':').then_some(pair)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// Methods that change something and so need the CSRF token when authenticated by cookie.
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Checks the double-submitted CSRF token of a cookie-authenticated write.
pub fn check_csrf(headers: &HeaderMap, expected: Option<&str>) -> Result<(), ApiError> {
    let given = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    match (given, expected) {
        (Some(given), Some(expected)) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
        (None, _) => Err(ApiError::forbidden(
            "cookie-authenticated requests that change something must send the session's CSRF token in the \
             X-CSRF-Token header (from the login answer, the keyward_csrf cookie or GET /v1/auth/me)",
        )),
        _ => Err(ApiError::forbidden("the X-CSRF-Token header does not match this session's CSRF token")),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The two `Set-Cookie` values of a login: the `HttpOnly` session and the readable CSRF token.
pub fn login_cookies(session: &str, csrf: &str, max_age_secs: i64, secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age_secs.max(0);
    [
        set_cookie(format!("{SESSION_COOKIE}={session}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")),
        set_cookie(format!("{CSRF_COOKIE}={csrf}; Path=/; Max-Age={max_age}; SameSite=Strict{secure}")),
    ]
}

/// The two `Set-Cookie` values that clear the login cookies.
pub fn logout_cookies(secure: bool) -> [HeaderValue; 2] {
    let secure = if secure { "; Secure" } else { "" };
    [
        set_cookie(format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}")),
        set_cookie(format!("{CSRF_COOKIE}=; Path=/; Max-Age=0; SameSite=Strict{secure}")),
    ]
}

fn set_cookie(value: String) -> HeaderValue {
    // Tokens are base62 and the attributes ASCII, so this cannot fail; an empty cookie is the
    // harmless fallback.
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn with(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn authorization_schemes() {
        let h = with(header::AUTHORIZATION, "Bearer abc");
        assert_eq!(authorization(&h).unwrap(), Some(HeaderCredential::Bearer("abc")));
        let h = with(header::AUTHORIZATION, "bearer   abc ");
        assert_eq!(authorization(&h).unwrap(), Some(HeaderCredential::Bearer("abc")));
        let encoded = base64::engine::general_purpose::STANDARD.encode("id:kw_id_secret");
        let h = with(header::AUTHORIZATION, &format!("Basic {encoded}"));
        assert_eq!(authorization(&h).unwrap(), Some(HeaderCredential::Basic("id:kw_id_secret".into())));
        assert!(authorization(&with(header::AUTHORIZATION, "Basic !!!")).is_err());
        assert!(authorization(&with(header::AUTHORIZATION, "Digest x")).is_err());
        assert!(authorization(&with(header::AUTHORIZATION, "Bearer")).is_err());
        assert_eq!(authorization(&HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn cookies_and_csrf() {
        let h = with(header::COOKIE, "a=1; keyward_session=session.xyz; keyward_csrf=c");
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("session.xyz"));
        assert_eq!(cookie(&h, "nope"), None);
        assert!(check_csrf(&with(header::HeaderName::from_static(CSRF_HEADER), "tok"), Some("tok")).is_ok());
        assert!(check_csrf(&with(header::HeaderName::from_static(CSRF_HEADER), "bad"), Some("tok")).is_err());
        assert!(check_csrf(&HeaderMap::new(), Some("tok")).is_err());
        let [session, csrf] = login_cookies("session.x", "c", 60, true);
        let session = session.to_str().unwrap();
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict") && session.contains("Secure"));
        assert!(!csrf.to_str().unwrap().contains("HttpOnly"));
    }
}

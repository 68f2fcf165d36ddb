//! HTTP client for Keyward's documented JSON API.
//!
//! The CLI is an ordinary client of the HTTP API (it does not share the
//! server's internal types): requests and responses are `serde_json::Value`.
//! This module owns the base URL, the `Authorization: Bearer` header and the
//! mapping of RFC 9457 problem details into [`ApiError`]. The base URL is a
//! constructor argument, so tests can point a client at any server.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use crate::output::sanitize;

/// A non-success answer from the server, usually from a problem+json body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: Option<String>,
    pub title: Option<String>,
    pub detail: Option<String>,
}

impl ApiError {
    /// Builds the error from a response's status and body. The body is read as
    /// problem details (`{"type","title","status","detail","code"}`) when it is a
    /// JSON object, as an OAuth error (`{"error","error_description"}`) as a
    /// fallback, and otherwise a short excerpt of it becomes the detail.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        if let Ok(Value::Object(problem)) = serde_json::from_slice::<Value>(body) {
            return Self {
                status,
                code: text(problem.get("code")).or_else(|| text(problem.get("error"))),
                title: text(problem.get("title")),
                detail: text(problem.get("detail")).or_else(|| text(problem.get("error_description"))),
            };
        }
        let excerpt: String = String::from_utf8_lossy(body).trim().chars().take(200).collect();
        Self { status, code: None, title: None, detail: (!excerpt.is_empty()).then_some(excerpt) }
    }

    /// The human sentence: the detail, else the title, else the status's reason.
    pub fn message(&self) -> String {
        let reason =
            StatusCode::from_u16(self.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("unexpected response");
        let message = self.detail.as_deref().or(self.title.as_deref()).unwrap_or(reason);
        sanitize(message)
    }
}

/// `<detail> (<code>, HTTP <status>)`, or `<detail> (HTTP <status>)` without a code.
impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({}, HTTP {})", self.message(), sanitize(code), self.status),
            None => write!(f, "{} (HTTP {})", self.message(), self.status),
        }
    }
}

impl std::error::Error for ApiError {}

/// Everything that can go wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// No answer: refused, DNS failure, TLS failure, timeout, reset.
    #[error("could not reach the Keyward server at {server}: {reason}")]
    Unreachable { server: String, reason: String },
    /// The `--server` value is not a usable base URL.
    #[error("invalid server URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// A success status whose body is not the JSON the API promises.
    #[error("unexpected response from {server} (HTTP {status}): {reason}")]
    BadResponse { server: String, status: u16, reason: String },
}

impl ClientError {
    /// The API error inside, if the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// A client bound to one server and (optionally) one bearer credential.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    /// Signs write requests (RFC 9421) for an API key with a verify key: the private key and
    /// the key id.
    signer: Option<std::sync::Arc<(keyward_domain::signing_key::SigningKey, String)>>,
}

/// Never shows the credential.
impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("signer", &self.signer.as_ref().map(|s| s.1.as_str()))
            .finish()
    }
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080` or `https://host/prefix`),
    /// sending `Authorization: Bearer <token>` when a token is given.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidUrl { url: base.to_owned(), reason: reason.to_owned() };
        let url = Url::parse(base.trim()).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("it must start with http:// or https://"));
        }
        if url.cannot_be_a_base() || url.host_str().is_none() {
            return Err(invalid("it has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("it must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("credentials do not belong in the URL"));
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            // A redirect could carry the credential elsewhere; report it instead.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(Self { http, base: url, token, signer: None })
    }

    /// Signs every write request with `key` for key `key_id` (a management key with a verify
    /// key must sign its writes).
    pub fn with_signer(mut self, key: keyward_domain::signing_key::SigningKey, key_id: String) -> Self {
        self.signer = Some(std::sync::Arc::new((key, key_id)));
        self
    }

    /// The server's base URL, without a trailing slash.
    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The URL of `segments` under the base URL; each segment is percent-encoded,
    /// so an id can never change the path or add a query.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value, ClientError> {
        self.send(Method::GET, segments, query, None).await
    }

    /// POST with a JSON body; actions without parameters send `{}`, so a body is
    /// always JSON.
    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        self.send(Method::POST, segments, &[], Some(body)).await
    }

    pub async fn patch(&self, segments: &[&str], body: &Value) -> Result<Value, ClientError> {
        self.send(Method::PATCH, segments, &[], Some(body)).await
    }

    pub async fn delete(&self, segments: &[&str]) -> Result<Value, ClientError> {
        self.send(Method::DELETE, segments, &[], None).await
    }

    /// Sends one request. A success with an empty body (e.g. `204`) is `Value::Null`.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let mut url = self.url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let body = body.map(|b| serde_json::to_vec(b).unwrap_or_default());
        let signature = match &self.signer {
            Some(signer) if !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) => {
                let (key, key_id) = signer.as_ref();
                crate::commands::sign::signed_headers(key, key_id, method.as_str(), url.as_str(), &[], body.as_deref())
                    .map_err(|e| ClientError::InvalidUrl { url: url.to_string(), reason: format!("{e:#}") })?
            }
            _ => Vec::new(),
        };
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json, application/problem+json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in signature {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let location =
            response.headers().get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned);
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;

        if status.is_redirection() {
            let to = location.unwrap_or_else(|| "another address".to_owned());
            return Err(ApiError {
                status: status.as_u16(),
                code: None,
                title: None,
                detail: Some(format!("the server redirects to {to}; pass that base URL with --server")),
            }
            .into());
        }
        if !status.is_success() {
            return Err(ApiError::from_response(status.as_u16(), &bytes).into());
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse {
            server: self.server().to_owned(),
            status: status.as_u16(),
            reason: format!("the body is not JSON ({e})"),
        })
    }

    /// POSTs an `application/x-www-form-urlencoded` body with HTTP Basic credentials (the OAuth
    /// endpoints). Answers the status and the JSON body, whatever the status: OAuth errors are
    /// RFC 6749 JSON, not problem details.
    pub async fn post_form(
        &self,
        segments: &[&str],
        basic: (&str, &str),
        form: &[(&str, &str)],
    ) -> Result<(u16, Value), ClientError> {
        let response = self
            .http
            .post(self.url(segments))
            .basic_auth(basic.0, Some(basic.1))
            .form(form)
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(&e))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, body))
    }

    fn unreachable(&self, error: &reqwest::Error) -> ClientError {
        let reason = if error.is_timeout() { "the request timed out".to_owned() } else { root_cause(error) };
        ClientError::Unreachable { server: self.server().to_owned(), reason }
    }
}

/// The innermost cause, which names what actually failed ("Connection refused").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn problem_json_is_formatted() {
        let body = json!({
            "type": "about:blank", "title": "Conflict", "status": 409,
            "detail": "a key named \"ci\" already exists", "code": "conflict"
        });
        let e = ApiError::from_response(409, body.to_string().as_bytes());
        assert_eq!(e.code.as_deref(), Some("conflict"));
        assert_eq!(e.to_string(), "a key named \"ci\" already exists (conflict, HTTP 409)");
    }

    #[test]
    fn problem_without_detail_uses_title_then_reason() {
        let e = ApiError::from_response(403, br#"{"title":"Forbidden","code":"forbidden"}"#);
        assert_eq!(e.to_string(), "Forbidden (forbidden, HTTP 403)");
        let e = ApiError::from_response(502, b"");
        assert_eq!(e.to_string(), "Bad Gateway (HTTP 502)");
        let e = ApiError::from_response(500, b"<html>oops</html>");
        assert_eq!(e.to_string(), "<html>oops</html> (HTTP 500)");
    }

    #[test]
    fn oauth_errors_are_understood() {
        let e = ApiError::from_response(401, br#"{"error":"invalid_client","error_description":"unknown client"}"#);
        assert_eq!(e.to_string(), "unknown client (invalid_client, HTTP 401)");
    }

    #[test]
    fn control_characters_in_detail_are_neutralized() {
        let e = ApiError::from_response(422, br#"{"detail":"bad\u001b[31m name\n","code":"x"}"#);
        assert!(!e.to_string().contains('\u{1b}'));
        assert!(!e.to_string().contains('\n'));
    }

    #[test]
    fn urls_are_validated_and_segments_encoded() {
        assert!(Client::new("localhost:8080", None).is_err());
        assert!(Client::new("ftp://x", None).is_err());
        assert!(Client::new("http://u:p@x", None).is_err());
        let c = Client::new("https://keys.example.com/prefix/", None).unwrap();
        assert_eq!(c.server(), "https://keys.example.com/prefix");
        assert_eq!(c.url(&["v1", "keys", "a/b?c"]).as_str(), "https://keys.example.com/prefix/v1/keys/a%2Fb%3Fc");
        let c = Client::new("http://127.0.0.1:8080", Some("secret".into())).unwrap();
        assert_eq!(c.url(&["v1", "keys"]).as_str(), "http://127.0.0.1:8080/v1/keys");
        assert!(!format!("{c:?}").contains("secret"));
    }

    /// Serves one canned response and hands back the raw request it received.
    async fn one_shot(response: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = socket.read(&mut buf).await.unwrap();
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            socket.write_all(response.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
            String::from_utf8_lossy(&request).to_string()
        });
        (base, handle)
    }

    #[tokio::test]
    async fn sends_bearer_query_and_body() {
        let (base, server) = one_shot(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\nconnection: close\r\n\r\n{\"ok\":true}",
        )
        .await;
        let client = Client::new(&base, Some("tok123".into())).unwrap();
        let value = client
            .send(
                Method::POST,
                &["v1", "logs"],
                &[("key_id", "a".into()), ("key_id", "b c".into())],
                Some(&json!({"name": "x"})),
            )
            .await
            .unwrap();
        assert_eq!(value, json!({"ok": true}));
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /v1/logs?key_id=a&key_id=b+c HTTP/1.1"), "{request}");
        assert!(request.to_ascii_lowercase().contains("authorization: bearer tok123"));
        assert!(request.ends_with(r#"{"name":"x"}"#));
    }

    #[tokio::test]
    async fn maps_problem_and_empty_success() {
        let body = r#"{"type":"about:blank","title":"Unauthorized","status":401,"detail":"no credentials","code":"unauthorized"}"#;
        let response: &'static str = Box::leak(
            format!(
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_boxed_str(),
        );
        let (base, server) = one_shot(response).await;
        let err = Client::new(&base, None).unwrap().get(&["v1", "keys"], &[]).await.unwrap_err();
        server.await.unwrap();
        let api = err.api().unwrap();
        assert_eq!(api.status, 401);
        assert_eq!(err.to_string(), "no credentials (unauthorized, HTTP 401)");

        let (base, server) = one_shot("HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n").await;
        let value = Client::new(&base, None).unwrap().delete(&["v1", "keys", "k"]).await.unwrap();
        server.await.unwrap();
        assert_eq!(value, Value::Null);
    }

    #[tokio::test]
    async fn unreachable_server_is_named() {
        // Bind then drop, so nothing listens on the port.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let err = Client::new(&base, None).unwrap().get(&["healthz"], &[]).await.unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }));
        assert!(err.to_string().starts_with(&format!("could not reach the Keyward server at {base}")), "{err}");
    }
}

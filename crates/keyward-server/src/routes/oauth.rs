//! OAuth 2.0 over HTTP: the client-credentials token endpoint (RFC 6749 §4.4), introspection
//! (RFC 7662), revocation (RFC 7009), the JWKS and the RFC 8414 metadata; and the superadmin's
//! signing-key administration.
//!
//! The OAuth endpoints read `application/x-www-form-urlencoded` bodies and answer errors as
//! RFC 6749 §5.2 JSON (`{"error","error_description"}`), not problem details, because OAuth
//! clients expect that shape. A repeated parameter is `invalid_request` (RFC 6749 §3.2).

use crate::auth::decode_basic;
use crate::dto::{
    IntrospectForm, IntrospectionResponse, JwkDto, JwksResponse, OAuthErrorBody, RevokeForm, ServerMetadata,
    SigningKeyDto, SigningKeyList, TokenForm, TokenResponse,
};
use crate::error::{ApiError, Problem};
use crate::extract::{Caller, Ctx, VerifierCaller};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use keyward_domain::policy::authorize_signing_keys;
use keyward_service::tokens::{ClientCredentials, OAuthError};
use std::collections::HashMap;

/// Every answer of the token endpoint carries these (RFC 6749 §5.1).
fn no_store(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An RFC 6749 §5.2 error answer; `basic` adds the `WWW-Authenticate` challenge to a `401`.
fn oauth_error(status: StatusCode, error: &'static str, description: impl Into<String>, basic: bool) -> Response {
    let body = OAuthErrorBody { error, error_description: description.into() };
    let mut response = (status, Json(body)).into_response();
    if basic && status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="keyward""#));
    }
    response
}

fn invalid_request(description: impl Into<String>) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description, false)
}

fn map_error(e: OAuthError, basic: bool) -> Response {
    match e {
        OAuthError::InvalidRequest(m) => invalid_request(m),
        OAuthError::InvalidClient => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed: unknown client, wrong secret, or a revoked or expired key",
            basic,
        ),
        OAuthError::UnauthorizedClient(m) => oauth_error(StatusCode::BAD_REQUEST, "unauthorized_client", m, false),
        OAuthError::InvalidScope(m) => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", m, false),
        OAuthError::UnsupportedGrantType(m) => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", m, false),
        OAuthError::Service(e) => {
            tracing::error!(error = %e, "token endpoint failed");
            oauth_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "an internal error occurred", false)
        }
    }
}

/// The parameters of a form body, each at most once.
fn form(headers: &HeaderMap, body: &[u8]) -> Result<HashMap<String, String>, OAuthError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(OAuthError::InvalidRequest("the body must be application/x-www-form-urlencoded".into()));
    }
    let mut params = HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if params.insert(name.to_string(), value.to_string()).is_some() {
            return Err(OAuthError::InvalidRequest(format!("the parameter {name:?} is repeated")));
        }
    }
    Ok(params)
}

/// `client_id`/`client_secret` from HTTP Basic (form-urlencoded inside, RFC 6749 §2.3.1) or
/// from the body; using both, or another scheme, is refused. The flag tells whether Basic was
/// used (a `401` then carries a challenge).
fn client_credentials(
    headers: &HeaderMap,
    params: &mut HashMap<String, String>,
) -> Result<((String, String), bool), (OAuthError, bool)> {
    let in_body = params.contains_key("client_secret");
    match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().unwrap_or("");
            let (scheme, encoded) = value.trim().split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err((OAuthError::InvalidClient, true));
            }
            if in_body {
                let both = "use one client authentication method: HTTP Basic or the body";
                return Err((OAuthError::InvalidRequest(both.into()), true));
            }
            let Some(pair) = decode_basic(encoded.trim()) else {
                return Err((OAuthError::InvalidClient, true));
            };
            let decode =
                |s: &str| form_urlencoded::parse(format!("v={s}").as_bytes()).map(|(_, v)| v.to_string()).next();
            let (id, secret) = pair.split_once(':').unwrap_or((&pair, ""));
            let id = decode(id).unwrap_or_default();
            if params.get("client_id").is_some_and(|body_id| *body_id != id) {
                let differs = "client_id in the body differs from the HTTP Basic user";
                return Err((OAuthError::InvalidRequest(differs.into()), true));
            }
            Ok(((id, decode(secret).unwrap_or_default()), true))
        }
        None => match (params.remove("client_id"), params.remove("client_secret")) {
            (Some(id), Some(secret)) => Ok(((id, secret), false)),
            // No client authentication at all: challenge for Basic.
            _ => Err((OAuthError::InvalidClient, true)),
        },
    }
}

/// Issue an access token (OAuth 2.0 client credentials).
///
/// Client authentication: `client_secret_basic` (HTTP Basic, user = key id, password = the
/// key's whole secret) or `client_secret_post` (`client_id`, `client_secret` in the form). The
/// key's network restrictions and its owner's status apply. Errors are RFC 6749 §5.2 JSON:
/// `400 invalid_request`, `401 invalid_client` (unknown client, wrong secret, revoked or expired
/// key; with `WWW-Authenticate: Basic` when Basic was used), `400 unauthorized_client` (client
/// address not allowed, owner disabled), `400 unsupported_grant_type`, `400 invalid_scope`.
/// Every answer is `Cache-Control: no-store`. Recorded in the usage log as `token.issued`.
#[utoipa::path(
    post, path = "/oauth2/token", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "An RFC 9068 access token", body = TokenResponse),
        (status = 400, body = OAuthErrorBody),
        (status = 401, body = OAuthErrorBody),
    ),
    security(("basic" = []), ())
)]
pub async fn token(State(state): State<AppState>, Ctx(ctx): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    no_store(issue(state, ctx, headers, body).await)
}

async fn issue(state: AppState, ctx: keyward_service::RequestContext, headers: HeaderMap, body: Bytes) -> Response {
    let mut params = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return map_error(e, false),
    };
    match params.get("grant_type").map(String::as_str) {
        None => return invalid_request("grant_type is required"),
        Some("client_credentials") => {}
        Some(other) => {
            return map_error(
                OAuthError::UnsupportedGrantType(format!("only client_credentials is supported, not {other:?}")),
                false,
            )
        }
    }
    let ((id, secret), basic) = match client_credentials(&headers, &mut params) {
        Ok(c) => c,
        Err((e, basic)) => return map_error(e, basic),
    };
    let client = ClientCredentials { client_id: &id, client_secret: &secret };
    match state.keyward.issue_token(client, params.get("scope").map(String::as_str), &ctx).await {
        Ok(issued) => Json(TokenResponse::from(issued)).into_response(),
        Err(e) => map_error(e, basic),
    }
}

/// Introspect an access token or an API key (RFC 7662).
///
/// The caller authenticates like `/v1/verify`: an API key (or access token) holding
/// `keyward.verify:read`, as Bearer or Basic `id:secret`. The answer is `{"active": false}` for
/// anything unusable now: malformed, unknown, expired or revoked tokens, and tokens whose key is
/// revoked, expired, deleted or whose owner is disabled. Network restrictions are not part of
/// the answer (no client address is given). Recorded in the usage log as `token.introspected`.
#[utoipa::path(
    post, path = "/oauth2/introspect", tag = "oauth",
    request_body(content = IntrospectForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, body = IntrospectionResponse),
        (status = 400, body = OAuthErrorBody),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []), ("basic" = []))
)]
pub async fn introspect(
    State(state): State<AppState>,
    _caller: VerifierCaller,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return map_error(e, false),
    };
    let Some(token) = params.get("token") else {
        return invalid_request("token is required");
    };
    match state.keyward.introspect(token).await {
        Ok(answer) => no_store(Json(IntrospectionResponse::from(answer)).into_response()),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Revoke an access token (RFC 7009).
///
/// Called by the token's own client, authenticated as at the token endpoint. Unknown,
/// malformed or expired tokens, and tokens of another client, are answered `200` and change
/// nothing (RFC 7009 §2.2). A revoked token fails on every node at once.
#[utoipa::path(
    post, path = "/oauth2/revoke", tag = "oauth",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, body = OAuthErrorBody),
        (status = 401, body = OAuthErrorBody),
    ),
    security(("basic" = []), ())
)]
pub async fn revoke(State(state): State<AppState>, Ctx(ctx): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    let mut params = match form(&headers, &body) {
        Ok(p) => p,
        Err(e) => return map_error(e, false),
    };
    let ((id, secret), basic) = match client_credentials(&headers, &mut params) {
        Ok(c) => c,
        Err((e, basic)) => return map_error(e, basic),
    };
    let Some(token) = params.get("token") else {
        return invalid_request("token is required");
    };
    let client = ClientCredentials { client_id: &id, client_secret: &secret };
    match state.keyward.revoke_token(client, token, &ctx).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => map_error(e, basic),
    }
}

/// The public keys that sign access tokens and jwt-format keys (RFC 7517 JWK Set).
///
/// Retired keys stay listed, so tokens they signed keep verifying; a token with an unknown
/// `kid` means the set should be fetched again.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "oauth",
    responses((status = 200, body = JwksResponse)),
    security(())
)]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let keys = state.keyward.jwks().into_iter().map(JwkDto::from).collect();
    let mut response = Json(JwksResponse { keys }).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
    response
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(
    get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, body = ServerMetadata)),
    security(())
)]
pub async fn metadata(State(state): State<AppState>) -> Json<ServerMetadata> {
    let issuer = state.keyward.issuer();
    Json(ServerMetadata {
        token_endpoint: format!("{issuer}/oauth2/token"),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        introspection_endpoint: format!("{issuer}/oauth2/introspect"),
        revocation_endpoint: format!("{issuer}/oauth2/revoke"),
        issuer,
        grant_types_supported: vec!["client_credentials"],
        response_types_supported: vec![],
        token_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        revocation_endpoint_auth_methods_supported: vec!["client_secret_basic", "client_secret_post"],
        introspection_endpoint_auth_methods_supported: vec!["client_secret_basic", "bearer"],
        access_token_signing_alg_values_supported: vec!["ES256"],
    })
}

/// The instance's token-signing keys (superadmin session only).
#[utoipa::path(
    get, path = "/v1/signing-keys", tag = "oauth",
    responses(
        (status = 200, body = SigningKeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn list_signing_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<SigningKeyList>, ApiError> {
    let proof = authorize_signing_keys(&caller.auth.principal)?;
    let keys = state.keyward.list_signing_keys(&proof).await?;
    Ok(Json(SigningKeyList { items: keys.into_iter().map(SigningKeyDto::from).collect() }))
}

/// Rotate the token-signing key (superadmin session only): a new key signs from now on; the
/// old one stops signing and stays in the JWKS. Every node picks the new key up at once.
#[utoipa::path(
    post, path = "/v1/signing-keys/rotate", tag = "oauth",
    responses(
        (status = 201, description = "The new current key", body = SigningKeyDto),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another rotation at the same moment", body = Problem, content_type = "application/problem+json"),
    ),
    security(("session" = []), ("cookie" = []))
)]
pub async fn rotate_signing_key(State(state): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    let proof = authorize_signing_keys(&caller.auth.principal)?;
    let key = state.keyward.rotate_signing_key(&proof, &caller.ctx).await?;
    Ok((StatusCode::CREATED, Json(SigningKeyDto::from(key))))
}

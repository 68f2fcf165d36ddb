//! Wire types of the OAuth 2.0 endpoints (token, introspection, revocation, JWKS, RFC 8414
//! metadata) and of the signing-key administration.

use chrono::{DateTime, Utc};
use keyward_service::tokens::{Introspection, IssuedToken, Jwk, SigningKeyInfo};
use serde::Serialize;
use utoipa::ToSchema;

/// The form body of `POST /oauth2/token` (`application/x-www-form-urlencoded`).
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document; the handler parses the raw form
pub struct TokenForm {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials")]
    grant_type: String,
    /// Space-separated permissions; a subset of the key's. Omitted: every permission it holds.
    #[schema(example = "events.alerts:read")]
    scope: Option<String>,
    /// `client_secret_post`: the key id (else use HTTP Basic).
    client_id: Option<String>,
    /// `client_secret_post`: the key's whole secret.
    client_secret: Option<String>,
}

/// The form body of `POST /oauth2/introspect`.
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document
pub struct IntrospectForm {
    /// An access token, or an API key (opaque or jwt-format).
    token: String,
    /// Accepted and ignored: the kind of token is recognised.
    token_type_hint: Option<String>,
}

/// The form body of `POST /oauth2/revoke` (plus client authentication as for the token endpoint).
#[derive(ToSchema)]
#[allow(dead_code)] // describes the form for the OpenAPI document
pub struct RevokeForm {
    /// The access token to revoke.
    token: String,
    token_type_hint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    #[schema(example = 3600)]
    pub expires_in: u64,
    #[schema(example = "events.alerts:read")]
    pub scope: String,
}

impl From<IssuedToken> for TokenResponse {
    fn from(t: IssuedToken) -> Self {
        TokenResponse { access_token: t.access_token, token_type: "Bearer", expires_in: t.expires_in, scope: t.scope }
    }
}

/// RFC 6749 §5.2 (also the token, introspection and revocation endpoints' `400`/`401`).
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `unauthorized_client`, `unsupported_grant_type`,
    /// `invalid_scope` or `server_error`.
    #[schema(example = "invalid_scope")]
    pub error: &'static str,
    pub error_description: String,
}

/// RFC 7662 §2.2: inactive answers are `{"active": false}` alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntrospectionResponse {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The key owner's email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` (access token) or `api_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

impl From<Introspection> for IntrospectionResponse {
    fn from(i: Introspection) -> Self {
        IntrospectionResponse {
            active: i.active,
            scope: i.scope,
            client_id: i.client_id,
            username: i.username,
            token_type: i.token_type,
            exp: i.exp,
            iat: i.iat,
            sub: i.sub,
            aud: i.aud,
            iss: i.iss,
            jti: i.jti,
        }
    }
}

/// One public key (RFC 7517).
#[derive(Serialize, ToSchema)]
pub struct JwkDto {
    #[schema(example = "EC")]
    pub kty: &'static str,
    #[schema(example = "P-256")]
    pub crv: &'static str,
    #[schema(example = "ES256")]
    pub alg: &'static str,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: &'static str,
    pub kid: String,
    pub x: String,
    pub y: String,
}

impl From<Jwk> for JwkDto {
    fn from(k: Jwk) -> Self {
        JwkDto { kty: "EC", crv: "P-256", alg: "ES256", use_: "sig", kid: k.kid, x: k.x, y: k.y }
    }
}

/// The JWK Set: the current signing key and the retired ones.
#[derive(Serialize, ToSchema)]
pub struct JwksResponse {
    pub keys: Vec<JwkDto>,
}

/// RFC 8414 authorization server metadata.
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub grant_types_supported: Vec<&'static str>,
    pub response_types_supported: Vec<&'static str>,
    pub token_endpoint_auth_methods_supported: Vec<&'static str>,
    pub revocation_endpoint_auth_methods_supported: Vec<&'static str>,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
    /// How access tokens are signed (RFC 9068 JWTs).
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
}

/// A token-signing key (its private half is never shown).
#[derive(Serialize, ToSchema)]
pub struct SigningKeyDto {
    pub kid: String,
    #[schema(example = "ES256")]
    pub algorithm: &'static str,
    pub created_at: DateTime<Utc>,
    /// When it stopped signing; it stays in the JWKS.
    pub retired_at: Option<DateTime<Utc>>,
    /// Signs new tokens now.
    pub current: bool,
}

impl From<SigningKeyInfo> for SigningKeyDto {
    fn from(k: SigningKeyInfo) -> Self {
        SigningKeyDto {
            kid: k.kid,
            algorithm: k.algorithm,
            created_at: k.created_at,
            retired_at: k.retired_at,
            current: k.current,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SigningKeyList {
    pub items: Vec<SigningKeyDto>,
}

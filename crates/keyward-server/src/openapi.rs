//! The OpenAPI 3.1 document's frame: title, description, tags and security schemes. The paths
//! and schemas come from the handlers' `#[utoipa::path]` attributes (see [`crate::routes`]).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

const DESCRIPTION: &str = r#"Keyward issues, scopes, expires, rotates, revokes and verifies API keys.

**Errors** are RFC 9457 problem details (`application/problem+json`):
`{"type","title","status","detail","code"}`, with `type` = `urn:keyward:problem:<code>` and a
stable `code` per status: 400 `malformed_request`, 401 `unauthorized`, 403 `forbidden`,
404 `not_found`, 405 `method_not_allowed` (with `Allow`), 409 `conflict`, 413
`payload_too_large` (bodies over 1 MiB), 415 `unsupported_media_type`, 422
`validation_failed` (`detail` reads `<field>: <message>`; unknown JSON fields are refused
too), 429 `rate_limited` (with `Retry-After`), 500 `internal_error`, 503 `unavailable`.

**Authentication.** Administrators log in with `POST /v1/auth/login` and send
`Authorization: Bearer <session_token>`; the console uses the `keyward_session` cookie instead,
and then every write (POST, PATCH, PUT, DELETE) must carry `X-CSRF-Token` with the session's
CSRF token. API keys holding `keyward.*` permissions are accepted on the same endpoints as
`Authorization: Bearer <key>` or Basic `<key id>:<secret>`, acting as their owner. Keys are
never accepted in a query string.

**Lists** are paginated with `?limit=` (default 50, at most 1000) and `?cursor=`, and answer
`{"items": [...], "next_cursor": string|null}`. Unknown query parameters are `400`. Only a
`null` `next_cursor` ends a list: a filtered `GET /v1/keys` examines a bounded number of keys
per request, so a page may be short or empty while `next_cursor` leads on.

**Log records**: an `actor` is `{"type":"admin","id","email"}`, `{"type":"key","id","email"}`
(`email` is the key owner's; usage records leave it out) or `{"type":"system"}` (the command
line or the server itself, e.g. a failed login). Usage records (`key.verified`,
`forward_auth`) are written asynchronously, a moment after the check, and carry the check's
`code`, `permission`, `target`, `client_ip` and the answering `node`; `key_id` only when the
caller held the key's full secret.

**Unauthenticated endpoints**: `GET /healthz`, `GET /readyz`, `GET /metrics` (Prometheus text
format), `GET /openapi.json`, `GET /` and the data-plane `GET /v1/forward-auth` (where the
presented key is the credential), `GET /.well-known/jwks.json` and
`GET /.well-known/oauth-authorization-server`.

**OAuth 2.0.** `POST /oauth2/token` (client credentials; the key id is the `client_id`, its
whole secret the `client_secret`), `POST /oauth2/revoke` and `POST /oauth2/introspect` take
`application/x-www-form-urlencoded` bodies and answer errors as RFC 6749 §5.2 JSON
(`{"error","error_description"}`). Access tokens are RFC 9068 JWTs signed with ES256 and are
accepted wherever a key is (`/v1/verify`, forward-auth).

Times are RFC 3339 UTC."#;

#[derive(OpenApi)]
#[openapi(
    info(title = "Keyward", description = DESCRIPTION, license(name = "Apache-2.0")),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Administrators' sessions"),
        (name = "admins", description = "Administrator management (superadmin) and the permission catalog"),
        (name = "keys", description = "API key lifecycle"),
        (name = "logs", description = "Search in audit and usage logs"),
        (name = "verification", description = "The data plane: verify a presented key"),
        (name = "oauth", description = "OAuth 2.0 access tokens (client credentials), introspection, revocation, JWKS and signing keys"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
        (name = "console", description = "The web console's page and files (it uses only this API)"),
    )
)]
pub struct ApiDoc;

/// The ways a caller authenticates.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("session token (session.…) from POST /v1/auth/login")
                    .description(Some("An administrator's session"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("API key (<prefix>_<id>_<secret>)")
                    .description(Some("An API key, acting as its owner within its own grants"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("An API key as user = key id, password = the whole secret"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "x_api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "An API key in its own header (forward-auth only)",
            ))),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "keyward_session",
                "The console's session cookie; writes must also send X-CSRF-Token",
            ))),
        );
    }
}

//! The served OpenAPI document is 3.1, describes every route the router serves (and nothing it
//! does not), and declares the security schemes.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::Value;

/// Every (method, path) the router serves, from SPEC §2 for this version.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/me"),
    ("post", "/v1/auth/password"),
    ("get", "/v1/admins"),
    ("post", "/v1/admins"),
    ("get", "/v1/admins/{id}"),
    ("patch", "/v1/admins/{id}"),
    ("delete", "/v1/admins/{id}"),
    ("get", "/v1/catalog"),
    ("post", "/v1/keys"),
    ("get", "/v1/keys"),
    ("get", "/v1/keys/stats"),
    ("get", "/v1/keys/{id}"),
    ("patch", "/v1/keys/{id}"),
    ("delete", "/v1/keys/{id}"),
    ("post", "/v1/keys/{id}/refresh"),
    ("post", "/v1/keys/{id}/regenerate"),
    ("post", "/v1/keys/{id}/revoke"),
    ("get", "/v1/logs"),
    ("post", "/v1/verify"),
    ("get", "/v1/forward-auth"),
    ("post", "/oauth2/token"),
    ("post", "/oauth2/introspect"),
    ("post", "/oauth2/revoke"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/v1/signing-keys"),
    ("post", "/v1/signing-keys/rotate"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/"),
    ("get", "/console/{path}"),
];

#[tokio::test]
async fn the_document_is_openapi_3_1_and_complete() {
    let app = start().await;
    let r = call("GET", "/openapi.json").send(&app).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc: Value = r.ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert_eq!(doc, serde_json::to_value(keyward_server::openapi()).unwrap(), "served = openapi()");

    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in ROUTES {
        let op = &paths.get(*path).unwrap_or_else(|| panic!("{path} is missing"))[*method];
        assert!(op.is_object(), "{method} {path} is missing");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
    }
    // And nothing is documented that the list above (and so the router) does not serve.
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys().filter(|m| *m != "parameters") {
            assert!(ROUTES.contains(&(method.as_str(), path.as_str())), "undocumented route? {method} {path}");
        }
    }

    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for name in ["session", "api_key", "basic", "cookie"] {
        assert!(schemes.contains_key(name), "security scheme {name}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in
        ["Problem", "KeyDto", "IssuedKeyResponse", "CreateKeyRequest", "VerifyResponse", "AdminDto", "LogRecordDto"]
    {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    let create = &paths["/v1/keys"]["post"];
    assert!(create["requestBody"]["content"]["application/json"].is_object());
    assert!(create["responses"]["422"]["content"]["application/problem+json"].is_object());
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = start().await;
    for (method, path) in ROUTES {
        let uri = path.replace("{id}", "some-id");
        let r = call(&method.to_uppercase(), &uri).send(&app).await;
        // Without credentials: anything but "no such endpoint" or "method not allowed".
        assert_ne!(r.status, 405, "{method} {path}");
        if r.status == 404 {
            let detail = r.json()["detail"].as_str().unwrap().to_string();
            assert!(!detail.contains("no such endpoint"), "{method} {path} is not routed");
        }
    }
}

/// The checked-in `docs/openapi.json` is the document the code generates, so API changes show
/// up in review. Regenerate with `UPDATE_OPENAPI=1 cargo test -p keyward-server --test openapi`.
#[test]
fn the_checked_in_document_is_current() {
    let generated = keyward_server::openapi().to_pretty_json().unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "docs/openapi.json is out of date: run UPDATE_OPENAPI=1 cargo test -p keyward-server --test openapi"
    );
}

//! SPEC §2 "Operations" and the session cookie: health, readiness, OpenAPI, metrics, and
//! CSRF protection of cookie-authenticated writes.
#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, ROOT_EMAIL};
use serde_json::json;

#[test]
fn health_ready_openapi_metrics() {
    let srv = Server::start();
    assert_eq!(srv.raw("GET", "/healthz", &[], None).status, 200);
    assert_eq!(srv.raw("GET", "/readyz", &[], None).status, 200);
    let doc = srv.raw("GET", "/openapi.json", &[], None);
    let doc = doc.expect(200);
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3.1"), "not OpenAPI 3.1: {}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for p in ["/v1/keys", "/v1/verify", "/v1/forward-auth", "/v1/auth/login"] {
        assert!(paths.contains_key(p), "openapi.json lacks {p}");
    }
    let metrics = srv.raw("GET", "/metrics", &[], None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.content_type().starts_with("text/plain"), "{}", metrics.content_type());
}

#[test]
fn session_cookie_is_strict_and_writes_need_csrf() {
    let srv = Server::start();
    let r = srv.req("POST", "/v1/auth/login", None, Some(&json!({"email": ROOT_EMAIL, "password": srv.root_password})));
    let body = r.expect(200).clone();
    assert!(body["csrf_token"].is_string(), "login lacks csrf_token");
    assert!(body["expires_at"].is_string());
    assert_eq!(body["admin"]["email"], json!(ROOT_EMAIL));
    assert_eq!(body["admin"]["role"], json!("superadmin"));
    let cookies: Vec<String> = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    // At least one cookie (the session's) is HttpOnly and SameSite=Strict. A browser sends
    // every cookie back, and so do we.
    assert!(!cookies.is_empty(), "login sets no cookie");
    assert!(
        cookies.iter().any(|c| {
            let l = c.to_ascii_lowercase();
            l.contains("httponly") && l.contains("samesite=strict")
        }),
        "no HttpOnly, SameSite=Strict session cookie: {cookies:?}"
    );
    let pair = cookies.iter().map(|c| c.split(';').next().unwrap().trim()).collect::<Vec<_>>().join("; ");

    // The cookie authenticates reads.
    let me = srv.raw("GET", "/v1/auth/me", &[("cookie", &pair)], None);
    assert_eq!(me.expect(200)["email"], json!(ROOT_EMAIL));
    // A cookie-authenticated write without the CSRF token is refused and changes nothing.
    let tok = body["session_token"].as_str().unwrap().to_owned();
    let before = srv.get("/v1/admins", &tok);
    let r = srv.raw(
        "POST",
        "/v1/admins",
        &[("cookie", &pair), ("content-type", "application/json")],
        Some(
            serde_json::to_vec(&json!({"email": "csrf@example.com", "name": "c",
                "password": "longenough1", "role": "admin", "can_manage_keys": false,
                "permissions": []}))
            .unwrap(),
        ),
    );
    common::assert_problem(&r, 403, "forbidden");
    let after = srv.get("/v1/admins", &tok);
    assert_eq!(before.json, after.json);
    // With the CSRF token from the login answer (header name per docs/DECISIONS.md) it works.
    let csrf = body["csrf_token"].as_str().unwrap();
    let r = srv.raw(
        "POST",
        "/v1/admins",
        &[("cookie", &pair), ("content-type", "application/json"), ("x-csrf-token", csrf)],
        Some(
            serde_json::to_vec(&json!({"email": "csrf@example.com", "name": "c",
                "password": "longenough1", "role": "admin", "can_manage_keys": false,
                "permissions": []}))
            .unwrap(),
        ),
    );
    assert_eq!(r.expect(201)["email"], json!("csrf@example.com"));
}

/// §6: an acknowledged write survives `kill -9`; §8: sessions survive a restart; the pepper
/// (beside the SQLite database, or the configured pepper file) is reused, so keys issued
/// before the restart still verify.
#[test]
fn writes_sessions_and_keys_survive_kill_9() {
    let database = common::test_database();
    let options = || common::ServerOptions { database: Some(database.clone()), ..common::ServerOptions::default() };
    let w = common::World::on(Server::start_with(options()));
    let pepper = match database.backend() {
        common::Backend::Sqlite => database.dir.join("keyward.db.pepper"),
        common::Backend::Postgres => common::pepper_file(&database),
    };
    assert!(pepper.exists(), "no pepper file at {}", pepper.display());
    let (key, secret) = w.key("durable", json!({"grants": ["events.alerts:read"]}));
    let kid = key["id"].as_str().unwrap().to_owned();
    let (tok, verifier) = (w.tok.clone(), w.verifier.clone());
    drop(w); // SIGKILL, no graceful shutdown

    let srv = Server::start_with(options());
    let me = srv.get("/v1/auth/me", &tok);
    me.expect(200);
    let got = srv.get(&format!("/v1/keys/{kid}"), &tok);
    got.expect(200);
    assert_eq!(got.key()["name"], json!("durable"));
    let v = srv.verify(&verifier, &json!({"key": secret, "permission": "events.alerts:read"}));
    assert_eq!(v["code"], json!("valid"), "{v}");
}

//! The API's common rules through the router: problem details for every error status,
//! sessions, cookies and CSRF.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn problems_have_one_shape_and_a_stable_code_per_status() {
    let app = start().await;
    let alice = alice(&app).await;

    // 404: unknown route; security headers on every answer.
    let r = call("GET", "/v1/nope").send(&app).await;
    r.problem(404, "not_found");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert_eq!(r.header("cache-control"), Some("no-store"));

    // 405 with Allow.
    let r = call("DELETE", "/v1/keys/stats").bearer(&alice.token).send(&app).await;
    r.problem(405, "method_not_allowed");
    assert_eq!(r.header("allow"), Some("GET,HEAD"));
    let r = call("PUT", "/v1/keys").send(&app).await;
    r.problem(405, "method_not_allowed");
    let allow = r.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    call("POST", "/v1/nope").send(&app).await.problem(404, "not_found");
    // axum's own rejections (here: a path segment that is not UTF-8) become problems too.
    call("GET", "/v1/keys/%FF").bearer(&alice.token).send(&app).await.problem(400, "malformed_request");

    // 401 with a challenge.
    let r = call("GET", "/v1/keys").send(&app).await;
    r.problem(401, "unauthorized");
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    call("GET", "/v1/keys").bearer("session.nope").send(&app).await.problem(401, "unauthorized");
    call("GET", "/v1/keys").header("authorization", "Digest x").send(&app).await.problem(401, "unauthorized");

    // 400: unparseable JSON, bad query syntax, trailing garbage.
    let login = || call("POST", "/v1/auth/login");
    login().raw(Some("application/json"), r#"{"email":"#).send(&app).await.problem(400, "malformed_request");
    login()
        .raw(Some("application/json"), r#"{"email":"a","password":"b"} x"#)
        .send(&app)
        .await
        .problem(400, "malformed_request");
    call("GET", "/v1/keys?limit=abc").bearer(&alice.token).send(&app).await.problem(400, "malformed_request");
    call("GET", "/v1/keys?nope=1").bearer(&alice.token).send(&app).await.problem(400, "malformed_request");

    // 415: not JSON.
    login()
        .raw(Some("text/plain"), r#"{"email":"a","password":"b"}"#)
        .send(&app)
        .await
        .problem(415, "unsupported_media_type");
    login().raw(None, r#"{"email":"a","password":"b"}"#).send(&app).await.problem(415, "unsupported_media_type");

    // 422: wrong types, unknown fields, invalid values; detail names the field.
    let d = login().json(json!({"email": 5, "password": "x"})).send(&app).await.problem(422, "validation_failed");
    assert!(d.starts_with("email: "), "{d}");
    let d = login()
        .json(json!({"email": "a", "password": "b", "remember": true}))
        .send(&app)
        .await
        .problem(422, "validation_failed");
    assert!(d.contains("remember"), "{d}");
    let keys = || call("POST", "/v1/keys").bearer(&alice.token);
    let d = keys().json(json!({"name": "x".repeat(256)})).send(&app).await.problem(422, "validation_failed");
    assert!(d.starts_with("name: "), "{d}");
    let d = keys()
        .json(json!({"name": "n", "networks": ["10.1.2.3/8"]}))
        .send(&app)
        .await
        .problem(422, "validation_failed");
    assert!(d.starts_with("networks[0]: ") && d.contains("10.0.0.0/8"), "{d}");
    let d = keys()
        .json(json!({"name": "n", "grants": [{"permission": "events.alerts:read", "extra": 1}]}))
        .send(&app)
        .await
        .problem(422, "validation_failed");
    assert!(d.contains("extra"), "{d}");
    keys()
        .json(json!({"name": "n", "lifetime_days": 3, "never_expires": true}))
        .send(&app)
        .await
        .problem(422, "validation_failed");

    // 413: bodies over 1 MiB.
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(1024 * 1024 + 1));
    keys().raw(Some("application/json"), big).send(&app).await.problem(413, "payload_too_large");

    // 403: a superadmin cannot issue keys; an admin cannot manage admins.
    let root = root(&app).await;
    call("POST", "/v1/keys").bearer(&root.token).json(json!({"name": "r"})).send(&app).await.problem(403, "forbidden");
    call("GET", "/v1/admins").bearer(&alice.token).send(&app).await.problem(403, "forbidden");

    // 409: a name already used by the owner.
    create_key(&app, &alice, json!({"name": "dup"})).await;
    keys().json(json!({"name": "dup"})).send(&app).await.problem(409, "conflict");

    // Nothing above reached a 5xx, and the failed attempts changed nothing.
    let list = call("GET", "/v1/keys").bearer(&alice.token).send(&app).await.ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn login_sets_cookies_and_me_reports_the_csrf_token() {
    let app = start().await;
    let r =
        call("POST", "/v1/auth/login").json(json!({"email": ROOT_EMAIL, "password": ROOT_PASSWORD})).send(&app).await;
    let body = r.ok(200);
    let token = body["session_token"].as_str().unwrap();
    let csrf = body["csrf_token"].as_str().unwrap();
    assert!(token.starts_with("session."));
    assert!(body["expires_at"].as_str().is_some());
    let admin = body["admin"].as_object().unwrap();
    let mut fields: Vec<&str> = admin.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["can_manage_keys", "created_at", "disabled", "email", "id", "name", "permissions", "role"]);
    assert_eq!(admin["role"], "superadmin");
    assert_eq!(admin["permissions"], json!([{"permission": "*:write", "targets": ["*"]}]));

    let cookies: Vec<&str> = r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    let session = cookies.iter().find(|c| c.starts_with("keyward_session=")).unwrap();
    assert!(
        session.contains(token)
            && session.contains("HttpOnly")
            && session.contains("SameSite=Strict")
            && session.contains("Path=/")
    );
    assert!(!session.contains("Secure"), "no TLS here");
    let csrf_cookie = cookies.iter().find(|c| c.starts_with("keyward_csrf=")).unwrap();
    assert!(csrf_cookie.contains(csrf) && !csrf_cookie.contains("HttpOnly"));

    let me = call("GET", "/v1/auth/me").bearer(token).send(&app).await;
    assert_eq!(me.ok(200)["email"], ROOT_EMAIL);
    assert_eq!(me.header("x-csrf-token"), Some(csrf));

    call("POST", "/v1/auth/login")
        .json(json!({"email": ROOT_EMAIL, "password": "wrong-password"}))
        .send(&app)
        .await
        .problem(401, "unauthorized");

    let out = call("POST", "/v1/auth/logout").bearer(token).send(&app).await;
    out.ok(204);
    assert!(out.headers.get_all("set-cookie").iter().all(|c| c.to_str().unwrap().contains("Max-Age=0")));
    call("GET", "/v1/auth/me").bearer(token).send(&app).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn failed_logins_are_throttled_with_retry_after() {
    let app = start_with(|c| c.login_max_failures = 2).await;
    let attempt = || call("POST", "/v1/auth/login").json(json!({"email": ROOT_EMAIL, "password": "wrong-password"}));
    attempt().send(&app).await.problem(401, "unauthorized");
    attempt().send(&app).await.problem(401, "unauthorized");
    let r = attempt().send(&app).await;
    r.problem(429, "rate_limited");
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
}

#[tokio::test]
async fn cookie_writes_need_the_csrf_token_and_bearer_writes_do_not() {
    let app = start().await;
    let alice = alice(&app).await;
    let cookie = format!("keyward_session={}; keyward_csrf={}", alice.token, alice.csrf);
    let create = |name: &str| call("POST", "/v1/keys").header("cookie", &cookie).json(json!({"name": name}));

    let d = create("a").send(&app).await.problem(403, "forbidden");
    assert!(d.contains("X-CSRF-Token"), "{d}");
    create("a").header("x-csrf-token", "wrong").send(&app).await.problem(403, "forbidden");
    create("a").header("x-csrf-token", &alice.csrf).send(&app).await.ok(201);

    // Reads need no token; the cookie is enough.
    let list = call("GET", "/v1/keys").header("cookie", &cookie).send(&app).await.ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let me = call("GET", "/v1/auth/me").header("cookie", &cookie).send(&app).await;
    assert_eq!(me.header("x-csrf-token"), Some(alice.csrf.as_str()));

    // Bearer sessions need none; neither do API keys.
    call("POST", "/v1/keys").bearer(&alice.token).json(json!({"name": "b"})).send(&app).await.ok(201);
    let (_, secret) = create_key(&app, &alice, json!({"name": "automation", "grants": ["keyward.keys:write"]})).await;
    call("POST", "/v1/keys").bearer(&secret).json(json!({"name": "made-by-key"})).send(&app).await.ok(201);

    // Logout by cookie is a write too.
    call("POST", "/v1/auth/logout").header("cookie", &cookie).send(&app).await.problem(403, "forbidden");
    call("POST", "/v1/auth/logout")
        .header("cookie", &cookie)
        .header("x-csrf-token", &alice.csrf)
        .send(&app)
        .await
        .ok(204);
    call("GET", "/v1/keys").header("cookie", &cookie).send(&app).await.problem(401, "unauthorized");
}

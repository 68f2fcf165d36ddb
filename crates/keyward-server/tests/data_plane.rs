//! The data plane through the router: `/v1/verify` answers and `/v1/forward-auth` header rules,
//! including client addresses behind trusted proxies.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use serde_json::{json, Value};

struct Fixture {
    app: TestApp,
    verifier: String,
    key_id: String,
    secret: String,
}

/// Alice with a verifier key and a key that may read alerts.
async fn fixture() -> Fixture {
    let app = start().await;
    let alice = alice(&app).await;
    let (_, verifier) = create_key(&app, &alice, json!({"name": "verifier", "grants": ["keyward.verify:read"]})).await;
    let (key, secret) = create_key(
        &app,
        &alice,
        json!({"name": "reader", "lifetime_days": 10, "grants": ["events.alerts:read", {"permission": "accounts.config:read", "targets": ["acct-1"]}]}),
    )
    .await;
    Fixture { key_id: key["id"].as_str().unwrap().into(), app, verifier, secret }
}

impl Fixture {
    async fn verify(&self, body: Value) -> Value {
        call("POST", "/v1/verify").bearer(&self.verifier).json(body).send(&self.app).await.ok(200)
    }
}

#[tokio::test]
async fn verify_answers_and_caller_authentication() {
    let f = fixture().await;
    let app = &f.app;

    // The caller needs a key holding keyward.verify:read.
    let body = json!({"key": f.secret});
    call("POST", "/v1/verify").json(body.clone()).send(app).await.problem(401, "unauthorized");
    call("POST", "/v1/verify").bearer("kw_nope").json(body.clone()).send(app).await.problem(401, "unauthorized");
    call("POST", "/v1/verify").bearer(&f.secret).json(body.clone()).send(app).await.problem(403, "forbidden");
    let alice = login(app, "alice@example.com", PASSWORD).await;
    call("POST", "/v1/verify").bearer(&alice.token).json(body.clone()).send(app).await.problem(401, "unauthorized");
    let verifier_id = f.verifier.split('_').nth(1).unwrap();
    let via_basic = call("POST", "/v1/verify").basic(verifier_id, &f.verifier).json(body).send(app).await.ok(200);
    assert_eq!(via_basic["valid"], true);

    // A valid answer carries everything; expires_at is there.
    let valid = f.verify(json!({"key": f.secret, "permission": "events.alerts:read"})).await;
    let mut fields: Vec<&str> = valid.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["code", "expires_at", "grants", "key_id", "name", "owner", "valid"]);
    assert_eq!(
        (valid["code"].as_str(), valid["key_id"].as_str(), valid["name"].as_str()),
        (Some("valid"), Some(f.key_id.as_str()), Some("reader"))
    );
    assert_eq!(valid["owner"], json!({"id": alice.admin_id, "email": "alice@example.com"}));
    assert!(valid["grants"]
        .as_array()
        .unwrap()
        .contains(&json!({"permission": "accounts.config:read", "targets": ["acct-1"]})));
    // id:secret works as the presented key too; the `request` member is accepted.
    let pair = format!("{}:{}", f.key_id, f.secret);
    let request =
        json!({"method": "GET", "target_uri": "https://api.example.com/x", "headers": {"host": "api.example.com"}});
    assert_eq!(f.verify(json!({"key": pair, "request": request})).await["valid"], true);

    // Denials: key_id only when the caller held the full secret.
    let denied = f.verify(json!({"key": f.secret, "permission": "events.alerts:write"})).await;
    assert_eq!(denied, json!({"valid": false, "code": "insufficient_permission", "key_id": f.key_id}));
    let targeted = f.verify(json!({"key": f.secret, "permission": "accounts.config:read", "target": "acct-2"})).await;
    assert_eq!(targeted["code"], "insufficient_permission");
    assert_eq!(
        f.verify(json!({"key": f.secret, "permission": "accounts.config:read", "target": "acct-1"})).await["valid"],
        true
    );
    let mut wrong = f.secret.clone();
    wrong.replace_range(10..11, if &wrong[10..11] == "A" { "B" } else { "A" });
    assert_eq!(f.verify(json!({"key": wrong})).await, json!({"valid": false, "code": "not_found"}));
    assert_eq!(f.verify(json!({"key": "garbage"})).await, json!({"valid": false, "code": "not_found"}));

    // Malformed questions.
    let ask = |body: Value| call("POST", "/v1/verify").bearer(&f.verifier).json(body);
    let d = ask(json!({"key": f.secret, "permission": "events"})).send(app).await.problem(422, "validation_failed");
    assert!(d.starts_with("permission: "), "{d}");
    let d = ask(json!({"key": f.secret, "client_ip": "300.1.1.1"})).send(app).await.problem(422, "validation_failed");
    assert!(d.starts_with("client_ip: "), "{d}");
    ask(json!({"key": f.secret, "nope": 1})).send(app).await.problem(422, "validation_failed");
    ask(json!({"key": f.secret, "request": {"method": "GET"}})).send(app).await.problem(422, "validation_failed");
    let d = ask(json!({"key": 7})).send(app).await.problem(422, "validation_failed");
    assert!(d.starts_with("key: "), "the field is named: {d}");
    // The optional strings: another type is refused and named; null is the same as absent.
    for field in ["permission", "target", "client_ip"] {
        for wrong in [json!(5), json!(["events.alerts:read"]), json!({"a": 1})] {
            let d = ask(json!({"key": f.secret, field: wrong})).send(app).await.problem(422, "validation_failed");
            assert!(d.starts_with(&format!("{field}: ")), "the field is named: {d}");
        }
    }
    let nulls = json!({"key": f.secret, "permission": null, "target": null, "client_ip": null});
    assert_eq!(f.verify(nulls).await["valid"], true);
    let raw = |body: String| call("POST", "/v1/verify").bearer(&f.verifier).raw(Some("application/json"), body);
    raw(format!(r#"{{"key": "{}""#, f.secret)).send(app).await.problem(400, "malformed_request");
    let big = format!(r#"{{"key": "{}"}}"#, "x".repeat(1024 * 1024 + 1));
    raw(big).send(app).await.problem(413, "payload_too_large");
    let as_text = call("POST", "/v1/verify").bearer(&f.verifier).raw(Some("text/plain"), r#"{"key":"x"}"#);
    as_text.send(app).await.problem(415, "unsupported_media_type");
    // The caller is authenticated before the body is looked at.
    call("POST", "/v1/verify").raw(Some("text/plain"), "{").send(app).await.problem(401, "unauthorized");
    // JSON escapes in the strings are decoded (`\u003a` is `:`, `\u005f` is `_`).
    let escaped = f.secret.replacen('_', "\\u005f", 1);
    let body = format!(r#"{{"key": "{escaped}", "permission": "events.alerts\u003aread"}}"#);
    let answer: Value = raw(body).send(app).await.ok(200);
    assert_eq!((answer["valid"].as_bool(), answer["key_id"].as_str()), (Some(true), Some(f.key_id.as_str())));

    // Expiry through the clock.
    app.clock.advance(Duration::days(11));
    assert_eq!(
        f.verify(json!({"key": f.secret})).await,
        json!({"valid": false, "code": "expired", "key_id": f.key_id})
    );
}

#[tokio::test]
async fn verify_uses_the_stated_client_address_not_the_callers() {
    let app = start().await;
    let alice = alice(&app).await;
    let (_, verifier) = create_key(&app, &alice, json!({"name": "verifier", "grants": ["keyward.verify:read"]})).await;
    let (_, secret) =
        create_key(&app, &alice, json!({"name": "office", "inherit": true, "networks": ["198.51.100.0/24"]})).await;
    let ask = |client_ip: Option<&str>| {
        let mut body = json!({"key": secret});
        if let Some(ip) = client_ip {
            body["client_ip"] = json!(ip);
        }
        call("POST", "/v1/verify").peer("198.51.100.1").bearer(&verifier).json(body)
    };
    assert_eq!(ask(Some("198.51.100.7")).send(&app).await.ok(200)["code"], "valid");
    assert_eq!(ask(Some("203.0.113.7")).send(&app).await.ok(200)["code"], "ip_not_allowed");
    assert_eq!(ask(None).send(&app).await.ok(200)["code"], "ip_not_allowed");
}

#[tokio::test]
async fn forward_auth_reads_the_key_and_permission_from_headers() {
    let f = fixture().await;
    let app = &f.app;
    let fa = || call("GET", "/v1/forward-auth");

    let missing = fa().send(app).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer realm=\"keyward\""));
    assert_eq!(missing.json(), json!({"code": "missing_credential"}));

    let ok = fa().bearer(&f.secret).send(app).await;
    assert_eq!(ok.ok(200), json!({"code": "valid"}));
    assert_eq!(ok.header("x-keyward-key-id"), Some(f.key_id.as_str()));
    assert_eq!(ok.header("x-keyward-owner"), Some("alice@example.com"));
    assert_eq!(ok.header("x-keyward-code"), Some("valid"));
    fa().header("x-api-key", &f.secret).send(app).await.ok(200);
    fa().basic(&f.key_id, &f.secret).send(app).await.ok(200);

    // Permissions: as given, or with the access taken from the original method.
    let with = |perm: &str| fa().bearer(&f.secret).header("x-keyward-permission", perm);
    with("events.alerts:read").send(app).await.ok(200);
    let denied = with("events.alerts:write").send(app).await;
    assert_eq!(denied.ok(403), json!({"code": "insufficient_permission"}));
    assert_eq!(denied.header("x-keyward-code"), Some("insufficient_permission"));
    with("events.alerts").header("x-original-method", "GET").send(app).await.ok(200);
    with("events.alerts").header("x-forwarded-method", "HEAD").send(app).await.ok(200);
    with("events.alerts").header("x-original-method", "POST").send(app).await.ok(403);
    // No method header: write, failing closed.
    with("events.alerts").send(app).await.ok(403);
    with("accounts.config:read").header("x-keyward-target", "acct-1").send(app).await.ok(200);
    with("accounts.config:read").header("x-keyward-target", "acct-2").send(app).await.ok(403);
    with("accounts.config:read").send(app).await.ok(403);
    with("events").send(app).await.problem(400, "malformed_request");
    with("events.alerts:admin").send(app).await.problem(400, "malformed_request");

    // Unknown, malformed and dead keys are 401 with invalid_token.
    let bad = fa().bearer("kw_not_a_key").send(app).await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.header("www-authenticate"), Some("Bearer realm=\"keyward\", error=\"invalid_token\""));
    assert_eq!(fa().header("authorization", "Digest x").send(app).await.status, 401);
    assert_eq!(fa().header("authorization", "Basic !!!").send(app).await.status, 401);
    app.clock.advance(Duration::days(11));
    let expired = fa().bearer(&f.secret).send(app).await;
    assert_eq!(expired.ok(401), json!({"code": "expired"}));
    assert!(expired.header("www-authenticate").unwrap().contains("invalid_token"));
    // Keys are never read from the query string.
    assert_eq!(fa().send(app).await.status, 401);
    let q = call("GET", &format!("/v1/forward-auth?key={}", f.secret)).send(app).await;
    assert_eq!(q.status, 401);
}

#[tokio::test]
async fn forward_auth_revoked_and_owner_disabled() {
    let f = fixture().await;
    let app = &f.app;
    let root = root(app).await;
    let alice_id = call("GET", "/v1/admins").bearer(&root.token).send(app).await.ok(200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "alice@example.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin = format!("/v1/admins/{alice_id}");
    call("PATCH", &admin).bearer(&root.token).json(json!({"disabled": true})).send(app).await.ok(200);
    let disabled = call("GET", "/v1/forward-auth").bearer(&f.secret).send(app).await;
    assert_eq!(disabled.ok(403), json!({"code": "owner_disabled"}));
    call("PATCH", &admin).bearer(&root.token).json(json!({"disabled": false})).send(app).await.ok(200);
    call("GET", "/v1/forward-auth").bearer(&f.secret).send(app).await.ok(200);
    call("POST", &format!("/v1/keys/{}/revoke", f.key_id)).bearer(&root.token).send(app).await.ok(200);
    let revoked = call("GET", "/v1/forward-auth").bearer(&f.secret).send(app).await;
    assert_eq!(revoked.ok(401), json!({"code": "revoked"}));
}

#[tokio::test]
async fn forward_auth_believes_forwarding_headers_only_from_trusted_proxies() {
    let app =
        start_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()]).await;
    let alice = alice(&app).await;
    let (_, secret) =
        create_key(&app, &alice, json!({"name": "office", "inherit": true, "networks": ["198.51.100.0/24"]})).await;
    let fa = |peer: &str| call("GET", "/v1/forward-auth").bearer(&secret).peer(peer);

    // Direct connections: the peer is the client.
    fa("198.51.100.7").send(&app).await.ok(200);
    assert_eq!(fa("203.0.113.5").send(&app).await.ok(403), json!({"code": "ip_not_allowed"}));
    // An untrusted peer cannot claim an allowed address.
    fa("203.0.113.5").header("x-forwarded-for", "198.51.100.7").send(&app).await.ok(403);
    fa("203.0.113.5").header("x-real-ip", "198.51.100.7").send(&app).await.ok(403);
    // A trusted proxy is believed: the right-most address that is not a trusted proxy.
    fa("127.0.0.1").header("x-forwarded-for", "198.51.100.7").send(&app).await.ok(200);
    fa("127.0.0.1").header("x-forwarded-for", "198.51.100.7, 10.0.0.1").send(&app).await.ok(200);
    fa("127.0.0.1").header("x-forwarded-for", "198.51.100.7, 203.0.113.5, 10.0.0.1").send(&app).await.ok(403);
    fa("127.0.0.1").header("x-forwarded-for", "203.0.113.5, 198.51.100.7").send(&app).await.ok(200);
    // What the proxy appended is unreadable: the client is unknown, not the address to its left
    // (which the client may have written itself).
    fa("127.0.0.1").header("x-forwarded-for", "198.51.100.7, garbage").send(&app).await.ok(403);
    fa("127.0.0.1").header("x-real-ip", "198.51.100.7").send(&app).await.ok(200);
    // Without forwarding headers the trusted proxy itself is the client.
    fa("127.0.0.1").send(&app).await.ok(403);
    // No peer at all (in-process, no ConnectInfo): the client is unknown.
    call("GET", "/v1/forward-auth").bearer(&secret).header("x-forwarded-for", "198.51.100.7").send(&app).await.ok(403);
}

/// Valid answers are rendered once per snapshot of a key: a change of the key (its name, its
/// grants, its owner's permissions) is in the next answer, and an access token's narrowed grants
/// are its own.
#[tokio::test]
async fn valid_answers_follow_the_keys_changes() {
    let f = fixture().await;
    let app = &f.app;
    let alice = login(app, "alice@example.com", PASSWORD).await;
    let answer = |key: &str| f.verify(json!({"key": key}));
    let grants = |answer: &Value| {
        let mut list: Vec<String> =
            answer["grants"].as_array().unwrap().iter().map(|g| g["permission"].as_str().unwrap().to_owned()).collect();
        list.sort_unstable();
        list
    };
    let first = answer(&f.secret).await;
    assert_eq!(first, answer(&f.secret).await, "the same snapshot answers the same");
    assert_eq!(first["name"], "reader");
    assert_eq!(grants(&first), ["accounts.config:read", "events.alerts:read"]);
    let forward = call("GET", "/v1/forward-auth").bearer(&f.secret).send(app).await;
    assert_eq!(forward.header("x-keyward-key-id"), Some(f.key_id.as_str()));

    let path = format!("/v1/keys/{}", f.key_id);
    let patch = json!({"name": "renamed", "grants": ["events.alerts:read"]});
    call("PATCH", &path).bearer(&alice.token).json(patch).send(app).await.ok(200);
    let second = answer(&f.secret).await;
    assert_eq!((second["name"].as_str(), grants(&second)), (Some("renamed"), vec!["events.alerts:read".to_owned()]));
    assert_eq!(second["expires_at"], first["expires_at"]);
    let forward = call("GET", "/v1/forward-auth").bearer(&f.secret).send(app).await;
    assert_eq!(
        (forward.header("x-keyward-key-id"), forward.header("x-keyward-owner")),
        (Some(f.key_id.as_str()), Some("alice@example.com"))
    );

    // An access token of the key answers with its scope, and the key with all of its grants.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}&scope=events.alerts:read",
        f.key_id, f.secret
    );
    let token =
        call("POST", "/oauth2/token").raw(Some("application/x-www-form-urlencoded"), form).send(app).await.ok(200);
    let by_token = answer(token["access_token"].as_str().unwrap()).await;
    assert_eq!((by_token["valid"].as_bool(), grants(&by_token)), (Some(true), vec!["events.alerts:read".to_owned()]));
    call("PATCH", &path).bearer(&alice.token).json(json!({"grants": ["events.*:read"]})).send(app).await.ok(200);
    assert_eq!(grants(&answer(&f.secret).await), ["events.*:read"]);
    assert_eq!(grants(&answer(token["access_token"].as_str().unwrap()).await), ["events.alerts:read"]);
}

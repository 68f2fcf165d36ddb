//! Management through the router: the key lifecycle and its wire shapes, administrators, the
//! catalog, logs and the operations endpoints.
#![allow(clippy::unwrap_used)]

mod common;

use chrono::Duration;
use common::*;
use serde_json::{json, Value};

const KEY_FIELDS: &[&str] = &[
    "created_at",
    "description",
    "effective_grants",
    "expires_at",
    "format",
    "grants",
    "id",
    "inherit",
    "initial_privileges",
    "last_used_at",
    "last_used_ip",
    "lifetime_days",
    "name",
    "networks",
    "owner",
    "remaining_days",
    "require_signed_writes",
    "revoked_at",
    "roles",
    "status",
    "updated_at",
    "use_count",
    "verify_key",
];

#[tokio::test]
async fn key_lifecycle_shapes() {
    let app = start().await;
    let alice = alice(&app).await;
    let answer = call("POST", "/v1/keys")
        .bearer(&alice.token)
        .json(json!({
            "name": "ci", "description": "deploys", "lifetime_days": 30,
            "grants": ["events.alerts:read", {"permission": "accounts.config:read", "targets": ["123"]}],
            "roles": [{"role": "cloud_account_viewer", "targets": ["*"]}],
            "networks": ["192.0.2.7", "2001:db8::/32"],
        }))
        .send(&app)
        .await
        .ok(201);
    let secret = answer["secret"].as_str().unwrap();
    assert!(secret.starts_with("kw_"));
    let key = &answer["key"];
    let mut fields: Vec<&str> = key.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, KEY_FIELDS);
    assert!(!answer.to_string().contains("hash"));
    let id = key["id"].as_str().unwrap().to_string();
    assert_eq!(key["owner"], json!({"id": alice.admin_id, "email": "alice@example.com"}));
    assert_eq!(
        (key["status"].as_str(), key["remaining_days"].as_i64(), key["lifetime_days"].as_i64()),
        (Some("active"), Some(30), Some(30))
    );
    assert_eq!(key["networks"], json!(["192.0.2.7/32", "2001:db8::/32"]));
    assert_eq!(key["grants"][1], json!({"permission": "accounts.config:read", "targets": ["123"]}));
    assert_eq!(key["roles"], json!([{"role": "cloud_account_viewer", "targets": ["*"]}]));
    assert_eq!(key["initial_privileges"]["grants"], key["grants"]);
    assert_eq!(key["format"], "opaque");
    // Owner-intersected and deduplicated: the role's accounts.*:read covers the targeted grant.
    assert_eq!(
        key["effective_grants"],
        json!([{"permission": "accounts.*:read", "targets": ["*"]}, {"permission": "events.alerts:read", "targets": ["*"]}])
    );

    let path = format!("/v1/keys/{id}");
    let get = |p: String| call("GET", &p).bearer(&alice.token);
    assert_eq!(get(path.clone()).send(&app).await.ok(200)["id"], id.as_str());
    let stats = get("/v1/keys/stats".into()).send(&app).await.ok(200);
    assert_eq!(stats, json!({"total": 1, "active": 1, "expired": 0, "revoked": 0, "expiring_within_30_days": 1}));
    let list = get("/v1/keys?status=active&q=deploy&limit=5".into()).send(&app).await.ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["next_cursor"].is_null());

    // PATCH: null clears the description; format cannot change.
    let patch = |body: Value| call("PATCH", &path).bearer(&alice.token).json(body);
    let patched = patch(json!({"description": null, "name": "ci-2"})).send(&app).await.ok(200);
    assert!(patched["description"].is_null());
    assert_eq!(patched["name"], "ci-2");
    patch(json!({"format": "jwt"})).send(&app).await.problem(422, "validation_failed");

    // Refresh with no body at all, then with a grace period; regenerate; revoke.
    let refreshed = call("POST", &format!("{path}/refresh")).bearer(&alice.token).send(&app).await.ok(200);
    assert_ne!(refreshed["secret"].as_str().unwrap(), secret);
    call("POST", &format!("{path}/refresh"))
        .bearer(&alice.token)
        .json(json!({"grace_period_seconds": 60}))
        .send(&app)
        .await
        .ok(200);
    call("POST", &format!("{path}/refresh"))
        .bearer(&alice.token)
        .json(json!({"grace": 60}))
        .send(&app)
        .await
        .problem(422, "validation_failed");
    call("POST", &format!("{path}/refresh"))
        .bearer(&alice.token)
        .raw(Some("text/plain"), "x")
        .send(&app)
        .await
        .problem(415, "unsupported_media_type");
    let regenerated =
        call("POST", &format!("{path}/regenerate")).bearer(&alice.token).json(json!({})).send(&app).await.ok(200);
    assert!(regenerated["secret"].as_str().is_some());
    let revoked = call("POST", &format!("{path}/revoke")).bearer(&alice.token).send(&app).await.ok(200);
    assert_eq!(revoked["key"]["status"], "revoked");
    assert!(revoked["key"]["revoked_at"].as_str().is_some());
    assert!(revoked.get("secret").is_none());
    call("POST", &format!("{path}/revoke")).bearer(&alice.token).send(&app).await.ok(200);
    call("POST", &format!("{path}/regenerate")).bearer(&alice.token).send(&app).await.problem(409, "conflict");

    let deleted = call("DELETE", &path).bearer(&alice.token).send(&app).await;
    deleted.ok(204);
    assert!(deleted.body.is_empty());
    get(path.clone()).send(&app).await.problem(404, "not_found");
    call("DELETE", &path).bearer(&alice.token).send(&app).await.problem(404, "not_found");
}

#[tokio::test]
async fn another_admins_key_is_not_found_and_expiry_follows_the_clock() {
    let app = start().await;
    let alice = alice(&app).await;
    let bob = admin(&app, "bob@example.com", true, json!(["events.*:read"])).await;
    let (key, _) = create_key(&app, &alice, json!({"name": "short", "lifetime_days": 1})).await;
    let path = format!("/v1/keys/{}", key["id"].as_str().unwrap());
    call("GET", &path).bearer(&bob.token).send(&app).await.problem(404, "not_found");
    call("POST", &format!("{path}/revoke")).bearer(&bob.token).send(&app).await.problem(404, "not_found");
    // An escalation beyond the owner's permissions is refused.
    let d = call("POST", "/v1/keys")
        .bearer(&bob.token)
        .json(json!({"name": "x", "grants": ["events.alerts:write"]}))
        .send(&app)
        .await
        .problem(422, "validation_failed");
    assert!(d.starts_with("grants"), "{d}");
    // The superadmin sees it, with the grants its owner's permissions allow now.
    let root = root(&app).await;
    let seen = call("GET", &path).bearer(&root.token).send(&app).await.ok(200);
    assert!(seen["effective_grants"].is_array(), "{seen}");

    app.clock.advance(Duration::days(2));
    let alice = login(&app, "alice@example.com", PASSWORD).await;
    let key = call("GET", &path).bearer(&alice.token).send(&app).await.ok(200).clone();
    assert_eq!((key["status"].as_str(), key["remaining_days"].as_i64()), (Some("expired"), Some(0)));
    let stats = call("GET", "/v1/keys/stats").bearer(&alice.token).send(&app).await.ok(200);
    assert_eq!(stats["expired"], 1);
}

/// One `GET /v1/keys` examines at most `list_walk_limit` keys (3 here) when it tests each
/// against the filters: a search that has not filled its page by then answers what it found,
/// even nothing, with a cursor that resumes after the last key examined; following the cursors
/// finds every match exactly once, and only a `null` cursor ends the listing. A tampered cursor
/// is a `400`.
#[tokio::test]
async fn a_bounded_search_answers_short_pages_with_a_cursor() {
    let app = start_with(|c| c.list_walk_limit = 3).await;
    let alice = alice(&app).await;
    for i in 0..8 {
        let name = if i % 4 == 0 { format!("svc-{i}-~x") } else { format!("svc-{i}") };
        create_key(&app, &alice, json!({"name": name})).await;
        app.clock.advance(Duration::seconds(1));
    }
    // Newest first, 3 keys a request: svc-7, svc-6, svc-5 | svc-4-~x, svc-3, svc-2 | svc-1, svc-0-~x.
    let mut pages = Vec::new();
    let mut path = "/v1/keys?q=~x&limit=5".to_string();
    loop {
        let page = call("GET", &path).bearer(&alice.token).send(&app).await.ok(200);
        let names: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap().to_string()).collect();
        pages.push(names);
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/keys?q=~x&limit=5&cursor={cursor}"),
            None => break,
        }
        assert!(pages.len() < 10, "the cursor does not move forward");
    }
    let expected: [&[&str]; 3] = [&[], &["svc-4-~x"], &["svc-0-~x"]];
    assert_eq!(pages, expected, "an empty page and a short one, each with a cursor, then the end");
    // A listing that fills its page within the bound is cut at its last key, as always.
    let full = call("GET", "/v1/keys?limit=2").bearer(&alice.token).send(&app).await.ok(200);
    assert_eq!(full["items"].as_array().unwrap().len(), 2);
    assert!(full["next_cursor"].as_str().is_some());

    for tampered in ["nonsense", "12.", ".abc", "12.ab-c", "99999999999999999999.ab"] {
        call("GET", &format!("/v1/keys?q=~x&cursor={tampered}"))
            .bearer(&alice.token)
            .send(&app)
            .await
            .problem(400, "malformed_request");
    }
}

#[tokio::test]
async fn admins_are_managed_by_the_superadmin() {
    let app = start().await;
    let root = root(&app).await;
    let created = call("POST", "/v1/admins")
        .bearer(&root.token)
        .json(json!({"email": "Carol@Example.com", "name": "Carol", "password": PASSWORD}))
        .send(&app)
        .await
        .ok(201);
    assert_eq!(
        (created["email"].as_str(), created["role"].as_str(), created["can_manage_keys"].as_bool()),
        (Some("carol@example.com"), Some("admin"), Some(false))
    );
    assert_eq!(created["permissions"], json!([]));
    let id = created["id"].as_str().unwrap();
    call("POST", "/v1/admins")
        .bearer(&root.token)
        .json(json!({"email": "carol@example.com", "name": "C", "password": PASSWORD}))
        .send(&app)
        .await
        .problem(409, "conflict");
    let list = call("GET", "/v1/admins").bearer(&root.token).send(&app).await.ok(200);
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["next_cursor"].is_null());
    let path = format!("/v1/admins/{id}");
    let patched = call("PATCH", &path)
        .bearer(&root.token)
        .json(json!({"disabled": true, "permissions": ["events.alerts:read"]}))
        .send(&app)
        .await
        .ok(200);
    assert_eq!(patched["disabled"], true);
    assert_eq!(patched["permissions"], json!([{"permission": "events.alerts:read", "targets": ["*"]}]));
    call("PATCH", &path)
        .bearer(&root.token)
        .json(json!({"role": "king"}))
        .send(&app)
        .await
        .problem(422, "validation_failed");
    assert_eq!(call("GET", &path).bearer(&root.token).send(&app).await.ok(200)["id"], id);
    call("DELETE", &path).bearer(&root.token).send(&app).await.ok(204);
    call("GET", &path).bearer(&root.token).send(&app).await.problem(404, "not_found");
    // A superadmin cannot delete themselves.
    let me = format!("/v1/admins/{}", root.admin_id);
    call("DELETE", &me).bearer(&root.token).send(&app).await.problem(409, "conflict");
}

#[tokio::test]
async fn catalog_logs_and_operations() {
    let app = start().await;
    let alice = alice(&app).await;
    let catalog = call("GET", "/v1/catalog").bearer(&alice.token).send(&app).await.ok(200);
    let scopes = catalog["scopes"].as_array().unwrap();
    assert!(scopes.iter().any(|s| s["name"] == "keyward" && s["resources"] == json!(["keys", "logs", "verify"])));
    let viewer = catalog["roles"].as_array().unwrap().iter().find(|r| r["name"] == "cloud_account_viewer").unwrap();
    assert_eq!(viewer["requires_targets"], true);
    assert_eq!(viewer["permissions"], json!(["accounts.*:read"]));
    call("GET", "/v1/catalog").send(&app).await.problem(401, "unauthorized");

    // A login through a trusted proxy is recorded with the forwarded client address.
    call("POST", "/v1/auth/login")
        .peer("127.0.0.1")
        .header("x-forwarded-for", "198.51.100.9")
        .json(json!({"email": "alice@example.com", "password": "wrong-password"}))
        .send(&app)
        .await
        .problem(401, "unauthorized");
    let (key, _) = create_key(&app, &alice, json!({"name": "logged"})).await;
    let id = key["id"].as_str().unwrap();
    let logs = call("GET", &format!("/v1/logs?key_id={id}&key_id=other&kind=audit"))
        .bearer(&alice.token)
        .send(&app)
        .await
        .ok(200);
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{logs}");
    assert_eq!(items[0]["action"], "key.created");
    assert_eq!(items[0]["key_id"], id);
    assert_eq!(items[0]["actor"], json!({"type": "admin", "id": alice.admin_id, "email": "alice@example.com"}));
    assert!(logs.get("next_cursor").is_some());
    let root = root(&app).await;
    let failed = call("GET", "/v1/logs?action=auth.login_failed").bearer(&root.token).send(&app).await.ok(200);
    let record = &failed["items"][0];
    assert_eq!(record["actor"], json!({"type": "system"}));
    assert_eq!(record["client_ip"], "198.51.100.9");
    call("GET", "/v1/logs?since=yesterday").bearer(&alice.token).send(&app).await.problem(400, "malformed_request");
    call("GET", "/v1/logs?kind=other").bearer(&alice.token).send(&app).await.problem(422, "validation_failed");

    assert_eq!(call("GET", "/healthz").send(&app).await.ok(200), json!({"status": "ok"}));
    assert_eq!(
        call("GET", "/readyz").send(&app).await.ok(200),
        json!({"status": "ready", "backend": match app.db.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }})
    );
    let index = call("GET", "/").send(&app).await;
    assert_eq!(index.status, 200);
    assert!(String::from_utf8_lossy(&index.body).contains("/openapi.json"));
}

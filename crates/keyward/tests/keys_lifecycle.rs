//! SPEC §1 "API keys" and "Lifecycle", §8 "Lifecycle details": create, update, refresh (with
//! and without grace), regenerate, revoke, delete, and the audit trail that survives deletion.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{parse_time, poll, split_secret, Server, World};
use serde_json::{json, Value};

fn id(key: &Value) -> String {
    key["id"].as_str().unwrap().to_owned()
}

#[test]
fn create_returns_every_field_and_a_well_formed_secret() {
    let w = World::new();
    let (key, secret) = w.key(
        "shape",
        json!({"description": "for CI", "lifetime_days": 30,
               "grants": ["events.alerts:read", {"permission": "accounts.config:read", "targets": ["111"]}],
               "networks": ["192.0.2.7", "2001:db8::1", "10.0.0.0/8"]}),
    );
    for field in [
        "id",
        "name",
        "description",
        "owner",
        "created_at",
        "updated_at",
        "expires_at",
        "lifetime_days",
        "status",
        "remaining_days",
        "roles",
        "grants",
        "inherit",
        "initial_privileges",
        "networks",
        "format",
        "last_used_at",
        "last_used_ip",
    ] {
        assert!(key.get(field).is_some(), "key lacks {field}: {key}");
    }
    assert_eq!(key["name"], json!("shape"));
    assert_eq!(key["description"], json!("for CI"));
    assert_eq!(key["owner"], json!({"id": w.admin.id, "email": w.admin.email}));
    assert_eq!(key["status"], json!("active"));
    assert_eq!(key["lifetime_days"], json!(30));
    assert_eq!(key["remaining_days"], json!(30));
    assert_eq!(key["inherit"], json!(false));
    assert_eq!(key["format"], json!("opaque"));
    assert_eq!(key["last_used_at"], Value::Null);
    let mut nets: Vec<&str> = key["networks"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    nets.sort_unstable();
    assert_eq!(nets, ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::1/128"]);
    let expires = parse_time(&key["expires_at"]);
    let created = parse_time(&key["created_at"]);
    let delta = (expires - created).num_seconds() - 30 * 86_400;
    assert!(delta.abs() < 60, "expires_at is not created_at + 30 days");

    // <prefix>_<id>_<secret><check>, id embedded, only [A-Za-z0-9_].
    let (prefix, sid, random) = split_secret(&secret);
    assert_eq!(prefix, "kw");
    assert_eq!(sid, id(&key));
    assert!(random.len() >= 32, "secret part too short: {}", random.len());
    assert!(secret.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    assert_eq!(secret, common::forge_secret(&prefix, &sid, &random));
}

#[test]
fn default_and_never_and_rounded_lifetimes() {
    let w = World::new();
    let (default, _) = w.key("default", json!({"grants": ["events.alerts:read"]}));
    assert_eq!(default["lifetime_days"], json!(180));
    assert_eq!(default["remaining_days"], json!(180));
    let (never, s) = w.key("never", json!({"never_expires": true}));
    assert_eq!(never["expires_at"], Value::Null);
    assert_eq!(never["lifetime_days"], Value::Null);
    assert_eq!(never["remaining_days"], Value::Null);
    assert_eq!(w.code(&s, None), "valid");
    // An expires_at 10 days less one hour ahead: lifetime rounds up to 10.
    let (at, _) = w.key("at", json!({"expires_at": common::rfc3339_in(10 * 86_400 - 3_600)}));
    assert_eq!(at["lifetime_days"], json!(10));
    assert_eq!(at["remaining_days"], json!(10));
}

#[test]
fn names_are_unique_per_owner_among_undeleted_keys() {
    let w = World::new();
    let srv = &w.srv;
    let (key, _) = w.key("dup", json!({}));
    srv.post("/v1/keys", &w.tok, &json!({"name": "dup"})).expect_problem(409, "conflict");
    // Case-sensitive comparison.
    w.key("DUP", json!({}));
    // Another admin may use the same name (a clash never reveals another admin's keys).
    let (_, tok_b) = srv.admin_session(&w.root, &["events.*:read"]);
    srv.create_key(&tok_b, &json!({"name": "dup"}));
    // Renaming onto a taken name is a conflict too.
    let (other, _) = w.key("other", json!({}));
    srv.patch(&format!("/v1/keys/{}", id(&other)), &w.tok, &json!({"name": "dup"})).expect_problem(409, "conflict");
    // Once deleted, the name is free again.
    assert_eq!(srv.delete(&format!("/v1/keys/{}", id(&key)), &w.tok).status, 204);
    w.key("dup", json!({}));
}

#[test]
fn patch_updates_fields_and_expiry_but_keeps_lifetime_days() {
    let w = World::new();
    let srv = &w.srv;
    let (key, secret) = w.key("p", json!({"lifetime_days": 30, "grants": ["events.alerts:write"]}));
    let path = format!("/v1/keys/{}", id(&key));
    let r = srv.patch(
        &path,
        &w.tok,
        &json!({"name": "renamed", "description": "new text", "lifetime_days": 5,
                "grants": ["events.alerts:read"], "networks": ["198.51.100.0/24"]}),
    );
    r.expect(200);
    let k = r.key();
    assert_eq!(k["name"], json!("renamed"));
    assert_eq!(k["description"], json!("new text"));
    assert_eq!(k["lifetime_days"], json!(30), "stored lifetime_days stays");
    assert_eq!(k["remaining_days"], json!(5));
    assert_eq!(k["networks"], json!(["198.51.100.0/24"]));
    let expires = parse_time(&k["expires_at"]);
    let delta = (expires - chrono::Utc::now()).num_seconds() - 5 * 86_400;
    assert!(delta.abs() < 60, "PATCH lifetime_days counts from now");
    // Takes effect on verification at once.
    let v = srv
        .verify(&w.verifier, &json!({"key": secret, "permission": "events.alerts:write", "client_ip": "198.51.100.4"}));
    assert_eq!(v["code"], json!("insufficient_permission"));
    let audit = srv.logs(&w.tok, &format!("kind=audit&key_id={}", id(&key)));
    assert!(Server::actions(&audit).contains(&"key.updated".to_owned()));
    // never_expires via PATCH.
    let k = srv.patch(&path, &w.tok, &json!({"never_expires": true}));
    k.expect(200);
    assert_eq!(k.key()["expires_at"], Value::Null);
    assert_eq!(k.key()["lifetime_days"], json!(30));
}

#[test]
fn rename_forbidden_when_configured() {
    let w = World::on(Server::start_env(&[("KEYWARD_ALLOW_KEY_RENAME", "false")]));
    let (key, _) = w.key("fixed", json!({}));
    let path = format!("/v1/keys/{}", id(&key));
    w.srv.patch(&path, &w.tok, &json!({"name": "other"})).expect_problem(422, "validation_failed");
    assert_eq!(w.srv.get(&path, &w.tok).key()["name"], json!("fixed"));
    // Other fields may still change.
    w.srv.patch(&path, &w.tok, &json!({"description": "ok"})).expect(200);
}

#[test]
fn refresh_with_grace_keeps_one_previous_secret() {
    let w = World::new();
    let srv = &w.srv;
    let (key, s0) = w.key("r", json!({"grants": ["events.alerts:read"]}));
    let path = format!("/v1/keys/{}/refresh", id(&key));
    let r = srv.post(&path, &w.tok, &json!({"grace_period_seconds": 30}));
    let b = r.expect(200);
    let s1 = b["secret"].as_str().unwrap().to_owned();
    assert_ne!(s0, s1);
    assert_eq!(b["key"]["id"], key["id"]);
    assert_eq!(
        parse_time(&b["key"]["expires_at"]).timestamp_millis(),
        parse_time(&key["expires_at"]).timestamp_millis(),
        "refresh keeps expiry"
    );
    assert_eq!(w.code(&s0, Some("events.alerts:read")), "valid");
    assert_eq!(w.code(&s1, Some("events.alerts:read")), "valid");

    // A second refresh ends the first one's grace.
    let r = srv.post(&path, &w.tok, &json!({"grace_period_seconds": 30}));
    let s2 = r.expect(200)["secret"].as_str().unwrap().to_owned();
    assert_eq!(w.code(&s0, None), "not_found");
    assert_eq!(w.code(&s1, None), "valid");
    assert_eq!(w.code(&s2, None), "valid");

    // Without grace: the old secret is unknown at once.
    let r = srv.post(&path, &w.tok, &json!({}));
    let s3 = r.expect(200)["secret"].as_str().unwrap().to_owned();
    assert_eq!(w.code(&s1, None), "not_found");
    assert_eq!(w.code(&s2, None), "not_found");
    assert_eq!(w.code(&s3, None), "valid");
    let audit = srv.logs(&w.tok, &format!("kind=audit&key_id={}", id(&key)));
    let refreshed = Server::actions(&audit).iter().filter(|a| *a == "key.refreshed").count();
    assert_eq!(refreshed, 3);
}

#[test]
fn refresh_grace_is_bounded() {
    let w = World::new();
    let (key, s0) = w.key("g", json!({}));
    w.srv
        .post(&format!("/v1/keys/{}/refresh", id(&key)), &w.tok, &json!({"grace_period_seconds": 7 * 86_400 + 1}))
        .expect_problem(422, "validation_failed");
    assert_eq!(w.code(&s0, None), "valid", "a refused refresh changes nothing");
}

#[test]
fn revoke_ends_grace_and_blocks_refresh_and_regenerate() {
    let w = World::new();
    let srv = &w.srv;
    let (key, s0) = w.key("rv", json!({"grants": ["events.alerts:read"]}));
    let kid = id(&key);
    let r = srv.post(&format!("/v1/keys/{kid}/refresh"), &w.tok, &json!({"grace_period_seconds": 600}));
    let s1 = r.expect(200)["secret"].as_str().unwrap().to_owned();
    assert_eq!(w.code(&s0, None), "valid");

    let r = srv.post(&format!("/v1/keys/{kid}/revoke"), &w.tok, &json!({}));
    let k = &r.expect(200)["key"];
    assert_eq!(k["status"], json!("revoked"));
    assert!(k["revoked_at"].is_string(), "{k}");
    assert_eq!(w.code(&s1, None), "revoked");
    let old = w.code(&s0, None);
    assert!(old == "revoked" || old == "not_found", "old secret: {old}");
    // Idempotent.
    let again = srv.post(&format!("/v1/keys/{kid}/revoke"), &w.tok, &json!({}));
    assert_eq!(again.expect(200)["key"]["status"], json!("revoked"));

    srv.post(&format!("/v1/keys/{kid}/refresh"), &w.tok, &json!({})).expect_problem(409, "conflict");
    srv.post(&format!("/v1/keys/{kid}/regenerate"), &w.tok, &json!({})).expect_problem(409, "conflict");
    assert_eq!(w.code(&s1, None), "revoked");
}

#[test]
fn regenerate_restores_expiry_and_initial_privileges() {
    let w = World::new();
    let srv = &w.srv;
    let (key, s0) = w.key("regen", json!({"lifetime_days": 30, "grants": ["events.alerts:write"]}));
    let kid = id(&key);
    let initial = key["initial_privileges"].clone();
    assert!(initial.to_string().contains("events.alerts:write"), "{initial}");
    srv.patch(&format!("/v1/keys/{kid}"), &w.tok, &json!({"grants": ["events.events:read"], "lifetime_days": 2}))
        .expect(200);
    assert_eq!(w.code(&s0, Some("events.alerts:write")), "insufficient_permission");

    let r = srv.post(&format!("/v1/keys/{kid}/regenerate"), &w.tok, &json!({}));
    let b = r.expect(200);
    let s1 = b["secret"].as_str().unwrap().to_owned();
    let k = &b["key"];
    assert_ne!(s0, s1);
    assert_eq!(k["id"], json!(kid));
    assert_eq!(k["lifetime_days"], json!(30));
    assert_eq!(k["remaining_days"], json!(30));
    let expires = parse_time(&k["expires_at"]);
    let delta = (expires - chrono::Utc::now()).num_seconds() - 30 * 86_400;
    assert!(delta.abs() < 60, "expires_at must be now + 30 days, delta {delta}s");
    assert_eq!(k["initial_privileges"], initial);
    assert!(k["grants"].to_string().contains("events.alerts:write"), "{k}");
    assert!(!k["grants"].to_string().contains("events.events"), "{k}");

    assert_eq!(w.code(&s0, None), "not_found");
    assert_eq!(w.code(&s1, Some("events.alerts:write")), "valid");
    assert_eq!(w.code(&s1, Some("events.events:read")), "insufficient_permission");
    let audit = srv.logs(&w.tok, &format!("kind=audit&key_id={kid}"));
    assert!(Server::actions(&audit).contains(&"key.regenerated".to_owned()));
}

#[test]
fn delete_then_search_logs() {
    let w = World::new();
    let srv = &w.srv;
    let (key, secret) = w.key("del", json!({"grants": ["events.alerts:read"]}));
    let kid = id(&key);
    let r = srv.delete(&format!("/v1/keys/{kid}"), &w.tok);
    assert_eq!(r.status, 204, "{}", r.text);
    srv.get(&format!("/v1/keys/{kid}"), &w.tok).expect_problem(404, "not_found");
    srv.delete(&format!("/v1/keys/{kid}"), &w.tok).expect_problem(404, "not_found");
    let list = srv.get("/v1/keys?status=all", &w.tok);
    assert!(!list.text.contains(&kid), "deleted key still listed");
    let v = srv.verify(&w.verifier, &json!({"key": secret, "client_ip": "127.0.0.1"}));
    assert_eq!(v["valid"], json!(false), "{v}");

    for token in [&w.tok, &w.root] {
        let logs = srv.logs(token, &format!("key_id={kid}&kind=audit"));
        let actions = Server::actions(&logs);
        for a in ["key.created", "key.revoked", "key.deleted"] {
            assert!(actions.contains(&a.to_owned()), "{a} missing: {actions:?}");
        }
        // Newest first.
        let times: Vec<_> = logs.iter().map(|r| parse_time(&r["time"])).collect();
        assert!(times.windows(2).all(|p| p[0] >= p[1]), "not newest first");
        assert!(logs.iter().all(|r| r["key_id"] == json!(kid)));
    }
    // Another admin cannot see this key's logs.
    let (_, tok_b) = srv.admin_session(&w.root, &["events.*:read"]);
    let r = srv.get(&format!("/v1/logs?key_id={kid}&kind=audit"), &tok_b);
    assert!(
        (r.status == 200 && r.items().is_empty()) || matches!(r.status, 403 | 404),
        "another admin sees the logs: {}",
        r.text
    );
    let r = srv.get("/v1/logs?kind=audit&limit=1000", &tok_b);
    assert!(!r.expect(200).to_string().contains(&kid));
}

#[test]
fn last_used_is_the_client_address() {
    let w = World::new();
    let srv = &w.srv;
    let (key, secret) = w.key("used", json!({"grants": ["events.alerts:read"]}));
    let kid = id(&key);
    assert_eq!(key["last_used_at"], Value::Null);
    let v = srv
        .verify(&w.verifier, &json!({"key": secret, "permission": "events.alerts:read", "client_ip": "198.51.100.23"}));
    assert_eq!(v["code"], json!("valid"));
    let seen = poll(Duration::from_secs(5), || {
        let k = srv.get(&format!("/v1/keys/{kid}"), &w.tok).key();
        (k["last_used_ip"] == json!("198.51.100.23")).then_some(k)
    });
    let k = seen.expect("last_used_ip never became the client_ip given to /v1/verify");
    assert!(k["last_used_at"].is_string());
}

#[test]
fn verifications_are_logged_as_usage() {
    let w = World::new();
    let srv = &w.srv;
    let (key, secret) = w.key("used", json!({"grants": ["events.alerts:read"]}));
    let kid = id(&key);
    let v = srv.verify(
        &w.verifier,
        &json!({"key": secret, "permission": "events.alerts:write", "client_ip": "198.51.100.23"}),
    );
    assert_eq!(v["code"], json!("insufficient_permission"));
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    let usage = poll(Duration::from_secs(5), || {
        let logs = srv.logs(&w.tok, &format!("kind=usage&key_id={kid}"));
        let codes: Vec<_> = logs
            .iter()
            .filter(|r| r["action"] == json!("key.verified"))
            .map(|r| r["code"].as_str().unwrap_or_default().to_owned())
            .collect();
        (codes.contains(&"valid".to_owned()) && codes.contains(&"insufficient_permission".to_owned())).then_some(logs)
    });
    let usage = usage.expect("no key.verified usage records (allowed and denied)");
    assert!(usage.iter().all(|r| r["kind"] == json!("usage")));
    let denied = usage.iter().find(|r| r["code"] == json!("insufficient_permission")).unwrap();
    assert_eq!(denied["permission"], json!("events.alerts:write"));
    assert_eq!(denied["client_ip"], json!("198.51.100.23"));
    assert!(!serde_json::to_string(&usage).unwrap().contains(&secret));
}

//! SPEC §2 "Verification": every verification code reachable without signatures, and the
//! rules for callers of `POST /v1/verify`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{forge_secret, poll, rand_str, rfc3339_in, split_secret, World};
use serde_json::{json, Value};

/// No fact about a key may leak to a caller who does not hold its full secret.
#[track_caller]
fn assert_not_found_reveals_nothing(v: &Value) {
    assert_eq!(v["valid"], json!(false), "{v}");
    assert_eq!(v["code"], json!("not_found"), "{v}");
    for field in ["key_id", "name", "owner", "grants", "expires_at"] {
        assert!(v.get(field).is_none_or(Value::is_null), "not_found answer reveals {field}: {v}");
    }
}

#[test]
fn valid_answer_shape() {
    let w = World::new();
    let (key, secret) = w.key("ok", json!({"lifetime_days": 30, "grants": ["events.alerts:read"]}));
    let v = w
        .srv
        .verify(&w.verifier, &json!({"key": secret, "permission": "events.alerts:read", "client_ip": "203.0.113.7"}));
    assert_eq!(v["valid"], json!(true), "{v}");
    assert_eq!(v["code"], json!("valid"));
    assert_eq!(v["key_id"], key["id"]);
    assert_eq!(v["name"], json!("ok"));
    assert_eq!(v["owner"], json!({"id": w.admin.id, "email": w.admin.email}));
    assert_eq!(
        common::parse_time(&v["expires_at"]).timestamp_millis(),
        common::parse_time(&key["expires_at"]).timestamp_millis()
    );
    let grants = v["grants"].as_array().expect("grants is a list");
    assert_eq!(grants.len(), 1, "{v}");
    assert!(grants[0].to_string().contains("events.alerts:read"), "{v}");
    // Without a permission only validity is checked.
    let v = w.srv.verify(&w.verifier, &json!({"key": secret}));
    assert_eq!(v["code"], json!("valid"));
    // id:secret is accepted as the presented key too.
    let id = key["id"].as_str().unwrap();
    let v = w.srv.verify(&w.verifier, &json!({"key": format!("{id}:{secret}")}));
    assert_eq!(v["code"], json!("valid"), "{v}");
}

#[test]
fn not_found_variants() {
    let w = World::new();
    let (key_a, secret_a) = w.key("a", json!({}));
    let (key_b, _) = w.key("b", json!({}));
    let (prefix, id_a, random_a) = split_secret(&secret_a);
    assert_eq!(id_a, key_a["id"].as_str().unwrap());

    // Altered secret with a valid checksum (reaches the database, hash mismatch).
    let mut altered: Vec<char> = random_a.chars().collect();
    altered[5] = if altered[5] == 'a' { 'b' } else { 'a' };
    let altered: String = altered.into_iter().collect();
    // Checksum-failing: one character changed, checksum kept.
    let last = secret_a.chars().last().unwrap();
    let typo = format!("{}{}", &secret_a[..secret_a.len() - 1], if last == 'A' { 'B' } else { 'A' });
    let unknown_id = format!("Zz{}", rand_str(14));
    let cases = vec![
        ("unknown key", forge_secret(&prefix, &unknown_id, &random_a)),
        ("altered secret", forge_secret(&prefix, &id_a, &altered)),
        ("checksum failing", typo),
        ("truncated", secret_a[..secret_a.len() - 3].to_owned()),
        ("secret of A under B's id", forge_secret(&prefix, key_b["id"].as_str().unwrap(), &random_a)),
        ("garbage", "hello world".to_owned()),
        ("id:secret with the wrong id", format!("{}:{secret_a}", key_b["id"].as_str().unwrap())),
    ];
    for (what, presented) in cases {
        let r = w.srv.post("/v1/verify", &w.verifier, &json!({"key": presented}));
        assert_eq!(r.status, 200, "{what}: {}", r.text);
        let v = &r.json;
        assert_eq!(v["code"], json!("not_found"), "{what}: {v}");
        assert_not_found_reveals_nothing(v);
    }
    // The original still works: nothing above touched it.
    assert_eq!(w.code(&secret_a, None), "valid");
}

#[test]
fn expired_after_expires_at() {
    let w = World::new();
    let (_, secret) = w.key("short", json!({"expires_at": rfc3339_in(3)}));
    assert_eq!(w.code(&secret, None), "valid");
    let code = poll(Duration::from_secs(5), || {
        let c = w.code(&secret, None);
        (c != "valid").then_some(c)
    });
    assert_eq!(code.as_deref(), Some("expired"));
    let v = w.srv.verify(&w.verifier, &json!({"key": secret}));
    assert_eq!(v["valid"], json!(false));
}

#[test]
fn revoked_and_owner_disabled() {
    let w = World::new();
    let srv = &w.srv;
    let (key, secret) = w.key("rv", json!({"grants": ["events.alerts:read"]}));
    let (_, other) = w.key("od", json!({"grants": ["events.alerts:read"]}));
    srv.post(&format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()), &w.tok, &json!({})).expect(200);
    let v = srv.verify(&w.verifier, &json!({"key": secret}));
    assert_eq!((v["valid"].clone(), v["code"].clone()), (json!(false), json!("revoked")));
    assert_eq!(v["key_id"], key["id"], "the holder of the full secret learns the id");

    let admin_path = format!("/v1/admins/{}", w.admin.id);
    srv.patch(&admin_path, &w.root, &json!({"disabled": true})).expect(200);
    assert_eq!(w.code(&other, Some("events.alerts:read")), "owner_disabled");
    // Revoked still wins for the revoked key.
    assert_eq!(w.code(&secret, None), "revoked");
    srv.patch(&admin_path, &w.root, &json!({"disabled": false})).expect(200);
    assert_eq!(w.code(&other, Some("events.alerts:read")), "valid");
}

#[test]
fn ip_not_allowed() {
    let w = World::new();
    let (_, secret) = w.key("net", json!({"networks": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]}));
    let check = |ip: Option<&str>| {
        let mut body = json!({"key": secret});
        if let Some(ip) = ip {
            body["client_ip"] = json!(ip);
        }
        w.srv.verify(&w.verifier, &body)["code"].as_str().unwrap().to_owned()
    };
    assert_eq!(check(Some("10.1.2.3")), "valid");
    assert_eq!(check(Some("2001:db8:1::5")), "valid");
    assert_eq!(check(Some("192.0.2.7")), "valid");
    assert_eq!(check(Some("192.0.2.8")), "ip_not_allowed");
    assert_eq!(check(Some("11.0.0.1")), "ip_not_allowed");
    assert_eq!(check(Some("2001:db9::1")), "ip_not_allowed");
    assert_eq!(check(None), "ip_not_allowed", "missing client_ip");
    // A malformed client_ip is a client error, never valid.
    let r = w.srv.post("/v1/verify", &w.verifier, &json!({"key": secret, "client_ip": "not-an-ip"}));
    assert!(r.status == 422 || r.json["valid"] == json!(false), "{} {}", r.status, r.text);
    // An unrestricted key needs no client_ip.
    let (_, open) = w.key("open", json!({}));
    let v = w.srv.verify(&w.verifier, &json!({"key": open}));
    assert_eq!(v["code"], json!("valid"));
}

#[test]
fn insufficient_permission_and_access_levels() {
    let w = World::new();
    let (_, reader) = w.key("reader", json!({"grants": ["events.alerts:read"]}));
    let (_, writer) = w.key("writer", json!({"grants": ["events.alerts:write"]}));
    let (_, wild) = w.key("wild", json!({"grants": ["events.*:read"]}));
    assert_eq!(w.code(&reader, Some("events.alerts:read")), "valid");
    assert_eq!(w.code(&reader, Some("events.alerts:write")), "insufficient_permission");
    assert_eq!(w.code(&reader, Some("events.events:read")), "insufficient_permission");
    assert_eq!(w.code(&writer, Some("events.alerts:read")), "valid", "write implies read");
    assert_eq!(w.code(&writer, Some("events.alerts:write")), "valid");
    assert_eq!(w.code(&wild, Some("events.events:read")), "valid");
    assert_eq!(w.code(&wild, Some("clients.devices:read")), "insufficient_permission");
    let v = w.srv.verify(&w.verifier, &json!({"key": reader, "permission": "events.alerts:write"}));
    assert_eq!(v["valid"], json!(false));
    // A permission that is not a permission is a client error, never valid.
    let r = w.srv.post("/v1/verify", &w.verifier, &json!({"key": reader, "permission": "events.alerts:admin"}));
    assert!(r.status == 422 || r.json["valid"] == json!(false), "{}", r.text);
}

#[test]
fn targets_deny_by_default() {
    let w = World::new();
    let (_, secret) =
        w.key("targets", json!({"grants": [{"permission": "accounts.config:read", "targets": ["111", "222"]}]}));
    let check = |target: Option<&str>| {
        let mut body = json!({"key": secret, "permission": "accounts.config:read"});
        if let Some(t) = target {
            body["target"] = json!(t);
        }
        w.srv.verify(&w.verifier, &body)
    };
    assert_eq!(check(Some("111"))["code"], json!("valid"));
    assert_eq!(check(Some("222"))["code"], json!("valid"));
    assert_eq!(check(Some("333"))["code"], json!("insufficient_permission"));
    assert_eq!(check(None)["code"], json!("insufficient_permission"));
    // The answer lists the grant with its targets.
    let v = check(Some("111"));
    let g = &v["grants"][0];
    assert_eq!(g["permission"], json!("accounts.config:read"), "{v}");
    assert_eq!(g["targets"], json!(["111", "222"]), "{v}");

    // A role requiring targets, assigned for all targets.
    let (_, all) = w.key("viewer-all", json!({"roles": [{"role": "cloud_account_viewer", "targets": ["*"]}]}));
    for target in [Some("999"), None] {
        let mut body = json!({"key": all, "permission": "accounts.findings:read"});
        if let Some(t) = target {
            body["target"] = json!(t);
        }
        assert_eq!(w.srv.verify(&w.verifier, &body)["code"], json!("valid"));
    }
    // And for selected targets.
    let (_, some) = w.key("viewer-some", json!({"roles": [{"role": "cloud_account_viewer", "targets": ["acct-1"]}]}));
    let ok = w.srv.verify(&w.verifier, &json!({"key": some, "permission": "accounts.config:read", "target": "acct-1"}));
    assert_eq!(ok["code"], json!("valid"));
    let no = w.srv.verify(&w.verifier, &json!({"key": some, "permission": "accounts.config:read", "target": "acct-2"}));
    assert_eq!(no["code"], json!("insufficient_permission"));
}

#[test]
fn verify_caller_rules() {
    let w = World::new();
    let srv = &w.srv;
    let (key, secret) = w.key("plain", json!({"grants": ["events.alerts:read"]}));
    let body = json!({"key": secret});

    srv.req("POST", "/v1/verify", None, Some(&body)).expect_problem(401, "unauthorized");
    srv.post("/v1/verify", "kw_nope_nope", &body).expect_problem(401, "unauthorized");
    // A valid key without keyward.verify:read.
    srv.post("/v1/verify", &secret, &body).expect_problem(403, "forbidden");
    // Basic id:secret of the verifier key works.
    let vid = w.verifier_key["id"].as_str().unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{vid}:{}", w.verifier));
    let r = srv.raw(
        "POST",
        "/v1/verify",
        &[("authorization", &format!("Basic {basic}")), ("content-type", "application/json")],
        Some(serde_json::to_vec(&body).unwrap()),
    );
    assert_eq!(r.expect(200)["code"], json!("valid"));
    assert_eq!(r.json["key_id"], key["id"]);
    // Basic with a wrong secret is 401.
    let wrong =
        base64::engine::general_purpose::STANDARD.encode(format!("{vid}:{}", &w.verifier[..w.verifier.len() - 1]));
    let r = srv.raw(
        "POST",
        "/v1/verify",
        &[("authorization", &format!("Basic {wrong}")), ("content-type", "application/json")],
        Some(serde_json::to_vec(&body).unwrap()),
    );
    r.expect_problem(401, "unauthorized");
    // A revoked verifier is refused.
    srv.post(&format!("/v1/keys/{vid}/revoke"), &w.root, &json!({})).expect(200);
    srv.post("/v1/verify", &w.verifier, &body).expect_problem(401, "unauthorized");
}

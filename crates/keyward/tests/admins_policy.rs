//! SPEC §1 "Administrators": each numbered rule, over HTTP against a real server.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_problem, Server, World};
use serde_json::{json, Value};

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|k| k["id"].as_str().unwrap().to_owned()).collect()
}

/// Rule 1: a superadmin sees every key, may revoke and delete any, but cannot create, refresh
/// or regenerate keys (403).
#[test]
fn rule1_superadmin_sees_all_keys_but_cannot_issue() {
    let w = World::new();
    let srv = &w.srv;
    let (k1, s1) = w.key("alpha", json!({"grants": ["events.alerts:read"]}));
    let (k2, _) = w.key("beta", json!({"grants": ["events.alerts:read"]}));
    let (id1, id2) = (k1["id"].as_str().unwrap(), k2["id"].as_str().unwrap());

    let list = srv.get("/v1/keys?limit=1000", &w.root);
    list.expect(200);
    let seen = ids(&list.items());
    assert!(seen.contains(&id1.to_owned()) && seen.contains(&id2.to_owned()), "{seen:?}");
    // Including the verifier key, which belongs to a different admin.
    let vid = w.verifier_key["id"].as_str().unwrap().to_owned();
    assert!(seen.contains(&vid), "superadmin must see every admin's keys");
    let got = srv.get(&format!("/v1/keys/{id1}"), &w.root);
    got.expect(200);
    assert_eq!(got.key()["owner"]["email"], json!(w.admin.email));

    srv.post("/v1/keys", &w.root, &json!({"name": "mine"})).expect_problem(403, "forbidden");
    srv.post(&format!("/v1/keys/{id1}/refresh"), &w.root, &json!({})).expect_problem(403, "forbidden");
    srv.post(&format!("/v1/keys/{id1}/regenerate"), &w.root, &json!({})).expect_problem(403, "forbidden");
    // Nothing happened to the key: its secret was not replaced.
    assert_eq!(w.code(&s1, None), "valid");

    let r = srv.post(&format!("/v1/keys/{id1}/revoke"), &w.root, &json!({}));
    assert_eq!(r.expect(200)["key"]["status"], json!("revoked"));
    assert_eq!(srv.delete(&format!("/v1/keys/{id2}"), &w.root).status, 204);
    srv.get(&format!("/v1/keys/{id2}"), &w.tok).expect_problem(404, "not_found");
    let own = srv.get(&format!("/v1/keys/{id1}"), &w.tok);
    own.expect(200);
    assert_eq!(own.key()["status"], json!("revoked"));
}

/// Rule 2: an admin sees and manages only their own keys; another admin's key is 404.
#[test]
fn rule2_admin_sees_only_own_keys() {
    let w = World::new();
    let srv = &w.srv;
    let (admin_b, tok_b) = srv.admin_session(&w.root, &["events.*:write", "keyward.verify:read"]);
    let (kb, secret_b) = srv.create_key(&tok_b, &json!({"name": "b-key", "grants": ["events.alerts:read"]}));
    let (ka, _) = w.key("a-key", json!({"grants": ["events.alerts:read"]}));
    let idb = kb["id"].as_str().unwrap();

    let a_list = srv.get("/v1/keys?limit=1000", &w.tok);
    let seen = ids(&a_list.items());
    assert_eq!(seen, vec![ka["id"].as_str().unwrap().to_owned()]);
    let stats = srv.get("/v1/keys/stats", &w.tok);
    assert_eq!(stats.expect(200)["total"], json!(1));

    let unknown = srv.get("/v1/keys/doesnotexist123", &w.tok);
    unknown.expect_problem(404, "not_found");
    let paths = [
        ("GET", format!("/v1/keys/{idb}"), None),
        ("PATCH", format!("/v1/keys/{idb}"), Some(json!({"name": "stolen"}))),
        ("POST", format!("/v1/keys/{idb}/revoke"), Some(json!({}))),
        ("POST", format!("/v1/keys/{idb}/refresh"), Some(json!({}))),
        ("POST", format!("/v1/keys/{idb}/regenerate"), Some(json!({}))),
        ("DELETE", format!("/v1/keys/{idb}"), None),
    ];
    for (method, path, body) in &paths {
        let r = srv.req(method, path, Some(&w.tok), body.as_ref());
        assert_problem(&r, 404, "not_found");
        // Indistinguishable from a key that does not exist.
        assert_eq!(r.json["title"], unknown.json["title"], "{method} {path}");
    }
    // B's key is untouched and still works.
    let b_view = srv.get(&format!("/v1/keys/{idb}"), &tok_b);
    b_view.expect(200);
    assert_eq!(b_view.key()["name"], json!("b-key"));
    assert_eq!(b_view.key()["status"], json!("active"));
    assert_eq!(w.code(&secret_b, Some("events.alerts:read")), "valid");
    // An admin cannot filter their way into another admin's keys.
    let by_owner = srv.get(&format!("/v1/keys?owner={}", admin_b.id), &w.tok);
    assert!((by_owner.status == 200 && by_owner.items().is_empty()) || by_owner.status >= 400, "{}", by_owner.text);
}

/// Rule 3: without `can_manage_keys` an admin can log in but gets 403 on keys.
#[test]
fn rule3_admin_without_keys_permission_gets_403() {
    let srv = Server::start();
    let root = srv.root();
    let admin = srv.create_admin(&root, &["events.*:write"], false);
    assert_eq!(admin.json["can_manage_keys"], json!(false));
    let tok = srv.login(&admin.email, &admin.password);
    let me = srv.get("/v1/auth/me", &tok);
    assert_eq!(me.expect(200)["email"], json!(admin.email));
    srv.post("/v1/keys", &tok, &json!({"name": "x", "grants": ["events.alerts:read"]}))
        .expect_problem(403, "forbidden");
    // Nothing was created.
    let stats = srv.get("/v1/keys/stats", &root);
    assert_eq!(stats.expect(200)["total"], json!(0));
}

/// Rule 4a: grants (direct or through roles) beyond the owner's permissions are 422.
#[test]
fn rule4_no_escalation_at_creation() {
    let srv = Server::start();
    let root = srv.root();
    let (_, tok) = srv.admin_session(&root, &["events.*:read", "accounts.config:read"]);
    for body in [
        json!({"name": "w", "grants": ["events.alerts:write"]}),
        json!({"name": "x", "grants": ["clients.devices:read"]}),
        json!({"name": "y", "roles": [{"role": "global_viewer"}]}),
        json!({"name": "z", "grants": ["*:read"]}),
        json!({"name": "k", "grants": ["keyward.keys:write"]}),
    ] {
        srv.post("/v1/keys", &tok, &body).expect_problem(422, "validation_failed");
    }
    assert_eq!(srv.get("/v1/keys/stats", &tok).json["total"], json!(0));
    // Within the ceiling is fine, also with targets narrower than the owner's.
    srv.create_key(
        &tok,
        &json!({"name": "ok", "grants": ["events.alerts:read",
            {"permission": "accounts.config:read", "targets": ["111"]}]}),
    );
}

/// Rule 4b: taking a permission away from the owner takes it from every key at once.
#[test]
fn rule4_owner_permission_change_applies_at_once() {
    let w = World::new();
    let srv = &w.srv;
    let (_, secret) = w.key("writer", json!({"grants": ["events.alerts:write"]}));
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "valid");
    let r = srv.patch(
        &format!("/v1/admins/{}", w.admin.id),
        &w.root,
        &json!({"permissions": ["events.*:read", "accounts.*:read"]}),
    );
    assert_eq!(r.expect(200)["permissions"].as_array().unwrap().len(), 2);
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "insufficient_permission");
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    // The answer lists the effective (intersected) grants: no write left.
    let v = srv.verify(&w.verifier, &json!({"key": secret, "client_ip": "127.0.0.1"}));
    assert!(!v["grants"].to_string().contains("write"), "{v}");
    // Giving it back restores the key's own grant.
    srv.patch(&format!("/v1/admins/{}", w.admin.id), &w.root, &json!({"permissions": ["events.*:write"]})).expect(200);
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "valid");
}

/// Rule 4c: `inherit` gives exactly the owner's current permissions; inherit + grants/roles → 422.
#[test]
fn rule4_inherit_follows_owner_and_excludes_grants() {
    let w = World::new();
    let srv = &w.srv;
    for body in [
        json!({"name": "i1", "inherit": true, "grants": ["events.alerts:read"]}),
        json!({"name": "i2", "inherit": true, "roles": [{"role": "global_viewer"}]}),
    ] {
        srv.post("/v1/keys", &w.tok, &body).expect_problem(422, "validation_failed");
    }
    let (key, secret) = w.key("inh", json!({"inherit": true}));
    assert_eq!(key["inherit"], json!(true));
    assert_eq!(w.code(&secret, Some("events.events:write")), "valid");
    assert_eq!(w.code(&secret, Some("blacklist.entries:read")), "insufficient_permission");
    srv.patch(&format!("/v1/admins/{}", w.admin.id), &w.root, &json!({"permissions": ["blacklist.entries:write"]}))
        .expect(200);
    assert_eq!(w.code(&secret, Some("blacklist.entries:write")), "valid");
    assert_eq!(w.code(&secret, Some("events.events:read")), "insufficient_permission");
}

/// Rule 5: deleting an admin revokes all their keys, each with an audit `key.revoked` the
/// superadmin can find by key id.
#[test]
fn rule5_deleting_admin_revokes_keys_with_audit() {
    let w = World::new();
    let srv = &w.srv;
    let (k1, s1) = w.key("one", json!({"grants": ["events.alerts:read"]}));
    let (k2, s2) = w.key("two", json!({"grants": ["events.alerts:read"]}));
    assert_eq!(w.code(&s1, None), "valid");
    let r = srv.delete(&format!("/v1/admins/{}", w.admin.id), &w.root);
    assert!(matches!(r.status, 200 | 204), "{} {}", r.status, r.text);
    srv.get(&format!("/v1/admins/{}", w.admin.id), &w.root).expect_problem(404, "not_found");
    for (key, secret) in [(&k1, &s1), (&k2, &s2)] {
        let id = key["id"].as_str().unwrap();
        let v = srv.verify(&w.verifier, &json!({"key": secret, "client_ip": "127.0.0.1"}));
        assert_eq!(v["valid"], json!(false), "{v}");
        assert_eq!(v["code"], json!("revoked"), "{v}");
        let logs = srv.logs(&w.root, &format!("kind=audit&key_id={id}"));
        let actions = Server::actions(&logs);
        assert!(actions.iter().any(|a| a == "key.revoked"), "no key.revoked for {id}: {actions:?}");
        assert!(actions.iter().any(|a| a == "key.created"), "{actions:?}");
        assert!(logs.iter().all(|r| r["kind"] == json!("audit")));
        assert!(logs.iter().all(|r| r["key_id"] == json!(id)));
        // The superadmin still sees the key, revoked.
        let k = srv.get(&format!("/v1/keys/{id}"), &w.root);
        k.expect(200);
        assert_eq!(k.key()["status"], json!("revoked"));
    }
    // Their session is gone too.
    assert_eq!(srv.get("/v1/auth/me", &w.tok).status, 401);
    let admin_logs = srv.logs(&w.root, "kind=audit&action=admin.deleted");
    assert_eq!(admin_logs.len(), 1, "{admin_logs:?}");
}

/// Admin management is for superadmins; an admin's shape is as in §8; emails are
/// case-insensitive and unique.
#[test]
fn admins_endpoints_shape_and_access() {
    let srv = Server::start();
    let root = srv.root();
    let (admin, tok) = srv.admin_session(&root, &["events.*:read"]);
    for field in ["id", "email", "name", "role", "can_manage_keys", "permissions", "disabled", "created_at"] {
        assert!(admin.json.get(field).is_some(), "admin lacks {field}: {}", admin.json);
    }
    assert_eq!(admin.json["role"], json!("admin"));
    assert_eq!(admin.json["disabled"], json!(false));
    assert!(admin.json.get("password").is_none() && admin.json.get("password_hash").is_none());
    let me = srv.get("/v1/auth/me", &tok);
    assert_eq!(me.expect(200)["id"], json!(admin.id));

    srv.get("/v1/admins", &tok).expect_problem(403, "forbidden");
    srv.post(
        "/v1/admins",
        &tok,
        &json!({"email": "x@example.com", "name": "x", "password": "longenough1",
                "role": "admin", "can_manage_keys": true, "permissions": []}),
    )
    .expect_problem(403, "forbidden");
    srv.patch(&format!("/v1/admins/{}", admin.id), &tok, &json!({"permissions": ["*:write"]}))
        .expect_problem(403, "forbidden");

    let list = srv.get("/v1/admins", &root);
    let body = list.expect(200);
    let text = body.to_string();
    assert!(text.contains(&admin.email) && text.contains(common::ROOT_EMAIL));

    // Case-insensitive email: logging in with upper case works; a duplicate is a conflict.
    srv.login(&admin.email.to_uppercase(), &admin.password);
    srv.post(
        "/v1/admins",
        &root,
        &json!({"email": admin.email.to_uppercase(), "name": "dup", "password": "longenough1",
                "role": "admin", "can_manage_keys": false, "permissions": []}),
    )
    .expect_problem(409, "conflict");
    // Short password → 422.
    srv.post(
        "/v1/admins",
        &root,
        &json!({"email": common::rand_email("short"), "name": "s", "password": "short",
                "role": "admin", "can_manage_keys": false, "permissions": []}),
    )
    .expect_problem(422, "validation_failed");
}

/// A disabled admin cannot log in, their sessions end at once, and their keys answer
/// `owner_disabled` until they are enabled again.
#[test]
fn disabled_admin_cannot_log_in_and_keys_stop() {
    let w = World::new();
    let srv = &w.srv;
    let (_, secret) = w.key("k", json!({"grants": ["events.alerts:read"]}));
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    let path = format!("/v1/admins/{}", w.admin.id);
    let r = srv.patch(&path, &w.root, &json!({"disabled": true}));
    assert_eq!(r.expect(200)["disabled"], json!(true));

    let v = srv.verify(&w.verifier, &json!({"key": secret, "client_ip": "127.0.0.1"}));
    assert_eq!(v["valid"], json!(false));
    assert_eq!(v["code"], json!("owner_disabled"));
    assert_eq!(v["key_id"], json!(secret.split('_').nth(1).unwrap()));
    assert_eq!(srv.get("/v1/auth/me", &w.tok).status, 401, "session must end");
    let login =
        srv.req("POST", "/v1/auth/login", None, Some(&json!({"email": w.admin.email, "password": w.admin.password})));
    assert!(matches!(login.status, 401 | 403), "{}", login.text);
    assert!(login.json.get("session_token").is_none());

    srv.patch(&path, &w.root, &json!({"disabled": false})).expect(200);
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    srv.login(&w.admin.email, &w.admin.password);
}

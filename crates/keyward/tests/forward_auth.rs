//! SPEC §2 `GET /v1/forward-auth` and §8 "Forward-auth permissions" / "Networks": credential
//! forms, permission derivation, status codes and headers, trusted proxies.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{poll, rfc3339_in, Resp, Server, World};
use serde_json::json;

fn fa(srv: &Server, headers: &[(&str, &str)]) -> Resp {
    srv.raw("GET", "/v1/forward-auth", headers, None)
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

#[track_caller]
fn assert_401(r: &Resp) {
    assert_eq!(r.status, 401, "{}", r.text);
    let www = r.header("www-authenticate").expect("401 without WWW-Authenticate");
    assert!(www.to_ascii_lowercase().starts_with("bearer"), "WWW-Authenticate is not an RFC 6750 challenge: {www}");
    assert!(r.header("x-keyward-key-id").is_none());
}

#[track_caller]
fn assert_403(r: &Resp) {
    assert_eq!(r.status, 403, "{}", r.text);
}

#[test]
fn credential_forms_and_identity_headers() {
    let w = World::new();
    let (key, secret) = w.key("fa", json!({"grants": ["events.alerts:read"]}));
    let id = key["id"].as_str().unwrap();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}")));
    let auth = bearer(&secret);
    for headers in [
        vec![("authorization", auth.as_str())],
        vec![("x-api-key", secret.as_str())],
        vec![("authorization", basic.as_str())],
    ] {
        let r = fa(&w.srv, &headers);
        assert_eq!(r.status, 200, "{headers:?}: {}", r.text);
        assert_eq!(r.header("x-keyward-key-id").as_deref(), Some(id));
        assert_eq!(r.header("x-keyward-owner").as_deref(), Some(w.admin.email.as_str()));
    }
    // Basic with a different id than the secret's is refused.
    let (other, _) = w.key("other", json!({}));
    let mismatched = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", other["id"].as_str().unwrap()))
    );
    assert_401(&fa(&w.srv, &[("authorization", &mismatched)]));
    // A key in the query string is never accepted.
    let r = w.srv.raw("GET", &format!("/v1/forward-auth?api_key={secret}&key={secret}"), &[], None);
    assert_401(&r);
}

#[test]
fn permission_from_header_or_method() {
    let w = World::new();
    let (_, secret) = w.key("perm", json!({"grants": ["events.alerts:read"]}));
    let auth = bearer(&secret);
    let call = |extra: &[(&str, &str)]| {
        let mut h = vec![("authorization", auth.as_str())];
        h.extend_from_slice(extra);
        fa(&w.srv, &h).status
    };
    assert_eq!(call(&[]), 200, "without a permission only validity is checked");
    assert_eq!(call(&[("x-keyward-permission", "events.alerts:read")]), 200);
    assert_eq!(call(&[("x-keyward-permission", "events.alerts:write")]), 403);
    assert_eq!(call(&[("x-keyward-permission", "clients.devices:read")]), 403);
    for (method, status) in
        [("GET", 200), ("HEAD", 200), ("OPTIONS", 200), ("POST", 403), ("PUT", 403), ("PATCH", 403), ("DELETE", 403)]
    {
        assert_eq!(
            call(&[("x-keyward-permission", "events.alerts"), ("x-original-method", method)]),
            status,
            "X-Original-Method {method}"
        );
    }
    assert_eq!(
        call(&[("x-keyward-permission", "events.alerts"), ("x-forwarded-method", "POST")]),
        403,
        "X-Forwarded-Method POST is write"
    );
    assert_eq!(call(&[("x-keyward-permission", "events.alerts"), ("x-forwarded-method", "GET")]), 200);
    // A write key passes the write check.
    let (_, writer) = w.key("writer", json!({"grants": ["events.alerts:write"]}));
    let r = fa(
        &w.srv,
        &[
            ("authorization", &bearer(&writer)),
            ("x-keyward-permission", "events.alerts"),
            ("x-original-method", "POST"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn unauthenticated_answers_are_401_with_challenge() {
    let w = World::new();
    let srv = &w.srv;
    assert_401(&fa(srv, &[]));
    assert_401(&fa(srv, &[("authorization", "Bearer kw_unknown_key")]));
    let (key, secret) = w.key("a", json!({}));
    let (prefix, id, random) = common::split_secret(&secret);
    let mut altered = random.clone();
    altered.replace_range(0..1, if random.starts_with('x') { "y" } else { "x" });
    let forged = common::forge_secret(&prefix, &id, &altered);
    assert_401(&fa(srv, &[("authorization", &bearer(&forged))]));
    assert_401(&fa(srv, &[("x-api-key", &secret[..secret.len() - 2])]));

    // Revoked.
    srv.post(&format!("/v1/keys/{}/revoke", key["id"].as_str().unwrap()), &w.tok, &json!({})).expect(200);
    assert_401(&fa(srv, &[("authorization", &bearer(&secret))]));

    // Expired.
    let (_, short) = w.key("short", json!({"expires_at": rfc3339_in(3)}));
    assert_eq!(fa(srv, &[("authorization", &bearer(&short))]).status, 200);
    let status = poll(Duration::from_secs(5), || {
        let r = fa(srv, &[("authorization", &bearer(&short))]);
        (r.status != 200).then_some(r)
    })
    .expect("expired key still passes forward-auth");
    assert_401(&status);
}

#[test]
fn forbidden_answers_are_403() {
    let w = World::new();
    let srv = &w.srv;
    // The peer is 127.0.0.1: outside the key's networks (no forwarding header).
    let (_, restricted) = w.key("net", json!({"networks": ["10.0.0.0/8"]}));
    assert_403(&fa(srv, &[("authorization", &bearer(&restricted))]));
    let (_, local) = w.key("local", json!({"networks": ["127.0.0.1"]}));
    assert_eq!(fa(srv, &[("authorization", &bearer(&local))]).status, 200);

    // Disabled owner.
    let (_, secret) = w.key("owner", json!({}));
    srv.patch(&format!("/v1/admins/{}", w.admin.id), &w.root, &json!({"disabled": true})).expect(200);
    assert_403(&fa(srv, &[("authorization", &bearer(&secret))]));
}

#[test]
fn trusted_proxy_forwarding_headers_are_honoured() {
    // Default configuration: 127.0.0.1/32 is a trusted proxy.
    let w = World::new();
    let (key, secret) = w.key("xff", json!({"networks": ["203.0.113.0/24"]}));
    let auth = bearer(&secret);
    let call = |extra: &[(&str, &str)]| {
        let mut h = vec![("authorization", auth.as_str())];
        h.extend_from_slice(extra);
        fa(&w.srv, &h).status
    };
    assert_eq!(call(&[]), 403, "the peer 127.0.0.1 itself is outside");
    assert_eq!(call(&[("x-forwarded-for", "203.0.113.9")]), 200);
    assert_eq!(call(&[("x-forwarded-for", "198.51.100.1")]), 403);
    // The right-most address that is not a trusted proxy is the client.
    assert_eq!(call(&[("x-forwarded-for", "203.0.113.9, 127.0.0.1")]), 200);
    assert_eq!(call(&[("x-forwarded-for", "198.51.100.7, 203.0.113.9")]), 200);
    assert_eq!(
        call(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7")]),
        403,
        "a spoofed left-most entry must not win"
    );
    assert_eq!(call(&[("x-real-ip", "203.0.113.10")]), 200);

    // last_used_ip is the forwarded client address, not the proxy's.
    let kid = key["id"].as_str().unwrap();
    assert_eq!(call(&[("x-forwarded-for", "203.0.113.77")]), 200);
    let seen = poll(Duration::from_secs(5), || {
        let k = w.srv.get(&format!("/v1/keys/{kid}"), &w.tok).key();
        (k["last_used_ip"] == json!("203.0.113.77")).then_some(())
    });
    assert!(seen.is_some(), "last_used_ip is not the forwarded client address");
}

#[test]
fn untrusted_peer_forwarding_headers_are_ignored() {
    let w = World::on(Server::start_env(&[("KEYWARD_TRUSTED_PROXIES", "[]")]));
    let (_, secret) = w.key("xff", json!({"networks": ["203.0.113.0/24"]}));
    let auth = bearer(&secret);
    for h in [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-for", "203.0.113.9, 127.0.0.1"),
        ("x-real-ip", "203.0.113.9"),
    ] {
        let r = fa(&w.srv, &[("authorization", auth.as_str()), h]);
        assert_eq!(r.status, 403, "{h:?} from an untrusted peer was believed");
    }
    // The peer address is what counts: a key for 127.0.0.1 passes whatever XFF says.
    let (_, local) = w.key("local", json!({"networks": ["127.0.0.1"]}));
    let r = fa(&w.srv, &[("authorization", &bearer(&local)), ("x-forwarded-for", "203.0.113.9")]);
    assert_eq!(r.status, 200, "{}", r.text);
}

#[test]
fn forward_auth_is_logged_as_usage() {
    let w = World::new();
    let (key, secret) = w.key("logged", json!({"grants": ["events.alerts:read"]}));
    let kid = key["id"].as_str().unwrap();
    let r = fa(&w.srv, &[("authorization", &bearer(&secret)), ("x-keyward-permission", "events.alerts:write")]);
    assert_eq!(r.status, 403);
    let found = poll(Duration::from_secs(5), || {
        let logs = w.srv.logs(&w.tok, &format!("kind=usage&key_id={kid}"));
        logs.into_iter().find(|r| r["action"] == json!("forward_auth") && r["code"] == json!("insufficient_permission"))
    });
    let rec = found.expect("no forward_auth usage record with code insufficient_permission");
    assert_eq!(rec["permission"], json!("events.alerts:write"));
}

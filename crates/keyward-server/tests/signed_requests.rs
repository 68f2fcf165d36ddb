//! Signed requests through the router (SPEC §2 "Signed requests"): `/v1/verify`'s `request`
//! object, and management writes of a key with a verify key, including the target URI rebuilt
//! behind a trusted proxy. Backend-generic like the other router suites.
#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use common::*;
use keyward_domain::signature::{sign_request, HttpRequest};
use keyward_domain::signing_key::SigningKey;
use serde_json::{json, Value};

fn sign(key: &SigningKey, key_id: &str, method: &str, uri: &str, body: &[u8], nonce: &str) -> Vec<(String, String)> {
    let mut r = HttpRequest::new(method, uri).unwrap();
    r.set_body(body.to_vec());
    let h = sign_request(&mut r, key, key_id, chrono::Utc::now().timestamp(), nonce).unwrap();
    let mut out = vec![("signature-input".into(), h.signature_input), ("signature".into(), h.signature)];
    if let Some(d) = h.content_digest {
        out.push(("content-digest".into(), d));
    }
    out
}

#[tokio::test]
async fn verify_checks_the_request_object() {
    let app = start().await;
    let alice = alice(&app).await;
    let (_, verifier) = create_key(&app, &alice, json!({"name": "verifier", "grants": ["keyward.verify:read"]})).await;
    let signer = SigningKey::generate();
    let (key, secret) = create_key(
        &app,
        &alice,
        json!({"name": "signed", "grants": ["events.alerts:write"], "verify_key": signer.verify_key().to_pem()}),
    )
    .await;
    let id = key["id"].as_str().unwrap();
    let uri = "https://api.example.com/v1/alerts";
    let body = b"{\"a\":1}";
    let headers: serde_json::Map<String, Value> =
        sign(&signer, id, "POST", uri, body, "v1").into_iter().map(|(n, v)| (n, Value::String(v))).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    let verify = |request: Value| {
        call("POST", "/v1/verify")
            .bearer(&verifier)
            .json(json!({"key": secret, "permission": "events.alerts:write", "request": request}))
    };
    let request = json!({"method": "POST", "target_uri": uri, "headers": headers, "body_base64": b64});
    assert_eq!(verify(request.clone()).send(&app).await.ok(200)["code"], json!("valid"));
    assert_eq!(verify(request).send(&app).await.ok(200)["code"], json!("signature_invalid"), "the nonce is spent");
    let unsigned = json!({"method": "POST", "target_uri": uri});
    assert_eq!(verify(unsigned).send(&app).await.ok(200)["code"], json!("signature_required"));
    // Malformed request objects are 422 naming the field.
    let bad_b64 = json!({"method": "POST", "target_uri": uri, "body_base64": "***"});
    assert!(verify(bad_b64).send(&app).await.problem(422, "validation_failed").contains("body_base64"));
    let relative = json!({"method": "POST", "target_uri": "/v1/alerts"});
    assert!(verify(relative).send(&app).await.problem(422, "validation_failed").contains("target_uri"));
    let unknown = json!({"method": "POST", "target_uri": uri, "cookies": {}});
    verify(unknown).send(&app).await.problem(422, "validation_failed");
}

#[tokio::test]
async fn management_writes_are_signed_for_the_uri_the_client_used() {
    let app = start().await;
    let alice = alice(&app).await;
    let created = call("POST", "/v1/keys")
        .bearer(&alice.token)
        .json(json!({"name": "manager", "grants": ["keyward.keys:write"], "signing": "generate"}))
        .send(&app)
        .await
        .ok(201);
    let signer = SigningKey::from_pem(created["signing_private_key_pem"].as_str().unwrap()).unwrap();
    let manager = created["secret"].as_str().unwrap().to_owned();
    let manager_id = created["key"]["id"].as_str().unwrap().to_owned();
    let (target, _) = create_key(&app, &alice, json!({"name": "target"})).await;
    let path = format!("/v1/keys/{}", target["id"].as_str().unwrap());
    let body = br#"{"description":"x"}"#;
    let patch = |headers: &[(String, String)], extra: &[(&str, &str)], peer: &str| {
        let mut c = call("PATCH", &path).bearer(&manager).raw(Some("application/json"), body.to_vec()).peer(peer);
        for (n, v) in headers {
            c = c.header(n, v);
        }
        for (n, v) in extra {
            c = c.header(n, v);
        }
        c
    };
    let detail = patch(&[], &[("host", "keyward.test")], "192.0.2.9").send(&app).await.problem(403, "forbidden");
    assert!(detail.starts_with("signature_required"), "{detail}");
    // Signed for http://Host/… by a direct client.
    let direct = sign(&signer, &manager_id, "PATCH", &format!("http://keyward.test{path}"), body, "d1");
    patch(&direct, &[("host", "keyward.test")], "192.0.2.9").send(&app).await.ok(200);
    // Behind a trusted proxy (127.0.0.1 by default) the client used https://api.example.com.
    let proxied = sign(&signer, &manager_id, "PATCH", &format!("https://api.example.com{path}"), body, "p1");
    let forwarded =
        [("host", "keyward.internal"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "api.example.com")];
    patch(&proxied, &forwarded, "127.0.0.1").send(&app).await.ok(200);
    // The same forwarding headers from an untrusted peer are not believed.
    let spoofed = sign(&signer, &manager_id, "PATCH", &format!("https://api.example.com{path}"), body, "p2");
    let detail = patch(&spoofed, &forwarded, "192.0.2.9").send(&app).await.problem(403, "forbidden");
    assert!(detail.starts_with("signature_invalid"), "{detail}");
    // Sessions never need a signature; the management key's reads neither.
    call("PATCH", &path).bearer(&alice.token).json(json!({"description": "y"})).send(&app).await.ok(200);
    call("GET", &path).bearer(&manager).send(&app).await.ok(200);
}

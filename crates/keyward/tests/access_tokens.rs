//! SPEC §2 "Access tokens" against a real server: tokens checked by an independent JWT
//! implementation (jwt-simple, not the jsonwebtoken crate that signs them) against the JWKS the
//! server serves, before and after a rotation; every RFC 6749 §5.2 error; introspection;
//! revocation; access tokens and jwt-format keys on the data plane; the CLI.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::{poll, rfc3339_in, Resp, Server, World, BIN};
use jwt_simple::prelude::{ECDSAP256PublicKeyLike, ES256PublicKey, JWTClaims, VerificationOptions};
use serde_json::{json, Value};

const FORM: &str = "application/x-www-form-urlencoded";

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn form_post(srv: &Server, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut all = vec![("content-type", FORM)];
    all.extend_from_slice(headers);
    srv.raw("POST", path, &all, Some(body.as_bytes().to_vec()))
}

/// `client_secret_basic`.
fn token(srv: &Server, id: &str, secret: &str, scope: Option<&str>) -> Resp {
    let auth = basic(id, secret);
    let body = match scope {
        Some(s) => format!("grant_type=client_credentials&scope={}", s.replace(' ', "+").replace(':', "%3A")),
        None => "grant_type=client_credentials".into(),
    };
    form_post(srv, "/oauth2/token", &[("authorization", &auth)], &body)
}

#[track_caller]
fn access_token(srv: &Server, id: &str, secret: &str, scope: Option<&str>) -> String {
    let r = token(srv, id, secret, scope);
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["access_token"].as_str().unwrap().to_owned()
}

#[track_caller]
fn oauth_error(r: &Resp, status: u16, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json["error"], json!(error), "{}", r.text);
    assert!(r.json["error_description"].is_string(), "{}", r.text);
    assert!(r.content_type().starts_with("application/json"), "{}", r.content_type());
}

/// The served JWKS as jwt-simple keys.
fn jwks(srv: &Server) -> Vec<ES256PublicKey> {
    let r = srv.raw("GET", "/.well-known/jwks.json", &[], None);
    assert_eq!(r.status, 200);
    r.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(
                (k["kty"].as_str(), k["crv"].as_str(), k["alg"].as_str()),
                (Some("EC"), Some("P-256"), Some("ES256"))
            );
            let mut point = vec![4u8];
            point.extend(URL_SAFE_NO_PAD.decode(k["x"].as_str().unwrap()).unwrap());
            point.extend(URL_SAFE_NO_PAD.decode(k["y"].as_str().unwrap()).unwrap());
            ES256PublicKey::from_bytes(&point).unwrap().with_key_id(k["kid"].as_str().unwrap())
        })
        .collect()
}

fn kid(token: &str) -> String {
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Verifies `token` the way a resource server would: the key named by `kid` in the JWKS, the
/// `typ`, the issuer and the audience.
#[track_caller]
fn verify_independently(srv: &Server, token: &str, typ: &str) -> JWTClaims<Value> {
    let issuer = srv.raw("GET", "/.well-known/oauth-authorization-server", &[], None).json["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    let kid = kid(token);
    let keys = jwks(srv);
    let key = keys.iter().find(|k| k.key_id().as_deref() == Some(kid.as_str())).expect("kid in the JWKS");
    let options = VerificationOptions {
        required_signature_type: Some(typ.into()),
        required_key_id: Some(kid.clone()),
        allowed_issuers: Some(HashSet::from([issuer.clone()])),
        ..Default::default()
    };
    let claims = key.verify_token::<Value>(token, Some(options)).unwrap();
    assert_eq!(claims.issuer.as_deref(), Some(issuer.as_str()));
    claims
}

#[test]
fn tokens_verify_with_an_independent_library_against_the_served_jwks_also_after_a_rotation() {
    let w = World::new();
    let (key, secret) = w.key("client", json!({"grants": ["events.*:write"]}));
    let id = key["id"].as_str().unwrap();

    let meta = w.srv.raw("GET", "/.well-known/oauth-authorization-server", &[], None);
    assert_eq!(meta.status, 200);
    let issuer = meta.json["issuer"].as_str().unwrap();
    assert_eq!(issuer, w.srv.base, "default issuer: the server's own base URL");
    assert_eq!(meta.json["token_endpoint"], json!(format!("{issuer}/oauth2/token")));
    assert_eq!(meta.json["jwks_uri"], json!(format!("{issuer}/.well-known/jwks.json")));
    assert_eq!(meta.json["introspection_endpoint"], json!(format!("{issuer}/oauth2/introspect")));
    assert_eq!(meta.json["revocation_endpoint"], json!(format!("{issuer}/oauth2/revoke")));
    assert_eq!(meta.json["grant_types_supported"], json!(["client_credentials"]));
    assert_eq!(
        meta.json["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );

    let r = token(&w.srv, id, &secret, Some("events.alerts:read"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.header("pragma").as_deref(), Some("no-cache"));
    assert_eq!(r.json["token_type"], json!("Bearer"));
    assert_eq!(r.json["expires_in"], json!(3600));
    assert_eq!(r.json["scope"], json!("events.alerts:read"));
    let before = r.json["access_token"].as_str().unwrap().to_owned();
    let claims = verify_independently(&w.srv, &before, "at+jwt");
    assert_eq!(claims.subject.as_deref(), Some(id));
    assert!(claims.jwt_id.as_deref().is_some_and(|j| j.len() >= 16));
    let (iat, exp) = (claims.issued_at.unwrap().as_secs(), claims.expires_at.unwrap().as_secs());
    assert_eq!(exp - iat, 3600);
    assert_eq!(claims.custom["client_id"], json!(id));
    assert_eq!(claims.custom["scope"], json!("events.alerts:read"));
    assert!(claims.audiences.unwrap().contains(&HashSet::from([issuer.to_owned()])));

    // client_secret_post works too.
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    let r = form_post(&w.srv, "/oauth2/token", &[], &body);
    assert_eq!(r.status, 200, "{}", r.text);
    verify_independently(&w.srv, r.json["access_token"].as_str().unwrap(), "at+jwt");

    // Rotation: superadmins only; the old token stays valid, new tokens carry the new kid.
    let (_, admin_session) = w.srv.admin_session(&w.root, &[]);
    assert_eq!(w.srv.post("/v1/signing-keys/rotate", &admin_session, &json!({})).status, 403);
    let old_kid = kid(&before);
    let rotated = w.srv.post("/v1/signing-keys/rotate", &w.root, &json!({}));
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_kid = rotated.json["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    let audit = Server::actions(&w.srv.logs(&w.root, "kind=audit"));
    assert!(audit.iter().any(|a| a == "signing_key.rotated"), "{audit:?}");
    let listed = w.srv.get("/v1/signing-keys", &w.root);
    let items = listed.items();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["kid"], json!(new_kid));
    assert_eq!(items[0]["current"], json!(true));
    assert_eq!(items[1]["kid"], json!(old_kid));
    assert!(items[1]["retired_at"].is_string());
    assert!(!listed.text.contains("private"), "no private material is listed");

    let after = access_token(&w.srv, id, &secret, None);
    assert_eq!(kid(&after), new_kid);
    assert_eq!(jwks(&w.srv).len(), 2);
    verify_independently(&w.srv, &before, "at+jwt");
    verify_independently(&w.srv, &after, "at+jwt");
    assert_eq!(w.code(&before, Some("events.alerts:read")), "valid");
    assert_eq!(w.code(&after, Some("events.alerts:write")), "valid");
}

#[test]
fn token_endpoint_errors_follow_rfc_6749() {
    let w = World::new();
    let (key, secret) = w.key("client", json!({"grants": ["events.alerts:read"]}));
    let id = key["id"].as_str().unwrap();

    // Wrong secret and unknown client: 401 invalid_client, with a Basic challenge.
    for (user, pass) in [(id, "wrong"), ("unknownclient", secret.as_str())] {
        let r = token(&w.srv, user, pass, None);
        oauth_error(&r, 401, "invalid_client");
        assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Basic realm=")), "{:?}", r.headers);
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    }
    // client_secret_post with a wrong secret: 401 too (no Basic was used).
    let r = form_post(
        &w.srv,
        "/oauth2/token",
        &[],
        &format!("grant_type=client_credentials&client_id={id}&client_secret=x"),
    );
    oauth_error(&r, 401, "invalid_client");
    // No client authentication at all.
    oauth_error(&form_post(&w.srv, "/oauth2/token", &[], "grant_type=client_credentials"), 401, "invalid_client");

    let auth = basic(id, &secret);
    let h = [("authorization", auth.as_str())];
    oauth_error(&form_post(&w.srv, "/oauth2/token", &h, "grant_type=password"), 400, "unsupported_grant_type");
    oauth_error(&form_post(&w.srv, "/oauth2/token", &h, "scope=x"), 400, "invalid_request");
    oauth_error(
        &form_post(&w.srv, "/oauth2/token", &h, "grant_type=client_credentials&grant_type=client_credentials"),
        400,
        "invalid_request",
    );
    let json_body = w.srv.raw(
        "POST",
        "/oauth2/token",
        &[("authorization", &auth), ("content-type", "application/json")],
        Some(br#"{"grant_type":"client_credentials"}"#.to_vec()),
    );
    oauth_error(&json_body, 400, "invalid_request");
    oauth_error(&token(&w.srv, id, &secret, Some("events.alerts:write")), 400, "invalid_scope");
    oauth_error(&token(&w.srv, id, &secret, Some("billing.invoices:read")), 400, "invalid_scope");
    oauth_error(&token(&w.srv, id, &secret, Some("no-such-grammar")), 400, "invalid_scope");

    // Restricted network (the test client is 127.0.0.1): 400 unauthorized_client.
    let (key, restricted) = w.key("restricted", json!({"networks": ["192.0.2.0/24"]}));
    oauth_error(&token(&w.srv, key["id"].as_str().unwrap(), &restricted, None), 400, "unauthorized_client");

    // Revoked key: invalid_client.
    let (key, revoked) = w.key("revoked", json!({}));
    let rid = key["id"].as_str().unwrap();
    assert_eq!(w.srv.post(&format!("/v1/keys/{rid}/revoke"), &w.tok, &json!({})).status, 200);
    oauth_error(&token(&w.srv, rid, &revoked, None), 401, "invalid_client");

    // Expired key: invalid_client.
    let (key, short) = w.key("short", json!({"expires_at": rfc3339_in(2)}));
    let sid = key["id"].as_str().unwrap().to_owned();
    assert_eq!(token(&w.srv, &sid, &short, None).status, 200);
    let expired = poll(Duration::from_secs(5), || {
        let r = token(&w.srv, &sid, &short, None);
        (r.status != 200).then_some(r)
    })
    .unwrap();
    oauth_error(&expired, 401, "invalid_client");

    // Disabled owner: 400 unauthorized_client, and their tokens stop working.
    let t = access_token(&w.srv, id, &secret, None);
    assert_eq!(w.srv.patch(&format!("/v1/admins/{}", w.admin.id), &w.root, &json!({"disabled": true})).status, 200);
    oauth_error(&token(&w.srv, id, &secret, None), 400, "unauthorized_client");
    assert_eq!(w.code(&t, None), "owner_disabled");
}

#[test]
fn introspection_and_revocation() {
    let w = World::new();
    let (key, secret) = w.key("client", json!({"grants": ["events.alerts:read"]}));
    let id = key["id"].as_str().unwrap();
    let t = access_token(&w.srv, id, &secret, None);
    let verifier = format!("Bearer {}", w.verifier);
    let introspect = |token: &str| {
        let body = format!("token={token}&token_type_hint=access_token");
        form_post(&w.srv, "/oauth2/introspect", &[("authorization", &verifier)], &body)
    };

    // Callers must hold keyward.verify:read.
    let r = form_post(&w.srv, "/oauth2/introspect", &[], &format!("token={t}"));
    assert_eq!(r.status, 401);
    let r = form_post(
        &w.srv,
        "/oauth2/introspect",
        &[("authorization", &format!("Bearer {secret}"))],
        &format!("token={t}"),
    );
    assert_eq!(r.status, 403);
    // Basic id:secret of the verifier works too.
    let vid = w.verifier_key["id"].as_str().unwrap();
    let r =
        form_post(&w.srv, "/oauth2/introspect", &[("authorization", &basic(vid, &w.verifier))], &format!("token={t}"));
    assert_eq!(r.json["active"], json!(true), "{}", r.text);

    let r = introspect(&t);
    assert_eq!(r.status, 200);
    let v = &r.json;
    assert_eq!(v["active"], json!(true), "{v}");
    assert_eq!(v["client_id"], json!(id));
    assert_eq!(v["sub"], json!(id));
    assert_eq!(v["scope"], json!("events.alerts:read"));
    assert_eq!(v["token_type"], json!("Bearer"));
    assert_eq!(v["iss"], json!(w.srv.base));
    assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());
    // API keys are introspected too.
    let k = introspect(&secret).json;
    assert_eq!(
        (k["active"].clone(), k["client_id"].clone(), k["token_type"].clone()),
        (json!(true), json!(id), json!("api_key"))
    );
    // Malformed, unknown, tampered: inactive, and nothing else said.
    for garbage in ["", "nonsense", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", &t[..t.len() - 2]] {
        let r = introspect(garbage);
        assert_eq!(r.status, 200, "{garbage:?}: {}", r.text);
        assert_eq!(r.json, json!({"active": false}), "{garbage:?}");
    }
    oauth_error(&form_post(&w.srv, "/oauth2/introspect", &[("authorization", &verifier)], ""), 400, "invalid_request");

    // RFC 7009: unknown tokens are 200; a wrong client secret is 401; the own client revokes.
    let auth = basic(id, &secret);
    let h = [("authorization", auth.as_str())];
    assert_eq!(form_post(&w.srv, "/oauth2/revoke", &h, "token=nonsense").status, 200);
    oauth_error(
        &form_post(&w.srv, "/oauth2/revoke", &[("authorization", &basic(id, "wrong"))], &format!("token={t}")),
        401,
        "invalid_client",
    );
    let (other, other_secret) = w.key("other", json!({}));
    let other_auth = basic(other["id"].as_str().unwrap(), &other_secret);
    assert_eq!(
        form_post(&w.srv, "/oauth2/revoke", &[("authorization", &other_auth)], &format!("token={t}")).status,
        200
    );
    assert_eq!(w.code(&t, None), "valid", "another client cannot revoke it");
    let r = form_post(&w.srv, "/oauth2/revoke", &h, &format!("token={t}&token_type_hint=access_token"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(w.code(&t, None), "revoked");
    assert_eq!(introspect(&t).json, json!({"active": false}));
    let audit = Server::actions(&w.srv.logs(&w.tok, &format!("key_id={id}&kind=audit")));
    assert!(audit.iter().any(|a| a == "token.revoked"), "{audit:?}");

    // Revoking the key makes its other tokens inactive at once.
    let t2 = access_token(&w.srv, id, &secret, None);
    assert_eq!(introspect(&t2).json["active"], json!(true));
    assert_eq!(w.srv.post(&format!("/v1/keys/{id}/revoke"), &w.tok, &json!({})).status, 200);
    assert_eq!(introspect(&t2).json, json!({"active": false}));
    assert_eq!(w.code(&t2, None), "revoked");

    // Issue and introspection are in the usage log.
    let actions = poll(Duration::from_secs(5), || {
        let records = w.srv.logs(&w.tok, &format!("key_id={id}&kind=usage"));
        let actions = Server::actions(&records);
        (actions.iter().any(|a| a == "token.issued") && actions.iter().any(|a| a == "token.introspected"))
            .then_some(actions)
    });
    assert!(actions.is_some(), "token.issued and token.introspected in the usage log");
}

#[test]
fn data_plane_accepts_access_tokens_and_jwt_format_keys() {
    let w = World::new();
    let (key, secret) = w.key("client", json!({"grants": ["events.*:write"]}));
    let id = key["id"].as_str().unwrap();
    let t = access_token(&w.srv, id, &secret, Some("events.alerts:read"));
    let v = w.srv.verify(&w.verifier, &json!({"key": t, "permission": "events.alerts:read"}));
    assert_eq!(v["code"], json!("valid"), "{v}");
    assert_eq!(v["key_id"], json!(id));
    assert_eq!(w.code(&t, Some("events.alerts:write")), "insufficient_permission", "narrowed by its scope");

    let fa = |token: &str, permission: &str| {
        let bearer = format!("Bearer {token}");
        w.srv.raw("GET", "/v1/forward-auth", &[("authorization", &bearer), ("x-keyward-permission", permission)], None)
    };
    let r = fa(&t, "events.alerts:read");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-keyward-key-id").as_deref(), Some(id));
    assert_eq!(fa(&t, "events.alerts:write").status, 403);
    assert_eq!(fa(&t[..t.len() - 2], "events.alerts:read").status, 401);

    // jwt-format keys: an ES256 JWS (typ JWT, kid) that verifies offline and online.
    let (jkey, jws) = w.key("jwt", json!({"format": "jwt", "grants": ["events.alerts:read"]}));
    assert_eq!(jkey["format"], json!("jwt"));
    let jid = jkey["id"].as_str().unwrap();
    let claims = verify_independently(&w.srv, &jws, "JWT");
    assert_eq!(claims.subject.as_deref(), Some(jid));
    assert!(claims.expires_at.is_some());
    assert!(claims.jwt_id.is_some());
    assert_eq!(w.code(&jws, Some("events.alerts:read")), "valid");
    assert_eq!(fa(&jws, "events.alerts:read").status, 200);
    let (never, never_jws) = w.key("jwt-never", json!({"format": "jwt", "never_expires": true}));
    assert!(verify_independently(&w.srv, &never_jws, "JWT").expires_at.is_none(), "no exp when it never expires");
    assert_eq!(never["expires_at"], Value::Null);
    // The stored hash is of the jti only: the JWS appears nowhere in the database or the log.
    assert!(!std::fs::read_to_string(&w.srv.log_path).unwrap().contains(&jws));
    assert_eq!(w.srv.post(&format!("/v1/keys/{jid}/revoke"), &w.tok, &json!({})).status, 200);
    assert_eq!(w.code(&jws, None), "revoked");
    assert_eq!(fa(&jws, "events.alerts:read").status, 401);
}

#[test]
fn the_cli_gets_tokens_and_rotates_signing_keys() {
    let w = World::new();
    let (key, secret) = w.key("client", json!({"grants": ["events.*:write"]}));
    let id = key["id"].as_str().unwrap();
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)], stdin: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KEYWARD_CONFIG_DIR", home.path()).env("KEYWARD_SERVER", &w.srv.base);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    };
    let out = run(&["token", "--client-id", id], &[("KEYWARD_CLIENT_SECRET", &secret)], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(w.code(&printed, None), "valid");
    let out = run(
        &["--json", "token", "--client-id", id, "--scope", "events.alerts:read", "--secret-stdin"],
        &[],
        Some(&format!("{secret}\n")),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["scope"], json!("events.alerts:read"));
    assert_eq!(v["token_type"], json!("Bearer"));
    let out = run(&["token", "--client-id", id], &[("KEYWARD_CLIENT_SECRET", "wrong")], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_client"));

    let root = [("KEYWARD_API_KEY", w.root.as_str())];
    let out = run(&["signing-keys", "rotate"], &root, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["--json", "signing-keys", "list"], &root, None);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 2);
}

/// Two nodes on one PostgreSQL database: a token revoked on one fails on the other within a
/// second, and so do the tokens of a key revoked on one, though the other has answered them
/// before; a rotation on one is picked up by the other (it signs with the new key).
#[test]
fn revocation_and_rotation_reach_the_other_node() {
    let Some(db) = common::TestDatabase::on(common::Backend::Postgres) else { return };
    let db = std::sync::Arc::new(db);
    let a = Server::start_with(common::ServerOptions { database: Some(db.clone()), ..Default::default() });
    let b_dir = db.dir.join("node-b");
    std::fs::create_dir_all(&b_dir).unwrap();
    let b = Server::start_with(common::ServerOptions {
        database: Some(db.clone()),
        dir: Some(b_dir),
        ..Default::default()
    });
    let w = World::on(a);
    let (key, secret) = w.key("client", json!({"grants": ["events.alerts:read"]}));
    let id = key["id"].as_str().unwrap();
    let on_b =
        |token: &str| b.raw("GET", "/v1/forward-auth", &[("authorization", &format!("Bearer {token}"))], None).status;
    // Checked on B before and after: from its second check, B answers from what it resolved.
    let kept = access_token(&w.srv, id, &secret, None);
    for _ in 0..20 {
        let t = access_token(&w.srv, id, &secret, None);
        assert_eq!(on_b(&t), 200, "issued on A, verified on B");
        assert_eq!(on_b(&t), 200);
        assert_eq!(on_b(&kept), 200, "only the revoked tokens are refused");
        let r = form_post(&w.srv, "/oauth2/revoke", &[("authorization", &basic(id, &secret))], &format!("token={t}"));
        assert_eq!(r.status, 200);
        let refused = poll(Duration::from_secs(1), || (on_b(&t) == 401).then_some(()));
        assert!(refused.is_some(), "a token revoked on A is still accepted on B after a second");
    }

    let rotated = w.srv.post("/v1/signing-keys/rotate", &w.root, &json!({}));
    assert_eq!(rotated.status, 201, "{}", rotated.text);
    let new_kid = rotated.json["kid"].as_str().unwrap().to_owned();
    let picked_up =
        poll(Duration::from_secs(2), || (kid(&access_token(&b, id, &secret, None)) == new_kid).then_some(()));
    assert!(picked_up.is_some(), "B signs with the rotated key");
    assert_eq!(jwks(&b).len(), 2);
    let from_a = access_token(&w.srv, id, &secret, None);
    assert_eq!(on_b(&from_a), 200);

    // The key revoked on A: its tokens B has answered before are refused too.
    assert_eq!(on_b(&kept), 200);
    w.srv.post(&format!("/v1/keys/{id}/revoke"), &w.tok, &json!({})).expect(200);
    for token in [&kept, &from_a] {
        let refused = poll(Duration::from_secs(1), || (on_b(token) == 401).then_some(()));
        assert!(refused.is_some(), "a token of a key revoked on A is still accepted on B after a second");
    }
}

//! Signed requests through the service (SPEC §2 "Signed requests"), with a manual clock: verify
//! keys set, replaced and removed; the signature step of verification (required, invalid,
//! replayed, expired); and signed management writes. Backend-generic like `service.rs`.
#![allow(clippy::unwrap_used)]

use chrono::Duration;
use keyward_domain::catalog::GrantInput;
use keyward_domain::policy::{authorize_keys, KeyAction, Principal};
use keyward_domain::signature::{sign_request, HttpRequest};
use keyward_domain::signing_key::SigningKey;
use keyward_service::keys::{KeyPatch, NewKey};
use keyward_service::verify::{VerifyCode, VerifyQuery};
use keyward_service::{RequestContext, ServiceError};

mod common;

use common::{node, Node};

/// The admin and the checks these tests make.
trait Signed {
    async fn alice(&self) -> Principal;
    async fn code(&self, secret: &str, permission: &str, request: Option<&HttpRequest>) -> VerifyCode;
}

impl Signed for Node {
    async fn alice(&self) -> Principal {
        self.admin("alice@example.com", &["events.*:write", "keyward.keys:write"]).await
    }

    async fn code(&self, secret: &str, permission: &str, request: Option<&HttpRequest>) -> VerifyCode {
        let permission = permission.parse().unwrap();
        let q = VerifyQuery { key: secret, permission: Some(&permission), target: None, client_ip: None, request };
        self.keyward.verify(q).await.unwrap().code
    }
}

fn ctx_default() -> RequestContext {
    RequestContext::default()
}

fn new_key(name: &str) -> NewKey {
    NewKey {
        name: name.into(),
        grants: Some(
            ["events.alerts:write", "keyward.keys:write"].iter().map(|g| GrantInput::Bare(g.to_string())).collect(),
        ),
        ..Default::default()
    }
}

fn request(method: &str, body: Option<&[u8]>) -> HttpRequest {
    let mut r = HttpRequest::new(method, "https://api.example.com/v1/alerts?x=1").unwrap();
    r.add_header("content-type", "application/json");
    if let Some(b) = body {
        r.set_body(b.to_vec());
    }
    r
}

fn signed(key: &SigningKey, key_id: &str, now: i64, nonce: &str, body: Option<&[u8]>) -> HttpRequest {
    let mut r = request("POST", body);
    sign_request(&mut r, key, key_id, now, nonce).unwrap();
    r
}

#[tokio::test]
async fn generated_keys_sign_writes_and_replays_fail() {
    let n = node().await;
    let alice = n.alice().await;
    let issue = authorize_keys(&alice, KeyAction::Issue, n.keyward.config().policy()).unwrap();
    let input = NewKey { signing: Some("generate".into()), ..new_key("signer") };
    let issued = n.keyward.create_key(&issue, input, &ctx_default()).await.unwrap();
    let pem = issued.signing_private_key_pem.as_ref().expect("the private key, once");
    assert!(!format!("{issued:?}").contains("PRIVATE KEY"), "Debug never shows the private key");
    let private = SigningKey::from_pem(pem.expose()).unwrap();
    let stored = issued.view.key.verify_key.clone().unwrap();
    assert!(stored.starts_with("-----BEGIN PUBLIC KEY-----"), "only the public half is stored");
    assert_eq!(private.verify_key().to_pem(), stored);
    assert!(issued.view.key.require_signed_writes, "on by default with a verify key");
    let (secret, id) = (issued.secret.expose(), issued.view.key.id.as_str());
    let now = n.keyward.now().timestamp();

    assert_eq!(n.code(secret, "events.alerts:write", None).await, VerifyCode::SignatureRequired);
    assert_eq!(n.code(secret, "events.alerts:read", None).await, VerifyCode::Valid, "reads need no signature");
    let good = signed(&private, id, now, "n1", Some(b"{}"));
    assert_eq!(n.code(secret, "events.alerts:write", Some(&good)).await, VerifyCode::Valid);
    assert_eq!(n.code(secret, "events.alerts:write", Some(&good)).await, VerifyCode::SignatureInvalid, "replayed");
    let other = signed(&SigningKey::generate(), id, now, "n2", None);
    assert_eq!(n.code(secret, "events.alerts:write", Some(&other)).await, VerifyCode::SignatureInvalid);
    assert_eq!(
        n.code(secret, "events.alerts:read", Some(&other)).await,
        VerifyCode::SignatureInvalid,
        "checked on reads"
    );
    // For another key id: not meant for this key, so as good as unsigned.
    let elsewhere = signed(&private, "someone-else", now, "n3", None);
    assert_eq!(n.code(secret, "events.alerts:write", Some(&elsewhere)).await, VerifyCode::SignatureRequired);
    // `created` more than the allowed skew ago.
    let old = signed(&private, id, now, "n4", None);
    n.clock.advance(Duration::seconds(301));
    assert_eq!(n.code(secret, "events.alerts:write", Some(&old)).await, VerifyCode::SignatureInvalid);
    // Without signed writes, unsigned writes pass and signed ones are still checked.
    let manage = authorize_keys(&alice, KeyAction::Manage, n.keyward.config().policy()).unwrap();
    let patch = KeyPatch { require_signed_writes: Some(false), ..Default::default() };
    n.keyward.update_key(&manage, &issued.view.key.id, patch, &ctx_default()).await.unwrap();
    assert_eq!(n.code(secret, "events.alerts:write", None).await, VerifyCode::Valid);
    assert_eq!(n.code(secret, "events.alerts:write", Some(&old)).await, VerifyCode::SignatureInvalid);
}

#[tokio::test]
async fn verify_keys_are_validated_set_and_removed() {
    let n = node().await;
    let alice = n.alice().await;
    let issue = authorize_keys(&alice, KeyAction::Issue, n.keyward.config().policy()).unwrap();
    let manage = authorize_keys(&alice, KeyAction::Manage, n.keyward.config().policy()).unwrap();
    let ctx = ctx_default();
    let rejected = |e: ServiceError, field: &str| match e {
        ServiceError::Validation(v) => assert_eq!(v.field, field, "{v}"),
        other => panic!("{other:?}"),
    };
    let bad = NewKey { verify_key: Some("not a key".into()), ..new_key("bad") };
    rejected(n.keyward.create_key(&issue, bad, &ctx).await.unwrap_err(), "verify_key");
    let both = NewKey { verify_key: Some("x".into()), signing: Some("generate".into()), ..new_key("both") };
    rejected(n.keyward.create_key(&issue, both, &ctx).await.unwrap_err(), "signing");
    let unknown = NewKey { signing: Some("yes".into()), ..new_key("unknown") };
    rejected(n.keyward.create_key(&issue, unknown, &ctx).await.unwrap_err(), "signing");
    let required = NewKey { require_signed_writes: Some(true), ..new_key("required") };
    rejected(n.keyward.create_key(&issue, required, &ctx).await.unwrap_err(), "require_signed_writes");

    let issued = n.keyward.create_key(&issue, new_key("plain"), &ctx).await.unwrap();
    let id = issued.view.key.id.clone();
    assert!(issued.signing_private_key_pem.is_none() && !issued.view.key.require_signed_writes);
    // Bad inputs change nothing.
    let private = SigningKey::generate().to_pkcs8_pem();
    for bad in [private.expose(), "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"AA\",\"y\":\"AA\"}", "junk"] {
        let patch = KeyPatch { verify_key: Some(Some(bad.to_string())), ..Default::default() };
        rejected(n.keyward.update_key(&manage, &id, patch, &ctx).await.unwrap_err(), "verify_key");
    }
    let patch = KeyPatch { require_signed_writes: Some(true), ..Default::default() };
    rejected(n.keyward.update_key(&manage, &id, patch, &ctx).await.unwrap_err(), "require_signed_writes");
    let read = authorize_keys(&alice, KeyAction::Read, n.keyward.config().policy()).unwrap();
    let unchanged = n.keyward.get_key(&read, &id).await.unwrap();
    assert_eq!(unchanged.key.version, issued.view.key.version);

    // A JWK is stored as PEM, and signed writes turn on; the cache follows at once.
    let signer = SigningKey::generate();
    let jwk = r#"{"kty":"EC","crv":"P-256","x":"qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA","y":"Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0"}"#;
    let patch = KeyPatch { verify_key: Some(Some(jwk.into())), ..Default::default() };
    let view = n.keyward.update_key(&manage, &id, patch, &ctx).await.unwrap();
    assert!(view.key.verify_key.unwrap().starts_with("-----BEGIN PUBLIC KEY-----") && view.key.require_signed_writes);
    let secret = issued.secret.expose();
    assert_eq!(n.code(secret, "events.alerts:write", None).await, VerifyCode::SignatureRequired);
    // Replaced by the caller's own key (PEM): the setting stays, their signatures verify.
    let patch = KeyPatch { verify_key: Some(Some(signer.verify_key().to_pem())), ..Default::default() };
    n.keyward.update_key(&manage, &id, patch, &ctx).await.unwrap();
    let now = n.keyward.now().timestamp();
    let good = signed(&signer, id.as_str(), now, "a", None);
    assert_eq!(n.code(secret, "events.alerts:write", Some(&good)).await, VerifyCode::Valid);
    // Removed: signed writes go off with it, signatures are ignored.
    let patch = KeyPatch { verify_key: Some(None), ..Default::default() };
    let view = n.keyward.update_key(&manage, &id, patch, &ctx).await.unwrap();
    assert!(view.key.verify_key.is_none() && !view.key.require_signed_writes);
    assert_eq!(n.code(secret, "events.alerts:write", None).await, VerifyCode::Valid);
}

#[tokio::test]
async fn management_writes_with_a_signing_key_must_be_signed() {
    let n = node().await;
    let alice = n.alice().await;
    let issue = authorize_keys(&alice, KeyAction::Issue, n.keyward.config().policy()).unwrap();
    let input = NewKey { signing: Some("generate".into()), ..new_key("manager") };
    let issued = n.keyward.create_key(&issue, input, &ctx_default()).await.unwrap();
    let private = SigningKey::from_pem(issued.signing_private_key_pem.as_ref().unwrap().expose()).unwrap();
    let (secret, id) = (issued.secret.expose(), issued.view.key.id.as_str());
    let ctx = ctx_default();
    // Reads need no signature; writes do.
    assert!(n.keyward.authenticate_request(secret, &ctx, None, false).await.is_ok());
    let unsigned = request("POST", Some(b"{}"));
    match n.keyward.authenticate_request(secret, &ctx, Some(&unsigned), true).await.unwrap_err() {
        ServiceError::Forbidden(detail) => assert!(detail.starts_with("signature_required"), "{detail}"),
        other => panic!("{other:?}"),
    }
    let now = n.keyward.now().timestamp();
    let good = signed(&private, id, now, "m1", Some(b"{}"));
    assert!(n.keyward.authenticate_request(secret, &ctx, Some(&good), true).await.is_ok());
    match n.keyward.authenticate_request(secret, &ctx, Some(&good), true).await.unwrap_err() {
        ServiceError::Forbidden(detail) => assert!(detail.contains("already used"), "{detail}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_access_token_or_a_jwt_format_secret_does_not_skip_the_signature_step() {
    use keyward_service::tokens::ClientCredentials;
    let n = node().await;
    let alice = n.alice().await;
    let issue = authorize_keys(&alice, KeyAction::Issue, n.keyward.config().policy()).unwrap();
    for format in ["opaque", "jwt"] {
        let input = NewKey { signing: Some("generate".into()), format: Some(format.into()), ..new_key(format) };
        let issued = n.keyward.create_key(&issue, input, &ctx_default()).await.unwrap();
        let private = SigningKey::from_pem(issued.signing_private_key_pem.as_ref().unwrap().expose()).unwrap();
        let id = issued.view.key.id.as_str();
        let client = ClientCredentials { client_id: id, client_secret: issued.secret.expose() };
        let token = n.keyward.issue_token(client, None, &ctx_default()).await.unwrap().access_token;
        let now = n.keyward.now().timestamp();
        for (credential, nonce) in
            [(issued.secret.expose(), format!("{format}-key")), (&token, format!("{format}-token"))]
        {
            assert_eq!(n.code(credential, "events.alerts:write", None).await, VerifyCode::SignatureRequired);
            assert_eq!(n.code(credential, "events.alerts:read", None).await, VerifyCode::Valid);
            let good = signed(&private, id, now, &nonce, Some(b"{}"));
            assert_eq!(n.code(credential, "events.alerts:write", Some(&good)).await, VerifyCode::Valid);
        }
    }
}

//! Access tokens, introspection, revocation, signing-key rotation and jwt-format keys, driven
//! through the service API with a manual clock (backend-generic).
#![allow(clippy::unwrap_used)]

use chrono::Duration;
use keyward_domain::catalog::GrantInput;
use keyward_domain::policy::{authorize_admin_management, authorize_signing_keys, KeyAction, Principal};
use keyward_service::admins::AdminPatch;
use keyward_service::keys::{ExpiryFields, KeyPatch, NewKey};
use keyward_service::tokens::{ClientCredentials, OAuthError};
use keyward_service::verify::{VerifyCode, VerifyQuery};
use keyward_service::{Config, Keyward, Options, RequestContext, ServiceError};

mod common;

use common::{ctx, Node};

/// Every node here names its issuer, as a deployment behind a public name does.
async fn node() -> Node {
    common::node_with(|c| c.issuer = Some("https://keys.example.com".into())).await
}

/// Keys and tokens as these tests make and check them.
trait Tokens {
    async fn key(&self, owner: &Principal, input: NewKey) -> (String, String);
    async fn code(&self, credential: &str, permission: Option<&str>) -> VerifyCode;
    async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> Result<String, OAuthError>;
}

impl Tokens for Node {
    async fn key(&self, owner: &Principal, input: NewKey) -> (String, String) {
        let issued = self.keyward.create_key(&self.access(owner, KeyAction::Issue), input, &ctx()).await.unwrap();
        (issued.view.key.id.to_string(), issued.secret.expose().to_string())
    }

    async fn code(&self, credential: &str, permission: Option<&str>) -> VerifyCode {
        let permission = permission.map(|p| p.parse().unwrap());
        let q = VerifyQuery {
            key: credential,
            permission: permission.as_ref(),
            target: None,
            client_ip: None,
            request: None,
        };
        self.keyward.verify(q).await.unwrap().code
    }

    async fn token(&self, id: &str, secret: &str, scope: Option<&str>) -> Result<String, OAuthError> {
        let client = ClientCredentials { client_id: id, client_secret: secret };
        self.keyward.issue_token(client, scope, &ctx()).await.map(|t| t.access_token)
    }
}

fn new_key(name: &str, grants: &[&str]) -> NewKey {
    NewKey {
        name: name.into(),
        grants: Some(grants.iter().map(|g| GrantInput::Bare(g.to_string())).collect()),
        expiry: ExpiryFields { lifetime_days: Some(30), ..Default::default() },
        ..Default::default()
    }
}

#[tokio::test]
async fn tokens_are_narrowed_by_scope_and_follow_their_key() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let (id, secret) = n.key(&alice, new_key("k", &["events.*:write"])).await;

    let token = n.token(&id, &secret, Some("events.alerts:read")).await.unwrap();
    assert_eq!(n.code(&token, None).await, VerifyCode::Valid);
    assert_eq!(n.code(&token, Some("events.alerts:read")).await, VerifyCode::Valid);
    assert_eq!(n.code(&token, Some("events.alerts:write")).await, VerifyCode::InsufficientPermission);
    assert_eq!(n.code(&token, Some("events.alerts:read")).await, VerifyCode::Valid, "cached path, same answer");
    let full = n.token(&id, &secret, None).await.unwrap();
    assert_eq!(n.code(&full, Some("events.alerts:write")).await, VerifyCode::Valid);

    // Every RFC 6749 §5.2 error the service decides.
    assert!(matches!(n.token(&id, "wrong", None).await, Err(OAuthError::InvalidClient)));
    assert!(matches!(n.token("unknown", &secret, None).await, Err(OAuthError::InvalidClient)));
    assert!(matches!(n.token(&id, &secret, Some("billing.x:read")).await, Err(OAuthError::InvalidScope(_))));
    assert!(matches!(n.token(&id, &secret, Some("not-a-scope")).await, Err(OAuthError::InvalidScope(_))));
    // An access token is not a client secret.
    assert!(matches!(n.token(&id, &token, None).await, Err(OAuthError::InvalidClient)));

    // Tampered or foreign tokens are not found.
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(n.code(&tampered, None).await, VerifyCode::NotFound);
    assert_eq!(n.code("eyJhbGciOiJFUzI1NiJ9.e30.AAAA", None).await, VerifyCode::NotFound);
    // The token is cached by now; the cache answers for that exact string only.
    let mut in_payload = token.clone().into_bytes();
    let at = token.find('.').unwrap() + 5;
    in_payload[at] = if in_payload[at] == b'A' { b'B' } else { b'A' };
    assert_eq!(n.code(std::str::from_utf8(&in_payload).unwrap(), None).await, VerifyCode::NotFound);
    assert_eq!(n.code(&format!("{token}A"), None).await, VerifyCode::NotFound);
    assert_eq!(n.code(&token[..token.len() - 1], None).await, VerifyCode::NotFound);

    // The token expires on the clock.
    n.clock.advance(Duration::seconds(3601));
    assert_eq!(n.code(&token, None).await, VerifyCode::Expired);
    assert_eq!(n.code(&token, Some("events.alerts:write")).await, VerifyCode::Expired, "before the permission");
    let fresh = n.token(&id, &secret, None).await.unwrap();
    assert_eq!(n.code(&fresh, None).await, VerifyCode::Valid);

    // Disabling the owner: no new token (unauthorized_client), the old one says owner_disabled.
    let root = n.principal("root@example.com", "root-password").await;
    let manage = authorize_admin_management(&root).unwrap();
    let patch = AdminPatch { disabled: Some(true), ..Default::default() };
    n.keyward.update_admin(&manage, &alice.admin.id, patch, &ctx()).await.unwrap();
    assert_eq!(n.code(&fresh, None).await, VerifyCode::OwnerDisabled);
    assert!(matches!(n.token(&id, &secret, None).await, Err(OAuthError::UnauthorizedClient(_))));
    assert!(!n.keyward.introspect(&fresh).await.unwrap().active);
    let patch = AdminPatch { disabled: Some(false), ..Default::default() };
    n.keyward.update_admin(&manage, &alice.admin.id, patch, &ctx()).await.unwrap();
    assert_eq!(n.code(&fresh, None).await, VerifyCode::Valid);

    // Revoking the key ends its tokens at once.
    let alice = n.principal("alice@example.com", "password-123").await;
    let key_id = keyward_domain::ids::KeyId::from_string(&id);
    n.keyward.revoke_key(&n.access(&alice, KeyAction::Manage), &key_id, &ctx()).await.unwrap();
    assert_eq!(n.code(&fresh, None).await, VerifyCode::Revoked);
    assert!(!n.keyward.introspect(&fresh).await.unwrap().active);
    assert!(matches!(n.token(&id, &secret, None).await, Err(OAuthError::InvalidClient)));
}

/// After its first check a token is answered from what it resolved to on this node; every
/// change that could change the answer must still show at the very next check.
#[tokio::test]
async fn a_token_checked_before_follows_every_change_at_the_next_check() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let (id, secret) = n.key(&alice, new_key("k", &["events.*:write"])).await;
    let token = n.token(&id, &secret, None).await.unwrap();
    let narrow = n.token(&id, &secret, Some("events.alerts:read")).await.unwrap();
    for _ in 0..3 {
        assert_eq!(n.code(&token, Some("events.alerts:write")).await, VerifyCode::Valid);
        assert_eq!(n.code(&narrow, Some("events.alerts:write")).await, VerifyCode::InsufficientPermission);
    }

    // A change to another key leaves the answers as they were.
    n.key(&alice, new_key("unrelated", &[])).await;
    assert_eq!(n.code(&token, Some("events.alerts:write")).await, VerifyCode::Valid);
    assert_eq!(n.code(&narrow, Some("events.alerts:read")).await, VerifyCode::Valid);

    // The key's grants narrowed: its tokens get no more than the key.
    let key_id = keyward_domain::ids::KeyId::from_string(&id);
    let manage = n.access(&alice, KeyAction::Manage);
    let patch = KeyPatch { grants: Some(vec![GrantInput::Bare("events.alerts:read".into())]), ..Default::default() };
    n.keyward.update_key(&manage, &key_id, patch, &ctx()).await.unwrap();
    assert_eq!(n.code(&token, Some("events.alerts:write")).await, VerifyCode::InsufficientPermission);
    assert_eq!(n.code(&token, Some("events.alerts:read")).await, VerifyCode::Valid);
    assert_eq!(n.code(&narrow, Some("events.alerts:read")).await, VerifyCode::Valid);

    // The owner's permissions narrowed: the key's effective grants, and its tokens', follow.
    let root = n.principal("root@example.com", "root-password").await;
    let admins = authorize_admin_management(&root).unwrap();
    let patch =
        AdminPatch { permissions: Some(vec![GrantInput::Bare("events.events:read".into())]), ..Default::default() };
    n.keyward.update_admin(&admins, &alice.admin.id, patch, &ctx()).await.unwrap();
    assert_eq!(n.code(&token, Some("events.alerts:read")).await, VerifyCode::InsufficientPermission);
    assert_eq!(n.code(&narrow, Some("events.alerts:read")).await, VerifyCode::InsufficientPermission);
    assert_eq!(n.code(&token, None).await, VerifyCode::Valid);

    // One token revoked: that one only, at once.
    let own = ClientCredentials { client_id: &id, client_secret: &secret };
    n.keyward.revoke_token(own, &narrow, &ctx()).await.unwrap();
    assert_eq!(n.code(&narrow, None).await, VerifyCode::Revoked);
    assert_eq!(n.code(&token, None).await, VerifyCode::Valid);

    // Time alone: the token expires without anything else changing.
    n.clock.advance(Duration::seconds(3599));
    assert_eq!(n.code(&token, None).await, VerifyCode::Valid);
    n.clock.advance(Duration::seconds(1));
    assert_eq!(n.code(&token, None).await, VerifyCode::Expired);
}

#[tokio::test]
async fn network_restricted_keys_get_tokens_only_from_their_networks() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let mut input = new_key("k", &["events.*:write"]);
    input.networks = Some(vec!["192.0.2.0/24".into()]);
    let (id, secret) = n.key(&alice, input).await;
    let client = ClientCredentials { client_id: &id, client_secret: &secret };
    let outside = RequestContext { client_ip: Some("203.0.113.1".parse().unwrap()) };
    let inside = RequestContext { client_ip: Some("192.0.2.7".parse().unwrap()) };
    assert!(matches!(n.keyward.issue_token(client, None, &outside).await, Err(OAuthError::UnauthorizedClient(_))));
    let token = n.keyward.issue_token(client, None, &inside).await.unwrap().access_token;
    let at = |ip: &str| VerifyQuery {
        key: &token,
        permission: None,
        target: None,
        client_ip: Some(ip.parse().unwrap()),
        request: None,
    };
    assert_eq!(n.keyward.verify(at("192.0.2.9")).await.unwrap().code, VerifyCode::Valid);
    assert_eq!(n.keyward.verify(at("203.0.113.1")).await.unwrap().code, VerifyCode::IpNotAllowed);
}

#[tokio::test]
async fn revoked_tokens_fail_and_introspection_says_why_not() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let (id, secret) = n.key(&alice, new_key("k", &["events.alerts:read"])).await;
    let (other_id, other_secret) = n.key(&alice, new_key("other", &[])).await;
    let token = n.token(&id, &secret, None).await.unwrap();

    let active = n.keyward.introspect(&token).await.unwrap();
    assert!(active.active);
    assert_eq!(active.client_id.as_deref(), Some(id.as_str()));
    assert_eq!(active.scope.as_deref(), Some("events.alerts:read"));
    assert_eq!(active.iss.as_deref(), Some("https://keys.example.com"));
    assert_eq!(active.token_type, Some("Bearer"));
    let key = n.keyward.introspect(&secret).await.unwrap();
    assert!(key.active);
    assert_eq!(key.token_type, Some("api_key"));
    for garbage in ["", "nonsense", "eyJ.x.y", &token[..token.len() - 3]] {
        assert!(!n.keyward.introspect(garbage).await.unwrap().active, "{garbage:?}");
    }

    // Another client cannot revoke it (and learns nothing: still 200).
    let other = ClientCredentials { client_id: &other_id, client_secret: &other_secret };
    n.keyward.revoke_token(other, &token, &ctx()).await.unwrap();
    assert_eq!(n.code(&token, None).await, VerifyCode::Valid);
    // Unknown tokens are fine; a wrong secret is not.
    let own = ClientCredentials { client_id: &id, client_secret: &secret };
    n.keyward.revoke_token(own, "nonsense", &ctx()).await.unwrap();
    let wrong = ClientCredentials { client_id: &id, client_secret: "wrong" };
    assert!(matches!(n.keyward.revoke_token(wrong, &token, &ctx()).await, Err(OAuthError::InvalidClient)));

    n.keyward.revoke_token(own, &token, &ctx()).await.unwrap();
    assert_eq!(n.code(&token, None).await, VerifyCode::Revoked);
    assert_eq!(n.code(&token, Some("billing.x:write")).await, VerifyCode::Revoked, "before the permission");
    assert!(!n.keyward.introspect(&token).await.unwrap().active);
    let again = n.token(&id, &secret, None).await.unwrap();
    assert_eq!(n.code(&again, None).await, VerifyCode::Valid, "only that token is revoked");
}

#[tokio::test]
async fn rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let (id, secret) = n.key(&alice, new_key("k", &[])).await;
    let before = n.token(&id, &secret, None).await.unwrap();
    let jwks_before = n.keyward.jwks();
    assert_eq!(jwks_before.len(), 1);

    let admin = n.admin("bob@example.com", &[]).await;
    assert!(authorize_signing_keys(&admin).is_err(), "superadmins only");
    let root = n.principal("root@example.com", "root-password").await;
    let proof = authorize_signing_keys(&root).unwrap();
    let new = n.keyward.rotate_signing_key(&proof, &ctx()).await.unwrap();
    assert!(new.current);
    let listed = n.keyward.list_signing_keys(&proof).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].kid, new.kid);
    assert_eq!(listed[1].kid, jwks_before[0].kid);
    assert!(listed[1].retired_at.is_some());

    let after = n.token(&id, &secret, None).await.unwrap();
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_eq!(kid(&after), new.kid);
    assert_eq!(kid(&before), jwks_before[0].kid);
    assert_eq!(n.code(&before, None).await, VerifyCode::Valid);
    assert_eq!(n.code(&after, None).await, VerifyCode::Valid);
    assert_eq!(n.keyward.jwks().len(), 2, "the retired key stays published");
}

#[tokio::test]
async fn jwt_format_keys_verify_online_and_can_be_refreshed_and_revoked() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let mut input = new_key("jwt", &["events.alerts:read"]);
    input.format = Some("jwt".into());
    let (id, jws) = n.key(&alice, input).await;
    let header = jsonwebtoken::decode_header(&jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert!(header.kid.is_some());
    assert_eq!(n.code(&jws, Some("events.alerts:read")).await, VerifyCode::Valid);
    assert_eq!(n.code(&jws, Some("events.alerts:write")).await, VerifyCode::InsufficientPermission);
    assert_eq!(n.code(&format!("{id}:{jws}"), None).await, VerifyCode::Valid);
    assert_eq!(n.code(&format!("other:{jws}"), None).await, VerifyCode::NotFound);
    // A jwt-format key is an OAuth client like any other.
    let token = n.token(&id, &jws, None).await.unwrap();
    assert_eq!(n.code(&token, Some("events.alerts:read")).await, VerifyCode::Valid);

    // Refresh with grace: both work until the grace ends.
    let key_id = keyward_domain::ids::KeyId::from_string(&id);
    let update = n.access(&alice, KeyAction::Manage);
    let refresh = n.access(&alice, KeyAction::Issue);
    let refreshed = n.keyward.refresh_key(&refresh, &key_id, Some(60), &ctx()).await.unwrap();
    let new_jws = refreshed.secret.expose().to_string();
    assert_ne!(new_jws, jws);
    assert_eq!(n.code(&jws, None).await, VerifyCode::Valid);
    assert_eq!(n.code(&new_jws, None).await, VerifyCode::Valid);
    n.clock.advance(Duration::seconds(61));
    assert_eq!(n.code(&jws, None).await, VerifyCode::NotFound, "validly signed, but no longer its secret");
    assert_eq!(n.code(&new_jws, None).await, VerifyCode::Valid);

    n.keyward.revoke_key(&update, &key_id, &ctx()).await.unwrap();
    assert_eq!(n.code(&new_jws, None).await, VerifyCode::Revoked);
    assert!(!n.keyward.introspect(&new_jws).await.unwrap().active);
}

#[tokio::test]
async fn signing_keys_are_encrypted_at_rest_and_survive_a_restart() {
    let n = node().await;
    let alice = n.admin("alice@example.com", &["events.*:write"]).await;
    let (id, secret) = n.key(&alice, new_key("k", &[])).await;
    let token = n.token(&id, &secret, None).await.unwrap();
    // A second node on the same database and pepper verifies it and signs with the same key.
    let config = n.keyward.config().clone();
    let options = Options { config: config.clone(), clock: n.clock.clone(), env: Box::new(|_| None), bootstrap: true };
    let (second, _) = Keyward::start(options).await.unwrap();
    let q = VerifyQuery { key: &token, permission: None, target: None, client_ip: None, request: None };
    assert_eq!(second.verify(q).await.unwrap().code, VerifyCode::Valid);
    assert_eq!(second.jwks().len(), 1);
    // Another pepper cannot decrypt the private key: the node refuses to start.
    let options = Options {
        config: Config { pepper_file: None, ..config },
        clock: n.clock.clone(),
        env: Box::new(|k| (k == "KEYWARD_PEPPER").then(|| "x".repeat(40))),
        bootstrap: true,
    };
    let err = Keyward::start(options).await.err().unwrap();
    assert!(matches!(err, ServiceError::Internal(ref m) if m.contains("pepper")), "{err}");
}

//! Setup the service's benchmarks share: a node's bootstrap superadmin, and an admin who holds
//! `events.*:write` and may issue keys.
#![allow(clippy::unwrap_used)]

use keyward_domain::catalog::GrantInput;
use keyward_domain::policy::{authorize_admin_management, authorize_keys, KeyAccess, KeyAction, Principal};
use keyward_service::admins::NewAdmin;
use keyward_service::{Keyward, RequestContext};

pub const ROOT_EMAIL: &str = "root@example.com";
pub const ROOT_PASSWORD: &str = "root-password-1";

/// The bootstrap variables of a node whose superadmin is [`ROOT_EMAIL`] (for `Options::env`).
pub fn bootstrap_env(name: &str) -> Option<String> {
    match name {
        "KEYWARD_BOOTSTRAP_EMAIL" => Some(ROOT_EMAIL.into()),
        "KEYWARD_BOOTSTRAP_PASSWORD" => Some(ROOT_PASSWORD.into()),
        _ => None,
    }
}

pub async fn principal(keyward: &Keyward, email: &str, password: &str) -> Principal {
    let ctx = RequestContext::default();
    let out = keyward.login(email, password, &ctx).await.unwrap();
    keyward.authenticate(&out.session_token, &ctx).await.unwrap().principal
}

/// Makes the admin `bench@example.com` (`events.*:write`, may manage keys) as the superadmin,
/// and returns that admin's right to issue keys.
pub async fn key_issuer(keyward: &Keyward) -> KeyAccess {
    let root = principal(keyward, ROOT_EMAIL, ROOT_PASSWORD).await;
    let admin = NewAdmin {
        email: "bench@example.com".into(),
        name: "Bench".into(),
        password: "bench-password-1".into(),
        role: "admin".into(),
        can_manage_keys: true,
        permissions: vec![GrantInput::Bare("events.*:write".into())],
    };
    let proof = authorize_admin_management(&root).unwrap();
    keyward.create_admin(&proof, admin, &RequestContext::default()).await.unwrap();
    let bench = principal(keyward, "bench@example.com", "bench-password-1").await;
    authorize_keys(&bench, KeyAction::Issue, keyward.config().policy()).unwrap()
}

//! The node every service test drives: the service started on a fresh database of the backend
//! this run tests (`KEYWARD_TEST_BACKEND`), a manual clock, and the bootstrap superadmin
//! `root@example.com` / `root-password`. Each test file uses what it needs of this.
#![allow(dead_code)]

use chrono::Utc;
use keyward_domain::catalog::GrantInput;
use keyward_domain::clock::ManualClock;
use keyward_domain::policy::{authorize_admin_management, authorize_keys, KeyAccess, KeyAction, Principal};
use keyward_service::admins::NewAdmin;
use keyward_service::{Config, Keyward, Options, RequestContext};
use keyward_testkit::TestDatabase;
use std::sync::Arc;

pub const ROOT_EMAIL: &str = "root@example.com";
pub const ROOT_PASSWORD: &str = "root-password";

pub struct Node {
    pub keyward: Keyward,
    pub clock: Arc<ManualClock>,
    _db: TestDatabase,
}

pub fn ctx() -> RequestContext {
    RequestContext::default()
}

/// A node with the default configuration.
pub async fn node() -> Node {
    node_with(|_| {}).await
}

/// A node whose configuration `change` adjusts.
pub async fn node_with(change: impl FnOnce(&mut Config)) -> Node {
    let db = TestDatabase::new().expect("a test database (PostgreSQL unreachable?)");
    let mut config =
        Config { database_url: db.url.clone(), pepper_file: Some(db.dir.join("pepper")), ..Config::default() };
    change(&mut config);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = Options {
        config,
        clock: clock.clone(),
        env: Box::new(|k| match k {
            "KEYWARD_BOOTSTRAP_EMAIL" => Some(ROOT_EMAIL.into()),
            "KEYWARD_BOOTSTRAP_PASSWORD" => Some(ROOT_PASSWORD.into()),
            _ => None,
        }),
        bootstrap: true,
    };
    let (keyward, report) = Keyward::start(options).await.unwrap();
    assert_eq!(report.bootstrap_email.as_deref(), Some(ROOT_EMAIL));
    assert!(report.bootstrap_password.is_none(), "a password from the environment is never echoed");
    Node { keyward, clock, _db: db }
}

impl Node {
    pub async fn principal(&self, email: &str, password: &str) -> Principal {
        let out = self.keyward.login(email, password, &ctx()).await.unwrap();
        self.keyward.authenticate(&out.session_token, &ctx()).await.unwrap().principal
    }

    /// A new admin who may manage keys, with these permissions, logged in.
    pub async fn admin(&self, email: &str, perms: &[&str]) -> Principal {
        let root = self.principal(ROOT_EMAIL, ROOT_PASSWORD).await;
        let new = NewAdmin {
            email: email.into(),
            name: "Someone".into(),
            password: "password-123".into(),
            role: "admin".into(),
            can_manage_keys: true,
            permissions: perms.iter().map(|p| GrantInput::Bare(p.to_string())).collect(),
        };
        self.keyward.create_admin(&authorize_admin_management(&root).unwrap(), new, &ctx()).await.unwrap();
        self.principal(email, "password-123").await
    }

    pub fn access(&self, p: &Principal, action: KeyAction) -> KeyAccess {
        authorize_keys(p, action, self.keyward.config().policy()).unwrap()
    }
}

//! The harness of the router tests: a fresh Keyward on a throwaway database (SQLite, or
//! PostgreSQL with `KEYWARD_TEST_BACKEND=postgres`; see `keyward-testkit`) with a manual clock,
//! driven in-process through `tower::ServiceExt::oneshot`.
#![allow(clippy::unwrap_used, dead_code)]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use base64::Engine;
use chrono::Utc;
use keyward_domain::clock::ManualClock;
use keyward_service::{Config, Keyward, Options};
#[allow(unused_imports)]
pub use keyward_testkit::{Backend, TestDatabase};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

pub const ROOT_EMAIL: &str = "root@example.com";
pub const ROOT_PASSWORD: &str = "root-password-1";
pub const PASSWORD: &str = "password-1234";

pub struct TestApp {
    pub router: keyward_server::App,
    pub keyward: Keyward,
    pub clock: Arc<ManualClock>,
    /// The test's own database; dropped (a PostgreSQL one is dropped on the server) after the
    /// fields above, so after the node is gone.
    pub db: TestDatabase,
}

pub async fn start() -> TestApp {
    start_with(|_| {}).await
}

pub async fn start_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let db = test_database();
    let mut config = Config {
        database_url: db.url.clone(),
        // Beside the database on SQLite anyway; on PostgreSQL this keeps the pepper out of the
        // database (and the start-up warning out of the tests).
        pepper_file: Some(db.dir.join("pepper")),
        ..Config::default()
    };
    change(&mut config);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let env = |name: &str| match name {
        "KEYWARD_BOOTSTRAP_EMAIL" => Some(ROOT_EMAIL.to_string()),
        "KEYWARD_BOOTSTRAP_PASSWORD" => Some(ROOT_PASSWORD.to_string()),
        _ => None,
    };
    let mut options = Options::new(config);
    options.clock = clock.clone();
    options.env = Box::new(env);
    let (keyward, _report) = Keyward::start(options).await.unwrap();
    TestApp { router: keyward_server::app(keyward.clone()), keyward, clock, db }
}

/// The database of one test on the run's backend. A run that asked for PostgreSQL fails when
/// it cannot be reached rather than silently testing nothing.
pub fn test_database() -> TestDatabase {
    TestDatabase::new()
        .unwrap_or_else(|| panic!("KEYWARD_TEST_BACKEND=postgres but PostgreSQL is not reachable (see above)"))
}

/// A request under construction.
pub struct Call {
    request: axum::http::request::Builder,
    body: Body,
    peer: Option<SocketAddr>,
}

pub fn call(method: &str, uri: &str) -> Call {
    Call { request: Request::builder().method(method).uri(uri), body: Body::empty(), peer: None }
}

impl Call {
    pub fn json(mut self, value: Value) -> Self {
        self.request = self.request.header("content-type", "application/json");
        self.body = Body::from(serde_json::to_vec(&value).unwrap());
        self
    }

    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<Vec<u8>>) -> Self {
        if let Some(ct) = content_type {
            self.request = self.request.header("content-type", ct);
        }
        self.body = Body::from(body.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn basic(self, user: &str, password: &str) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header("authorization", &format!("Basic {encoded}"))
    }

    /// Simulates the TCP peer, as `into_make_service_with_connect_info` would.
    pub fn peer(mut self, ip: &str) -> Self {
        self.peer = Some(SocketAddr::new(ip.parse().unwrap(), 40_000));
        self
    }

    pub async fn send(self, app: &TestApp) -> Resp {
        let mut request = self.request.body(self.body).unwrap();
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        let response = app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024).await.unwrap().to_vec();
        Resp { status, headers, body }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts a problem+json answer with this status and code; returns its detail.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> String {
        assert_eq!(self.status.as_u16(), status, "body: {}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        let p = self.json();
        assert_eq!(p["code"], code, "{p}");
        assert_eq!(p["status"], status, "{p}");
        assert_eq!(p["type"], format!("urn:keyward:problem:{code}"), "{p}");
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()), "{p}");
        let detail = p["detail"].as_str().unwrap().to_string();
        assert!(!detail.is_empty());
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 5, "exactly type, title, status, detail, code: {p}");
        detail
    }
}

/// A logged-in session.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub admin_id: String,
}

pub async fn login(app: &TestApp, email: &str, password: &str) -> Session {
    let body =
        call("POST", "/v1/auth/login").json(json!({"email": email, "password": password})).send(app).await.ok(200);
    Session {
        token: body["session_token"].as_str().unwrap().into(),
        csrf: body["csrf_token"].as_str().unwrap().into(),
        admin_id: body["admin"]["id"].as_str().unwrap().into(),
    }
}

pub async fn root(app: &TestApp) -> Session {
    login(app, ROOT_EMAIL, ROOT_PASSWORD).await
}

/// Creates an admin (as the superadmin) and logs them in.
pub async fn admin(app: &TestApp, email: &str, can_manage_keys: bool, permissions: Value) -> Session {
    let root = root(app).await;
    call("POST", "/v1/admins")
        .bearer(&root.token)
        .json(json!({"email": email, "name": email, "password": PASSWORD, "can_manage_keys": can_manage_keys, "permissions": permissions}))
        .send(app)
        .await
        .ok(201);
    login(app, email, PASSWORD).await
}

/// An admin who may manage keys, with every permission.
pub async fn alice(app: &TestApp) -> Session {
    admin(app, "alice@example.com", true, json!(["*:write"])).await
}

/// Creates a key; returns (key object, secret).
pub async fn create_key(app: &TestApp, session: &Session, body: Value) -> (Value, String) {
    let answer = call("POST", "/v1/keys").bearer(&session.token).json(body).send(app).await.ok(201);
    (answer["key"].clone(), answer["secret"].as_str().unwrap().to_string())
}

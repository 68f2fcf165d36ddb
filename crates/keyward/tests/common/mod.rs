//! Shared helpers of the integration tests: a real `keyward serve` child process on a free port
//! with its own throwaway database, and small HTTP helpers over blocking reqwest.
//!
//! The database is on the backend the run asks for (`KEYWARD_TEST_BACKEND=sqlite|postgres`, see
//! `keyward-testkit`): a SQLite file in a temporary directory, or a PostgreSQL database created
//! for the test and dropped when its last holder is gone. Every test starts its own server
//! (hermetic, parallel-safe, no fixed ports). The child is killed when the [`Server`] is
//! dropped, before the database it used; its stdout and stderr are drained into `server.log`
//! in its directory so the pipes never block.
#![allow(dead_code, clippy::unwrap_used)]

use std::fs::File;
use std::io::{BufRead as _, BufReader, Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

mod util;
#[allow(unused_imports)]
pub use util::*;

use rand::Rng as _;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

pub use keyward_testkit::{Backend, TestDatabase};

pub const ROOT_EMAIL: &str = "root@example.com";
pub const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// A random lowercase alphanumeric string (for unique emails, names and passwords).
pub fn rand_str(len: usize) -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..len).map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char).collect()
}

/// A fresh, unused email address.
pub fn rand_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", rand_str(8))
}

/// The database of one test on the run's backend. A run that asked for PostgreSQL fails when
/// it cannot be reached rather than silently testing nothing.
pub fn test_database() -> Arc<TestDatabase> {
    Arc::new(
        TestDatabase::new()
            .unwrap_or_else(|| panic!("KEYWARD_TEST_BACKEND=postgres but PostgreSQL is not reachable (see above)")),
    )
}

/// A running `keyward serve`.
pub struct Server {
    child: Option<Child>,
    pub base: String,
    /// The server's working directory, where `server.log` is written.
    pub dir: PathBuf,
    /// The SQLite database file; meaningful only when `database.backend()` is SQLite.
    pub db_path: PathBuf,
    pub log_path: PathBuf,
    pub root_password: String,
    http: Client,
    log_threads: Vec<std::thread::JoinHandle<()>>,
    /// The server's database. `Drop` kills the child before any field is dropped, so a
    /// PostgreSQL database is never dropped under a connected server.
    pub database: Arc<TestDatabase>,
}

/// An HTTP answer: status, headers, the body parsed as JSON (Null if empty or not JSON) and
/// the raw text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap_or_default().to_owned())
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    /// Asserts the status and returns the body, with a useful message otherwise.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "expected HTTP {status}, got {}: {}", self.status, self.text);
        &self.json
    }

    /// Asserts an RFC 9457 problem with this status and code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> &Value {
        assert_problem(self, status, code);
        &self.json
    }

    /// The key in a key answer. `GET`/`PATCH /v1/keys/{id}` answer `{"key": {...}}` like
    /// revoke does; a bare key object is accepted too (the spec does not fix the envelope).
    pub fn key(&self) -> Value {
        unwrap_key(&self.json)
    }

    pub fn items(&self) -> Vec<Value> {
        self.json["items"].as_array().cloned().unwrap_or_default()
    }
}

/// `v["key"]` when `v` is a `{"key": {...}}` envelope, else `v`.
pub fn unwrap_key(v: &Value) -> Value {
    match v.get("key") {
        Some(k) if k.is_object() => k.clone(),
        _ => v.clone(),
    }
}

/// Asserts `resp` is `application/problem+json` with `type,title,status,detail,code`.
#[track_caller]
pub fn assert_problem(resp: &Resp, status: u16, code: &str) {
    assert_eq!(resp.status, status, "expected HTTP {status} ({code}), got {}: {}", resp.status, resp.text);
    assert!(
        resp.content_type().starts_with("application/problem+json"),
        "error response content-type is {:?}, not application/problem+json: {}",
        resp.content_type(),
        resp.text
    );
    let p = &resp.json;
    for field in ["type", "title", "detail", "code"] {
        assert!(p[field].is_string(), "problem field {field:?} missing or not a string: {}", resp.text);
    }
    assert_eq!(p["status"], json!(status), "problem status: {}", resp.text);
    assert_eq!(p["code"], json!(code), "problem code: {}", resp.text);
}

/// Builder of a server's environment.
#[derive(Default)]
pub struct ServerOptions {
    pub env: Vec<(String, String)>,
    /// Run on this database (e.g. the one of a server killed before) instead of a fresh one.
    pub database: Option<Arc<TestDatabase>>,
    /// Run in this directory (and write `server.log` there) instead of the database's.
    pub dir: Option<PathBuf>,
    /// Pass `--config FILE`.
    pub config: Option<PathBuf>,
    /// Do not set the bootstrap email/password.
    pub no_bootstrap_env: bool,
}

impl ServerOptions {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

impl Server {
    /// A server with the default configuration (example catalog, 127.0.0.1/32 trusted).
    pub fn start() -> Server {
        Self::start_with(ServerOptions::default())
    }

    pub fn start_env(env: &[(&str, &str)]) -> Server {
        let mut options = ServerOptions::default();
        for (k, v) in env {
            options = options.env(k, v);
        }
        Self::start_with(options)
    }

    pub fn start_with(options: ServerOptions) -> Server {
        let database = options.database.unwrap_or_else(test_database);
        let dir = options.dir.unwrap_or_else(|| database.dir.clone());
        let db_path = database.dir.join("keyward.db");
        let log_path = dir.join("server.log");
        let root_password = format!("Root-{}", rand_str(16));

        let mut cmd = Command::new(BIN);
        cmd.arg("serve");
        if let Some(config) = &options.config {
            cmd.arg("--config").arg(config);
        }
        // The test process's own KEYWARD_* variables must not leak into the server.
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KEYWARD_LISTEN", "127.0.0.1:0")
            .env("KEYWARD_DATABASE_URL", &database.url)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if database.backend() == Backend::Postgres {
            // Beside the data, like the pepper file SQLite creates beside its database (which
            // the SQLite runs keep exercising): a restart on the same database finds it.
            cmd.env("KEYWARD_PEPPER_FILE", pepper_file(&database));
        }
        if !options.no_bootstrap_env {
            cmd.env("KEYWARD_BOOTSTRAP_EMAIL", ROOT_EMAIL).env("KEYWARD_BOOTSTRAP_PASSWORD", &root_password);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "info,sqlx=warn");
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("cannot spawn keyward serve");

        let log = Arc::new(Mutex::new(File::create(&log_path).unwrap()));
        let (tx, rx) = mpsc::channel::<String>();
        let mut log_threads = Vec::new();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        log_threads.push(drain(stdout, log.clone(), Some(tx)));
        log_threads.push(drain(stderr, log, None));

        let deadline = Instant::now() + Duration::from_secs(30);
        let mut base = None;
        while base.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    if let Some(rest) = line.trim().strip_prefix("keyward listening on ") {
                        base = Some(rest.trim().trim_end_matches('/').to_owned());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
                    panic!("keyward serve did not print its listening line within 30 s; output:\n{text}");
                }
            }
        }
        let http = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Server {
            child: Some(child),
            base: base.unwrap(),
            dir,
            db_path,
            log_path,
            root_password,
            http,
            log_threads,
            database,
        }
    }

    pub fn backend(&self) -> Backend {
        self.database.backend()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops the server with SIGTERM (graceful) and waits for it and its log readers.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        for t in self.log_threads.drain(..) {
            let _ = t.join();
        }
    }

    // ----------------------------------------------------------------- HTTP

    /// Any request: JSON `body` (sent as application/json) and an optional bearer token.
    pub fn req(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        let mut headers: Vec<(String, String)> = Vec::new();
        if let Some(t) = token {
            headers.push(("authorization".into(), format!("Bearer {t}")));
        }
        let raw = body.map(|b| {
            headers.push(("content-type".into(), "application/json".into()));
            serde_json::to_vec(b).unwrap()
        });
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.raw(method, path, &hdrs, raw)
    }

    /// A request with exactly these headers and body bytes.
    pub fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, self.url(path));
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let resp = rb.send().unwrap_or_else(|e| panic!("request to {path} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, json, text }
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.req("GET", path, Some(token), None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.req("POST", path, Some(token), Some(body))
    }

    pub fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.req("PATCH", path, Some(token), Some(body))
    }

    pub fn delete(&self, path: &str, token: &str) -> Resp {
        self.req("DELETE", path, Some(token), None)
    }

    // ------------------------------------------------------------- domain

    /// Logs in and returns the session token.
    #[track_caller]
    pub fn login(&self, email: &str, password: &str) -> String {
        let r = self.req("POST", "/v1/auth/login", None, Some(&json!({"email": email, "password": password})));
        let body = r.expect(200);
        let token = body["session_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("session."), "session token shape: {token}");
        token
    }

    /// The bootstrap superadmin's session.
    pub fn root(&self) -> String {
        self.login(ROOT_EMAIL, &self.root_password)
    }

    /// Creates an admin (role `admin`) through the API; returns it with its password.
    #[track_caller]
    pub fn create_admin(&self, root: &str, permissions: &[&str], can_manage_keys: bool) -> Admin {
        let email = rand_email("admin");
        let password = format!("Pw-{}", rand_str(16));
        let r = self.post(
            "/v1/admins",
            root,
            &json!({"email": email, "name": "Test Admin", "password": password,
                    "role": "admin", "can_manage_keys": can_manage_keys,
                    "permissions": permissions}),
        );
        let body = r.expect(201).clone();
        Admin { id: body["id"].as_str().unwrap().to_owned(), email, password, json: body }
    }

    /// Creates an admin and logs them in.
    #[track_caller]
    pub fn admin_session(&self, root: &str, permissions: &[&str]) -> (Admin, String) {
        let admin = self.create_admin(root, permissions, true);
        let token = self.login(&admin.email, &admin.password);
        (admin, token)
    }

    /// `POST /v1/keys` expecting 201; returns the key JSON and the secret.
    #[track_caller]
    pub fn create_key(&self, token: &str, body: &Value) -> (Value, String) {
        let r = self.post("/v1/keys", token, body);
        let b = r.expect(201);
        let secret = b["secret"].as_str().unwrap().to_owned();
        (b["key"].clone(), secret)
    }

    /// `POST /v1/verify` with `verifier` as bearer, expecting 200.
    #[track_caller]
    pub fn verify(&self, verifier: &str, body: &Value) -> Value {
        self.post("/v1/verify", verifier, body).expect(200).clone()
    }

    /// The verification code of `secret` (with optional permission/target/client ip).
    #[track_caller]
    pub fn code(&self, verifier: &str, secret: &str, permission: Option<&str>) -> String {
        let mut body = json!({"key": secret, "client_ip": "127.0.0.1"});
        if let Some(p) = permission {
            body["permission"] = json!(p);
        }
        let v = self.verify(verifier, &body);
        v["code"].as_str().unwrap_or("<none>").to_owned()
    }

    /// All audit/usage records the caller sees for `key_id` (walks every page).
    pub fn logs(&self, token: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..100 {
            let mut path = format!("/v1/logs?limit=1000&{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = self.get(&path, token);
            r.expect(200);
            out.extend(r.items());
            match r.json["next_cursor"].as_str() {
                Some(c) if !c.is_empty() => cursor = Some(c.to_owned()),
                _ => break,
            }
        }
        out
    }

    /// The set of actions in `records`.
    pub fn actions(records: &[Value]) -> Vec<String> {
        records.iter().filter_map(|r| r["action"].as_str().map(str::to_owned)).collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pepper file of a server on a PostgreSQL `database` (SQLite servers use the default, a
/// file beside the database).
pub fn pepper_file(database: &TestDatabase) -> PathBuf {
    database.dir.join("pepper")
}

fn drain(
    pipe: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    tx: Option<mpsc::Sender<String>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    {
                        let mut f = log.lock().unwrap();
                        let _ = f.write_all(&line);
                        let _ = f.flush();
                    }
                    if let Some(tx) = &tx {
                        let _ = tx.send(String::from_utf8_lossy(&line).into_owned());
                    }
                }
            }
        }
    })
}

/// An administrator created by a test.
#[derive(Debug, Clone)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub password: String,
    pub json: Value,
}

/// The usual cast of a test: a server, the superadmin's session, an admin who may manage keys
/// (with `events.*:write` and `accounts.*:read`), and a verifier key owned by a separate admin
/// that holds only `keyward.verify:read` (so changes to the first admin never touch it).
pub struct World {
    pub srv: Server,
    pub root: String,
    pub admin: Admin,
    pub tok: String,
    pub verifier: String,
    pub verifier_key: Value,
}

pub const ADMIN_PERMS: &[&str] = &["events.*:write", "accounts.*:read"];

impl World {
    pub fn new() -> World {
        Self::on(Server::start())
    }

    pub fn on(srv: Server) -> World {
        let root = srv.root();
        let (admin, tok) = srv.admin_session(&root, ADMIN_PERMS);
        let (vadmin, vtok) = srv.admin_session(&root, &["keyward.verify:read"]);
        let _ = vadmin;
        let (verifier_key, verifier) =
            srv.create_key(&vtok, &json!({"name": "verifier", "grants": ["keyward.verify:read"]}));
        World { srv, root, admin, tok, verifier, verifier_key }
    }

    /// Creates a key for the main admin: `name` plus the fields of `extra`.
    #[track_caller]
    pub fn key(&self, name: &str, extra: Value) -> (Value, String) {
        let mut body = json!({"name": name});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        self.srv.create_key(&self.tok, &body)
    }

    /// Verification code of `secret` for `permission` (client 127.0.0.1).
    #[track_caller]
    pub fn code(&self, secret: &str, permission: Option<&str>) -> String {
        self.srv.code(&self.verifier, secret, permission)
    }
}

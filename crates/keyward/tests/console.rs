//! The web console end to end, in a real headless Chromium driven over WebDriver (chromedriver)
//! against a real `keyward serve`: what an administrator does with the mouse and keyboard, with
//! its effect checked through the API (a copied secret verifies; a revoked key does not).
//!
//! Needs `/usr/bin/chromedriver` and Chromium (Debian: `apt-get install chromium
//! chromium-driver`; `KEYWARD_CHROMEDRIVER` names another driver). Without them the tests fail
//! under `CI=true` and skip loudly otherwise. They run on SQLite only: the console is a client
//! of the HTTP API, which the other suites test on both backends (docs/DECISIONS.md).
//!
//! `UPDATE_SCREENSHOTS=1` writes the screenshots the README shows to `docs/screenshots/`;
//! otherwise they go to a temporary directory, so a test run never changes the tree.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// The chromedriver to use, or `None` when this run skips the browser tests (said loudly).
fn chromedriver() -> Option<PathBuf> {
    if Backend::from_env() == Backend::Postgres {
        eprintln!("console tests run on SQLite only (the API under them is tested on both backends): skipped");
        return None;
    }
    let driver =
        std::env::var_os("KEYWARD_CHROMEDRIVER").map_or_else(|| PathBuf::from("/usr/bin/chromedriver"), PathBuf::from);
    if driver.exists() {
        return Some(driver);
    }
    let message = format!(
        "{} is missing: the console's browser tests cannot run (apt-get install chromium chromium-driver)",
        driver.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! {message}: SKIPPED");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    None
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A headless Chromium on its own chromedriver, with a blocking API so tests read as steps.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    driver: Child,
    base: String,
    /// Where the browser saves downloads (the private key of a browser-made signing key).
    downloads: tempfile::TempDir,
}

impl Browser {
    fn start(driver: &PathBuf, base: &str) -> Browser {
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver.display()));
        // Several rustls back ends are compiled into this test binary, so one must be chosen; an
        // error only means another test chose it already.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let downloads = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("KEYWARD_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1366,768", "--force-device-scale-factor=1", "--hide-scrollbars",
                         "--lang=en-US"],
                "prefs": {"download.default_directory": downloads.path(), "download.prompt_for_download": false},
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let attempt = rt.block_on(ClientBuilder::rustls().unwrap().capabilities(caps.clone()).connect(&url));
            match attempt {
                Ok(c) => break c,
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start a session: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        Browser { rt, client: Some(client), driver: child, base: base.to_string(), downloads }
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Opens a console route, e.g. `#/keys`.
    fn goto(&self, route: &str) {
        self.rt.block_on(self.c().goto(&format!("{}/{route}", self.base))).unwrap();
    }

    fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.rt.block_on(self.c().execute(script, args)).unwrap_or_else(|e| panic!("script failed: {e}: {script}"))
    }

    /// Polls `script` (a function body returning a value) until its value is truthy.
    #[track_caller]
    fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script, args.clone());
            let truthy = !matches!(&v, Value::Null | Value::Bool(false)) && v != json!("") && v != json!(0);
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page = self.js("return document.getElementById('main').innerText", vec![]);
                panic!("timed out waiting for {what}; the page says:\n{}", page.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until an element matching `css` exists and is shown.
    #[track_caller]
    fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_js(
            css,
            "const e = document.querySelector(arguments[0]); return !!e && e.getClientRects().length > 0;",
            vec![json!(css)],
        );
        self.rt.block_on(self.c().find(Locator::Css(css))).unwrap()
    }

    #[track_caller]
    fn click(&self, css: &str) {
        let e = self.find(css);
        self.rt.block_on(e.click()).unwrap_or_else(|err| panic!("click {css}: {err}"));
    }

    #[track_caller]
    fn fill(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.rt.block_on(e.clear()).unwrap();
        self.rt.block_on(e.send_keys(text)).unwrap();
    }

    #[track_caller]
    fn select(&self, css: &str, value: &str) {
        let e = self.find(css);
        self.rt.block_on(e.select_by_value(value)).unwrap_or_else(|err| panic!("select {value} in {css}: {err}"));
    }

    #[track_caller]
    fn text(&self, css: &str) -> String {
        let e = self.find(css);
        self.rt.block_on(e.text()).unwrap()
    }

    #[track_caller]
    fn value(&self, css: &str) -> String {
        let e = self.find(css);
        self.rt.block_on(e.prop("value")).unwrap().unwrap_or_default()
    }

    fn count(&self, css: &str) -> u64 {
        self.js("return document.querySelectorAll(arguments[0]).length", vec![json!(css)]).as_u64().unwrap()
    }

    /// Presses the confirming button of the topmost open dialog.
    #[track_caller]
    fn confirm(&self) {
        self.click("dialog[open]:last-of-type .dialog-actions button:last-child");
    }

    /// Starts recording Content-Security-Policy violations in this page (the console is one
    /// document, so this covers every route visited afterwards).
    fn watch_csp(&self) {
        self.js(
            "window.cspViolations = []; document.addEventListener('securitypolicyviolation', \
             e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));",
            vec![],
        );
    }

    #[track_caller]
    fn assert_no_csp_violations(&self) {
        assert_eq!(self.js("return window.cspViolations", vec![]), json!([]), "the CSP blocked something");
    }

    /// Presses a key in whatever has the focus.
    fn key(&self, key: Key) {
        let focused = self.rt.block_on(self.c().active_element()).unwrap();
        self.rt.block_on(focused.send_keys(&key.to_string())).unwrap();
    }

    fn resize(&self, width: u32, height: u32) {
        self.rt.block_on(self.c().set_window_size(width, height)).unwrap();
    }

    /// Saves a screenshot as `<name>.png`: into `docs/screenshots/` with `UPDATE_SCREENSHOTS=1`.
    fn shot(&self, name: &str) {
        // A passing notice would cover part of the page.
        self.js("document.getElementById('toast').classList.remove('visible')", vec![]);
        std::thread::sleep(Duration::from_millis(300));
        let png = self.rt.block_on(self.c().screenshot()).unwrap();
        let dir = if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
        } else {
            std::env::temp_dir().join("keyward-console-screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Logs in through the login page and waits for the keys grid.
    #[track_caller]
    fn login(&self, email: &str, password: &str) {
        self.goto("#/keys");
        self.fill("#login-email", email);
        self.fill("#login-password", password);
        // Submitted from the keyboard: Enter in the password field.
        self.key(Key::Enter);
        self.wait_js("the keys grid", "return !!document.querySelector('#keys-table, #no-keys')", vec![]);
    }

    /// The open secret dialog's secret and `id:secret`, after checking what it says.
    #[track_caller]
    fn read_secret(&self) -> (String, String) {
        self.find("#secret-dialog #secret-value");
        let warning = self.text("#secret-dialog .warning");
        assert!(warning.contains("cannot be shown again"), "{warning}");
        (self.value("#secret-value"), self.value("#secret-pair"))
    }

    /// Closes the secret dialog (which asks first) and checks the secret left the page.
    #[track_caller]
    fn close_secret(&self, secret: &str) {
        self.click("#secret-close");
        self.wait_js("the close confirmation", "return document.querySelectorAll('dialog[open]').length === 2", vec![]);
        self.confirm();
        self.wait_js("the dialog to close", "return !document.getElementById('secret-dialog')", vec![]);
        let html = self.js("return document.documentElement.outerHTML", vec![]);
        assert!(!html.as_str().unwrap().contains(secret), "the secret stayed in the DOM");
    }

    /// The row of key `id` in the grid and its class.
    fn row_class(&self, id: &str) -> Option<String> {
        self.js(
            "const r = document.querySelector(`tr[data-key-id=\"${arguments[0]}\"]`); return r && r.className;",
            vec![json!(id)],
        )
        .as_str()
        .map(str::to_owned)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.rt.block_on(client.close());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn key_id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn an_admin_creates_uses_refreshes_regenerates_revokes_and_deletes_a_key() {
    let Some(driver) = chromedriver() else { return };
    let w = World::new();
    // Some keys for the grid to show: one expiring soon, one that never expires, one revoked.
    w.key(
        "ci-deployer",
        json!({"lifetime_days": 10, "grants": ["events.alerts:read"], "description": "Deploys from CI"}),
    );
    w.key("nightly-export", json!({"never_expires": true, "grants": ["accounts.config:read"]}));
    let (old, _) = w.key("old-dashboard", json!({"lifetime_days": 90, "inherit": true}));
    w.srv.post(&format!("/v1/keys/{}/revoke", key_id(&old)), &w.tok, &json!({})).expect(200);

    let b = Browser::start(&driver, &w.srv.base);
    b.goto("");
    b.find("#login-email");
    b.shot("login");
    b.login(&w.admin.email, &w.admin.password);
    b.watch_csp();
    assert_eq!(b.text("#badge-expiring strong"), "1");
    assert_eq!(b.row_class(&key_id(&old)).unwrap(), "key-row status-revoked", "revoked rows are greyed");

    // Create: two resources, a network (checked while typed), a lifetime preset.
    b.click("#create-key");
    b.fill("#key-name", "console-e2e");
    b.fill("#key-description", "Made in the browser test");
    b.select("#lifetime-preset", "90");
    b.select("#access-events-alerts", "write");
    b.select("#access-events-events", "read");
    b.click("#add-network");
    b.fill("#networks li:nth-child(1) input", "10.0.0.0/33");
    assert!(b.text("#networks li:nth-child(1) .field-error").contains("prefix"), "inline CIDR validation");
    b.fill("#networks li:nth-child(1) input", "127.0.0.1/32");
    assert_eq!(b.text("#networks li:nth-child(1) .field-error"), "");
    for _ in 1..10 {
        b.click("#add-network");
    }
    assert_eq!(b.count("#networks input"), 10);
    assert!(!b.rt.block_on(b.find("#add-network").is_enabled()).unwrap(), "at most 10 networks");
    b.js("window.scrollTo(0, 0)", vec![]);
    b.shot("create-form");
    b.click("#key-submit");

    // The one-time secret, copied from the dialog, verifies through the API.
    let (secret, pair) = b.read_secret();
    b.click("#secret-dialog .copy-row button");
    let copied = b.wait_js(
        "the copy to happen",
        "const s = document.querySelector('#secret-dialog .copy-status').textContent; \
         const i = document.getElementById('secret-value'); \
         return s && (s.startsWith('Copied') || i.value.substring(i.selectionStart, i.selectionEnd) === i.value) && s;",
        vec![],
    );
    assert!(copied.is_string());
    b.shot("secret-dialog");
    let key = w.srv.get("/v1/keys?q=console-e2e", &w.tok).items()[0].clone();
    let id = key_id(&key);
    assert_eq!(pair, format!("{id}:{secret}"));
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "valid");
    assert_eq!(w.code(&secret, Some("events.events:read")), "valid");
    assert_eq!(w.code(&secret, Some("events.events:write")), "insufficient_permission");
    assert_eq!(key["networks"], json!(["127.0.0.1/32"]));
    assert_eq!(key["lifetime_days"], json!(90));
    b.close_secret(&secret);

    // The detail page shows what was created.
    assert_eq!(b.text("#key-id"), id);
    assert!(b.text("#key-networks").contains("127.0.0.1/32"));
    assert!(b.text("#key-grants").contains("events.alerts:write"));

    // Refresh with a grace period: both secrets work for now.
    b.click("#action-refresh");
    for _ in 0..6 {
        b.key(Key::Tab);
        let inside = b.js("return document.querySelector('dialog[open]').contains(document.activeElement)", vec![]);
        assert_eq!(inside, json!(true), "Tab stays inside the dialog");
    }
    b.select("#grace-period", "3600");
    b.confirm();
    let (refreshed, _) = b.read_secret();
    assert_ne!(refreshed, secret);
    assert_eq!(w.code(&refreshed, None), "valid");
    assert_eq!(w.code(&secret, None), "valid", "the old secret works during the grace period");
    b.close_secret(&refreshed);

    // Regenerate: a new secret; every older one stops at once.
    b.find("#key-id");
    b.click("#action-regenerate");
    b.confirm();
    let (regenerated, _) = b.read_secret();
    assert_eq!(w.code(&regenerated, None), "valid");
    assert_eq!(w.code(&refreshed, None), "not_found");
    assert_eq!(w.code(&secret, None), "not_found");
    b.close_secret(&regenerated);
    b.shot("key-detail");

    // Revoke: the detail says so, the API refuses the key, the grid greys the row.
    b.click("#action-revoke");
    b.confirm();
    b.wait_js("the revoked status", "return document.getElementById('key-status')?.textContent === 'revoked'", vec![]);
    assert_eq!(w.code(&regenerated, None), "revoked");
    b.click("nav a[href='#/keys']");
    b.wait_js("the grid", "return document.querySelectorAll('tr.key-row').length >= 4", vec![]);
    assert_eq!(b.row_class(&id).unwrap(), "key-row status-revoked");
    assert_eq!(b.count("[style]"), 0, "no inline style attribute (the CSP forbids them)");
    b.shot("keys-grid");

    // The text filter and the status selector are applied by the server.
    b.fill("#filter-q", "nightly");
    b.wait_js("the filter", "return document.querySelectorAll('tr.key-row').length === 1", vec![]);
    assert!(b.text("#keys-table tbody").contains("nightly-export"));
    b.fill("#filter-q", "");
    b.select("#filter-status", "revoked");
    b.wait_js(
        "the revoked keys",
        "const rows = [...document.querySelectorAll('tr.key-row')]; \
         return rows.length === 2 && rows.every(r => r.classList.contains('status-revoked'));",
        vec![],
    );
    b.select("#filter-status", "active");
    b.wait_js("the active keys", "return document.querySelectorAll('tr.key-row.status-active').length === 2 && document.querySelectorAll('tr.key-row').length === 2", vec![]);
    b.select("#filter-status", "all");
    b.wait_js("every key", "return document.querySelectorAll('tr.key-row').length === 4", vec![]);

    // Search in logs for the selected key.
    b.click(&format!("tr[data-key-id=\"{id}\"] input.select-key"));
    b.click("#search-logs");
    b.find("#logs-keys");
    assert!(b.text("#logs-keys").contains(&id));
    for action in ["key.created", "key.refreshed", "key.regenerated", "key.revoked", "key.verified"] {
        b.wait_js(
            action,
            "const found = [...document.querySelectorAll('#logs-table .log-action')].some(c => c.textContent === arguments[0]); \
             if (!found) document.getElementById('logs-search').click(); return found;",
            vec![json!(action)],
        );
    }
    let others = b.js(
        "return [...document.querySelectorAll('#logs-table tr.log-row td:nth-child(4)')].filter(td => td.textContent !== arguments[0]).length",
        vec![json!(id)],
    );
    assert_eq!(others, json!(0), "only the selected key's records");
    b.shot("logs");
    b.select("#logs-kind", "usage");
    b.click("#logs-search");
    b.wait_js(
        "usage records only",
        "const a = [...document.querySelectorAll('#logs-table .log-action')].map(c => c.textContent); \
         return a.length > 0 && a.every(x => x === 'key.verified');",
        vec![],
    );

    // A server error is shown in words: a name that is taken.
    b.goto("#/keys/new");
    b.fill("#key-name", "ci-deployer");
    b.click("#key-submit");
    let error = b.text(".key-form .error-box");
    assert!(error.contains("already have a key named \"ci-deployer\""), "{error}");

    // Delete: gone from the grid and from the API, its records stay.
    b.goto(&format!("#/keys/{id}"));
    b.click("#action-delete");
    b.confirm();
    b.wait_js(
        "the grid without the key",
        "return !!document.getElementById('keys-table') && location.hash === '#/keys'",
        vec![],
    );
    assert_eq!(b.row_class(&id), None);
    w.srv.get(&format!("/v1/keys/{id}"), &w.tok).expect_problem(404, "not_found");
    assert!(w.srv.logs(&w.tok, &format!("key_id={id}")).len() >= 5);

    b.assert_no_csp_violations();

    // A session that ends sends the user back to the login page.
    let admin_path = format!("/v1/admins/{}", w.admin.id);
    w.srv.patch(&admin_path, &w.root, &json!({"disabled": true})).expect(200);
    w.srv.patch(&admin_path, &w.root, &json!({"disabled": false})).expect(200);
    b.click("nav a[href='#/logs']");
    b.find("#login-email");
    assert!(b.text("#toast").contains("session has ended"));
}

#[test]
fn the_superadmin_sees_every_key_cannot_create_and_manages_administrators() {
    let Some(driver) = chromedriver() else { return };
    let srv = Server::start();
    let root = srv.root();
    let (alice, alice_tok) = srv.admin_session(&root, &["events.*:write"]);
    let (bob, bob_tok) = srv.admin_session(&root, &["accounts.*:read"]);
    let (a, _) = srv.create_key(&alice_tok, &json!({"name": "alice-key", "grants": ["events.alerts:read"]}));
    let (bk, _) = srv.create_key(&bob_tok, &json!({"name": "bob-key", "grants": ["accounts.config:read"]}));
    for i in 0..26 {
        srv.create_key(&alice_tok, &json!({"name": format!("batch-{i:02}"), "grants": ["events.alerts:read"]}));
    }

    let b = Browser::start(&driver, &srv.base);
    b.login(ROOT_EMAIL, &srv.root_password);
    b.watch_csp();
    assert_eq!(b.text("#badge-total strong"), "28");

    // Cursor pagination: one page at a time, each asked with a limit; never the whole list.
    b.select("#page-size", "25");
    b.wait_js("a page of 25", "return document.querySelectorAll('tr.key-row').length === 25", vec![]);
    b.click("#page-next");
    b.wait_js("the last 3", "return document.querySelectorAll('tr.key-row').length === 3", vec![]);
    assert!(!b.rt.block_on(b.find("#page-next").is_enabled()).unwrap(), "no page after the last");
    b.click("#page-prev");
    b.wait_js("the first page again", "return document.querySelectorAll('tr.key-row').length === 25", vec![]);
    let unbounded = b.js(
        "return performance.getEntriesByType('resource').map(e => e.name)            .filter(n => n.includes('/v1/keys?') && !n.includes('limit=')).length",
        vec![],
    );
    assert_eq!(unbounded, json!(0), "every listing asks for one page");
    b.fill("#filter-q", "-key");
    b.wait_js("both owners' keys", "return document.querySelectorAll('tr.key-row').length === 2", vec![]);
    let grid = b.text("#keys-table tbody");
    assert!(grid.contains(&alice.email) && grid.contains(&bob.email), "{grid}");
    assert!(b.row_class(&key_id(&a)).is_some() && b.row_class(&key_id(&bk)).is_some());
    assert_eq!(
        b.js("return [...document.querySelectorAll('#create-key')].filter(e => !e.disabled && e.tagName !== 'SPAN').length", vec![]),
        json!(0),
        "no enabled Create button"
    );
    assert!(b.text("#create-why").contains("cannot create keys"));

    // The grid at a phone's width: rows become stacked cards.
    b.resize(390, 844);
    b.wait_js(
        "stacked rows",
        "return getComputedStyle(document.querySelector('tr.key-row td')).display === 'grid'",
        vec![],
    );
    b.shot("keys-grid-phone");
    b.resize(1366, 768);

    // Administrators: create, disable, enable, delete.
    b.click("#nav-admins");
    b.find("#admins-table");
    b.click("#create-admin");
    let email = rand_email("carol");
    b.fill("#admin-email", &email);
    b.fill("#admin-name", "Carol");
    b.fill("#admin-password", "Carol-password-1");
    b.fill("#admin-permissions", "events.*:read accounts.config:read");
    b.click("dialog[open] button[type=submit]");
    let row = format!("tr.admin-row[data-email=\"{email}\"]");
    b.find(&row);
    let carol = srv.get("/v1/admins", &root).items().into_iter().find(|x| x["email"] == email.as_str()).unwrap();
    assert_eq!(carol["permissions"].as_array().unwrap().len(), 2);
    b.shot("admins");
    b.click(&format!("{row} .toggle-admin"));
    b.confirm();
    b.wait_js(
        "disabled",
        "return document.querySelector(arguments[0] + ' .toggle-admin')?.textContent === 'Enable'",
        vec![json!(row)],
    );
    assert_eq!(srv.get(&format!("/v1/admins/{}", carol["id"].as_str().unwrap()), &root).json["disabled"], json!(true));
    b.click(&format!("{row} .toggle-admin"));
    b.confirm();
    b.wait_js(
        "enabled",
        "return document.querySelector(arguments[0] + ' .toggle-admin')?.textContent === 'Disable'",
        vec![json!(row)],
    );
    b.click(&format!("{row} .delete-admin"));
    b.confirm();
    b.wait_js("the row to go", "return !document.querySelector(arguments[0])", vec![json!(row)]);
    assert!(srv.get("/v1/admins", &root).items().iter().all(|x| x["email"] != email.as_str()));

    // The API documentation, rendered from /openapi.json.
    b.click("nav a[href='#/api']");
    b.find(".operation");
    let count = b.count(".operation");
    let doc = srv.req("GET", "/openapi.json", None, None).json;
    let expected: usize = doc["paths"].as_object().unwrap().values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(count as usize, expected, "one entry per operation");
    let create = "#op-post--v1-keys";
    b.click(&format!("{create} summary"));
    let text = b.text(create);
    assert!(text.contains("Request body") && text.contains("lifetime_days") && text.contains("422"), "{text}");
    b.js("document.querySelector(arguments[0]).scrollIntoView()", vec![json!(create)]);
    b.shot("api-docs");
    b.assert_no_csp_violations();
}

/// The server examines at most `list_walk_limit` keys per request (4 here), so a filtered page
/// may be short or empty and still have a next page: the grid says which, keeps offering the
/// next page until the cursor is null, and says "No keys match." only then.
#[test]
fn a_search_that_stops_early_offers_to_search_further() {
    let Some(driver) = chromedriver() else { return };
    let srv = Server::start_env(&[("KEYWARD_LIST_WALK_LIMIT", "4")]);
    let root = srv.root();
    let (alice, tok) = srv.admin_session(&root, &["events.*:read"]);
    // Newest first, 4 keys a request: near~q, batch-8, batch-7, batch-6 | batch-5 … batch-2 |
    // batch-1, batch-0.
    for i in 0..=8 {
        srv.create_key(&tok, &json!({"name": format!("batch-{i}")}));
    }
    srv.create_key(&tok, &json!({"name": "near~q"}));

    let b = Browser::start(&driver, &srv.base);
    b.login(&alice.email, &alice.password);
    b.watch_csp();
    let next_enabled = || b.rt.block_on(b.find("#page-next").is_enabled()).unwrap();
    b.fill("#filter-q", "~q");
    b.wait_js(
        "the match",
        "return [...document.querySelectorAll('tr.key-row .key-name')].map(a => a.textContent).join() === 'near~q'",
        vec![],
    );
    let said = b.text("p.hint[role=status]");
    assert!(said.contains("1 key on this page") && said.contains("continues on the next"), "{said}");
    assert!(next_enabled(), "a short page with more to search");

    b.click("#page-next");
    let empty = b.text("#no-keys-yet");
    assert!(empty.contains("No matches in the keys searched so far"), "{empty}");
    assert!(next_enabled(), "an empty page with more to search");
    assert_eq!(b.count("#no-keys"), 0, "not the end yet");

    b.click("#search-further");
    assert_eq!(b.text("#no-keys"), "No keys match.");
    assert!(!next_enabled(), "the end: next_cursor is null");
    b.click("#page-prev");
    b.find("#no-keys-yet");
    b.assert_no_csp_violations();
}

#[test]
fn signing_keys_made_in_the_browser_or_pasted_editing_and_the_account_page() {
    let Some(driver) = chromedriver() else { return };
    let w = World::new();
    let b = Browser::start(&driver, &w.srv.base);
    b.login(&w.admin.email, &w.admin.password);

    b.click("#create-key");
    b.fill("#key-name", "signed-writer");
    b.select("#access-events-alerts", "write");
    b.click("input[name=signing][value=generate]");
    b.click("#key-submit");
    let (secret, _) = b.read_secret();
    // Keyboard: focus starts in the dialog, and Escape asks before the secret goes.
    assert_eq!(
        b.js("return document.getElementById('secret-dialog').contains(document.activeElement)", vec![]),
        json!(true)
    );
    b.key(Key::Escape);
    b.wait_js("the close confirmation", "return document.querySelectorAll('dialog[open]').length === 2", vec![]);
    b.click("dialog[open]:last-of-type .dialog-actions button:first-child");
    b.wait_js("the confirmation to go", "return document.querySelectorAll('dialog[open]').length === 1", vec![]);
    assert_eq!(b.value("#secret-value"), secret, "cancelling keeps the secret dialog open");
    let link = b.find("#download-private-key");
    let href = b.rt.block_on(link.attr("href")).unwrap().unwrap();
    assert!(href.starts_with("blob:"), "the private key is a download made in the page: {href}");
    b.click("#download-private-key");
    let deadline = Instant::now() + WAIT;
    let private_pem = loop {
        let done = std::fs::read_dir(b.downloads.path())
            .unwrap()
            .flatten()
            .find(|f| f.file_name().to_string_lossy().ends_with(".pem"))
            .map(|f| std::fs::read_to_string(f.path()).unwrap());
        match done {
            Some(pem) if !pem.is_empty() => break pem,
            _ if Instant::now() > deadline => panic!("the private key was not downloaded"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{private_pem}");
    b.close_secret(&secret);

    // The server holds a public key, and nothing of the private one anywhere.
    b.find("#key-verify-key");
    assert!(b.text("#key-verify-key").starts_with("-----BEGIN PUBLIC KEY-----"));
    let key = w.srv.get("/v1/keys?q=signed-writer", &w.tok).items()[0].clone();
    let public_pem = key["verify_key"].as_str().unwrap();
    assert_eq!(key["require_signed_writes"], json!(true));
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "signature_required");
    let body: String = private_pem.lines().filter(|l| !l.starts_with("-----")).collect();
    for file in std::fs::read_dir(&w.srv.database.dir).unwrap().flatten() {
        let bytes = std::fs::read(file.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for chunk in [&body[..40], &body[body.len() - 40..]] {
            assert!(!text.contains(chunk), "{} holds part of the private key", file.path().display());
        }
    }
    // And it is the public half of the downloaded private key (when openssl is here to say so).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("private.pem"), &private_pem).unwrap();
    if let Ok(out) =
        Command::new("openssl").args(["pkey", "-in", "private.pem", "-pubout"]).current_dir(dir.path()).output()
    {
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public_pem.trim());
        }
    }

    // Edit: description, expiry, a resource's access and a role that needs targets; the verify
    // key is kept.
    b.click("#action-edit");
    assert_eq!(b.value("#access-events-alerts"), "write", "the form starts from the key's grants");
    b.fill("#key-description", "Edited in the browser");
    b.click("input[name=expiry][value=never]");
    b.select("#access-events-events", "read");
    b.click("#role-cloud_account_viewer");
    b.click("#key-submit");
    let error = b.text(".key-form .error-box");
    assert!(error.contains("needs targets"), "checked before sending: {error}");
    b.fill("#role-cloud_account_viewer-targets", "123456789012, 210987654321");
    b.click("#key-submit");
    b.wait_js(
        "the detail page",
        "return location.hash.endsWith(arguments[0]) && !!document.getElementById('key-id')",
        vec![json!(key_id(&key))],
    );
    let edited = w.srv.get(&format!("/v1/keys/{}", key_id(&key)), &w.tok).json;
    assert_eq!(edited["description"], "Edited in the browser");
    assert_eq!(edited["expires_at"], Value::Null);
    assert_eq!(edited["verify_key"], key["verify_key"]);
    let grants: Vec<&str> =
        edited["grants"].as_array().unwrap().iter().map(|g| g["permission"].as_str().unwrap()).collect();
    assert_eq!(grants.len(), 2, "{grants:?}");
    assert!(grants.contains(&"events.alerts:write") && grants.contains(&"events.events:read"), "{grants:?}");
    assert_eq!(edited["roles"], json!([{"role": "cloud_account_viewer", "targets": ["123456789012", "210987654321"]}]));
    assert!(b.text("#key-roles").contains("123456789012"));
    assert_eq!(b.count("[style]"), 0, "no inline style attribute (the CSP forbids them)");

    // A pasted public key (PEM, made here with openssl when it is installed).
    let made = Command::new("openssl")
        .args(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "pasted.pem"])
        .current_dir(dir.path())
        .status()
        .is_ok_and(|s| s.success());
    let public =
        Command::new("openssl").args(["pkey", "-in", "pasted.pem", "-pubout"]).current_dir(dir.path()).output();
    if let (true, Ok(public)) = (made, public) {
        let public = String::from_utf8(public.stdout).unwrap();
        b.goto("#/keys/new");
        b.fill("#key-name", "pasted-key");
        b.click("input[name=signing][value=paste]");
        b.fill("#verify-key-input", &public);
        b.click("#require-signed-writes");
        b.click("#key-submit");
        let (pasted_secret, _) = b.read_secret();
        assert_eq!(b.count("#download-private-key"), 0, "nothing to download for a pasted key");
        b.close_secret(&pasted_secret);
        assert_eq!(b.text("#key-verify-key").trim(), public.trim());
        assert!(b.text("#key-signed-writes").contains("do not need"));
    }

    // Account: change the password, log out, log in with the new one.
    b.click("#nav-account");
    assert_eq!(b.text("#me-email"), w.admin.email);
    b.fill("#current-password", "not-the-password");
    b.fill("#new-password", "Brand-new-password-1");
    b.fill("#new-password-again", "Brand-new-password-1");
    b.click("#password-form button[type=submit]");
    assert!(b.text("#password-form .error-box").contains("current password"));
    b.fill("#current-password", &w.admin.password);
    b.click("#password-form button[type=submit]");
    b.wait_js("the change", "return document.getElementById('toast').textContent === 'Password changed.'", vec![]);
    b.click("#logout");
    b.find("#login-email");
    w.srv
        .req("POST", "/v1/auth/login", None, Some(&json!({"email": w.admin.email, "password": w.admin.password})))
        .expect_problem(401, "unauthorized");
    b.login(&w.admin.email, "Brand-new-password-1");
}

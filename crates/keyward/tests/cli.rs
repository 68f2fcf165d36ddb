//! SPEC §5 "Command line": the `keyward` client as a subprocess against a real server, and
//! `keyward admins create` directly against a database with no server running.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{rand_email, Backend, Server, ServerOptions, World, BIN};
use serde_json::{json, Value};

struct Cli<'a> {
    server: Option<&'a str>,
    config_dir: &'a Path,
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn json(&self) -> Value {
        assert!(self.ok, "command failed: {}", self.stderr);
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("--json output is not JSON ({e}): {}", self.stdout))
    }
}

impl Cli<'_> {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KEYWARD_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("KEYWARD_CONFIG_DIR", self.config_dir);
        if let Some(s) = self.server {
            cmd.env("KEYWARD_SERVER", s);
        }
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input.as_bytes()).unwrap();
            drop(pipe);
        }
        let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
        Run {
            ok: status.success(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }
}

#[test]
fn login_and_key_lifecycle_through_the_cli() {
    let w = World::new();
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("cfg");
    let cli = Cli { server: Some(&w.srv.base), config_dir: &cfg };

    let r =
        cli.run(&["login", "--email", &w.admin.email, "--password-stdin"], Some(&format!("{}\n", w.admin.password)));
    assert!(r.ok, "login failed: {}", r.stderr);
    let session_file = cfg.join("session.json");
    let meta = std::fs::metadata(&session_file).expect("no session file after login");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600, "session file mode");
    }
    let _ = meta;
    assert!(!r.stdout.contains("session."), "login printed the session token");

    // create --json → a secret that verifies over HTTP.
    let created = cli
        .run(
            &["keys", "create", "--name", "x", "--grant", "events.alerts:read", "--lifetime-days", "30", "--json"],
            None,
        )
        .json();
    let secret = created["secret"].as_str().expect("no secret in --json output").to_owned();
    let id = created["key"]["id"].as_str().unwrap().to_owned();
    assert_eq!(created["key"]["lifetime_days"], json!(30));
    assert_eq!(created["key"]["owner"]["email"], json!(w.admin.email));
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "insufficient_permission");

    // list and show.
    let list = cli.run(&["keys", "list", "--json"], None).json();
    let items = list["items"].as_array().expect("list --json has items");
    assert!(items.iter().any(|k| k["id"] == json!(id)), "{list}");
    let table = cli.run(&["keys", "list"], None);
    assert!(table.ok && table.stdout.contains(&id), "{}", table.stderr);
    let shown = common::unwrap_key(&cli.run(&["keys", "show", &id, "--json"], None).json());
    assert_eq!(shown["id"], json!(id));
    assert_eq!(shown["name"], json!("x"));
    assert!(!shown.to_string().contains(&secret));
    let human = cli.run(&["keys", "show", &id], None);
    assert!(human.ok, "{}", human.stderr);
    assert!(human.stdout.contains(&id) && human.stdout.contains(&w.admin.email));
    assert!(!human.stdout.contains(&secret));

    // refresh: a new secret, the old one unknown at once.
    let refreshed = cli.run(&["keys", "refresh", &id, "--json"], None).json();
    let new_secret = refreshed["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_eq!(w.code(&secret, None), "not_found");
    assert_eq!(w.code(&new_secret, None), "valid");

    // revoke.
    let revoked = cli.run(&["keys", "revoke", &id, "--json"], None).json();
    assert_eq!(revoked["key"]["status"], json!("revoked"));
    assert_eq!(w.code(&new_secret, None), "revoked");

    // delete, then show is an error with a clear message and a non-zero exit.
    let deleted = cli.run(&["keys", "delete", &id], None);
    assert!(deleted.ok, "{}", deleted.stderr);
    w.srv.get(&format!("/v1/keys/{id}"), &w.tok).expect_problem(404, "not_found");
    let missing = cli.run(&["keys", "show", &id], None);
    assert!(!missing.ok, "show of a deleted key exited 0");
    assert!(
        missing.stderr.lines().any(|l| l.starts_with("error:")),
        "no `error:` line on stderr: {:?}",
        missing.stderr
    );
    assert!(missing.stderr.contains("404") || missing.stderr.contains("not found"));
    let unknown = cli.run(&["keys", "show", "nosuchkey123", "--json"], None);
    assert!(!unknown.ok);
    assert!(unknown.stderr.contains("error:"), "{}", unknown.stderr);
}

/// `keys list` against a server that examines at most 3 keys per request: a page may be empty
/// with a next cursor (said so, not "No keys."), and `--all` follows the cursor across short
/// and empty pages to every match.
#[test]
fn keys_list_follows_the_cursor_across_short_pages() {
    let w = World::on(Server::start_env(&[("KEYWARD_LIST_WALK_LIMIT", "3")]));
    let home = tempfile::tempdir().unwrap();
    let cli = Cli { server: Some(&w.srv.base), config_dir: home.path() };
    let r = cli.run(&["login", "--email", &w.admin.email, "--password-stdin"], Some(&w.admin.password));
    assert!(r.ok, "{}", r.stderr);
    // Newest first, 3 keys a request: svc-7, svc-6, svc-5 | svc-4, svc-3, svc-2 | the matches.
    for i in 0..8 {
        w.key(&if i < 2 { format!("svc-{i}-~x") } else { format!("svc-{i}") }, json!({}));
    }
    let first = cli.run(&["keys", "list", "--q", "~x"], None);
    assert!(first.ok, "{}", first.stderr);
    assert!(first.stdout.contains("No matches in the keys searched so far"), "{}", first.stdout);
    assert!(first.stderr.contains("--cursor "), "{}", first.stderr);
    let all = cli.run(&["keys", "list", "--q", "~x", "--all", "--json"], None).json();
    let mut names: Vec<&str> = all["items"].as_array().unwrap().iter().map(|k| k["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["svc-0-~x", "svc-1-~x"]);
    assert_eq!(all["next_cursor"], Value::Null);
    let table = cli.run(&["keys", "list", "--q", "~x", "--all"], None);
    assert!(table.stdout.contains("svc-0-~x") && table.stdout.contains("svc-1-~x"), "{}", table.stdout);
    assert!(!table.stderr.contains("--cursor"), "--all fetched every page: {}", table.stderr);
}

#[test]
fn cli_errors_are_clear() {
    let w = World::new();
    let home = tempfile::tempdir().unwrap();
    let cli = Cli { server: Some(&w.srv.base), config_dir: home.path() };
    // Not logged in.
    let r = cli.run(&["keys", "list"], None);
    assert!(!r.ok);
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);
    // Wrong password.
    let r = cli.run(&["login", "--email", &w.admin.email, "--password-stdin"], Some("definitely-wrong\n"));
    assert!(!r.ok, "login with a wrong password exited 0");
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);
    assert!(!home.path().join("session.json").exists());
    // Server-side validation error is reported, nothing created.
    let r = cli.run(&["login", "--email", &w.admin.email, "--password-stdin"], Some(&w.admin.password));
    assert!(r.ok, "{}", r.stderr);
    let r = cli.run(&["keys", "create", "--name", "bad", "--network", "10.1.2.3/8"], None);
    assert!(!r.ok);
    assert!(r.stderr.starts_with("error:") && r.stderr.contains("10.0.0.0/8"), "{}", r.stderr);
    assert_eq!(w.srv.get("/v1/keys/stats", &w.tok).json["total"], json!(0));
    // Unreachable server.
    let closed = Cli { server: Some("http://127.0.0.1:9"), config_dir: home.path() };
    let r = closed.run(&["keys", "list"], None);
    assert!(!r.ok && r.stderr.starts_with("error:"), "{}", r.stderr);
}

#[test]
fn admins_create_directly_in_the_database() {
    let database = common::test_database();
    let dir = &database.dir;
    let config = dir.join("keyward.toml");
    let mut toml = format!("database_url = \"{}\"\n", database.url);
    if database.backend() == Backend::Postgres {
        // The pepper the server will use too (on SQLite both use the file beside the database).
        let pepper = common::pepper_file(&database);
        toml.push_str(&format!("pepper_file = \"{}\"\n", pepper.display()));
    }
    std::fs::write(&config, toml).unwrap();
    let email = rand_email("local");
    let password = format!("Local-{}", common::rand_str(12));
    let cli = Cli { server: None, config_dir: &dir.join("cli") };
    let r = cli.run(
        &[
            "admins",
            "create",
            "--config",
            config.to_str().unwrap(),
            "--email",
            &email,
            "--name",
            "Local Admin",
            "--can-manage-keys",
            "--permission",
            "events.alerts:write",
            "--password-stdin",
            "--json",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(r.ok, "admins create failed: {}", r.stderr);
    let admin: Value = serde_json::from_str(&r.stdout).expect("admins create --json is JSON");
    assert_eq!(admin["email"], json!(email));
    assert_eq!(admin["can_manage_keys"], json!(true));
    if database.backend() == Backend::Sqlite {
        assert!(dir.join("keyward.db").exists(), "no database file was created");
    }
    assert!(!r.stdout.contains(&password) && !r.stderr.contains(&password));

    // The same email again is refused.
    let again = cli.run(
        &[
            "admins",
            "create",
            "--config",
            config.to_str().unwrap(),
            "--email",
            &email,
            "--name",
            "Again",
            "--password-stdin",
        ],
        Some(&format!("{password}\n")),
    );
    assert!(!again.ok && again.stderr.starts_with("error:"), "{}", again.stderr);

    // A server on that database: the admin logs in over HTTP and can issue keys.
    let srv = Server::start_with(ServerOptions {
        database: Some(database.clone()),
        config: Some(config.clone()),
        ..ServerOptions::default()
    });
    let tok = srv.login(&email, &password);
    let me = srv.get("/v1/auth/me", &tok);
    assert_eq!(me.expect(200)["id"], admin["id"]);
    let (key, _) = srv.create_key(&tok, &json!({"name": "from-local-admin", "grants": ["events.alerts:read"]}));
    assert_eq!(key["owner"]["email"], json!(email));
    srv.post("/v1/keys", &tok, &json!({"name": "too-much", "grants": ["events.events:read"]}))
        .expect_problem(422, "validation_failed");
    drop(srv);
}

#[test]
fn an_admin_changes_their_own_password_through_the_cli() {
    let w = World::new();
    let home = tempfile::tempdir().unwrap();
    let cli = Cli { server: Some(&w.srv.base), config_dir: home.path() };
    let login = |password: &str| cli.run(&["login", "--email", &w.admin.email, "--password-stdin"], Some(password));
    assert!(login(&w.admin.password).ok);
    let new = format!("New-{}", common::rand_str(14));

    // A wrong current password changes nothing.
    let r = cli.run(&["password", "--password-stdin"], Some(&format!("not-the-password\n{new}\n")));
    assert!(!r.ok && r.stderr.starts_with("error:") && r.stderr.contains("current password"), "{}", r.stderr);
    // One line is not enough.
    let r = cli.run(&["password", "--password-stdin"], Some(&format!("{}\n", w.admin.password)));
    assert!(!r.ok && r.stderr.contains("two lines"), "{}", r.stderr);
    assert!(login(&w.admin.password).ok, "the password is unchanged");

    let r = cli.run(&["password", "--password-stdin"], Some(&format!("{}\n{new}\n", w.admin.password)));
    assert!(r.ok, "{}", r.stderr);
    assert!(r.stdout.contains("Password changed"), "{}", r.stdout);
    assert!(!r.stdout.contains(&new) && !r.stderr.contains(&new), "the new password was printed");
    assert!(cli.run(&["whoami"], None).ok, "the session that changed the password stays valid");
    assert!(!login(&w.admin.password).ok, "the old password no longer logs in");
    assert!(login(&new).ok, "the new password logs in");
}

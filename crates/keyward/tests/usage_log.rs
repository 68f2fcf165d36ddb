//! SPEC §3 "usage" and §2 "Operations" against a real server: every data-plane check, allowed
//! or denied, becomes a usage record with its code, permission, target, client address and
//! node; `last_used_*` and the use count follow successful checks only; who may read which
//! records; records outlive their key; `/metrics` counts checks by code; `keys logs --follow`.
//!
//! The usage writer is asynchronous, so every expectation about the log is polled (up to 5 s).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{poll, rand_str, Resp, Server, World, BIN};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(5);

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn fa(srv: &Server, headers: &[(&str, &str)]) -> Resp {
    srv.raw("GET", "/v1/forward-auth", headers, None)
}

/// The first usage record `token` sees (for `query`) that `pick` accepts, polled.
#[track_caller]
fn wait_for_record(srv: &Server, token: &str, query: &str, pick: impl Fn(&Value) -> bool) -> Value {
    poll(WAIT, || srv.logs(token, query).into_iter().find(|r| pick(r)))
        .unwrap_or_else(|| panic!("no matching usage record for {query} within {WAIT:?}: {:?}", srv.logs(token, query)))
}

fn key_id(key: &Value) -> String {
    key["id"].as_str().unwrap().to_owned()
}

#[test]
fn checks_are_logged_with_code_permission_target_address_and_node() {
    let w = World::on(Server::start_env(&[("KEYWARD_NODE_NAME", "node-a")]));
    let (key, secret) = w.key(
        "traced",
        json!({"grants": ["events.alerts:read", {"permission": "accounts.config:read", "targets": ["acct-1"]}]}),
    );
    let kid = key_id(&key);

    // /v1/verify: the client address is the one the caller states.
    let v = w.srv.verify(
        &w.verifier,
        &json!({"key": secret, "permission": "accounts.config:read", "target": "acct-1", "client_ip": "198.51.100.7"}),
    );
    assert_eq!(v["code"], json!("valid"));
    let query = format!("kind=usage&key_id={kid}");
    let rec = wait_for_record(&w.srv, &w.tok, &query, |r| r["action"] == json!("key.verified"));
    assert_eq!(rec["kind"], json!("usage"));
    assert_eq!(rec["key_id"], json!(kid));
    assert_eq!(rec["code"], json!("valid"));
    assert_eq!(rec["permission"], json!("accounts.config:read"));
    assert_eq!(rec["target"], json!("acct-1"));
    assert_eq!(rec["client_ip"], json!("198.51.100.7"));
    assert_eq!(rec["node"], json!("node-a"));
    assert_eq!(rec["actor"]["type"], json!("key"));
    assert_eq!(rec["actor"]["id"], json!(kid));
    assert!(rec["time"].is_string());

    // Forward-auth through a trusted proxy (the test client is 127.0.0.1, trusted by default):
    // the forwarded address is the client's.
    let r = fa(
        &w.srv,
        &[
            ("authorization", &bearer(&secret)),
            ("x-keyward-permission", "accounts.config:read"),
            ("x-keyward-target", "acct-2"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.text);
    let rec = wait_for_record(&w.srv, &w.tok, &query, |r| r["action"] == json!("forward_auth"));
    assert_eq!(rec["code"], json!("insufficient_permission"));
    assert_eq!(rec["permission"], json!("accounts.config:read"));
    assert_eq!(rec["target"], json!("acct-2"));
    assert_eq!(rec["client_ip"], json!("203.0.113.9"));
    assert_eq!(rec["node"], json!("node-a"));
    let all = w.srv.logs(&w.tok, &query);
    assert!(!serde_json::to_string(&all).unwrap().contains(&secret), "a usage record holds the secret");
}

#[test]
fn denied_checks_are_logged_and_unknown_keys_only_for_the_superadmin() {
    let w = World::new();
    let (key, secret) = w.key("fenced", json!({"grants": ["events.alerts:read"], "networks": ["192.0.2.0/24"]}));
    let kid = key_id(&key);
    let v = w
        .srv
        .verify(&w.verifier, &json!({"key": secret, "permission": "events.alerts:write", "client_ip": "192.0.2.10"}));
    assert_eq!(v["code"], json!("insufficient_permission"));
    let v = w.srv.verify(&w.verifier, &json!({"key": secret, "client_ip": "198.51.100.20"}));
    assert_eq!(v["code"], json!("ip_not_allowed"));
    // A well-formed key whose secret does not match: not_found, and the record must not
    // reveal which key was tried.
    let (prefix, id, random) = common::split_secret(&secret);
    let wrong: String = random.chars().rev().collect();
    let forged = common::forge_secret(&prefix, &id, &wrong);
    let marker = "198.51.100.77";
    let v = w.srv.verify(&w.verifier, &json!({"key": forged, "client_ip": marker}));
    assert_eq!(v["code"], json!("not_found"));

    let query = format!("kind=usage&key_id={kid}");
    let records = poll(WAIT, || {
        let logs = w.srv.logs(&w.tok, &query);
        let codes: Vec<&str> = logs.iter().filter_map(|r| r["code"].as_str()).collect();
        (codes.contains(&"insufficient_permission") && codes.contains(&"ip_not_allowed")).then_some(logs.clone())
    })
    .expect("the denied checks were not logged");
    let denied = records.iter().find(|r| r["code"] == json!("ip_not_allowed")).unwrap();
    assert_eq!(denied["client_ip"], json!("198.51.100.20"));
    let denied = records.iter().find(|r| r["code"] == json!("insufficient_permission")).unwrap();
    assert_eq!(denied["permission"], json!("events.alerts:write"));
    assert!(records.iter().all(|r| r["code"] != json!("not_found")), "the forged check names the key");

    // The superadmin sees the not_found check, without a key id; the admin does not.
    let unknown = wait_for_record(&w.srv, &w.root, "kind=usage&action=key.verified", |r| {
        r["client_ip"] == json!(marker) && r["code"] == json!("not_found")
    });
    assert!(unknown.get("key_id").is_none_or(Value::is_null), "{unknown}");
    let admin_view = w.srv.logs(&w.tok, "kind=usage");
    assert!(admin_view.iter().all(|r| r["key_id"] == json!(kid)), "the admin sees records of other keys");
    assert!(admin_view.iter().all(|r| r["client_ip"] != json!(marker)));
}

#[test]
fn last_used_and_use_count_follow_successful_checks_only() {
    let w = World::new();
    let (key, secret) = w.key("counted", json!({"grants": ["events.alerts:read"]}));
    let kid = key_id(&key);
    assert_eq!(key["use_count"], json!(0));
    assert_eq!(key["last_used_at"], Value::Null);
    let query = format!("kind=usage&key_id={kid}");
    let get = || w.srv.get(&format!("/v1/keys/{kid}"), &w.tok).key();

    // A denied check is logged but is no use of the key.
    let v = w
        .srv
        .verify(&w.verifier, &json!({"key": secret, "permission": "events.alerts:write", "client_ip": "198.51.100.1"}));
    assert_eq!(v["code"], json!("insufficient_permission"));
    wait_for_record(&w.srv, &w.tok, &query, |r| r["code"] == json!("insufficient_permission"));
    let k = get();
    assert_eq!((k["use_count"].clone(), k["last_used_at"].clone()), (json!(0), Value::Null), "{k}");

    // Two successful checks: one through /v1/verify, one through forward-auth (127.0.0.1).
    let v = w.srv.verify(&w.verifier, &json!({"key": secret, "client_ip": "198.51.100.2"}));
    assert_eq!(v["code"], json!("valid"));
    let r =
        fa(&w.srv, &[("x-api-key", &secret), ("x-keyward-permission", "events.alerts"), ("x-original-method", "GET")]);
    assert_eq!(r.status, 200, "{}", r.text);
    let k = poll(WAIT, || Some(get()).filter(|k| k["use_count"] == json!(2)))
        .unwrap_or_else(|| panic!("use_count never reached 2: {}", get()));
    assert_eq!(k["last_used_ip"], json!("127.0.0.1"), "the latest use's address");
    let used_at = common::parse_time(&k["last_used_at"]);
    assert!((chrono::Utc::now() - used_at).num_seconds().abs() < 60, "{used_at}");

    // Another denied check moves nothing.
    let v = w.srv.verify(
        &w.verifier,
        &json!({"key": secret, "permission": "accounts.config:read", "client_ip": "198.51.100.3"}),
    );
    assert_eq!(v["code"], json!("insufficient_permission"));
    wait_for_record(&w.srv, &w.tok, &query, |r| r["permission"] == json!("accounts.config:read"));
    let after = get();
    assert_eq!(after["use_count"], json!(2));
    assert_eq!(after["last_used_ip"], json!("127.0.0.1"));
    assert_eq!(after["last_used_at"], k["last_used_at"]);
}

#[test]
fn an_admin_cannot_read_the_usage_of_another_admins_keys() {
    let w = World::new();
    let (key, secret) = w.key("mine", json!({"grants": ["events.alerts:read"]}));
    let kid = key_id(&key);
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    let query = format!("kind=usage&key_id={kid}");
    wait_for_record(&w.srv, &w.tok, &query, |r| r["code"] == json!("valid"));
    wait_for_record(&w.srv, &w.root, &query, |r| r["code"] == json!("valid"));

    let (_other, other_tok) = w.srv.admin_session(&w.root, common::ADMIN_PERMS);
    assert!(w.srv.logs(&other_tok, &query).is_empty(), "another admin read the usage of the key");
    assert!(w.srv.logs(&other_tok, &format!("key_id={kid}")).is_empty());
    assert!(w.srv.logs(&other_tok, "kind=usage").iter().all(|r| r["key_id"] != json!(kid)));
}

#[test]
fn usage_of_a_deleted_key_stays_searchable_by_its_id() {
    let w = World::new();
    let (key, secret) = w.key("short-lived", json!({"grants": ["events.alerts:read"]}));
    let kid = key_id(&key);
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    let query = format!("kind=usage&key_id={kid}");
    wait_for_record(&w.srv, &w.tok, &query, |r| r["code"] == json!("valid"));
    assert_eq!(w.srv.delete(&format!("/v1/keys/{kid}"), &w.tok).status, 204);
    for token in [&w.tok, &w.root] {
        let logs = w.srv.logs(token, &query);
        assert!(logs.iter().any(|r| r["action"] == json!("key.verified") && r["code"] == json!("valid")), "{logs:?}");
    }
}

/// The samples of `/metrics`, by series.
fn metrics(srv: &Server) -> HashMap<String, f64> {
    let r = srv.raw("GET", "/metrics", &[], None);
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.content_type().starts_with("text/plain"), "{}", r.content_type());
    r.text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad sample {l:?}")))
        })
        .collect()
}

#[test]
fn metrics_count_verifications_by_code() {
    let w = World::new();
    let (_, secret) = w.key("measured", json!({"grants": ["events.alerts:read"]}));
    let before = metrics(&w.srv);
    let codes = [
        "valid",
        "not_found",
        "expired",
        "revoked",
        "owner_disabled",
        "ip_not_allowed",
        "insufficient_permission",
        "signature_required",
        "signature_invalid",
    ];
    let series = |code: &str| format!("keyward_verifications_total{{code=\"{code}\"}}");
    for code in codes {
        assert!(before.contains_key(&series(code)), "no {code} series before any check");
    }
    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    assert_eq!(w.code(&secret, Some("events.alerts:write")), "insufficient_permission");
    assert_eq!(w.code(&format!("{secret}x"), None), "not_found");
    let r = fa(&w.srv, &[("authorization", &bearer(&secret))]);
    assert_eq!(r.status, 200);

    let after = metrics(&w.srv);
    let delta = |code: &str| after[&series(code)] - before[&series(code)];
    assert_eq!(delta("valid"), 2.0);
    assert_eq!(delta("insufficient_permission"), 1.0);
    assert_eq!(delta("not_found"), 1.0);
    assert_eq!(delta("revoked"), 0.0);
    let requests = |m: &HashMap<String, f64>, method: &str, route: &str| {
        m.get(&format!("keyward_http_request_duration_seconds_count{{method=\"{method}\",route=\"{route}\"}}"))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(requests(&after, "POST", "/v1/verify") - requests(&before, "POST", "/v1/verify"), 3.0);
    assert!(requests(&after, "GET", "/v1/forward-auth") >= 1.0);
    assert!(after["keyward_cache_hits_total"] > before["keyward_cache_hits_total"]);
    // The writer drains the queue: the written counter catches up with the four checks.
    let written = poll(WAIT, || {
        let m = metrics(&w.srv);
        (m["keyward_usage_written_total"] >= before["keyward_usage_written_total"] + 4.0).then_some(m)
    })
    .expect("the usage writer did not write the four checks");
    assert_eq!(written["keyward_usage_dropped_total"], 0.0);
    assert!(written["keyward_usage_queue_capacity"] > 0.0);
    assert!(written["keyward_db_connections"] >= 1.0);
}

#[test]
fn keys_logs_follow_prints_new_records_until_the_server_is_gone() {
    let mut w = World::new();
    let (key, secret) = w.key("followed", json!({"grants": ["events.alerts:read"]}));
    let kid = key_id(&key);
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("KEYWARD_") {
            cmd.env_remove(k);
        }
    }
    // Any bearer credential the server accepts will do; the admin's session is one.
    let mut child = cmd
        .args(["keys", "logs", &kid, "--kind", "usage", "--follow"])
        .env("KEYWARD_CONFIG_DIR", home.path())
        .env("KEYWARD_SERVER", &w.srv.base)
        .env("KEYWARD_API_KEY", &w.tok)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines: Vec<String> = Vec::new();
    let mut wait_line = |what: &str, pick: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                let hit = pick(&line);
                lines.push(line);
                if hit {
                    return lines.clone();
                }
            }
        }
        panic!("keys logs --follow printed no {what} within 10 s; printed: {lines:?}");
    };

    assert_eq!(w.code(&secret, Some("events.alerts:read")), "valid");
    wait_line("valid check", &|l| l.contains("key.verified") && l.contains("code=valid"));
    let target = format!("t-{}", rand_str(6));
    let r = fa(
        &w.srv,
        &[
            ("authorization", &bearer(&secret)),
            ("x-keyward-permission", "events.alerts"),
            ("x-keyward-target", &target),
        ],
    );
    assert_eq!(r.status, 403);
    let printed = wait_line("denied forward-auth", &|l| l.contains("forward_auth") && l.contains(&target));
    let valid_lines = printed.iter().filter(|l| l.contains("code=valid")).count();
    assert_eq!(valid_lines, 1, "a record was printed twice: {printed:?}");
    let denied = printed.last().unwrap();
    assert!(denied.contains("code=insufficient_permission"), "{denied}");
    assert!(denied.contains(&format!("key={kid}")), "{denied}");
    assert!(denied.contains("ip=127.0.0.1"), "{denied}");
    assert!(denied.contains("node="), "{denied}");
    assert!(!printed.iter().any(|l| l.contains(&secret)));

    // The server goes away: following stops by itself, with an error.
    w.srv.stop();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("keys logs --follow kept running after the server stopped");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "following ended with success although the server is gone");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("no longer following"), "{stderr}");
    reader.join().unwrap();
}

//! Tests of the `keys` request builders and views (kept apart so `keys.rs`
//! stays short).

#![allow(clippy::unwrap_used)]

use clap::Parser as _;
use serde_json::json;

use super::*;
use crate::cli::{Cli, Command};

fn keys_command(args: &[&str]) -> KeysCommand {
    let cli = Cli::try_parse_from(["keyward", "keys"].into_iter().chain(args.iter().copied())).unwrap();
    match cli.command {
        Command::Keys(cmd) => cmd,
        other => panic!("not a keys command: {other:?}"),
    }
}

#[test]
fn create_body_has_only_given_fields() {
    let KeysCommand::Create(args) = keys_command(&["create", "--name", "ci"]) else { panic!() };
    assert_eq!(create_body(&args).unwrap(), json!({"name": "ci"}));

    let KeysCommand::Create(args) = keys_command(&[
        "create",
        "--name",
        "ci",
        "--description",
        "d",
        "--never-expires",
        "--grant",
        "events.alerts:write",
        "--grant",
        "accounts.config:read@1,2",
        "--role",
        "cloud_account_viewer@*",
        "--network",
        "10.0.0.0/8",
        "--network",
        "2001:db8::1",
        "--format",
        "opaque",
    ]) else {
        panic!()
    };
    assert_eq!(
        create_body(&args).unwrap(),
        json!({
            "name": "ci",
            "description": "d",
            "never_expires": true,
            "grants": [
                {"permission": "events.alerts:write"},
                {"permission": "accounts.config:read", "targets": ["1", "2"]}
            ],
            "roles": [{"role": "cloud_account_viewer", "targets": ["*"]}],
            "networks": ["10.0.0.0/8", "2001:db8::1"],
            "format": "opaque"
        })
    );

    let KeysCommand::Create(args) =
        keys_command(&["create", "--name", "x", "--inherit", "--expires-at", "2030-01-31T00:00:00Z"])
    else {
        panic!()
    };
    assert_eq!(
        create_body(&args).unwrap(),
        json!({"name": "x", "inherit": true, "expires_at": "2030-01-31T00:00:00Z"})
    );
}

#[test]
fn update_body_replaces_or_clears_lists() {
    let KeysCommand::Update(args) = keys_command(&[
        "update",
        "k1",
        "--clear-grants",
        "--role",
        "global_viewer",
        "--inherit",
        "false",
        "--clear-networks",
        "--lifetime-days",
        "90",
    ]) else {
        panic!()
    };
    assert_eq!(
        update_body(&args).unwrap(),
        json!({
            "grants": [],
            "roles": [{"role": "global_viewer"}],
            "inherit": false,
            "networks": [],
            "lifetime_days": 90
        })
    );
    let KeysCommand::Update(args) = keys_command(&["update", "k1"]) else { panic!() };
    assert!(update_body(&args).is_err());
}

#[test]
fn queries() {
    let KeysCommand::List(args) = keys_command(&[
        "list",
        "--status",
        "expired",
        "--q",
        "ci",
        "--owner",
        "a@b",
        "--expiring-within-days",
        "7",
        "--limit",
        "5",
    ]) else {
        panic!()
    };
    assert_eq!(
        list_query(&args),
        vec![
            ("status", "expired".to_owned()),
            ("q", "ci".to_owned()),
            ("owner", "a@b".to_owned()),
            ("expiring_within_days", "7".to_owned()),
            ("limit", "5".to_owned()),
        ]
    );
    let KeysCommand::Logs(args) =
        keys_command(&["logs", "k1", "k2", "--kind", "audit", "--since", "2030-01-01T00:00:00Z"])
    else {
        panic!()
    };
    assert_eq!(
        logs_query(&args),
        vec![
            ("key_id", "k1".to_owned()),
            ("key_id", "k2".to_owned()),
            ("kind", "audit".to_owned()),
            ("since", "2030-01-01T00:00:00Z".to_owned()),
        ]
    );
}

fn sample_key() -> Value {
    json!({
        "id": "k1", "name": "ci", "description": "for CI",
        "owner": {"id": "a1", "email": "dev@example.com"},
        "status": "active", "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z", "expires_at": null,
        "lifetime_days": null, "remaining_days": null, "format": "opaque",
        "inherit": false, "roles": [{"role": "global_viewer", "targets": []}],
        "grants": [{"permission": "accounts.config:read", "targets": ["1", "2"]}],
        "networks": ["10.0.0.0/8"], "verify_key": null, "require_signed_writes": false,
        "last_used_at": null, "last_used_ip": null, "use_count": 12, "revoked_at": null,
        "initial_privileges": {"inherit": false, "roles": [], "grants": ["x:read"]},
        "new_field": 7
    })
}

#[test]
fn key_table_columns() {
    let mut expired = sample_key();
    expired["id"] = json!("k22");
    expired["status"] = json!("expired");
    expired["expires_at"] = json!("2030-02-01T00:00:00Z");
    expired["remaining_days"] = json!(0);
    expired["last_used_at"] = json!("2030-01-15T10:00:00Z");
    assert_eq!(
        keys_table(&[sample_key(), expired]).render(),
        "ID   NAME  OWNER            STATUS   EXPIRES               REMAINING  LAST USED\n\
         k1   ci    dev@example.com  active   never                 -          never\n\
         k22  ci    dev@example.com  expired  2030-02-01T00:00:00Z  0          2030-01-15T10:00:00Z\n"
    );
}

#[test]
fn key_fields_show_everything() {
    let out = key_fields(&sample_key()).render();
    for expected in [
        "Owner:",
        "dev@example.com (a1)",
        "Description:",
        "for CI",
        "global_viewer",
        "accounts.config:read@1,2",
        "10.0.0.0/8",
        "Expires:",
        "never",
        "grant x:read",
        "Uses:",
        "new_field:",
    ] {
        assert!(out.contains(expected), "{expected:?} missing in:\n{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("Uses:") && l.ends_with(" 12")), "{out}");
    assert!(!out.contains("use_count"), "use_count is shown as Uses, not again as an unknown field");
}

#[test]
fn secret_is_labelled_with_warning() {
    let out = secret_text(&json!({"key": sample_key(), "secret": "kw_k1_abc"}));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"Secret: kw_k1_abc"));
    assert!(out.contains("shown only once"));
}

#[test]
fn logs_table_columns() {
    let records = [
        json!({"id": "l1", "time": "2030-01-01T00:00:00Z", "kind": "audit",
               "action": "key.created", "key_id": "k1",
               "actor": {"type": "admin", "id": "a1", "email": "dev@example.com"},
               "client_ip": "127.0.0.1"}),
        json!({"id": "l2", "time": "2030-01-01T00:00:01Z", "kind": "usage",
               "action": "key.verified", "key_id": "k1",
               "actor": {"type": "key", "id": "k9"}, "code": "valid",
               "permission": "events.alerts:read", "target": "acct-1", "node": "n1"}),
    ];
    assert_eq!(
        logs_table(&records).render(),
        "TIME                  KIND   ACTION        KEY  ACTOR            CODE   PERMISSION          TARGET  IP         NODE\n\
         2030-01-01T00:00:00Z  audit  key.created   k1   dev@example.com  -      -                   -       127.0.0.1  -\n\
         2030-01-01T00:00:01Z  usage  key.verified  k1   key:k9           valid  events.alerts:read  acct-1  -          n1\n"
    );
}

#[test]
fn log_lines_name_the_fields_a_record_has() {
    let usage = json!({"id": "l2", "time": "2030-01-01T00:00:01Z", "kind": "usage",
        "action": "forward_auth", "key_id": "k1", "actor": {"type": "key", "id": "k1"},
        "code": "ip_not_allowed", "permission": "events.alerts:read", "target": "acct\u{1b}1",
        "client_ip": "203.0.113.7", "node": "n1"});
    assert_eq!(
        log_line(&usage),
        "2030-01-01T00:00:01Z  usage  forward_auth  key=k1  actor=key:k1  code=ip_not_allowed  \
         permission=events.alerts:read  target=acct\\u{1b}1  ip=203.0.113.7  node=n1"
    );
    let audit = json!({"id": "l1", "time": "t", "kind": "audit", "action": "auth.login",
        "actor": {"type": "admin", "id": "a1", "email": "dev@example.com"}});
    assert_eq!(log_line(&audit), "t  audit  auth.login  actor=dev@example.com");
}

#[test]
fn following_prints_each_record_once_oldest_first() {
    let rec = |id: &str| json!({"id": id});
    let ids = |v: Vec<&serde_json::Value>| v.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let mut f = Follower::new(2);
    // The first page shows only the newest `initial` records.
    assert_eq!(ids(f.fresh(&[rec("c"), rec("b"), rec("a")])), ["b", "c"]);
    assert!(f.fresh(&[rec("c"), rec("b"), rec("a")]).is_empty());
    // New records, oldest first; records falling off the page are not shown again.
    assert_eq!(ids(f.fresh(&[rec("e"), rec("d"), rec("c")])), ["d", "e"]);
    assert_eq!(ids(f.fresh(&[rec("f"), rec("e"), rec("d")])), ["f"]);
    assert!(f.fresh(&[]).is_empty());
    let mut empty_start = Follower::new(50);
    assert!(empty_start.fresh(&[]).is_empty());
    assert_eq!(ids(empty_start.fresh(&[rec("x")])), ["x"]);
}

#[test]
fn stats_view() {
    let out = stats_fields(&json!({"total": 5, "active": 3, "expired": 1, "revoked": 1,
                                   "expiring_within_30_days": 2}))
    .render();
    assert!(out.contains("Expiring within 30 days:  2"), "{out}");
}

#[test]
fn verify_key_options() {
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("pub.pem");
    std::fs::write(&pem, "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----\n\n").unwrap();
    let pem = pem.to_str().unwrap();
    let KeysCommand::Create(args) =
        keys_command(&["create", "--name", "s", "--signing", "generate", "--private-key-out", "k.pem"])
    else {
        panic!()
    };
    assert_eq!(create_body(&args).unwrap(), json!({"name": "s", "signing": "generate"}));
    let KeysCommand::Create(args) =
        keys_command(&["create", "--name", "s", "--verify-key-file", pem, "--require-signed-writes", "false"])
    else {
        panic!()
    };
    assert_eq!(
        create_body(&args).unwrap(),
        json!({"name": "s", "verify_key": "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----",
               "require_signed_writes": false})
    );
    let parse = |args: &[&str]| Cli::try_parse_from(["keyward", "keys"].into_iter().chain(args.iter().copied()));
    assert!(parse(&["create", "--name", "s", "--signing", "generate"]).is_err(), "needs --private-key-out");
    assert!(parse(&["create", "--name", "s", "--private-key-out", "k.pem"]).is_err(), "needs --signing");
    let KeysCommand::Update(args) = keys_command(&["update", "K", "--verify-key-file", pem]) else { panic!() };
    assert_eq!(
        update_body(&args).unwrap()["verify_key"],
        json!("-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----")
    );
    let KeysCommand::Update(args) = keys_command(&["update", "K", "--remove-verify-key"]) else { panic!() };
    assert_eq!(update_body(&args).unwrap(), json!({"verify_key": null}));
    assert!(parse(&["update", "K", "--remove-verify-key", "--verify-key-file", pem]).is_err());
    let KeysCommand::Update(args) = keys_command(&["update", "K", "--verify-key-file", "/nonexistent/pub.pem"]) else {
        panic!()
    };
    assert!(update_body(&args).unwrap_err().to_string().contains("/nonexistent/pub.pem"));
}

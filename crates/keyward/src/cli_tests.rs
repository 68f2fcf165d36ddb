//! Tests of the command-line grammar (kept apart so `cli.rs` stays short).

#![allow(clippy::unwrap_used)]
use super::*;
use clap::CommandFactory;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("keyward").chain(args.iter().copied()))
}

#[test]
fn grammar_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn global_flags_after_subcommand() {
    let cli = parse(&["keys", "list", "--json", "--server", "http://x:1"]).unwrap();
    assert!(cli.json);
    assert_eq!(cli.server.as_deref(), Some("http://x:1"));
}

#[test]
fn create_with_everything() {
    let cli = parse(&[
        "keys",
        "create",
        "--name",
        "ci",
        "--description",
        "for CI",
        "--lifetime-days",
        "30",
        "--grant",
        "events.alerts:write",
        "--grant",
        "accounts.config:read@1,2",
        "--role",
        "global_viewer",
        "--network",
        "10.0.0.0/8",
        "--format",
        "jwt",
    ])
    .unwrap();
    let Command::Keys(KeysCommand::Create(a)) = cli.command else { panic!("wrong command") };
    assert_eq!(a.name, "ci");
    assert_eq!(a.expiry.lifetime_days, Some(30));
    assert_eq!(a.grants.len(), 2);
    assert_eq!(a.grants[1].targets, Some(vec!["1".to_owned(), "2".to_owned()]));
    assert_eq!(a.roles[0].name, "global_viewer");
    assert_eq!(a.networks, vec!["10.0.0.0/8"]);
    assert_eq!(a.format, Some(KeyFormat::Jwt));
}

#[test]
fn expiry_options_are_exclusive() {
    assert!(parse(&["keys", "create", "--name", "a", "--never-expires"]).is_ok());
    assert!(parse(&["keys", "create", "--name", "a", "--never-expires", "--lifetime-days", "3"]).is_err());
    assert!(parse(&["keys", "update", "k1", "--expires-at", "2030-01-01T00:00:00Z", "--lifetime-days", "3"]).is_err());
    assert!(parse(&["keys", "create", "--name", "a", "--expires-at", "tomorrow"]).is_err());
    assert!(parse(&["keys", "create", "--name", "a", "--lifetime-days", "0"]).is_err());
}

#[test]
fn inherit_conflicts_with_grants_on_create() {
    assert!(parse(&["keys", "create", "--name", "a", "--inherit"]).is_ok());
    assert!(parse(&["keys", "create", "--name", "a", "--inherit", "--grant", "x:read"]).is_err());
}

#[test]
fn bad_grant_is_a_parse_error() {
    assert!(parse(&["keys", "create", "--name", "a", "--grant", "x:read@"]).is_err());
}

#[test]
fn update_flags() {
    let cli = parse(&["keys", "update", "k1", "--inherit", "false", "--clear-grants"]).unwrap();
    let Command::Keys(KeysCommand::Update(a)) = cli.command else { panic!("wrong command") };
    assert_eq!(a.inherit, Some(false));
    assert!(a.clear_grants);
    assert!(parse(&["keys", "update", "k1", "--clear-grants", "--grant", "x:read"]).is_err());
    assert!(parse(&["keys", "update", "k1", "--inherit", "maybe"]).is_err());
}

#[test]
fn list_and_logs() {
    let cli = parse(&["keys", "list", "--status", "active", "--q", "ci", "--all", "--limit", "10"]).unwrap();
    let Command::Keys(KeysCommand::List(a)) = cli.command else { panic!("wrong command") };
    assert_eq!(a.status, Some(KeyStatus::Active));
    assert_eq!(a.q.as_deref(), Some("ci"));
    assert!(a.all);
    assert!(parse(&["keys", "list", "--status", "gone"]).is_err());

    let cli = parse(&["keys", "logs", "k1", "k2", "--kind", "usage"]).unwrap();
    let Command::Keys(KeysCommand::Logs(a)) = cli.command else { panic!("wrong command") };
    assert_eq!(a.ids, vec!["k1", "k2"]);
    assert_eq!(a.kind, Some(LogKind::Usage));
    assert!(!a.follow);
    let cli = parse(&["keys", "logs", "k1", "--follow", "--limit", "5"]).unwrap();
    let Command::Keys(KeysCommand::Logs(a)) = cli.command else { panic!("wrong command") };
    assert!(a.follow);
    assert!(parse(&["keys", "logs", "-f", "--cursor", "c1"]).is_err(), "a cursor makes no sense when following");
}

#[test]
fn refresh_grace_is_bounded() {
    assert!(parse(&["keys", "refresh", "k", "--grace-period-seconds", "604800"]).is_ok());
    assert!(parse(&["keys", "refresh", "k", "--grace-period-seconds", "604801"]).is_err());
}

#[test]
fn admins_create_local_and_remote() {
    let cli = parse(&[
        "admins",
        "create",
        "--email",
        "a@example.com",
        "--name",
        "A",
        "--can-manage-keys",
        "--permission",
        "*:read",
        "--database-url",
        "sqlite://k.db",
    ])
    .unwrap();
    let Command::Admins(AdminsCommand::Create(a)) = cli.command else { panic!("wrong command") };
    assert_eq!(a.role, AdminRole::Admin);
    assert!(a.can_manage_keys);
    assert_eq!(a.database_url.as_deref(), Some("sqlite://k.db"));
    assert!(parse(&["admins", "create", "--email", "a@b"]).is_err());
}

#[test]
fn admins_update_conflicts() {
    assert!(parse(&["admins", "update", "a1", "--disable", "--enable"]).is_err());
    assert!(parse(&["admins", "update", "a1", "--can-manage-keys", "true"]).is_ok());
    assert!(parse(&["admins", "update", "a1", "--role", "superadmin"]).is_ok());
}

#[test]
fn no_password_argument_exists() {
    assert!(parse(&["login", "--password", "hunter2"]).is_err());
    let cli = parse(&["login", "--email", "a@b", "--password-stdin"]).unwrap();
    let Command::Login(a) = cli.command else { panic!("wrong command") };
    assert!(a.password_stdin);
}

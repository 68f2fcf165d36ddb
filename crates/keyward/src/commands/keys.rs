//! `keyward keys …`: the API key lifecycle (create, list, show, update,
//! refresh, regenerate, revoke, delete) and the key logs, over `/v1/keys` and
//! `/v1/logs`.
//!
//! Request bodies and queries are built by plain functions so they can be
//! tested without a server; only the fields the user gave are sent.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};

use super::Ctx;
use crate::cli::{ExpiryArgs, KeyCreateArgs, KeyListArgs, KeyUpdateArgs, KeysCommand, LogsArgs};
use crate::client::{Client, ClientError};
use crate::grant::{display_json, list_json};
use crate::output::{emit, field_or, items, next_cursor, out, outln, print_json, sanitize, text, Fields, Table};

pub async fn run(ctx: &Ctx, command: KeysCommand) -> Result<()> {
    let client = ctx.client()?;
    match command {
        KeysCommand::Create(args) => {
            let body = create_body(&args)?;
            // Claimed before the key exists, so a private key is never made with nowhere to go.
            let out = args.private_key_out.as_deref().map(super::sign::PrivateKeyFile::create).transpose()?;
            let mut response = match client.post(&["v1", "keys"], &body).await {
                Ok(r) => r,
                Err(e) => {
                    if let Some(out) = out {
                        out.abandon();
                    }
                    return Err(e.into());
                }
            };
            if let Some(out) = out {
                let pem = response.as_object_mut().and_then(|r| r.remove("signing_private_key_pem"));
                let path = out.write(pem.as_ref().and_then(Value::as_str).unwrap_or_default())?;
                eprintln!("The signing private key is in {} (mode 0600). Keep it secret.", path.display());
            }
            print_with_secret(ctx, &response);
        }
        KeysCommand::List(args) => list(ctx, &client, &args).await?,
        KeysCommand::Stats => {
            let stats = client.get(&["v1", "keys", "stats"], &[]).await?;
            if ctx.json {
                print_json(&stats);
            } else {
                out!("{}", stats_fields(&stats).render());
            }
        }
        KeysCommand::Show { id } => {
            let key = client.get(&["v1", "keys", &id], &[]).await?;
            print_key(ctx, &key);
        }
        KeysCommand::Update(args) => {
            let body = update_body(&args)?;
            let key = client.patch(&["v1", "keys", &args.id], &body).await?;
            print_key(ctx, &key);
        }
        KeysCommand::Refresh { id, grace_period_seconds } => {
            let body = match grace_period_seconds {
                Some(seconds) => json!({"grace_period_seconds": seconds}),
                None => json!({}),
            };
            let response = client.post(&["v1", "keys", &id, "refresh"], &body).await?;
            print_with_secret(ctx, &response);
        }
        KeysCommand::Regenerate { id } => {
            let response = client.post(&["v1", "keys", &id, "regenerate"], &json!({})).await?;
            print_with_secret(ctx, &response);
        }
        KeysCommand::Revoke { id } => {
            let response = client.post(&["v1", "keys", &id, "revoke"], &json!({})).await?;
            if ctx.json {
                print_json(&response);
            } else {
                out!("{}", key_fields(unwrap_key(&response)).render());
                outln!("\nKey {} is revoked.", sanitize(&id));
            }
        }
        KeysCommand::Delete { id } => {
            let response = client.delete(&["v1", "keys", &id]).await?;
            if ctx.json {
                if !response.is_null() {
                    print_json(&response);
                }
            } else {
                outln!("Key {} is deleted (its logs stay searchable).", sanitize(&id));
            }
        }
        KeysCommand::Logs(args) if args.follow => follow_logs(ctx, &client, &args).await?,
        KeysCommand::Logs(args) => {
            let page = client.get(&["v1", "logs"], &logs_query(&args)).await?;
            if ctx.json {
                print_json(&page);
            } else {
                print_page(&logs_table(items(&page)), "No log records.", &page, "keyward keys logs");
            }
        }
    }
    Ok(())
}

/// Adds the expiry field given, if any.
fn insert_expiry(body: &mut Map<String, Value>, expiry: &ExpiryArgs) {
    if let Some(days) = expiry.lifetime_days {
        body.insert("lifetime_days".into(), days.into());
    }
    if let Some(at) = &expiry.expires_at {
        body.insert("expires_at".into(), at.as_str().into());
    }
    if expiry.never_expires {
        body.insert("never_expires".into(), true.into());
    }
}

/// The contents of a verify key file (PEM or JWK), as the API takes it.
fn verify_key_text(path: &std::path::Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the verify key file {}: {e}", path.display()))?;
    Ok(text.trim().to_owned())
}

/// The body of `POST /v1/keys`.
pub fn create_body(args: &KeyCreateArgs) -> Result<Value> {
    let mut body = Map::new();
    body.insert("name".into(), args.name.as_str().into());
    if let Some(description) = &args.description {
        body.insert("description".into(), description.as_str().into());
    }
    insert_expiry(&mut body, &args.expiry);
    if !args.grants.is_empty() {
        body.insert("grants".into(), list_json(&args.grants, "permission"));
    }
    if !args.roles.is_empty() {
        body.insert("roles".into(), list_json(&args.roles, "role"));
    }
    if args.inherit {
        body.insert("inherit".into(), true.into());
    }
    if !args.networks.is_empty() {
        body.insert("networks".into(), args.networks.clone().into());
    }
    if let Some(format) = args.format {
        body.insert("format".into(), format.as_str().into());
    }
    if args.signing.is_some() {
        body.insert("signing".into(), "generate".into());
    }
    if let Some(path) = &args.verify_key_file {
        body.insert("verify_key".into(), verify_key_text(path)?.into());
    }
    if let Some(required) = args.require_signed_writes {
        body.insert("require_signed_writes".into(), required.into());
    }
    Ok(Value::Object(body))
}

/// The body of `PATCH /v1/keys/{id}`: only what was given; an error when nothing was.
pub fn update_body(args: &KeyUpdateArgs) -> Result<Value> {
    let mut body = Map::new();
    if let Some(name) = &args.name {
        body.insert("name".into(), name.as_str().into());
    }
    if let Some(description) = &args.description {
        body.insert("description".into(), description.as_str().into());
    }
    insert_expiry(&mut body, &args.expiry);
    if !args.grants.is_empty() || args.clear_grants {
        body.insert("grants".into(), list_json(&args.grants, "permission"));
    }
    if !args.roles.is_empty() || args.clear_roles {
        body.insert("roles".into(), list_json(&args.roles, "role"));
    }
    if let Some(inherit) = args.inherit {
        body.insert("inherit".into(), inherit.into());
    }
    if !args.networks.is_empty() || args.clear_networks {
        body.insert("networks".into(), args.networks.clone().into());
    }
    if let Some(path) = &args.verify_key_file {
        body.insert("verify_key".into(), verify_key_text(path)?.into());
    }
    if args.remove_verify_key {
        body.insert("verify_key".into(), Value::Null);
    }
    if let Some(required) = args.require_signed_writes {
        body.insert("require_signed_writes".into(), required.into());
    }
    if body.is_empty() {
        bail!("nothing to update: give at least one option (see `keyward keys update --help`)");
    }
    Ok(Value::Object(body))
}

/// The query of `GET /v1/keys`, without the cursor.
pub fn list_query(args: &KeyListArgs) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(status) = args.status {
        query.push(("status", status.as_str().to_owned()));
    }
    if let Some(q) = &args.q {
        query.push(("q", q.clone()));
    }
    if let Some(owner) = &args.owner {
        query.push(("owner", owner.clone()));
    }
    if let Some(days) = args.expiring_within_days {
        query.push(("expiring_within_days", days.to_string()));
    }
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    query
}

/// The query of `GET /v1/logs`: `key_id` repeated once per id.
pub fn logs_query(args: &LogsArgs) -> Vec<(&'static str, String)> {
    let mut query: Vec<(&'static str, String)> = args.ids.iter().map(|id| ("key_id", id.clone())).collect();
    let optional = [
        ("kind", args.kind.map(|k| k.as_str().to_owned())),
        ("action", args.action.clone()),
        ("since", args.since.clone()),
        ("until", args.until.clone()),
        ("limit", args.limit.map(|l| l.to_string())),
        ("cursor", args.cursor.clone()),
    ];
    query.extend(optional.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
    query
}

/// How often `keys logs --follow` asks for new records.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);
/// Records asked for per poll while following (the server's maximum page).
const FOLLOW_PAGE: u32 = 1000;
/// Records shown when following starts, unless `--limit` says otherwise (the server's default
/// page size).
const FOLLOW_INITIAL: u32 = 50;

/// `keys logs --follow`: polls the newest page every second and prints the records not printed
/// yet, oldest first, one line each. Stops on Ctrl-C (success) or when the server stops
/// answering (an error).
async fn follow_logs(ctx: &Ctx, client: &Client, args: &LogsArgs) -> Result<()> {
    let mut query: Vec<(&'static str, String)> = logs_query(args).into_iter().filter(|(k, _)| *k != "limit").collect();
    query.push(("limit", FOLLOW_PAGE.to_string()));
    let mut follower = Follower::new(args.limit.unwrap_or(FOLLOW_INITIAL) as usize);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let page = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            page = client.get(&["v1", "logs"], &query) => page,
        };
        let page = match page {
            Ok(page) => page,
            Err(e @ ClientError::Unreachable { .. }) => {
                eprintln!("The server stopped answering; no longer following.");
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let mut text = String::new();
        for record in follower.fresh(items(&page)) {
            if ctx.json {
                text.push_str(&record.to_string());
            } else {
                text.push_str(&log_line(record));
            }
            text.push('\n');
        }
        if !text.is_empty() {
            emit(&text);
        }
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            () = tokio::time::sleep(FOLLOW_INTERVAL) => {}
        }
    }
}

/// Which records of the newest page `--follow` has not printed yet.
///
/// Records come newest first and the server orders them by arrival, so a record leaves the
/// newest page only after it was on it: remembering the ids of the last page is enough.
#[derive(Debug)]
pub struct Follower {
    /// Ids on the previous page.
    seen: HashSet<String>,
    /// How many records the first page shows (`None` once it was shown).
    initial: Option<usize>,
}

impl Follower {
    pub fn new(initial: usize) -> Self {
        Self { seen: HashSet::new(), initial: Some(initial) }
    }

    /// The records of `page` (newest first) not shown before, oldest first.
    pub fn fresh<'a>(&mut self, page: &'a [Value]) -> Vec<&'a Value> {
        let id = |r: &Value| r.get("id").and_then(Value::as_str).map_or_else(|| r.to_string(), str::to_owned);
        let mut fresh: Vec<&Value> = page.iter().filter(|r| !self.seen.contains(&id(r))).collect();
        if let Some(initial) = self.initial.take() {
            fresh.truncate(initial);
        }
        fresh.reverse();
        self.seen = page.iter().map(id).collect();
        fresh
    }
}

/// One record on one line, for following: time, kind, action, then the fields it has.
pub fn log_line(record: &Value) -> String {
    let mut line =
        format!("{}  {}  {}", text(record.get("time")), text(record.get("kind")), text(record.get("action")));
    let fields = [
        ("key", text(record.get("key_id"))),
        ("actor", actor_text(record)),
        ("code", text(record.get("code"))),
        ("permission", text(record.get("permission"))),
        ("target", text(record.get("target"))),
        ("ip", text(record.get("client_ip"))),
        ("node", text(record.get("node"))),
    ];
    for (name, value) in fields {
        if value != "-" {
            line.push_str(&format!("  {name}={value}"));
        }
    }
    line
}

async fn list(ctx: &Ctx, client: &Client, args: &KeyListArgs) -> Result<()> {
    let base_query = list_query(args);
    let mut cursor = args.cursor.clone();
    let mut all_items = Vec::new();
    let page = loop {
        let mut query = base_query.clone();
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor.clone()));
        }
        let page = client.get(&["v1", "keys"], &query).await?;
        if !args.all {
            break page;
        }
        all_items.extend(items(&page).iter().cloned());
        let next = next_cursor(&page).map(str::to_owned);
        // Only a null cursor ends the listing: a page may be short, even empty, when the server
        // stopped searching (it examines a bounded number of keys per request). Stop at the last
        // page, or if the server does not move forward.
        if next.is_none() || next == cursor {
            break json!({"items": all_items, "next_cursor": null});
        }
        cursor = next;
    };
    if ctx.json {
        print_json(&page);
    } else {
        // The server examines a bounded number of keys per request: an empty page with a next
        // cursor is not the end of the search.
        let empty = match next_cursor(&page) {
            Some(_) => "No matches in the keys searched so far; the next page searches further.",
            None => "No keys.",
        };
        print_page(&keys_table(items(&page)), empty, &page, "keyward keys list");
    }
    Ok(())
}

/// Prints a table (or `empty` when it has no rows) and, on stderr, how to get
/// the next page.
fn print_page(table: &Table, empty: &str, page: &Value, command: &str) {
    if table.is_empty() {
        outln!("{empty}");
    } else {
        out!("{}", table.render());
    }
    if let Some(cursor) = next_cursor(page) {
        eprintln!("More results: {command} … --cursor {}", sanitize(cursor));
    }
}

/// Prints `{"key","secret"}` answers: the key, then the one-time secret.
fn print_with_secret(ctx: &Ctx, response: &Value) {
    if ctx.json {
        print_json(response);
    } else {
        out!("{}", secret_text(response));
    }
}

/// The human form of a `{"key","secret"}` answer.
pub fn secret_text(response: &Value) -> String {
    let key = response.get("key").unwrap_or(&Value::Null);
    let mut out = key_fields(key).render();
    out.push_str("\nWARNING: the secret is shown only once. Store it now: it cannot be retrieved again.\n");
    out.push_str(&format!("Secret: {}\n", text(response.get("secret"))));
    if let Some(pem) = response.get("signing_private_key_pem").and_then(Value::as_str) {
        out.push_str("Signing private key (shown only once):\n");
        out.push_str(pem.trim_end());
        out.push('\n');
    }
    out
}

/// Prints a key answer: the key object, or (tolerated) `{"key": {...}}`.
fn print_key(ctx: &Ctx, response: &Value) {
    if ctx.json {
        print_json(response);
    } else {
        out!("{}", key_fields(unwrap_key(response)).render());
    }
}

/// The key inside `{"key": {...}}`, or the value itself when it is the key.
fn unwrap_key(response: &Value) -> &Value {
    match response.get("key") {
        Some(key @ Value::Object(_)) if response.get("id").is_none() => key,
        _ => response,
    }
}

const KEY_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "owner",
    "status",
    "created_at",
    "updated_at",
    "expires_at",
    "lifetime_days",
    "remaining_days",
    "format",
    "inherit",
    "roles",
    "grants",
    "networks",
    "verify_key",
    "require_signed_writes",
    "last_used_at",
    "last_used_ip",
    "use_count",
    "revoked_at",
    "initial_privileges",
    "effective_grants",
];

fn owner_text(key: &Value) -> String {
    match key.get("owner") {
        Some(owner @ Value::Object(_)) => {
            let email = text(owner.get("email"));
            match owner.get("id").and_then(Value::as_str) {
                Some(id) => format!("{email} ({id})"),
                None => email,
            }
        }
        other => text(other),
    }
}

/// Each element of an array field, in flag syntax for grants and roles.
fn list_of(value: Option<&Value>, name_field: &str) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().map(|i| display_json(i, name_field)).collect())
        .unwrap_or_default()
}

/// The privileges of `initial_privileges`, one per line.
fn privileges_lines(privileges: Option<&Value>) -> Vec<String> {
    let Some(p) = privileges.filter(|p| p.is_object()) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    if p.get("inherit").and_then(Value::as_bool) == Some(true) {
        lines.push("inherit (same as the owner)".to_owned());
    }
    lines.extend(list_of(p.get("roles"), "role").into_iter().map(|r| format!("role {r}")));
    lines.extend(list_of(p.get("grants"), "permission").into_iter().map(|g| format!("grant {g}")));
    lines
}

/// Every field of a key, labelled.
pub fn key_fields(key: &Value) -> Fields {
    let mut f = Fields::new();
    f.add("ID", text(key.get("id")))
        .add("Name", text(key.get("name")))
        .add("Description", text(key.get("description")))
        .add("Owner", owner_text(key))
        .add("Status", text(key.get("status")))
        .add("Created", text(key.get("created_at")))
        .add("Updated", text(key.get("updated_at")))
        .add("Expires", field_or(key, "expires_at", "never"))
        .add("Lifetime days", field_or(key, "lifetime_days", "-"))
        .add("Remaining days", field_or(key, "remaining_days", "-"))
        .add("Format", text(key.get("format")))
        .add("Inherit", text(key.get("inherit")))
        .add_list("Roles", list_of(key.get("roles"), "role"))
        .add_list("Grants", list_of(key.get("grants"), "permission"))
        .add_list("Effective grants", list_of(key.get("effective_grants"), "permission"))
        .add_list("Networks", {
            let networks = list_of(key.get("networks"), "network");
            if networks.is_empty() {
                vec!["any".to_owned()]
            } else {
                networks
            }
        })
        .add("Verify key", if key.get("verify_key").is_some_and(|v| !v.is_null()) { "set" } else { "none" })
        .add("Signed writes", text(key.get("require_signed_writes")))
        .add("Last used", field_or(key, "last_used_at", "never"))
        .add("Last used IP", text(key.get("last_used_ip")))
        .add("Uses", field_or(key, "use_count", "-"))
        .add("Revoked", text(key.get("revoked_at")))
        .add_list("Initial privileges", privileges_lines(key.get("initial_privileges")))
        .add_rest(key, KEY_FIELDS);
    f
}

pub fn keys_table(keys: &[Value]) -> Table {
    let mut table = Table::new(&["ID", "NAME", "OWNER", "STATUS", "EXPIRES", "REMAINING", "LAST USED"]);
    for key in keys {
        let owner = key.get("owner").and_then(|o| o.get("email"));
        table.push(vec![
            text(key.get("id")),
            text(key.get("name")),
            text(owner),
            text(key.get("status")),
            field_or(key, "expires_at", "never"),
            field_or(key, "remaining_days", "-"),
            field_or(key, "last_used_at", "never"),
        ]);
    }
    table
}

pub fn stats_fields(stats: &Value) -> Fields {
    let mut f = Fields::new();
    f.add("Total", text(stats.get("total")))
        .add("Active", text(stats.get("active")))
        .add("Expired", text(stats.get("expired")))
        .add("Revoked", text(stats.get("revoked")))
        .add("Expiring within 30 days", text(stats.get("expiring_within_30_days")))
        .add_rest(stats, &["total", "active", "expired", "revoked", "expiring_within_30_days"]);
    f
}

fn actor_text(record: &Value) -> String {
    match record.get("actor") {
        Some(actor @ Value::Object(_)) => match actor.get("email").and_then(Value::as_str) {
            Some(email) => email.to_owned(),
            None => format!("{}:{}", text(actor.get("type")), text(actor.get("id"))),
        },
        other => text(other),
    }
}

pub fn logs_table(records: &[Value]) -> Table {
    let mut table =
        Table::new(&["TIME", "KIND", "ACTION", "KEY", "ACTOR", "CODE", "PERMISSION", "TARGET", "IP", "NODE"]);
    for record in records {
        table.push(vec![
            text(record.get("time")),
            text(record.get("kind")),
            text(record.get("action")),
            text(record.get("key_id")),
            actor_text(record),
            text(record.get("code")),
            text(record.get("permission")),
            text(record.get("target")),
            text(record.get("client_ip")),
            text(record.get("node")),
        ]);
    }
    table
}

#[cfg(test)]
#[path = "keys_tests.rs"]
mod tests;

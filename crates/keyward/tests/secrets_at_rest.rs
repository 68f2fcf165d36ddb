//! SPEC §1 "The secret is shown once": the database (on SQLite its main file and WAL, on
//! PostgreSQL a full dump of its data) and the server's own output at debug level never contain
//! a key secret, nor its random part, nor a signing private key the server generated.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use common::{split_secret, Backend, Server, World};
use serde_json::json;

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every file of the database (`keyward.db`, `-wal`, `-shm`, journals) in `dir`.
fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("keyward.db"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

/// Every row of the PostgreSQL database at `url`, as SQL `INSERT` statements.
fn pg_dump(url: &str) -> Vec<u8> {
    let out = Command::new("pg_dump")
        .args(["--data-only", "--inserts", "--no-owner", "--dbname", url])
        .output()
        .expect("cannot run pg_dump (is it installed?)");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// What the server has stored, by name: the SQLite files, or a dump of the PostgreSQL data.
fn stored(srv: &Server) -> Vec<(String, Vec<u8>)> {
    match srv.backend() {
        Backend::Sqlite => database_files(&srv.database.dir),
        Backend::Postgres => vec![("the PostgreSQL dump".to_owned(), pg_dump(&srv.database.url))],
    }
}

#[track_caller]
fn assert_absent(where_: &str, bytes: &[u8], secrets: &[(&str, String)]) {
    for (what, s) in secrets {
        assert!(!contains(bytes, s), "{what} found in {where_}");
    }
}

#[test]
fn secrets_never_reach_the_database_or_the_log() {
    let mut w = World::on(Server::start_env(&[("RUST_LOG", "debug")]));
    let srv = &w.srv;
    let (key, s0) = w.key("at-rest", json!({"grants": ["events.alerts:read"], "networks": ["127.0.0.1"]}));
    let kid = key["id"].as_str().unwrap().to_owned();
    let r = srv.post(&format!("/v1/keys/{kid}/refresh"), &w.tok, &json!({"grace_period_seconds": 60}));
    let s1 = r.expect(200)["secret"].as_str().unwrap().to_owned();
    let (other, s2) = w.key("regen", json!({}));
    let oid = other["id"].as_str().unwrap();
    let r = srv.post(&format!("/v1/keys/{oid}/regenerate"), &w.tok, &json!({}));
    let s3 = r.expect(200)["secret"].as_str().unwrap().to_owned();
    // A signing key pair made by the server: only the public half may be kept.
    let r = srv.post("/v1/keys", &w.tok, &json!({"name": "signer", "signing": "generate"}));
    let private_pem = r.expect(201)["signing_private_key_pem"].as_str().unwrap().to_owned();

    // Present the secrets in every way the server accepts, valid and not.
    for s in [&s0, &s1, &s3] {
        assert_eq!(w.code(s, None), "valid");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{kid}:{s}"));
        srv.raw("GET", "/v1/forward-auth", &[("authorization", &format!("Bearer {s}"))], None);
        srv.raw("GET", "/v1/forward-auth", &[("x-api-key", s)], None);
        srv.raw("GET", "/v1/forward-auth", &[("authorization", &format!("Basic {basic}"))], None);
        // Management endpoints with the key as credential (rejected: no keyward.* grant).
        srv.get("/v1/keys", s);
    }
    assert_eq!(w.code(&s0, None), "valid");
    // A wrong admin password must not be logged either.
    let wrong_pw = format!("Wrong-{}", common::rand_str(12));
    let r = srv.req("POST", "/v1/auth/login", None, Some(&json!({"email": w.admin.email, "password": wrong_pw})));
    assert_eq!(r.status, 401);

    // The API never shows a secret after issuing it.
    let shown = [
        srv.get(&format!("/v1/keys/{kid}"), &w.tok).text,
        srv.get(&format!("/v1/keys/{oid}"), &w.tok).text,
        srv.get("/v1/keys?limit=1000", &w.tok).text,
        srv.get("/v1/keys?limit=1000", &w.root).text,
        serde_json::to_string(&srv.logs(&w.root, "")).unwrap(),
    ];
    let mut names: Vec<(&str, String)> = Vec::new();
    for (name, random, s) in [
        ("secret s0", "random part of s0", &s0),
        ("secret s1", "random part of s1", &s1),
        ("secret s2", "random part of s2", &s2),
        ("secret s3", "random part of s3", &s3),
    ] {
        names.push((name, s.clone()));
        names.push((random, split_secret(s).2));
    }
    for line in private_pem.lines().filter(|l| !l.starts_with("-----")) {
        names.push(("a line of the signing private key", line.to_owned()));
    }
    for text in &shown {
        assert_absent("an API answer", text.as_bytes(), &names);
    }

    let mut passwords = names.clone();
    passwords.push(("an admin password", w.admin.password.clone()));
    passwords.push(("a wrong admin password", wrong_pw));
    passwords.push(("the bootstrap password", srv.root_password.clone()));
    passwords.push(("a session token", w.tok.clone()));
    passwords.push(("the superadmin's session token", w.root.clone()));

    // While running (on SQLite, the WAL holds the recent writes).
    let files = stored(srv);
    if srv.backend() == Backend::Sqlite {
        assert!(files.iter().any(|(n, _)| n == "keyward.db"), "no database file");
        assert!(
            files.iter().any(|(n, _)| n == "keyward.db-wal"),
            "no keyward.db-wal while running: is SQLite in WAL mode?"
        );
    }
    for (name, bytes) in &files {
        assert_absent(name, bytes, &passwords);
    }
    let log = std::fs::read(&srv.log_path).unwrap();
    assert!(contains(&log, "keyward listening on"), "log not captured");
    assert!(contains(&log, "DEBUG") || contains(&log, "debug"), "RUST_LOG=debug produced no debug output");
    assert_absent("the server log", &log, &passwords);

    // After a graceful stop (checkpointed database, flushed log).
    w.srv.stop();
    for (name, bytes) in &stored(&w.srv) {
        assert_absent(name, bytes, &passwords);
    }
    let log = std::fs::read(&w.srv.log_path).unwrap();
    assert_absent("the server log after stop", &log, &passwords);
    // The key id is an ordinary value: it is in the database (sanity check of the scan).
    let all: Vec<u8> = stored(&w.srv).into_iter().flat_map(|(_, b)| b).collect();
    assert!(contains(&all, &kid), "the scan sees no key id at all: is it the right file?");
}

/// Access tokens and jwt-format keys: neither the token, the JWS, nor the jwt-format key's
/// random `jti` (whose keyed hash is what is stored) reaches the database or the log.
#[test]
fn tokens_and_jwt_format_keys_never_reach_the_database_or_the_log() {
    let mut w = World::on(Server::start_env(&[("RUST_LOG", "debug")]));
    let srv = &w.srv;
    let (key, secret) = w.key("client", json!({"grants": ["events.alerts:read"]}));
    let id = key["id"].as_str().unwrap().to_owned();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let auth = format!("Basic {basic}");
    let form = [("authorization", auth.as_str()), ("content-type", "application/x-www-form-urlencoded")];
    let r = srv.raw("POST", "/oauth2/token", &form, Some(b"grant_type=client_credentials".to_vec()));
    let token = r.expect(200)["access_token"].as_str().unwrap().to_owned();
    let (_, jws) = w.key("jwt", json!({"format": "jwt"}));
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(jws.split('.').nth(1).unwrap()).unwrap();
    let jti = serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["jti"].as_str().unwrap().to_owned();
    for credential in [&token, &jws] {
        assert_eq!(w.code(credential, None), "valid");
        srv.raw("GET", "/v1/forward-auth", &[("authorization", &format!("Bearer {credential}"))], None);
        let verifier = format!("Bearer {}", w.verifier);
        let body = format!("token={credential}").into_bytes();
        srv.raw(
            "POST",
            "/oauth2/introspect",
            &[("authorization", &verifier), ("content-type", "application/x-www-form-urlencoded")],
            Some(body),
        );
    }
    srv.raw("POST", "/oauth2/revoke", &form, Some(format!("token={token}").into_bytes()));
    let secrets = [
        ("an access token", token.clone()),
        ("an access token's signature", token.rsplit('.').next().unwrap().to_owned()),
        ("a jwt-format key", jws.clone()),
        ("a jwt-format key's signature", jws.rsplit('.').next().unwrap().to_owned()),
        ("a jwt-format key's jti", jti),
    ];
    w.srv.stop();
    for (name, bytes) in &stored(&w.srv) {
        assert_absent(name, bytes, &secrets);
    }
    assert_absent("the server log", &std::fs::read(&w.srv.log_path).unwrap(), &secrets);
}

//! `keyward audit verify` on a real database (the run's backend): intact after ordinary use,
//! and a record altered or removed behind Keyward's back is reported at its position.
#![allow(clippy::unwrap_used)]

use keyward_testkit::TestDatabase;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

fn keyward(db: &TestDatabase, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--database-url", &db.url])
        .env("KEYWARD_PEPPER_FILE", db.dir.join("pepper"))
        .env_remove("KEYWARD_DATABASE_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn tamper(url: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    });
}

#[test]
fn audit_verify_reports_the_first_tampered_record() {
    let Some(db) = TestDatabase::new() else {
        return;
    };
    for i in 0..3 {
        let email = format!("admin{i}@example.com");
        let args = ["admins", "create", "--email", &email, "--name", "A", "--password-stdin"];
        let out = keyward(&db, &args, "long-enough-password\n");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = keyward(&db, &["audit", "verify"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 3 records"));
    let out = keyward(&db, &["--json", "audit", "verify"], "");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["intact"], true);

    let second = "(SELECT seq FROM logs WHERE kind = 'audit' ORDER BY seq LIMIT 1 OFFSET 1)";
    tamper(&db.url, &format!("UPDATE logs SET details = '{{\"email\":\"evil@example.com\"}}' WHERE seq = {second}"));
    let out = keyward(&db, &["audit", "verify"], "");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken at record 2") && stderr.contains("altered"), "{stderr}");

    tamper(&db.url, &format!("DELETE FROM logs WHERE seq = {second}"));
    let out = keyward(&db, &["audit", "verify"], "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken at record 2") && stderr.contains("removed or inserted"), "{stderr}");
}

//! Test support: a throwaway database per test, on the backend the run asks for.
//!
//! `KEYWARD_TEST_BACKEND=postgres` runs the backend-generic suites on PostgreSQL (default:
//! SQLite). PostgreSQL's server URL comes from `KEYWARD_TEST_POSTGRES_URL` (default: the local
//! server, `postgres://postgres@127.0.0.1:5432/postgres`). Each test creates its own database
//! and drops it when done, so runs never collide. When PostgreSQL cannot be reached, tests that
//! need it fail under `CI=true` and are skipped loudly otherwise.

use rand::Rng;
use std::path::PathBuf;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Which backend the backend-generic suites run on in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_env() -> Backend {
        match std::env::var("KEYWARD_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

fn server_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.into())
}

/// A database that exists for one test: a SQLite file in a temporary directory, or a fresh
/// PostgreSQL database dropped on `Drop`.
#[derive(Debug)]
pub struct TestDatabase {
    /// The `KEYWARD_DATABASE_URL` of this database.
    pub url: String,
    /// A directory for the test's other files (configuration, logs, the SQLite file).
    pub dir: PathBuf,
    postgres_name: Option<String>,
    _tmp: TempDir,
}

/// A temporary directory removed on drop (no extra crate needed for something this small).
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    let name: u64 = rand::thread_rng().gen();
    let dir = std::env::temp_dir().join(format!("keyward-test-{name:016x}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    TempDir(dir)
}

/// Runs `sql` on the PostgreSQL server's maintenance database.
fn admin_sql(sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&server_url()).await.map_err(|e| e.to_string())?;
            sqlx::query(&sql).execute(&mut conn).await.map_err(|e| e.to_string())?;
            conn.close().await.map_err(|e| e.to_string())
        })
    })
    .join()
    .map_err(|_| "the database thread panicked".to_string())?
}

impl TestDatabase {
    /// A database on the backend this run asks for; `None` (after saying so loudly) when that
    /// is PostgreSQL and it cannot be reached outside CI.
    pub fn new() -> Option<TestDatabase> {
        Self::on(Backend::from_env())
    }

    /// A database on `backend`.
    pub fn on(backend: Backend) -> Option<TestDatabase> {
        let tmp = temp_dir();
        let dir = tmp.0.clone();
        match backend {
            Backend::Sqlite => Some(TestDatabase {
                url: format!("sqlite://{}/keyward.db", dir.display()),
                dir,
                postgres_name: None,
                _tmp: tmp,
            }),
            Backend::Postgres => {
                let name = format!("keyward_test_{:016x}", rand::thread_rng().gen::<u64>());
                if let Err(e) = admin_sql(format!("CREATE DATABASE {name}")) {
                    let message = format!(
                        "PostgreSQL is not reachable at {} ({e}): set KEYWARD_TEST_POSTGRES_URL or start it",
                        server_url()
                    );
                    if std::env::var("CI").as_deref() == Ok("true") {
                        panic!("{message}");
                    }
                    eprintln!("\n!!! SKIPPED: {message}\n");
                    return None;
                }
                let base = server_url();
                let root = base.rsplit_once('/').map(|(root, _)| root).unwrap_or(&base);
                Some(TestDatabase { url: format!("{root}/{name}"), dir, postgres_name: Some(name), _tmp: tmp })
            }
        }
    }

    pub fn backend(&self) -> Backend {
        if self.postgres_name.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(name) = &self.postgres_name {
            if let Err(e) = admin_sql(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")) {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
    }
}

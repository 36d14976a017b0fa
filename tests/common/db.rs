//! Which database a test runs on. By default each test gets its own SQLite file in its
//! workspace. With `KEEPWARM_TEST_POSTGRES=postgres://USER@HOST:PORT/postgres` (scripts/test
//! starts a throwaway PostgreSQL and sets it for its second pass) each test gets its own fresh
//! PostgreSQL database instead, handed to the binary as `KEEPWARM_DATABASE_URL`. A PostgreSQL
//! pass whose server does not answer fails the tests, it never falls back to SQLite.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Clone)]
pub enum TestDb {
    Sqlite,
    Postgres { url: String },
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The admin URL of the test PostgreSQL, when this is a PostgreSQL pass.
pub fn postgres_admin() -> Option<String> {
    std::env::var("KEEPWARM_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Run SQL as the test server's superuser; panics with psql's message on failure.
pub fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql (postgresql-client) must be installed for the PostgreSQL pass");
    assert!(
        out.status.success(),
        "psql {sql:?} on {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Run a Python snippet on the workspace's SQLite file (`sys.argv[1]`) with `sql`
/// (`sys.argv[2]`): its stdout, or Python's error (the file may be locked by a writer).
fn try_sqlite(dir: &Path, script: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            &format!("import sqlite3,sys;{script}"),
            dir.join("kw.db").to_str().unwrap(),
            sql,
        ])
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `try_sqlite`, panicking with Python's message on failure.
fn sqlite(dir: &Path, script: &str, sql: &str) -> String {
    try_sqlite(dir, script, sql).unwrap_or_else(|e| panic!("sqlite {sql:?}: {e}"))
}

/// `base` (a server URL ending in `/DB`) with another database name.
pub fn with_database(base: &str, name: &str) -> String {
    let cut = base
        .rfind('/')
        .expect("a postgres:// URL ends in /DATABASE");
    format!("{}/{name}", &base[..cut])
}

impl TestDb {
    /// A fresh, empty database for one test.
    pub fn fresh() -> TestDb {
        match postgres_admin() {
            None => TestDb::Sqlite,
            Some(admin) => {
                let name = format!(
                    "kw_{}_{}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed)
                );
                psql(&admin, &format!("CREATE DATABASE {name}"));
                TestDb::Postgres {
                    url: with_database(&admin, &name),
                }
            }
        }
    }

    /// The URL the binary uses, for a workspace in `dir` (SQLite: `dir/kw.db`).
    pub fn url(&self, dir: &Path) -> String {
        match self {
            TestDb::Sqlite => format!("sqlite://{}", dir.join("kw.db").display()),
            TestDb::Postgres { url } => url.clone(),
        }
    }

    /// Point a keepwarm command at this database (the config file names `sqlite://kw.db`).
    pub fn apply(&self, command: &mut Command) {
        match self {
            TestDb::Sqlite => {
                command.env_remove("KEEPWARM_DATABASE_URL");
            }
            TestDb::Postgres { url } => {
                command.env("KEEPWARM_DATABASE_URL", url);
            }
        }
    }

    /// Run SQL statements straight on the database (tests use it to add a trigger that makes
    /// the real database refuse a row, a fault no input can produce on demand).
    pub fn exec(&self, dir: &Path, sql: &str) {
        match self {
            TestDb::Sqlite => {
                sqlite(
                    dir,
                    "c=sqlite3.connect(sys.argv[1]);c.executescript(sys.argv[2]);c.commit()",
                    sql,
                );
            }
            TestDb::Postgres { url } => {
                psql(url, sql);
            }
        }
    }

    /// The first column of the rows of a query, as text, straight from the database.
    pub fn column(&self, dir: &Path, sql: &str) -> Vec<String> {
        let text = match self {
            TestDb::Sqlite => sqlite(
                dir,
                "[print(r[0]) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])]",
                sql,
            ),
            TestDb::Postgres { url } => psql(url, sql),
        };
        text.lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `SELECT COUNT(*) FROM <table and condition>` straight from the database; -1 when the
    /// database cannot answer now (a test polling while the daemon writes asks again).
    pub fn count(&self, dir: &Path, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let text = match self {
            TestDb::Sqlite => try_sqlite(
                dir,
                "print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])",
                &sql,
            )
            .unwrap_or_default(),
            TestDb::Postgres { url } => psql(url, &sql),
        };
        text.trim().parse().unwrap_or(-1)
    }
}

//! The database: one concrete `Db` (an enum over backends, dispatched by `match`), SQL written
//! once in the dialect both SQLite and PostgreSQL accept, migrations per backend.

pub mod customers;
pub mod followup;
pub mod mailboxes;
pub mod messages;
pub mod outbox;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::config::{DatabaseConfig, redact_url};

/// Errors at the storage boundary.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot apply migrations to {url}: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error while trying to {context}: {source}")]
    Query {
        context: &'static str,
        source: sqlx::Error,
    },
}

/// Attach what we were doing to an sqlx error.
pub(crate) trait Context<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { context, source })
    }
}

/// A write transaction.
pub type Tx = Transaction<'static, Sqlite>;

/// The database handle. PostgreSQL joins as a second variant with the multi-instance backend.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

impl Db {
    /// Connect and apply pending migrations.
    pub async fn open(cfg: &DatabaseConfig) -> Result<Db, StoreError> {
        let db = Db::connect(cfg).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connect without migrating.
    pub async fn connect(cfg: &DatabaseConfig) -> Result<Db, StoreError> {
        let url = &cfg.url;
        let open_err = |source| StoreError::Open {
            url: redact_url(url),
            source,
        };
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(open_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_millis(cfg.busy_timeout_ms))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        Ok(Db::Sqlite(pool))
    }

    /// Apply pending migrations (idempotent).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        match self {
            Db::Sqlite(pool) => {
                let before = applied_count(pool).await;
                SQLITE_MIGRATIONS
                    .run(pool)
                    .await
                    .map_err(|source| StoreError::Migrate {
                        url: "sqlite".into(),
                        source,
                    })?;
                let after = applied_count(pool).await;
                Ok(after.saturating_sub(before))
            }
        }
    }

    /// Begin a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so a
    /// transaction that reads before it writes cannot fail with SQLITE_BUSY half-way.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self {
            Db::Sqlite(pool) => pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .ctx("begin a write transaction"),
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        match self {
            Db::Sqlite(pool) => pool,
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool) => pool.close().await,
        }
    }
}

async fn applied_count(pool: &SqlitePool) -> usize {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(pool)
        .await
        .map(|n| n as usize)
        .unwrap_or(0)
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A named value that must survive restarts (`setting` table), inside a transaction.
pub(crate) async fn setting(tx: &mut Tx, key: &str) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT value FROM setting WHERE key = $1")
        .bind(key)
        .fetch_optional(&mut **tx)
        .await
        .ctx("read a setting")
}

pub(crate) async fn set_setting(tx: &mut Tx, key: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO setting (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(key)
    .bind(value)
    .execute(&mut **tx)
    .await
    .ctx("write a setting")?;
    Ok(())
}

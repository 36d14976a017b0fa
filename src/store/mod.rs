//! The database: one `Db` over SQLite or PostgreSQL (sqlx's `Any` driver), SQL written once in
//! the dialect both accept, migrations per backend (`migrations/sqlite`, `migrations/postgres`).

pub mod batch;
pub mod cluster;
pub mod customers;
pub mod followup;
pub mod leads;
pub mod mailboxes;
pub mod messages;
pub mod outbox;
pub mod ownership;
pub mod privacy;
pub mod reports;
pub mod rule_evals;
pub mod tags;
pub mod users;

use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Executor, Transaction};

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

impl StoreError {
    /// Could one input have caused this: a value the database cannot hold, a constraint, a
    /// size limit, a trigger? Then storing the inputs one by one finds it (see
    /// `pipeline::commit_with`). Errors of the database itself (connection, lock, memory,
    /// disk, shutdown, a cancelled statement) are not: the whole batch is tried again later.
    pub fn is_input_fault(&self) -> bool {
        let StoreError::Query { source, .. } = self else {
            return false;
        };
        match source {
            sqlx::Error::Database(db) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                match code.parse::<i64>() {
                    // SQLite (extended) result codes: ERROR, TOOBIG, CONSTRAINT, MISMATCH,
                    // RANGE; not BUSY, LOCKED, NOMEM, IOERR, FULL, CORRUPT, ...
                    Ok(n) => matches!(n & 0xff, 1 | 18 | 19 | 20 | 25),
                    // PostgreSQL SQLSTATE classes: cardinality, data exception, integrity
                    // constraint, syntax or access rule, check option, program limit
                    // (an index row too large), a trigger's RAISE.
                    Err(_) => matches!(
                        code.get(..2),
                        Some("21" | "22" | "23" | "42" | "44" | "54" | "P0")
                    ),
                }
            }
            sqlx::Error::Encode(_) => true,
            _ => false,
        }
    }

    /// What the database said, without the driver's wrapping (for failure records).
    pub fn cause(&self) -> String {
        match self {
            StoreError::Query {
                source: sqlx::Error::Database(db),
                ..
            } => db.message().to_string(),
            StoreError::Query { source, .. } => source.to_string(),
            other => other.to_string(),
        }
    }
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
pub type Tx = Transaction<'static, Any>;

/// Which database a [`Db`] talks to (defined with the config, which reads it from the URL):
/// the SQL text is shared; this picks the few places where the dialects differ (placeholders
/// in generated statements, row locks, the clock, the write lock).
pub use crate::config::Backend;

impl Backend {
    /// The backend a transaction runs on.
    pub fn of(tx: &Tx) -> Backend {
        if tx.backend_name().eq_ignore_ascii_case("postgresql") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    /// `(?, ?), (?, ?)` (SQLite) or `($1, $2), ($3, $4)` (PostgreSQL): `rows` rows of `cols`
    /// parameters, bound in order.
    ///
    /// Positional `?` on SQLite, not `$N`: SQLite treats `$N` as a named parameter, and binding
    /// by name costs a linear search per parameter, quadratic in a statement of hundreds
    /// (measured: 400 rows of 7 columns took 26 µs a row with `$N`, 3 µs with `?`).
    pub fn placeholders(self, rows: usize, cols: usize) -> String {
        (0..rows)
            .map(|r| format!("({})", self.params(r * cols + 1, cols)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `?, ?, ?` (SQLite) or `$first, $first+1, ...` (PostgreSQL): `n` parameters of a list
    /// whose first is parameter number `first` (1-based). A statement that uses it must write
    /// every parameter this way: sqlx counts SQLite's bare `?` separately from `$N`.
    pub fn params(self, first: usize, n: usize) -> String {
        let mut out = String::with_capacity(n * 5);
        for i in 0..n {
            if i > 0 {
                out.push_str(", ");
            }
            match self {
                Backend::Sqlite => out.push('?'),
                Backend::Postgres => {
                    out.push('$');
                    out.push_str(&(first + i).to_string());
                }
            }
        }
        out
    }

    /// An SQL expression for the database server's clock in Unix milliseconds: instances on
    /// several machines agree on lease expiry even when their own clocks drift.
    pub fn now_sql(self) -> &'static str {
        match self {
            Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS BIGINT)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        }
    }

    /// ` FOR UPDATE OF <table> SKIP LOCKED` on PostgreSQL (rows another instance is claiming
    /// are passed over, not waited for); nothing on SQLite, whose write transaction already
    /// excludes every other writer.
    pub fn skip_locked(self, of: &str) -> String {
        match self {
            Backend::Sqlite => String::new(),
            Backend::Postgres => format!(" FOR UPDATE OF {of} SKIP LOCKED"),
        }
    }
}

/// The database handle: one pool through sqlx's `Any` driver, SQLite or PostgreSQL by URL.
///
/// Every column is an integer, text or blob (timestamps are Unix milliseconds), the subset the
/// `Any` driver carries unchanged, so one code path serves both databases.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Key of the transaction-level advisory lock that serializes writers on PostgreSQL.
const WRITE_LOCK: i64 = 0x6b65_6570_7761_726d; // "keepwarm"

impl Db {
    /// Does the database answer?
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(self.pool())
            .await
            .ctx("answer a ping")?;
        Ok(())
    }

    /// Connect and apply pending migrations.
    pub async fn open(cfg: &DatabaseConfig) -> Result<Db, StoreError> {
        let db = Db::connect(cfg).await?;
        db.migrate().await?;
        Ok(db)
    }

    /// Connect without migrating.
    pub async fn connect(cfg: &DatabaseConfig) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let url = &cfg.url;
        let open_err = |source| StoreError::Open {
            url: redact_url(url),
            source,
        };
        let backend = Backend::of_url(url).ok_or_else(|| {
            open_err(sqlx::Error::Configuration(
                "expected sqlite://PATH or postgres://USER@HOST/DB".into(),
            ))
        })?;
        let pool = match backend {
            Backend::Sqlite => {
                create_private_sqlite_file(url);
                // The Any driver reads SQLite options from the URL only: create the file when
                // missing, and set the rest per connection.
                let url = match url.split_once('?') {
                    Some((_, query)) if query.split('&').any(|p| p.starts_with("mode=")) => {
                        url.clone()
                    }
                    Some(_) => format!("{url}&mode=rwc"),
                    None => format!("{url}?mode=rwc"),
                };
                let busy = cfg.busy_timeout_ms;
                let opts: AnyConnectOptions = url.parse().map_err(open_err)?;
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute(sqlx::AssertSqlSafe(format!(
                                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA busy_timeout = {busy}; PRAGMA foreign_keys = ON; \
                                 PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;"
                            )))
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await
                    .map_err(open_err)?
            }
            Backend::Postgres => {
                let opts: AnyConnectOptions =
                    postgres_url_with_tls(url).parse().map_err(open_err)?;
                AnyPoolOptions::new()
                    .max_connections(cfg.max_connections)
                    .acquire_timeout(Duration::from_millis(cfg.busy_timeout_ms.max(1000)))
                    .connect_with(opts)
                    .await
                    .map_err(open_err)?
            }
        };
        Ok(Db { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Apply pending migrations (idempotent; on PostgreSQL the migrator holds an advisory lock,
    /// so instances starting together apply them once).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        let before = applied_count(&self.pool).await;
        migrator
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate {
                url: format!("{:?}", self.backend).to_lowercase(),
                source,
            })?;
        let after = applied_count(&self.pool).await;
        Ok(after.saturating_sub(before))
    }

    /// Begin a write transaction. Writers are serialized on both databases: SQLite takes its
    /// write lock up front (`BEGIN IMMEDIATE`, so a transaction that reads before it writes
    /// cannot fail with SQLITE_BUSY half-way); PostgreSQL takes a transaction-level advisory
    /// lock shared by every instance, so the read-modify-write of contact timers, lead rotation
    /// and outbox cursors sees no concurrent writer and no deadlock is possible. What runs in
    /// parallel across instances is everything outside it: IMAP, parsing, rules, delivery.
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        match self.backend {
            Backend::Sqlite => self
                .pool
                .begin_with("BEGIN IMMEDIATE")
                .await
                .ctx("begin a write transaction"),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await.ctx("begin a write transaction")?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(WRITE_LOCK)
                    .execute(&mut *tx)
                    .await
                    .ctx("take the write lock")?;
                Ok(tx)
            }
        }
    }

    /// Begin a short transaction that does not take the global write lock (PostgreSQL): lease
    /// heartbeats and delivery claims, which must not wait behind a large ingest commit and
    /// lock only their own rows. On SQLite it is an ordinary write transaction.
    pub async fn begin_light(&self) -> Result<Tx, StoreError> {
        match self.backend {
            Backend::Sqlite => self.begin_write().await,
            Backend::Postgres => self.pool.begin().await.ctx("begin a transaction"),
        }
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await
    }
}

/// The file of a `sqlite://PATH[?…]` URL.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| path.into())
}

/// A new SQLite database file is created readable by its owner only (SQLite gives its -wal and
/// -shm files the same permissions): it holds every customer's mail. An existing file readable
/// by others is left as it is, with a warning.
fn create_private_sqlite_file(url: &str) {
    let Some(path) = sqlite_path(url) else {
        return;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Ok(meta) = std::fs::metadata(&path)
                    && meta.permissions().mode() & 0o077 != 0
                {
                    tracing::warn!(path = %path.display(),
                        mode = format!("{:o}", meta.permissions().mode() & 0o777),
                        "The database file is readable by other users: chmod 600 it.");
                }
            }
            // The directory may not exist yet or be read-only: sqlx says so when it opens.
            Err(_) => {}
        }
    }
}

/// A PostgreSQL URL with `sslmode=verify-full` added unless it names a mode or the server is on
/// this machine (a loopback host or a Unix socket): TLS with a verified certificate and host
/// name by default. The URL's `sslrootcert` names a private CA; the public roots are built in.
pub fn postgres_url_with_tls(url: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    if query
        .split('&')
        .any(|p| p.to_ascii_lowercase().starts_with("sslmode="))
    {
        return url.to_string();
    }
    let local = match reqwest::Url::parse(url) {
        Ok(u) => {
            let socket = u
                .query_pairs()
                .any(|(k, v)| k == "host" && v.starts_with('/'));
            socket
                || u.host_str()
                    .is_none_or(|h| h.is_empty() || crate::config::is_loopback_host(h))
        }
        Err(_) => false,
    };
    if local {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=verify-full")
}

async fn applied_count(pool: &AnyPool) -> usize {
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

/// A named value, outside any transaction.
pub async fn get_setting(db: &Db, key: &str) -> Result<Option<String>, StoreError> {
    sqlx::query_scalar("SELECT value FROM setting WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await
        .ctx("read a setting")
}

/// Write a named value in its own short transaction.
pub async fn put_setting(db: &Db, key: &str, value: &str) -> Result<(), StoreError> {
    let mut tx = db.begin_light().await?;
    set_setting(&mut tx, key, value).await?;
    tx.commit().await.ctx("commit a setting")?;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend() {
        assert_eq!(Backend::Sqlite.placeholders(2, 3), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(
            Backend::Postgres.placeholders(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(Backend::Postgres.params(3, 2), "$3, $4");
        assert_eq!(Backend::Sqlite.params(3, 2), "?, ?");
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://u@h/db"), None);
    }

    #[test]
    fn postgres_urls_verify_tls_unless_local_or_told() {
        assert_eq!(
            postgres_url_with_tls("postgres://kw@db.example:5432/kw"),
            "postgres://kw@db.example:5432/kw?sslmode=verify-full"
        );
        assert_eq!(
            postgres_url_with_tls("postgres://kw@db.example/kw?application_name=kw"),
            "postgres://kw@db.example/kw?application_name=kw&sslmode=verify-full"
        );
        for same in [
            "postgres://kw@db.example/kw?sslmode=require",
            "postgres://kw@127.0.0.1:5432/kw",
            "postgres://kw@localhost/kw",
            "postgres://kw@[::1]/kw",
            "postgres:///kw?host=/var/run/postgresql",
        ] {
            assert_eq!(postgres_url_with_tls(same), same);
        }
    }

    #[test]
    fn both_migration_folders_have_the_same_versions() {
        let versions = |dir: &str| -> Vec<String> {
            let mut v: Vec<String> =
                std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect();
            v.sort();
            v
        };
        let sqlite = versions("migrations/sqlite");
        assert!(sqlite.len() >= 8);
        assert_eq!(sqlite, versions("migrations/postgres"));
    }
}

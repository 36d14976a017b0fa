//! The running daemon: the shared state every task uses (`App`), the rules it can reload while
//! running, and the main loop of `keepwarm run` (signals, graceful shutdown).
//!
//! Sources (IMAP, webhooks) arrive as tasks spawned here; for now the daemon keeps the database
//! open and the rules current: rule files are watched and re-read on change or on SIGHUP, and a
//! broken file keeps the previous rules running.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tracing::{error, info, warn};

use crate::config::Config;
use crate::rules::RuleSet;
use crate::store::{Db, StoreError};

/// The rules in force, swapped whole on reload; readers keep the version they started with.
#[derive(Debug, Clone)]
pub struct RulesHandle {
    dir: Option<PathBuf>,
    current: Arc<RwLock<Arc<RuleSet>>>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// New rules are in force (their version).
    Reloaded(String),
    /// The files produce the rules already in force.
    Unchanged,
    /// The built-in pack is in use: there is nothing to re-read.
    BuiltIn,
}

impl RulesHandle {
    /// Load the rules of `dir` (or the built-in pack); fails with every problem.
    pub fn load(dir: Option<&Path>) -> Result<RulesHandle, String> {
        let set = crate::rules::load_or_explain(dir)?;
        Ok(RulesHandle {
            dir: dir.map(Path::to_path_buf),
            current: Arc::new(RwLock::new(Arc::new(set))),
        })
    }

    /// The rules in force now.
    pub fn current(&self) -> Arc<RuleSet> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Re-read the rule files. On any problem the rules in force stay, and the error lists every
    /// problem with file:line.
    pub fn reload(&self) -> Result<Reload, String> {
        let Some(dir) = &self.dir else {
            return Ok(Reload::BuiltIn);
        };
        let set = crate::rules::load_or_explain(Some(dir))?;
        if set.version == self.current().version {
            return Ok(Reload::Unchanged);
        }
        let version = set.version.clone();
        match self.current.write() {
            Ok(mut g) => *g = Arc::new(set),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(set),
        }
        Ok(Reload::Reloaded(version))
    }
}

/// Names, sizes and modification times of the `*.toml` files of a rules directory: a cheap
/// way to notice edits.
fn fingerprint(dir: &Path) -> Option<Vec<(PathBuf, u64, SystemTime)>> {
    let mut files: Vec<(PathBuf, u64, SystemTime)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "toml"))
        .filter_map(|e| {
            let m = e.metadata().ok()?;
            Some((e.path(), m.len(), m.modified().ok()?))
        })
        .collect();
    files.sort();
    Some(files)
}

/// Everything the daemon's tasks share.
#[derive(Debug, Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub db: Db,
    pub rules: RulesHandle,
}

/// Errors that keep the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Rules(String),
    #[error("imap account {account}: {message}")]
    Imap { account: String, message: String },
    #[error(transparent)]
    Http(#[from] crate::api::ServeError),
    #[error("{0}")]
    Crm(String),
}

/// Resolves on SIGTERM or Ctrl-C, with the signal's name.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "Ctrl-C",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

impl App {
    /// Open the database (applying migrations) and load the rules.
    pub async fn start(config: Config) -> Result<App, StartError> {
        let db = Db::open(&config.database).await?;
        let rules = RulesHandle::load(config.rules.dir.as_deref()).map_err(StartError::Rules)?;
        Ok(App {
            config: Arc::new(config),
            db,
            rules,
        })
    }
}

fn log_reload(handle: &RulesHandle, why: &str) {
    match handle.reload() {
        Ok(Reload::Reloaded(version)) => {
            let tags = handle.current().rules.len();
            info!(%version, tags, trigger = why, "Rules reloaded.");
        }
        Ok(Reload::Unchanged) => info!(trigger = why, "Rules unchanged."),
        Ok(Reload::BuiltIn) => info!(
            trigger = why,
            "Built-in rule pack in use: nothing to reload."
        ),
        Err(problems) => {
            // One log line: the problems joined, each still "file:line: message".
            let problems = problems.replace('\n', " | ");
            let version = handle.current().version.clone();
            error!(trigger = why, %version, %problems, "Rules not reloaded, keeping the rules in force.");
        }
    }
}

/// `keepwarm run`: start, keep the rules current, stop cleanly on SIGTERM or Ctrl-C.
pub async fn run(config: Config) -> Result<(), StartError> {
    // Taken before the rules are read, so an edit made while starting is not missed.
    let mut seen = config.rules.dir.as_deref().and_then(fingerprint);
    let mut accounts = Vec::new();
    for cfg in &config.imap {
        let account =
            crate::source::imap::Account::new(cfg).map_err(|message| StartError::Imap {
                account: cfg.name.clone(),
                message,
            })?;
        accounts.push(Arc::new(account));
    }
    let dispatcher = crate::crm::Dispatcher::new(&config).map_err(StartError::Crm)?;
    let app = App::start(config).await?;
    for a in &accounts {
        a.keep_tokens_in(&app.db);
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    if app.config.http.listen.is_some() || app.config.http.admin().is_some() {
        let state = Arc::new(crate::api::ApiState::new(app.clone())?);
        if let Some(listen) = app.config.http.listen.clone() {
            servers.push(crate::api::serve(Arc::clone(&state), &listen, stop_rx.clone()).await?);
        }
        servers.extend(crate::api::serve_admin(state, stop_rx.clone()).await?);
    }
    let member = Arc::new(crate::cluster::Member::new(&app.config));
    let mailboxes = tokio::spawn(crate::cluster::run_mailboxes(
        app.clone(),
        Arc::clone(&member),
        accounts,
        stop_rx.clone(),
    ));
    let sweeper = tokio::spawn(crate::followup::sweep::run(
        app.clone(),
        Arc::clone(&member),
        stop_rx.clone(),
    ));
    let sender = dispatcher.map(|d| {
        tokio::spawn(crate::crm::run(
            app.db.clone(),
            Arc::new(d),
            stop_rx.clone(),
        ))
    });
    let version = app.rules.current().version.clone();
    info!(
        database = %crate::config::redact_url(&app.config.database.url),
        rules = %version,
        instance = %member.id,
        "Daemon started."
    );
    let interval = app.config.rules.watch_interval_secs;
    let mut tick = tokio::time::interval(Duration::from_secs(interval.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| StartError::Rules(format!("cannot listen for SIGHUP: {e}")))?;
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        #[cfg(unix)]
        let hup = hangup.recv();
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        tokio::select! {
            why = &mut stop => {
                info!(signal = why, "Stopping.");
                break;
            }
            _ = hup => log_reload(&app.rules, "SIGHUP"),
            _ = tick.tick(), if interval > 0 => {
                let now = app.config.rules.dir.as_deref().and_then(fingerprint);
                if now != seen {
                    seen = now;
                    log_reload(&app.rules, "file change");
                }
            }
        }
    }
    // Sources stop fetching; chunks under way are committed (or rolled back) first.
    let _ = stop_tx.send(true);
    if tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(servers))
        .await
        .is_err()
    {
        warn!("HTTP requests still running after 30 s; they are answered with an error.");
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), sweeper).await;
    if let Some(sender) = sender {
        let _ = tokio::time::timeout(Duration::from_secs(30), sender).await;
    }
    // Each account stops within 30 s (its last chunk commits or rolls back), then the leases
    // are given up for the other instances.
    if tokio::time::timeout(Duration::from_secs(40), mailboxes)
        .await
        .is_err()
    {
        warn!("Some mailboxes did not stop within 40 s; their last chunk is rolled back.");
    }
    app.db.close().await;
    warn!("Daemon stopped.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_file_keeps_the_rules_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
        for f in ["common.toml", "urgent.toml"] {
            std::fs::copy(repo.join(f), dir.path().join(f)).unwrap();
        }
        let handle = RulesHandle::load(Some(dir.path())).unwrap();
        let before = handle.current().version.clone();
        assert_eq!(handle.reload(), Ok(Reload::Unchanged));

        let path = dir.path().join("urgent.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            text.replace("[keywords]", "[keywords]\nxx = [\"zzz\"]"),
        )
        .unwrap();
        let err = handle.reload().unwrap_err();
        assert!(
            err.contains("urgent.toml:") && err.contains("unknown language"),
            "{err}"
        );
        assert_eq!(handle.current().version, before, "old rules stay in force");

        std::fs::write(&path, text.replace("\"hurry\",", "\"hurry\", \"pronto\",")).unwrap();
        let Ok(Reload::Reloaded(v)) = handle.reload() else {
            panic!("expected a reload")
        };
        assert_ne!(v, before);
        let hits = handle
            .current()
            .scan("pronto please", crate::rules::Field::Body);
        assert_eq!(hits[0].tag, "urgent");
        assert_eq!(
            RulesHandle::load(None).unwrap().reload(),
            Ok(Reload::BuiltIn)
        );
    }
}

//! The daemon: `keepwarm run` wires the parts together (the HTTP listeners, the mailboxes, the
//! sweep, the CRM sender), keeps the rules current and stops them in order. Nothing in the
//! crate imports it but the command line.

use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info, warn};

use crate::app::{App, AppError, Reload, RulesHandle, fingerprint};
use crate::config::Config;

/// Errors that keep the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("{0}")]
    Rules(String),
    #[error("imap account {account}: {message}")]
    Imap {
        account: String,
        message: crate::source::imap::AccountError,
    },
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
            let problems = problems.to_string().replace('\n', " | ");
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
    if app.config.http.listen.is_some()
        || app.config.http.admin().is_some()
        || app.config.board.listen.is_some()
    {
        let state = Arc::new(crate::api::ApiState::new(app.clone())?);
        if let Some(listen) = app.config.http.listen.clone() {
            servers.push(crate::api::serve(Arc::clone(&state), &listen, stop_rx.clone()).await?);
        }
        servers.extend(crate::api::serve_board(Arc::clone(&state), stop_rx.clone()).await?);
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
        app.db.clone(),
        Arc::clone(&app.config),
        member.id.clone(),
        member.heartbeat,
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

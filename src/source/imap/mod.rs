//! IMAP source: every configured account's INBOX and Sent folder, read-only (`EXAMINE`,
//! `BODY.PEEK[]`), synced by UID with a checkpoint that moves in the same transaction as the
//! messages it covers, then kept live with IDLE (or polling). Each (account, folder) runs in
//! its own task under a supervisor that reconnects with capped, jittered backoff.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use async_imap::extensions::idle::IdleResponse;
use async_imap::{Client, Session};
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tracing::{debug, error, info, warn};

use super::oauth::{TokenSource, XOAuth2};
use super::utf7;
use crate::app::App;
use crate::config::{ImapConfig, TlsMode, read_secret};
use crate::message::{Inbound, Origin, Payload, Pending};
use crate::pipeline::{self, Batch, Ingestor};
use crate::store::batch::BatchReport;
use crate::store::{StoreError, mailboxes, now_ms};
pub use crate::supervise::Stop;
use crate::supervise::{Backoff, Failure, stopped, stopping, supervise};

mod connect;
mod sync;

use connect::ImapSession;
pub use connect::{Account, AccountError};
pub use sync::sync_account_once;
use sync::{Folder, sync_folder};

/// Messages per `UID FETCH` command and per database transaction.
const CHUNK_MESSAGES: usize = 250;
/// Bytes of message data per `UID FETCH` command.
const CHUNK_BYTES: u64 = 8 << 20;
/// How long IDLE waits for the server before it is renewed (RFC 2177 asks for < 29 minutes).
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);
/// IDLE without a word from the server (Dovecot says "Still here" every 2 minutes) this long
/// means the connection is dead.
const IDLE_SILENCE: Duration = Duration::from_secs(5 * 60);
/// Reconnect backoff: doubling from a second up to five minutes, with ±25% jitter; a
/// connection that lived two minutes was healthy and starts it over.
const BACKOFF: Backoff = Backoff {
    first: Duration::from_secs(1),
    cap: Duration::from_secs(300),
    healthy_after: Duration::from_secs(120),
};
/// After a refused login, wait this long: a wrong password is not fixed by hammering.
const AUTH_RETRY: Duration = Duration::from_secs(600);

/// Errors of one IMAP session.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {host} failed: {message}")]
    Tls { host: String, message: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("cannot get an OAuth2 access token: {0}")]
    Token(super::oauth::TokenError),
    #[error("{what} timed out after {secs}s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("IMAP {what} failed: {source}")]
    Protocol {
        what: &'static str,
        source: async_imap::error::Error,
    },
    #[error("{0}")]
    Server(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<pipeline::IngestError> for ImapError {
    fn from(e: pipeline::IngestError) -> ImapError {
        match e {
            pipeline::IngestError::Store(e) => ImapError::Store(e),
            pipeline::IngestError::Prepare(why) => {
                ImapError::Server(format!("message preparation failed: {why}"))
            }
        }
    }
}

impl ImapError {
    /// Credentials the server refused: retried slowly.
    pub fn is_auth(&self) -> bool {
        matches!(self, ImapError::Auth(_) | ImapError::Token(_))
    }
}

/// Run `fut` (an IMAP command) under the account's timeout.
async fn timed<T>(
    limit: Duration,
    what: &'static str,
    fut: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(source)) => Err(ImapError::Protocol { what, source }),
        Err(_) => Err(ImapError::Timeout {
            what,
            secs: limit.as_secs(),
        }),
    }
}

/// `keepwarm run` for one account: discover its folders (retrying like any failure), then one
/// supervised task per folder until the daemon stops.
pub async fn run_account(app: App, account: Arc<Account>, mut stop: Stop) {
    let name = account.name().to_string();
    let rep = account.cfg.rep.clone();
    let mut failures = 0u32;
    let folders = loop {
        if stopping(&stop) {
            return;
        }
        let found = async {
            let mut session = account.connect().await?;
            let folders = account.folders(&mut session).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            folders
        }
        .await;
        match found {
            Ok(f) => {
                let _ = mailboxes::clear(&app.db, &name, "*").await;
                break f;
            }
            Err(e) => {
                failures += 1;
                let _ =
                    mailboxes::failed(&app.db, &name, "*", rep.as_deref(), &e.to_string()).await;
                let delay = retry_delay(&e, failures);
                report_failure(&name, "*", &e, failures, delay);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped(&mut stop) => return,
                }
            }
        }
    };
    info!(account = %name, folders = ?folders.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), "Mailbox folders found.");
    let tasks: Vec<_> = folders
        .into_iter()
        .map(|folder| {
            tokio::spawn(supervise_folder(
                app.clone(),
                Arc::clone(&account),
                folder,
                stop.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
}

/// Keep one folder live: connect, sync, wait for news (IDLE or polling), sync again; on any
/// failure (a panic in the session too) record it, back off and reconnect.
async fn supervise_folder(app: App, account: Arc<Account>, folder: Folder, stop: Stop) {
    let name = account.name().to_string();
    let rep = account.cfg.rep.clone();
    let task = format!("imap {name} {}", folder.name);
    let (a, f, s) = (app.clone(), folder.clone(), stop.clone());
    supervise(
        &task,
        BACKOFF,
        stop,
        move || watch_folder(a.clone(), Arc::clone(&account), f.clone(), s.clone()),
        |failure, failures| {
            let error = match failure {
                Failure::Error(e) => e,
                Failure::Panic(p) => ImapError::Server(format!("the folder task panicked: {p}")),
            };
            let (db, name, folder) = (app.db.clone(), name.clone(), folder.name.clone());
            let rep = rep.clone();
            async move {
                let _ = mailboxes::failed(&db, &name, &folder, rep.as_deref(), &error.to_string())
                    .await;
                let delay = retry_delay(&error, failures);
                report_failure(&name, &folder, &error, failures, delay);
                Some(delay)
            }
        },
    )
    .await;
}

fn report_failure(account: &str, folder: &str, e: &ImapError, failures: u32, delay: Duration) {
    let retry_secs = delay.as_secs();
    if e.is_auth() {
        error!(%account, %folder, failures, retry_secs, error = %e,
            "Mailbox login refused: check the credentials. Retrying slowly.");
    } else {
        warn!(%account, %folder, failures, retry_secs, error = %e, "Mailbox sync failed; reconnecting.");
    }
}

/// Capped exponential backoff with ±25% jitter; slow and steady after a refused login.
pub fn retry_delay(e: &ImapError, failures: u32) -> Duration {
    if e.is_auth() {
        return AUTH_RETRY;
    }
    BACKOFF.delay(failures)
}

/// One connection's life: sync, then IDLE (or poll) and sync on news, until stop or error.
async fn watch_folder(
    app: App,
    account: Arc<Account>,
    folder: Folder,
    mut stop: Stop,
) -> Result<(), ImapError> {
    let name = account.name().to_string();
    let rep = account.cfg.rep.clone();
    let limit = account.cfg.timeout();
    let mut session = account.connect().await?;
    let caps = timed(limit, "CAPABILITY", session.capabilities()).await?;
    let idle = account.cfg.idle && caps.has_str("IDLE");
    let mode = if idle { "idle" } else { "poll" };
    info!(account = %name, folder = %folder.name, mode, "Mailbox connected.");
    loop {
        let round = sync_folder(&app, &account, &mut session, &folder, &stop).await?;
        while session.unsolicited_responses.try_recv().is_ok() {}
        if !round.complete || stopping(&stop) {
            break;
        }
        mailboxes::synced(&app.db, &name, &folder.name, rep.as_deref(), 0, mode).await?;
        if idle {
            let mut handle = session.idle();
            timed(limit, "IDLE", handle.init()).await?;
            let renew_at = Instant::now() + IDLE_RENEW;
            let outcome = {
                let (wait, interrupt) = handle.wait_with_timeout(IDLE_SILENCE);
                tokio::pin!(wait);
                tokio::select! {
                    r = &mut wait => Some(r),
                    _ = tokio::time::sleep_until(renew_at.into()) => {
                        drop(interrupt);
                        Some(wait.await)
                    }
                    _ = stopped(&mut stop) => {
                        drop(interrupt);
                        let _ = wait.await;
                        None
                    }
                }
            };
            session = timed(limit, "IDLE DONE", handle.done()).await?;
            match outcome {
                None => break,
                Some(Ok(IdleResponse::NewData(_))) => {
                    debug!(account = %name, folder = %folder.name, "IDLE: news.")
                }
                Some(Ok(_)) => {}
                Some(Err(source)) => {
                    return Err(ImapError::Protocol {
                        what: "IDLE",
                        source,
                    });
                }
            }
        } else {
            tokio::select! {
                _ = tokio::time::sleep(account.cfg.poll_interval()) => {}
                _ = stopped(&mut stop) => break,
            }
            timed(limit, "NOOP", session.noop()).await?;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
    info!(account = %name, folder = %folder.name, "Mailbox closed.");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_cap_with_jitter_and_auth_waits_long() {
        let e = ImapError::Server("x".into());
        let d1 = retry_delay(&e, 1);
        assert!(d1 >= Duration::from_millis(750) && d1 <= Duration::from_millis(1250));
        let d5 = retry_delay(&e, 5);
        assert!(d5 >= Duration::from_secs(12) && d5 <= Duration::from_secs(20));
        let d30 = retry_delay(&e, 30);
        assert!(d30 <= BACKOFF.cap.mul_f64(1.25) && d30 >= BACKOFF.cap.mul_f64(0.75));
        assert_eq!(retry_delay(&ImapError::Auth("no".into()), 1), AUTH_RETRY);
    }
}

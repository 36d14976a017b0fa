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
use rayon::prelude::*;
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
use crate::message::{Inbound, Origin, Payload, Prepared};
use crate::pipeline::{self, Context};
use crate::store::batch::BatchReport;
use crate::store::{StoreError, mailboxes, now_ms};

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

/// The transport under async-imap: plain TCP (loopback, or before STARTTLS) or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conn::Plain(_) => "Conn::Plain",
            Conn::Tls(_) => "Conn::Tls",
        })
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type ImapSession = Session<Conn>;

enum Credentials {
    Password(crate::config::Secret),
    OAuth2(Box<TokenSource>),
}

/// One configured account, ready to connect.
pub struct Account {
    pub cfg: ImapConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    credentials: Credentials,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.cfg.name)
            .finish()
    }
}

/// Why an account cannot be set up: a secret, its OAuth2 endpoint, its TLS settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Password(#[from] crate::config::SecretError),
    #[error("refresh token: {0}")]
    RefreshToken(crate::config::SecretError),
    #[error("no token endpoint: set provider or token_url")]
    NoTokenEndpoint,
    #[error("cannot build an HTTP client: {0}")]
    Http(String),
    #[error("cannot read CA file {}: {why}", path.display())]
    CaFile {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("bad certificate in {}: {why}", path.display())]
    BadCertificate {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("unusable certificate in {}: {why}", path.display())]
    UnusableCertificate {
        path: std::path::PathBuf,
        why: String,
    },
    #[error("no certificate in {}", .0.display())]
    NoCertificate(std::path::PathBuf),
    #[error("cannot set up TLS: {0}")]
    Tls(String),
}

impl Account {
    /// Read the account's secrets and build its TLS settings.
    pub fn new(cfg: &ImapConfig) -> Result<Account, AccountError> {
        let credentials = match &cfg.oauth2 {
            Some(o) => Credentials::OAuth2(Box::new(TokenSource::new(o, cfg.timeout())?)),
            None => Credentials::Password(read_secret(
                cfg.password_env.as_deref(),
                cfg.password_file.as_deref(),
            )?),
        };
        let tls = match cfg.tls {
            TlsMode::None => None,
            _ => Some(tls_connector(cfg.ca_file.as_deref())?),
        };
        Ok(Account {
            cfg: cfg.clone(),
            tls,
            credentials,
        })
    }

    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// Keep an OAuth2 account's rotated refresh tokens in `db` (see `oauth`).
    pub fn keep_tokens_in(&self, db: &crate::store::Db) {
        if let Credentials::OAuth2(tokens) = &self.credentials {
            tokens.persist_in(db, &self.cfg.name);
        }
    }

    /// Connect, secure and log in.
    pub async fn connect(&self) -> Result<ImapSession, ImapError> {
        let limit = self.cfg.timeout();
        let addr = format!("{}:{}", self.cfg.host, self.cfg.port());
        let tcp = match tokio::time::timeout(limit, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(source)) => return Err(ImapError::Connect { addr, source }),
            Err(_) => {
                return Err(ImapError::Timeout {
                    what: "connect",
                    secs: limit.as_secs(),
                });
            }
        };
        let _ = tcp.set_nodelay(true);
        let stream = match self.cfg.tls {
            TlsMode::Implicit => Conn::Tls(Box::new(self.handshake(tcp).await?)),
            _ => Conn::Plain(tcp),
        };
        let mut client = Client::new(stream);
        let greeting = match tokio::time::timeout(limit, client.read_response()).await {
            Ok(Ok(Some(g))) => g,
            Ok(Ok(None)) => {
                return Err(ImapError::Server(
                    "the server closed the connection before its greeting".into(),
                ));
            }
            Ok(Err(e)) => {
                return Err(ImapError::Protocol {
                    what: "greeting",
                    source: e.into(),
                });
            }
            Err(_) => {
                return Err(ImapError::Timeout {
                    what: "greeting",
                    secs: limit.as_secs(),
                });
            }
        };
        drop(greeting);
        if self.cfg.tls == TlsMode::Starttls {
            timed(
                limit,
                "STARTTLS",
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            let Conn::Plain(tcp) = client.into_inner() else {
                unreachable!("STARTTLS starts from plain TCP");
            };
            client = Client::new(Conn::Tls(Box::new(self.handshake(tcp).await?)));
        }
        let user = &self.cfg.username;
        match &self.credentials {
            Credentials::Password(password) => {
                match tokio::time::timeout(limit, client.login(user, password.expose())).await {
                    Ok(Ok(session)) => Ok(session),
                    Ok(Err((async_imap::error::Error::No(why), _))) => Err(ImapError::Auth(
                        format!("the server refused the login of {user}: {}", why.trim()),
                    )),
                    Ok(Err((source, _))) => Err(ImapError::Protocol {
                        what: "LOGIN",
                        source,
                    }),
                    Err(_) => Err(ImapError::Timeout {
                        what: "LOGIN",
                        secs: limit.as_secs(),
                    }),
                }
            }
            Credentials::OAuth2(tokens) => {
                let token = tokens.token().await.map_err(ImapError::Token)?;
                let mut auth = XOAuth2::new(user, token);
                let result =
                    tokio::time::timeout(limit, client.authenticate("XOAUTH2", &mut auth)).await;
                match result {
                    Ok(Ok(session)) => Ok(session),
                    Ok(Err((async_imap::error::Error::No(why), _))) => {
                        // The token may have been revoked or expired early: fetch a new one
                        // next time.
                        tokens.invalidate().await;
                        let detail = auth.error.take().unwrap_or_default();
                        Err(ImapError::Auth(format!(
                            "the server refused the XOAUTH2 token of {user}: {} {detail}",
                            why.trim()
                        )))
                    }
                    Ok(Err((source, _))) => Err(ImapError::Protocol {
                        what: "AUTHENTICATE XOAUTH2",
                        source,
                    }),
                    Err(_) => Err(ImapError::Timeout {
                        what: "AUTHENTICATE XOAUTH2",
                        secs: limit.as_secs(),
                    }),
                }
            }
        }
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImapError> {
        let host = self.cfg.host.trim_start_matches('[').trim_end_matches(']');
        let tls_err = |message: String| ImapError::Tls {
            host: host.to_string(),
            message,
        };
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| tls_err("TLS is off for this account".into()))?;
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| tls_err(format!("not a valid server name: {e}")))?;
        match tokio::time::timeout(self.cfg.timeout(), connector.connect(name, tcp)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(e)) => Err(tls_err(e.to_string())),
            Err(_) => Err(ImapError::Timeout {
                what: "TLS handshake",
                secs: self.cfg.timeout().as_secs(),
            }),
        }
    }

    /// The folders to read: the configured ones, else INBOX and the Sent folder. A folder is
    /// a Sent folder when the server marks it `\Sent` or by its name; in the others a team
    /// From must be proven (`normalize::sender`).
    pub async fn folders(&self, session: &mut ImapSession) -> Result<Vec<Folder>, ImapError> {
        let limit = self.cfg.timeout();
        let listed: Result<Vec<(String, bool)>, ImapError> = timed(limit, "LIST", async {
            let stream = session.list(Some(""), Some("*")).await?;
            let names: Vec<_> = stream.collect().await;
            let mut out = Vec::new();
            for n in names {
                let n = n?;
                let sent = n
                    .attributes()
                    .iter()
                    .any(|a| matches!(a, async_imap::types::NameAttribute::Sent));
                out.push((n.name().to_string(), sent));
            }
            Ok(out)
        })
        .await;
        if !self.cfg.folders.is_empty() {
            // The configured folders; the server's \Sent marks when it can list them.
            let marked: Vec<String> = listed
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, sent)| *sent)
                .map(|(wire, _)| utf7::decode(&wire))
                .collect();
            return Ok(self
                .cfg
                .folders
                .iter()
                .map(|name| Folder {
                    name: name.clone(),
                    wire: utf7::encode(name),
                    sent: marked.contains(name) || super::is_sent_name(name),
                })
                .collect());
        }
        let listed = listed?;
        let mut folders = vec![Folder {
            name: "INBOX".into(),
            wire: "INBOX".into(),
            sent: false,
        }];
        let sent = listed.iter().find(|(_, sent)| *sent).or_else(|| {
            super::SENT_NAMES.iter().find_map(|want| {
                listed
                    .iter()
                    .find(|(wire, _)| utf7::decode(wire).eq_ignore_ascii_case(want))
            })
        });
        match sent {
            Some((wire, _)) => folders.push(Folder {
                name: utf7::decode(wire),
                wire: wire.clone(),
                sent: true,
            }),
            None => warn!(
                account = %self.cfg.name,
                "No Sent folder found (no \\Sent mark, no usual name): reading INBOX only. List the folders in imap.folders."
            ),
        }
        Ok(folders)
    }
}

/// A TLS client setup trusting the Mozilla roots and, when given, a company CA file.
fn tls_connector(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_rustls::TlsConnector, AccountError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| AccountError::CaFile {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        let mut n = 0;
        for cert in certs {
            let cert = cert.map_err(|e| AccountError::BadCertificate {
                path: path.to_path_buf(),
                why: e.to_string(),
            })?;
            roots
                .add(cert)
                .map_err(|e| AccountError::UnusableCertificate {
                    path: path.to_path_buf(),
                    why: e.to_string(),
                })?;
            n += 1;
        }
        if n == 0 {
            return Err(AccountError::NoCertificate(path.to_path_buf()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AccountError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// A folder: its readable name and its name on the wire (modified UTF-7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub wire: String,
    /// The account's Sent folder: what is in it we sent.
    pub sent: bool,
}

pub use crate::supervise::Stop;
use crate::supervise::{Backoff, Failure, stopped, stopping, supervise};

/// What one sync round did.
#[derive(Debug, Default, Clone)]
pub struct Synced {
    pub report: BatchReport,
    pub fetched: usize,
    pub bytes: u64,
    /// The folder is up to date (false when a stop cut the round short).
    pub complete: bool,
}

/// One chunk on its way from the network to the database.
struct Fetched {
    inbound: Vec<Inbound>,
    checkpoint: mailboxes::Checkpoint,
    bytes: u64,
    /// Messages still to come after this chunk.
    behind: u32,
}

/// Bring one folder up to date: fetch every message after the checkpoint (the backfill window
/// on a first sync), in chunks, overlapping network, parsing and database work; each chunk's
/// messages and the checkpoint that covers them are committed together.
pub async fn sync_folder(
    app: &App,
    account: &Account,
    session: &mut ImapSession,
    folder: &Folder,
    stop: &Stop,
) -> Result<Synced, ImapError> {
    let limit = account.cfg.timeout();
    let name = account.name();
    let db = &app.db;
    let selected = timed(limit, "EXAMINE", session.examine(&folder.wire)).await?;
    let validity = selected.uid_validity.ok_or_else(|| {
        ImapError::Server(format!(
            "folder {} has no UIDVALIDITY: cannot sync it incrementally",
            folder.name
        ))
    })?;
    let mut cp = mailboxes::checkpoint(db, name, &folder.name).await?;
    if cp.uid_validity != Some(validity) {
        if let Some(old) = cp.uid_validity {
            warn!(account = %name, folder = %folder.name, old, new = validity,
                "UIDVALIDITY changed: reading the folder again (stored messages are not duplicated).");
        }
        cp = mailboxes::Checkpoint {
            uid_validity: Some(validity),
            last_uid: 0,
            backfill_since: account.cfg.backfill_ms().map(|ms| now_ms() - ms),
        };
    }
    let uid_next = selected.uid_next.unwrap_or(0);
    let mut synced = Synced {
        complete: true,
        ..Synced::default()
    };
    if uid_next != 0 && uid_next <= cp.last_uid + 1 && cp.backfill_since.is_none() {
        return Ok(synced);
    }
    let query = match cp.backfill_since {
        Some(since) => format!("UID {}:* SINCE {}", cp.last_uid + 1, imap_date(since)),
        None => format!("UID {}:*", cp.last_uid + 1),
    };
    let found = timed(limit, "UID SEARCH", session.uid_search(&query)).await?;
    // `N:*` always matches the highest UID, even below N.
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > cp.last_uid).collect();
    uids.sort_unstable();
    let sizes = if uids.is_empty() {
        HashMap::new()
    } else {
        timed(limit, "UID FETCH sizes", async {
            let mut stream = session
                .uid_fetch(uid_set(&uids), "(UID RFC822.SIZE)")
                .await?;
            let mut sizes = HashMap::new();
            while let Some(f) = stream.next().await {
                let f = f?;
                if let (Some(uid), Some(size)) = (f.uid, f.size) {
                    sizes.insert(uid, size);
                }
            }
            Ok(sizes)
        })
        .await?
    };
    // The checkpoint after the last chunk: everything below UIDNEXT is done, including what
    // the backfill window left out.
    let done_uid = uids
        .last()
        .copied()
        .unwrap_or(0)
        .max(uid_next.saturating_sub(1));
    let max_bytes = app.config.ingest.max_message_bytes as u64;
    let mut chunks: Vec<Vec<u32>> = Vec::new();
    let (mut current, mut bytes) = (Vec::new(), 0u64);
    for &uid in &uids {
        let size = u64::from(sizes.get(&uid).copied().unwrap_or(0)).min(max_bytes);
        if !current.is_empty() && (current.len() >= CHUNK_MESSAGES || bytes + size > CHUNK_BYTES) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(uid);
        bytes += size;
    }
    if !current.is_empty() || uids.is_empty() {
        chunks.push(current);
    }
    let total = uids.len() as u32;
    mailboxes::set_behind(db, name, &folder.name, total).await?;
    info!(account = %name, folder = %folder.name, messages = total, uid_validity = validity,
        from_uid = cp.last_uid + 1, "Folder sync started.");

    let ctx = Arc::new(Context::load(db, app.rules.current(), Arc::clone(&app.config)).await?);
    let mailbox = format!("{name}/{}", folder.name);
    let rep = account.cfg.rep.clone();
    let (fetched_tx, mut fetched_rx) = mpsc::channel::<Fetched>(1);
    let (prepared_tx, mut prepared_rx) =
        mpsc::channel::<(Vec<Prepared>, mailboxes::Checkpoint, u32)>(1);

    // Stage 1: the network.
    let n_chunks = chunks.len();
    let mut all_sent = false;
    let fetcher = async {
        let mut done = 0u32;
        for (i, chunk) in chunks.into_iter().enumerate() {
            if stopping(stop) {
                return Ok(());
            }
            let last = i + 1 == n_chunks;
            let mut inbound = Vec::with_capacity(chunk.len());
            let mut chunk_bytes = 0u64;
            let (small, large): (Vec<u32>, Vec<u32>) = chunk
                .iter()
                .partition(|u| u64::from(sizes.get(u).copied().unwrap_or(0)) <= max_bytes);
            for uid in large {
                let size = sizes.get(&uid).copied().unwrap_or(0);
                inbound.push(Inbound {
                    origin: origin(name, folder, validity, uid, &mailbox, &rep, now_ms()),
                    payload: Payload::Unreadable(format!(
                        "message of {size} bytes exceeds ingest.max_message_bytes ({max_bytes}): not downloaded"
                    )),
                });
            }
            if !small.is_empty() {
                let mut got = fetch_bodies(session, &small, limit).await?;
                // A UID the server did not return (deleted meanwhile, or a server hiccup): ask
                // once more for just those; still missing, it is recorded, never skipped
                // silently.
                let missing = missing_uids(&small, &got);
                if !missing.is_empty() {
                    let again = fetch_bodies(session, &missing, limit).await?;
                    got.extend(again.into_iter().filter(|(u, _, _)| missing.contains(u)));
                    for uid in missing_uids(&small, &got) {
                        warn!(account = %name, folder = %folder.name, uid,
                            "The server returned nothing for a message it listed; recorded as a failure.");
                        got.push((
                            uid,
                            now_ms(),
                            Payload::Unreadable(format!(
                                "the server returned nothing for UID {uid} (twice): deleted while being read, or a server fault"
                            )),
                        ));
                    }
                }
                for (uid, received, payload) in got {
                    if let Payload::Email(raw) = &payload {
                        chunk_bytes += raw.len() as u64;
                    }
                    inbound.push(Inbound {
                        origin: origin(name, folder, validity, uid, &mailbox, &rep, received),
                        payload,
                    });
                }
            }
            done += chunk.len() as u32;
            let checkpoint = mailboxes::Checkpoint {
                uid_validity: Some(validity),
                last_uid: if last {
                    done_uid
                } else {
                    chunk.last().copied().unwrap_or(cp.last_uid)
                },
                backfill_since: if last { None } else { cp.backfill_since },
            };
            let item = Fetched {
                inbound,
                checkpoint,
                bytes: chunk_bytes,
                behind: total - done,
            };
            if fetched_tx.send(item).await.is_err() {
                return Ok(());
            }
        }
        drop(fetched_tx);
        all_sent = true;
        Ok::<(), ImapError>(())
    };
    // Stage 2: parsing, matching and rules on every core.
    let preparer = async {
        while let Some(f) = fetched_rx.recv().await {
            let ctx = Arc::clone(&ctx);
            let Fetched {
                inbound,
                checkpoint,
                bytes,
                behind,
            } = f;
            let n = inbound.len();
            let prepared = tokio::task::spawn_blocking(move || {
                inbound
                    .into_par_iter()
                    .map(|i| pipeline::prepare(&ctx, i))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| ImapError::Server(format!("message preparation panicked: {e}")))?;
            debug!(messages = n, bytes, "Chunk prepared.");
            if prepared_tx
                .send((prepared, checkpoint, behind))
                .await
                .is_err()
            {
                break;
            }
            synced.bytes += bytes;
        }
        drop(prepared_tx);
        Ok::<(), ImapError>(())
    };
    // Stage 3: one transaction per chunk, checkpoint included.
    let mut report = BatchReport::default();
    let mut fetched_count = 0usize;
    let mut committed = 0usize;
    let committer = async {
        while let Some((prepared, checkpoint, behind)) = prepared_rx.recv().await {
            let started = Instant::now();
            let r = crate::pipeline::commit_with(
                db,
                &prepared,
                &ctx.rules,
                &ctx.config,
                &mailboxes::Advance {
                    account: name,
                    folder: &folder.name,
                    rep: rep.as_deref(),
                    checkpoint: &checkpoint,
                    behind,
                },
            )
            .await?;
            crate::metrics::latency("imap", started.elapsed().as_secs_f64());
            report.add(&r);
            fetched_count += prepared.len();
            committed += 1;
        }
        Ok::<(), ImapError>(())
    };
    let (f, p, c) = tokio::join!(fetcher, preparer, committer);
    // The database's error explains a stopped pipeline best, then the parser's, then the
    // network's.
    c?;
    p?;
    f?;
    synced.complete = all_sent && committed == n_chunks;
    synced.report = report;
    synced.fetched = fetched_count;
    if synced.fetched > 0 {
        info!(account = %name, folder = %folder.name, fetched = synced.fetched,
            ingested = synced.report.ingested, sightings = synced.report.sightings,
            failed = synced.report.failed, "Folder synced.");
    }
    Ok(synced)
}

/// `UID FETCH` the bodies of `uids`: (uid, INTERNALDATE, payload) of each message the server
/// returned among those asked for, once each (unsolicited FETCH responses are dropped).
async fn fetch_bodies(
    session: &mut ImapSession,
    uids: &[u32],
    limit: Duration,
) -> Result<Vec<(u32, i64, Payload)>, ImapError> {
    timed(limit, "UID FETCH", async {
        let mut stream = session
            .uid_fetch(uid_set(uids), "(UID INTERNALDATE BODY.PEEK[])")
            .await?;
        let mut got: Vec<(u32, i64, Payload)> = Vec::with_capacity(uids.len());
        while let Some(f) = stream.next().await {
            let f = f?;
            let Some(uid) = f.uid else { continue };
            if uids.binary_search(&uid).is_err() || got.iter().any(|(u, _, _)| *u == uid) {
                continue;
            }
            let received = f
                .internal_date()
                .map(|d| d.timestamp_millis())
                .unwrap_or_else(now_ms);
            let payload = match f.body() {
                Some(body) => Payload::Email(body.to_vec()),
                None => Payload::Unreadable("the server sent no message body".into()),
            };
            got.push((uid, received, payload));
        }
        Ok(got)
    })
    .await
}

/// The UIDs asked for (sorted) that are not among those fetched.
fn missing_uids(asked: &[u32], got: &[(u32, i64, Payload)]) -> Vec<u32> {
    let have: std::collections::HashSet<u32> = got.iter().map(|(u, _, _)| *u).collect();
    asked
        .iter()
        .copied()
        .filter(|u| !have.contains(u))
        .collect()
}

fn origin(
    account: &str,
    folder: &Folder,
    validity: u32,
    uid: u32,
    mailbox: &str,
    rep: &Option<String>,
    received_at: i64,
) -> Origin {
    Origin {
        source_key: format!("imap:{account}/{}/{validity}/{uid}", folder.name),
        mailbox: mailbox.to_string(),
        rep: rep.clone(),
        received_at,
        verify_sender: !folder.sent,
    }
}

/// `1:5,7,9:12`: a sorted UID list as an IMAP sequence set.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// An IMAP SEARCH date (`1-Sep-2026`) for a Unix ms time.
fn imap_date(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%-d-%b-%Y")
        .to_string()
}

/// `keepwarm sync --once` for one account: discover its folders, bring each up to date (one
/// connection per folder, folders in parallel), log out.
pub async fn sync_account_once(
    app: &App,
    account: &Account,
    stop: &Stop,
) -> Vec<(Folder, Result<Synced, ImapError>)> {
    let name = account.name();
    let folders = match account.connect().await {
        Ok(mut session) => {
            let folders = account.folders(&mut session).await;
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            folders
        }
        Err(e) => Err(e),
    };
    let folders = match folders {
        Ok(f) => {
            let _ = mailboxes::clear(&app.db, name, "*").await;
            f
        }
        Err(e) => {
            let _ = mailboxes::failed(
                &app.db,
                name,
                "*",
                account.cfg.rep.as_deref(),
                &e.to_string(),
            )
            .await;
            return vec![(
                Folder {
                    name: "*".into(),
                    wire: "*".into(),
                    sent: false,
                },
                Err(e),
            )];
        }
    };
    let runs = folders.iter().map(|folder| async move {
        let result = async {
            let mut session = account.connect().await?;
            let synced = sync_folder(app, account, &mut session, folder, stop).await?;
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            Ok::<_, ImapError>(synced)
        }
        .await;
        let rep = account.cfg.rep.as_deref();
        match &result {
            Ok(s) if !s.complete => {}
            Ok(_) => {
                let _ = mailboxes::synced(&app.db, name, &folder.name, rep, 0, "once").await;
            }
            Err(e) => {
                let _ = mailboxes::failed(&app.db, name, &folder.name, rep, &e.to_string()).await;
            }
        }
        (folder.clone(), result)
    });
    futures::future::join_all(runs).await
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
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8, 10]), "1:3,5,7:8,10");
        assert_eq!(uid_set(&[42]), "42");
        assert_eq!(uid_set(&[]), "");
    }

    #[test]
    fn search_dates() {
        assert_eq!(imap_date(1_788_220_800_000), "1-Sep-2026");
    }

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

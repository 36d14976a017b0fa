//! Where mail comes from and how it is read: `[[imap]]` accounts (TLS, OAuth2), `[ingest]`
//! and `[rules]`.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Span, default_true};

/// `[[imap]]`: one mailbox account. keepwarm only reads: `EXAMINE` and `BODY.PEEK[]`, never a
/// flag, move or delete.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// A short name for the account, unique (used in logs, `keepwarm status` and dedupe keys).
    pub name: String,
    pub host: String,
    /// Default 993 with `tls = "implicit"`, else 143.
    #[serde(default)]
    pub port: Option<u16>,
    /// `implicit` (TLS from the first byte, port 993), `starttls`, or `none` (plain text,
    /// allowed only for loopback hosts).
    #[serde(default)]
    pub tls: TlsMode,
    /// Extra CA certificates (PEM) to trust besides the built-in Mozilla roots, for a company's
    /// own mail server.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    pub username: String,
    /// The password, from this environment variable...
    #[serde(default)]
    pub password_env: Option<String>,
    /// ... or from this file (trailing line break ignored).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Or XOAUTH2 with an access token refreshed from a refresh token.
    #[serde(default)]
    pub oauth2: Option<OAuth2Config>,
    /// The rep this mailbox belongs to (a `[[reps]]` id).
    #[serde(default)]
    pub rep: Option<String>,
    /// Folders to read. Default: INBOX and the folder the server marks `\Sent` (or one named
    /// like a Sent folder: "Sent", "Sent Items", "[Gmail]/Sent Mail", "已发送", ...).
    #[serde(default)]
    pub folders: Vec<String>,
    /// How far back the first sync of a folder reads (`"90d"`, `"12w"`), or `"all"`.
    #[serde(default = "default_backfill")]
    pub backfill: String,
    /// How often a folder is checked on servers without IDLE (`"60s"`, `"5m"`).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Span,
    /// Use IDLE when the server offers it (else poll).
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Every network read and write must finish within this time, or the connection is
    /// dropped and opened again.
    #[serde(default = "default_imap_timeout")]
    pub timeout: Span,
}

/// `[imap.oauth2]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    /// `google` or `microsoft` fill in the token endpoint; any other endpoint via `token_url`.
    #[serde(default)]
    pub provider: Option<String>,
    /// The OAuth2 token endpoint (https; http only on loopback).
    #[serde(default)]
    pub token_url: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    #[serde(default)]
    pub refresh_token_env: Option<String>,
    #[serde(default)]
    pub refresh_token_file: Option<PathBuf>,
    /// Scope to ask for (the provider's IMAP scope by default).
    #[serde(default)]
    pub scope: Option<String>,
}

impl OAuth2Config {
    /// The token endpoint and default scope.
    pub fn endpoint(&self) -> Option<(String, Option<String>)> {
        if let Some(url) = &self.token_url {
            return Some((url.clone(), self.scope.clone()));
        }
        let (url, scope) = match self.provider.as_deref()? {
            "google" => (
                "https://oauth2.googleapis.com/token",
                "https://mail.google.com/",
            ),
            "microsoft" => (
                "https://login.microsoftonline.com/common/oauth2/v2.0/token",
                "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
            ),
            _ => return None,
        };
        Some((
            url.to_string(),
            Some(self.scope.clone().unwrap_or_else(|| scope.to_string())),
        ))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    #[default]
    Implicit,
    Starttls,
    None,
}

fn default_backfill() -> String {
    "90d".into()
}

fn default_poll_interval() -> Span {
    "60s".into()
}

fn default_imap_timeout() -> Span {
    "60s".into()
}

impl ImapConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 993,
            _ => 143,
        })
    }

    /// The backfill window in ms (`None`: everything).
    pub fn backfill_ms(&self) -> Option<i64> {
        crate::time::parse_duration_ms(&self.backfill)
    }

    pub fn poll_interval(&self) -> std::time::Duration {
        self.poll_interval.duration()
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.timeout.duration()
    }
}

/// `[rules]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    /// A directory of rule files (`*.toml`, one tag per file, optional `common.toml`) that
    /// replaces the built-in default pack. Start from a copy of the repository's `rules/`.
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How often the daemon looks for edited rule files, in seconds (0: only on SIGHUP). A
    /// broken file keeps the rules in force and is logged with file:line.
    #[serde(default = "default_watch_interval")]
    pub watch_interval_secs: u64,
}

fn default_watch_interval() -> u64 {
    2
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            dir: None,
            watch_interval_secs: default_watch_interval(),
        }
    }
}

/// `[ingest]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Messages per database transaction.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Messages larger than this many bytes are stored as failures instead of parsed.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: usize,
    /// The time one message may take to parse, strip and tag. A backstop (every step is
    /// linear in the message and the text is capped at 1 MiB): past it, the steps not yet run
    /// are skipped and the message is stored with what was computed, flagged `over-budget`.
    #[serde(default = "default_message_budget")]
    pub message_budget: Span,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            batch_size: default_batch_size(),
            max_message_bytes: default_max_message_bytes(),
            message_budget: default_message_budget(),
        }
    }
}

fn default_message_budget() -> Span {
    "10s".into()
}

impl IngestConfig {
    pub fn message_budget(&self) -> std::time::Duration {
        self.message_budget.duration()
    }
}

fn default_batch_size() -> usize {
    1000
}

fn default_max_message_bytes() -> usize {
    64 << 20
}

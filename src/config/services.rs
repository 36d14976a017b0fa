//! What keepwarm serves and talks to: `[http]`, `[api]`, `[whatsapp]`, `[crm]` and its
//! webhooks, `[cluster]` and `[retention]`.

use std::path::PathBuf;

use serde::Deserialize;

use super::Span;

/// `[retention]`: raw content older than this is dropped by the daemon (hourly) and by
/// `keepwarm retention`. Off by default (kept). What a message says and its timers stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// The raw mail or event of a failure (`keepwarm failures` keeps its reason and size).
    #[serde(default)]
    pub failure_raw: Option<Span>,
    /// The raw WhatsApp or bridge event kept with each chat message.
    #[serde(default)]
    pub chat_raw: Option<Span>,
    /// A mail's whole text with what it quoted (the board folds it under the sender's own
    /// words, which stay).
    #[serde(default)]
    pub quoted: Option<Span>,
    /// The record of each board sign-in attempt (who, from where, how it went).
    #[serde(default)]
    pub sign_ins: Option<Span>,
}

impl RetentionConfig {
    pub fn quoted_ms(&self) -> Option<i64> {
        self.quoted.as_ref().map(Span::ms)
    }

    pub fn sign_ins_ms(&self) -> Option<i64> {
        self.sign_ins.as_ref().map(Span::ms)
    }

    pub fn failure_raw_ms(&self) -> Option<i64> {
        self.failure_raw.as_ref().map(Span::ms)
    }

    pub fn chat_raw_ms(&self) -> Option<i64> {
        self.chat_raw.as_ref().map(Span::ms)
    }
}

/// `[cluster]`: how instances sharing one database divide the work. Every instance of a
/// deployment uses the same config file (the same `[[imap]]` accounts).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// This instance's name in `keepwarm status` and in the lease table (default
    /// `HOST-PID-RANDOM`, new on every start). Two live instances must never share one.
    #[serde(default)]
    pub instance: Option<String>,
    /// How long a lease (an IMAP account, the sweep's turn) is good without renewal: an
    /// instance that dies loses its mailboxes to the others after at most this long (plus one
    /// heartbeat). Shorter means faster takeover and more heartbeat writes.
    #[serde(default = "default_lease")]
    pub lease: Span,
    /// How often each instance renews its leases and rebalances (default a third of `lease`).
    #[serde(default)]
    pub heartbeat: Option<Span>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            instance: None,
            lease: default_lease(),
            heartbeat: None,
        }
    }
}

fn default_lease() -> Span {
    "30s".into()
}

impl ClusterConfig {
    pub fn lease_ms(&self) -> i64 {
        self.lease.ms()
    }

    pub fn heartbeat_ms(&self) -> i64 {
        self.heartbeat
            .as_ref()
            .map(Span::ms)
            .unwrap_or(self.lease_ms() / 3)
            .max(100)
    }
}

/// `[crm]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmConfig {
    /// Wait before each retry of a failed delivery (408, 429, 5xx, timeouts, refused
    /// connections); the last step repeats until `expire`.
    #[serde(default = "default_retry")]
    pub retry: Vec<Span>,
    /// A delivery still failing this long after its event was written is dead (listed by
    /// `keepwarm outbox list --state dead`, sent again by `keepwarm outbox replay --dead`).
    #[serde(default = "default_expire")]
    pub expire: Span,
    /// A receiver that answers 401, 403, 404, 409, 410 or a redirect (a CRM in the middle of
    /// its own deploy, a moved endpoint) is retried on the schedule for this long after the
    /// event was written, then the event is rejected. Other 4xx answers reject at once.
    #[serde(default = "default_reject_grace")]
    pub reject_grace: Span,
    /// Deliveries in flight at once, over all webhooks.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The CRM endpoints.
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            retry: default_retry(),
            expire: default_expire(),
            reject_grace: default_reject_grace(),
            concurrency: default_concurrency(),
            webhooks: Vec::new(),
        }
    }
}

fn default_retry() -> Vec<Span> {
    ["1m", "5m", "30m", "2h", "6h"].map(Span::from).to_vec()
}
fn default_expire() -> Span {
    "3d".into()
}
fn default_reject_grace() -> Span {
    "1h".into()
}
fn default_concurrency() -> usize {
    32
}

/// `[[crm.webhooks]]`: one endpoint. Each request carries `X-Keepwarm-Event-Id`,
/// `X-Keepwarm-Timestamp` (Unix seconds) and `X-Keepwarm-Signature: v1=<hex HMAC-SHA256 of
/// "<timestamp>.<body>" with the secret>`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A short unique name (`keepwarm outbox list` shows it).
    pub name: String,
    /// `https://…` (`http://` only to a loopback host).
    pub url: String,
    /// The signing secret, from an environment variable or a file.
    #[serde(default)]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// While rotating the secret: the one the receiver knows until now. Every request then
    /// carries both signatures (`X-Keepwarm-Signature: v1=<new>,v1=<previous>`), so the
    /// receiver may switch at any time; remove this once it has.
    #[serde(default)]
    pub previous_secret_env: Option<String>,
    #[serde(default)]
    pub previous_secret_file: Option<PathBuf>,
    /// Event kinds to send (`lead.created`, `followup.*`, ...); empty: all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Per-request timeout.
    #[serde(default = "default_webhook_timeout")]
    pub timeout: Span,
}

fn default_webhook_timeout() -> Span {
    "10s".into()
}

impl WebhookConfig {
    /// Does this webhook want events of `kind`? (`followup.*` matches every `followup.` kind.)
    pub fn wants(&self, kind: &str) -> bool {
        self.events.is_empty()
            || self.events.iter().any(|e| match e.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => e == kind,
            })
    }

    pub fn timeout(&self) -> std::time::Duration {
        self.timeout.duration()
    }
}

impl CrmConfig {
    /// The retry schedule in ms (validated).
    pub fn retry_ms(&self) -> Vec<i64> {
        self.retry.iter().map(Span::ms).collect()
    }

    pub fn expire_ms(&self) -> i64 {
        self.expire.ms()
    }

    pub fn reject_grace_ms(&self) -> i64 {
        self.reject_grace.ms()
    }
}

/// `[http]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The public listener, e.g. `"0.0.0.0:8080"` (none when absent): the WhatsApp webhook,
    /// the chat bridge endpoint and the REST API. Put TLS in front (a reverse proxy): Meta only
    /// calls https callback URLs.
    #[serde(default)]
    pub listen: Option<String>,
    /// The admin listener: `/metrics`, `/readyz` and `/healthz`, never on the public one.
    /// Default `127.0.0.1:9477` (when that port is taken, e.g. by a second instance on the same
    /// host, the daemon runs without it and says so); `"off"` turns it off. An address other
    /// than loopback needs `admin_token_env` or `admin_token_file` (a bearer token).
    #[serde(default)]
    pub admin_listen: Option<String>,
    #[serde(default)]
    pub admin_token_env: Option<String>,
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    /// Connections open at once per listener; more are closed as soon as they are accepted.
    #[serde(default = "default_max_http_connections")]
    pub max_connections: usize,
    /// A request's head must arrive within this time (also the idle limit between requests
    /// on a kept-alive connection).
    #[serde(default = "default_header_timeout")]
    pub header_timeout: Span,
    /// A request must be answered within this time (503 otherwise).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: Span,
    /// Reverse proxies (IP addresses) whose `X-Forwarded-For` names the real client, for the
    /// board's sign-in records and limits per address. A proxy on the same host (loopback) is
    /// always trusted.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: None,
            admin_listen: None,
            admin_token_env: None,
            admin_token_file: None,
            max_connections: default_max_http_connections(),
            header_timeout: default_header_timeout(),
            request_timeout: default_request_timeout(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The admin listener's address when `[http] admin_listen` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9477";

fn default_max_http_connections() -> usize {
    1024
}
fn default_header_timeout() -> Span {
    "10s".into()
}
fn default_request_timeout() -> Span {
    "30s".into()
}

impl HttpConfig {
    /// The admin listener's address (`None`: off), and whether it was chosen by default.
    pub fn admin(&self) -> Option<(&str, bool)> {
        match self.admin_listen.as_deref() {
            None => Some((DEFAULT_ADMIN_LISTEN, true)),
            Some("off") | Some("") => None,
            Some(a) => Some((a, false)),
        }
    }

    /// Is `ip` a proxy whose `X-Forwarded-For` is believed?
    pub fn trusts_proxy(&self, ip: std::net::IpAddr) -> bool {
        ip.is_loopback()
            || self
                .trusted_proxies
                .iter()
                .any(|p| p.parse::<std::net::IpAddr>().is_ok_and(|p| p == ip))
    }

    pub fn header_timeout(&self) -> std::time::Duration {
        self.header_timeout.duration()
    }

    pub fn request_timeout(&self) -> std::time::Duration {
        self.request_timeout.duration()
    }
}

/// `[board]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoardConfig {
    /// A listener of its own for the board (e.g. `"10.0.0.5:8081"` on the office network),
    /// which then leaves the public listener (`[http] listen`: webhooks and the REST API).
    /// Unset: the board is served on `[http] listen`. Put TLS in front unless it is loopback.
    #[serde(default)]
    pub listen: Option<String>,
}

impl super::Config {
    /// The address the board is served on, if any: `[board] listen`, else `[http] listen`.
    pub fn board_listen(&self) -> Option<&str> {
        self.board.listen.as_deref().or(self.http.listen.as_deref())
    }
}

/// `[whatsapp]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsappConfig {
    /// The Meta app's App Secret (signs every delivery: X-Hub-Signature-256), from an
    /// environment variable or a file. Several apps: separate the secrets with commas.
    #[serde(default)]
    pub app_secret_env: Option<String>,
    #[serde(default)]
    pub app_secret_file: Option<PathBuf>,
    /// The verify token typed into the App Dashboard (the subscription handshake).
    #[serde(default)]
    pub verify_token_env: Option<String>,
    #[serde(default)]
    pub verify_token_file: Option<PathBuf>,
    /// Accept unsigned deliveries (never in production): without an app secret the endpoint is
    /// off unless this says so.
    #[serde(default)]
    pub allow_unsigned: bool,
}

/// `[api]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Bearer tokens accepted by `/api/v1` (comma- or line-separated), from an environment
    /// variable or a file. No token: the API answers 401 to everything.
    #[serde(default)]
    pub tokens_env: Option<String>,
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
}

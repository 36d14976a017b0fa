//! The configuration tree: one strict TOML file, validated as a whole before anything starts.
//!
//! Every field's doc comment is the reference for `config.example.toml`. Unknown keys are
//! rejected by serde; `validate()` collects every remaining problem with its key path so an
//! operator fixes them all in one round.

mod secrets;
pub use secrets::{
    Secret, SecretError, UrlError, is_loopback_host, read_secret, redact_url, secure_url,
};

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Name of the config file looked up in the working directory when `--config` is not given.
pub const DEFAULT_CONFIG_FILE: &str = "keepwarm.toml";

/// Which database keepwarm runs on, as the URL says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend of a URL (`sqlite:` or `postgres:` / `postgresql:`).
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where keepwarm keeps its state.
    #[serde(default)]
    pub database: DatabaseConfig,
    /// Who "we" are: our mail domains and extra free-mail domains.
    #[serde(default)]
    pub team: TeamConfig,
    /// The sales reps: their addresses and WhatsApp numbers.
    #[serde(default)]
    pub reps: Vec<RepConfig>,
    /// Ingestion tuning.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Trait rules.
    #[serde(default)]
    pub rules: RulesConfig,
    /// IMAP accounts read by `keepwarm run` and `keepwarm sync --once`.
    #[serde(default)]
    pub imap: Vec<ImapConfig>,
    /// The HTTP server of `keepwarm run`: WhatsApp webhook, chat ingest API, health.
    #[serde(default)]
    pub http: HttpConfig,
    /// The WhatsApp Business Cloud API webhook.
    #[serde(default)]
    pub whatsapp: WhatsappConfig,
    /// Bearer tokens of the REST API (`/api/v1/...`).
    #[serde(default)]
    pub api: ApiConfig,
    /// The team's follow-up policy.
    #[serde(default)]
    pub followup: FollowupConfig,
    /// Lead routing: inquiries from unknown senders become customers dealt to reps.
    #[serde(default)]
    pub leads: LeadsConfig,
    /// The CRM hand-off: signed outbound webhooks.
    #[serde(default)]
    pub crm: CrmConfig,
    /// Several instances on one PostgreSQL: leases and heartbeats.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// How long raw content is kept (off by default: kept).
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// `[retention]`: raw content older than this is dropped by the daemon (hourly) and by
/// `keepwarm retention`. Off by default (kept). What a message says and its timers stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// The raw mail or event of a failure (`keepwarm failures` keeps its reason and size).
    #[serde(default)]
    pub failure_raw: Option<String>,
    /// The raw WhatsApp or bridge event kept with each chat message.
    #[serde(default)]
    pub chat_raw: Option<String>,
}

impl RetentionConfig {
    pub fn failure_raw_ms(&self) -> Option<i64> {
        self.failure_raw.as_deref().and_then(positive_ms)
    }

    pub fn chat_raw_ms(&self) -> Option<i64> {
        self.chat_raw.as_deref().and_then(positive_ms)
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
    pub lease: String,
    /// How often each instance renews its leases and rebalances (default a third of `lease`).
    #[serde(default)]
    pub heartbeat: Option<String>,
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

fn default_lease() -> String {
    "30s".into()
}

impl ClusterConfig {
    pub fn lease_ms(&self) -> i64 {
        positive_ms(&self.lease).unwrap_or(30_000)
    }

    pub fn heartbeat_ms(&self) -> i64 {
        self.heartbeat
            .as_deref()
            .and_then(positive_ms)
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
    pub retry: Vec<String>,
    /// A delivery still failing this long after its event was written is dead (listed by
    /// `keepwarm outbox list --state dead`, sent again by `keepwarm outbox replay --dead`).
    #[serde(default = "default_expire")]
    pub expire: String,
    /// A receiver that answers 401, 403, 404, 409, 410 or a redirect (a CRM in the middle of
    /// its own deploy, a moved endpoint) is retried on the schedule for this long after the
    /// event was written, then the event is rejected. Other 4xx answers reject at once.
    #[serde(default = "default_reject_grace")]
    pub reject_grace: String,
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

fn default_retry() -> Vec<String> {
    ["1m", "5m", "30m", "2h", "6h"].map(String::from).to_vec()
}
fn default_expire() -> String {
    "3d".into()
}
fn default_reject_grace() -> String {
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
    pub timeout: String,
}

fn default_webhook_timeout() -> String {
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
        duration(&self.timeout).unwrap_or(std::time::Duration::from_secs(10))
    }
}

impl CrmConfig {
    /// The retry schedule in ms (validated).
    pub fn retry_ms(&self) -> Vec<i64> {
        self.retry.iter().filter_map(|r| positive_ms(r)).collect()
    }

    pub fn expire_ms(&self) -> i64 {
        positive_ms(&self.expire).unwrap_or(3 * 86_400_000)
    }

    pub fn reject_grace_ms(&self) -> i64 {
        positive_ms(&self.reject_grace).unwrap_or(3_600_000)
    }
}

/// `[leads]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadsConfig {
    /// Turn an inquiry from an unknown sender (human mail or chat: not spam, bulk, an
    /// auto-reply or a bounce) into a customer of tier `new`, assigned by weighted round-robin
    /// over the reps (`weight`, `daily_lead_cap`); one that came to a rep's own mailbox or
    /// number goes to that rep.
    #[serde(default)]
    pub enabled: bool,
    /// Only messages this recent become leads (a backfill of old mail does not).
    #[serde(default = "default_recent")]
    pub max_age: String,
}

impl Default for LeadsConfig {
    fn default() -> Self {
        LeadsConfig {
            enabled: false,
            max_age: default_recent(),
        }
    }
}

/// `[followup]`: the written policy keepwarm enforces.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowupConfig {
    /// A new customer gets a first touch within this many days.
    #[serde(default = "default_first_touch")]
    pub first_touch_days: i64,
    /// A customer's message gets an answer within this many hours.
    #[serde(default = "default_reply_within")]
    pub reply_within_hours: i64,
    /// Outreach that got no answer gets a second follow-up within this many days.
    #[serde(default = "default_no_reply")]
    pub no_reply_follow_up_days: i64,
    /// Count only our outbound messages as contact for the tier timer (default: both ways).
    #[serde(default)]
    pub outbound_only: bool,
    /// A due customer is overdue this many days after the due date.
    #[serde(default = "default_overdue_after")]
    pub overdue_after_days: i64,
    /// Per-tier overrides of the built-in policy (`[followup.tiers.vip] interval_days = 21`).
    #[serde(default)]
    pub tiers: std::collections::BTreeMap<String, TierOverride>,
    /// How often `keepwarm run` re-judges the customers whose next deadline has passed.
    #[serde(default = "default_sweep_interval")]
    pub sweep_interval: String,
    /// A rep's mailbox that failed its last sync, is still backfilling, or has not synced for
    /// this long is unhealthy: the rep's customers are not released to the pool meanwhile
    /// (keepwarm may simply not have seen the mail).
    #[serde(default = "default_stalled_after")]
    pub mailbox_stalled_after: String,
    /// Contact with one subsidiary keeps its whole corporate group warm (default: each
    /// customer stands alone).
    #[serde(default)]
    pub group_rollup: bool,
    /// Deadlines that fall on a weekend or a holiday of the customer's country move to the next
    /// business day.
    #[serde(default)]
    pub business_days: bool,
    /// The team's offset from UTC, e.g. `"+08:00"`: where a day starts for business days,
    /// holidays and daily caps.
    #[serde(default = "default_utc_offset")]
    pub utc_offset: String,
    /// Holidays per customer country (ISO 3166 code) or `"*"` for all: dates `"2026-12-25"` or
    /// ranges `"2026-10-01..2026-10-07"`.
    #[serde(default)]
    pub holidays: std::collections::BTreeMap<String, Vec<String>>,
    /// Weekend days of a country where they differ from the built-in table (Saturday and
    /// Sunday; Friday and Saturday in SA, KW, QA, BH, OM, EG, JO, IL, ...): `AE = ["sat", "sun"]`.
    #[serde(default)]
    pub weekends: std::collections::BTreeMap<String, Vec<String>>,
    /// A customer in the public pool contacted by a rep becomes that rep's customer.
    #[serde(default = "default_true")]
    pub claim_on_contact: bool,
    /// Pool customers one rep may claim per day (by contacting them).
    #[serde(default = "default_claim_limit")]
    pub claim_daily_limit: u32,
    /// Only contact this recent claims a pool customer or flags a conflict: older mail is
    /// history being backfilled.
    #[serde(default = "default_recent")]
    pub recent: String,
}

impl Default for FollowupConfig {
    fn default() -> Self {
        FollowupConfig {
            first_touch_days: default_first_touch(),
            reply_within_hours: default_reply_within(),
            no_reply_follow_up_days: default_no_reply(),
            outbound_only: false,
            overdue_after_days: default_overdue_after(),
            tiers: Default::default(),
            sweep_interval: default_sweep_interval(),
            mailbox_stalled_after: default_stalled_after(),
            group_rollup: false,
            business_days: false,
            utc_offset: default_utc_offset(),
            holidays: Default::default(),
            weekends: Default::default(),
            claim_on_contact: true,
            claim_daily_limit: default_claim_limit(),
            recent: default_recent(),
        }
    }
}

fn default_sweep_interval() -> String {
    "5m".into()
}
fn default_stalled_after() -> String {
    "6h".into()
}
fn default_utc_offset() -> String {
    "+00:00".into()
}
fn default_claim_limit() -> u32 {
    10
}
fn default_recent() -> String {
    "7d".into()
}

fn default_first_touch() -> i64 {
    3
}
fn default_reply_within() -> i64 {
    24
}
fn default_no_reply() -> i64 {
    7
}
fn default_overdue_after() -> i64 {
    1
}

/// `[followup.tiers.NAME]`: any field left out keeps the built-in value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierOverride {
    /// The tier's contact interval.
    #[serde(default)]
    pub interval_days: Option<i64>,
    /// "Due soon" starts this many days before the due date.
    #[serde(default)]
    pub warn_days: Option<i64>,
    /// Release an overdue customer to the public pool...
    #[serde(default)]
    pub release: Option<bool>,
    /// ... this many days after the due date.
    #[serde(default)]
    pub release_grace_days: Option<i64>,
}

/// A tier's policy, overrides applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierPolicy {
    pub interval_days: i64,
    pub warn_days: i64,
    pub release: bool,
    pub release_grace_days: i64,
}

/// Built-in tiers: VIP 30 days (never released), repeat 45, one-time 45, high-potential 7,
/// low-potential 90, new 3 (first touch).
pub const TIERS: &[(&str, TierPolicy)] = &[
    (
        "vip",
        TierPolicy {
            interval_days: 30,
            warn_days: 7,
            release: false,
            release_grace_days: 14,
        },
    ),
    (
        "repeat",
        TierPolicy {
            interval_days: 45,
            warn_days: 7,
            release: true,
            release_grace_days: 14,
        },
    ),
    (
        "one-time",
        TierPolicy {
            interval_days: 45,
            warn_days: 7,
            release: true,
            release_grace_days: 7,
        },
    ),
    (
        "high-potential",
        TierPolicy {
            interval_days: 7,
            warn_days: 2,
            release: true,
            release_grace_days: 3,
        },
    ),
    (
        "low-potential",
        TierPolicy {
            interval_days: 90,
            warn_days: 14,
            release: true,
            release_grace_days: 14,
        },
    ),
    (
        "new",
        TierPolicy {
            interval_days: 3,
            warn_days: 1,
            release: true,
            release_grace_days: 7,
        },
    ),
];

impl Config {
    /// How old a message may be and still become a lead.
    pub fn leads_max_age_ms(&self) -> i64 {
        positive_ms(&self.leads.max_age).unwrap_or(7 * 86_400_000)
    }
}

impl FollowupConfig {
    /// The sweep's interval (validated; 5 minutes if unreadable).
    pub fn sweep_interval_ms(&self) -> i64 {
        positive_ms(&self.sweep_interval).unwrap_or(300_000)
    }

    pub fn stalled_after_ms(&self) -> i64 {
        positive_ms(&self.mailbox_stalled_after).unwrap_or(6 * 3_600_000)
    }

    pub fn recent_ms(&self) -> i64 {
        positive_ms(&self.recent).unwrap_or(7 * 86_400_000)
    }

    /// The working calendar (validated; built-in weekends only if the config is unreadable).
    pub fn calendar(&self) -> crate::time::calendar::Calendar {
        crate::time::calendar::Calendar::new(
            self.business_days,
            &self.utc_offset,
            &self.holidays,
            &self.weekends,
        )
        .unwrap_or_default()
    }

    /// A digest of everything that decides a customer's state: when it changes, every stored
    /// state is judged again.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        let tiers: Vec<_> = TIERS
            .iter()
            .map(|(n, _)| (n.to_string(), self.tier(n)))
            .chain(self.tiers.keys().map(|n| (n.clone(), self.tier(n))))
            .collect();
        h.update(format!(
            "{} {} {} {} {} {:?} {} {} {} {:?} {:?} {}",
            self.first_touch_days,
            self.reply_within_hours,
            self.no_reply_follow_up_days,
            self.outbound_only,
            self.overdue_after_days,
            tiers,
            self.group_rollup,
            self.business_days,
            self.utc_offset,
            self.holidays,
            self.weekends,
            self.stalled_after_ms(),
        ));
        hex::encode(&h.finalize()[..8])
    }

    /// The policy of a tier (an unknown tier is treated as one-time).
    pub fn tier(&self, name: &str) -> TierPolicy {
        let base = TIERS
            .iter()
            .find(|(n, _)| *n == name)
            .or_else(|| TIERS.iter().find(|(n, _)| *n == "one-time"))
            .map(|(_, t)| *t)
            .expect("built-in tiers");
        match self.tiers.get(name) {
            Some(o) => TierPolicy {
                interval_days: o.interval_days.unwrap_or(base.interval_days),
                warn_days: o.warn_days.unwrap_or(base.warn_days),
                release: o.release.unwrap_or(base.release),
                release_grace_days: o.release_grace_days.unwrap_or(base.release_grace_days),
            },
            None => base,
        }
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
    pub header_timeout: String,
    /// A request must be answered within this time (503 otherwise).
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
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
        }
    }
}

/// The admin listener's address when `[http] admin_listen` is not set.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9477";

fn default_max_http_connections() -> usize {
    1024
}
fn default_header_timeout() -> String {
    "10s".into()
}
fn default_request_timeout() -> String {
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

    pub fn header_timeout(&self) -> std::time::Duration {
        duration(&self.header_timeout).unwrap_or(std::time::Duration::from_secs(10))
    }

    pub fn request_timeout(&self) -> std::time::Duration {
        duration(&self.request_timeout).unwrap_or(std::time::Duration::from_secs(30))
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
    pub poll_interval: String,
    /// Use IDLE when the server offers it (else poll).
    #[serde(default = "default_true")]
    pub idle: bool,
    /// Every network read and write must finish within this time, or the connection is
    /// dropped and opened again.
    #[serde(default = "default_imap_timeout")]
    pub timeout: String,
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

fn default_poll_interval() -> String {
    "60s".into()
}

fn default_imap_timeout() -> String {
    "60s".into()
}

fn default_true() -> bool {
    true
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
        duration(&self.poll_interval).unwrap_or(std::time::Duration::from_secs(60))
    }

    pub fn timeout(&self) -> std::time::Duration {
        duration(&self.timeout).unwrap_or(std::time::Duration::from_secs(60))
    }
}

fn positive_ms(s: &str) -> Option<i64> {
    crate::time::parse_duration_ms(s).filter(|ms| *ms > 0)
}

fn duration(s: &str) -> Option<std::time::Duration> {
    crate::time::parse_duration_ms(s)
        .filter(|ms| *ms > 0)
        .map(|ms| std::time::Duration::from_millis(ms as u64))
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

/// `[database]` (its `Debug` hides the URL's password).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created when missing) or `postgres://USER@HOST:PORT/DB` (several
    /// instances may share it). The environment variable `KEEPWARM_DATABASE_URL`, when set,
    /// replaces it; `url_env` / `url_file` read it from elsewhere so a password stays out of
    /// the file.
    #[serde(default = "default_db_url")]
    pub url: String,
    pub url_env: Option<String>,
    pub url_file: Option<PathBuf>,
    /// SQLite busy timeout / PostgreSQL connection wait, in milliseconds.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
    /// PostgreSQL connections per instance.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("url_env", &self.url_env)
            .field("url_file", &self.url_file)
            .field("busy_timeout_ms", &self.busy_timeout_ms)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: default_db_url(),
            url_env: None,
            url_file: None,
            busy_timeout_ms: default_busy_timeout_ms(),
            max_connections: default_max_connections(),
        }
    }
}

fn default_max_connections() -> u32 {
    10
}

fn default_db_url() -> String {
    "sqlite://keepwarm.db".to_string()
}

fn default_busy_timeout_ms() -> u64 {
    10_000
}

/// `[team]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    /// Our own mail domains (subdomains included): mail from them is outbound or internal.
    #[serde(default)]
    pub domains: Vec<String>,
    /// Free-mail domains in addition to the built-in list (gmail.com, qq.com, 163.com, ...).
    /// A free-mail domain never identifies a company.
    #[serde(default)]
    pub freemail_domains: Vec<String>,
    /// In a live mailbox's folders other than Sent, mail "from" a team address counts as ours
    /// (outbound contact, claims, conflicts) only when the receiving server proves it: its
    /// Authentication-Results (DMARC, aligned DKIM or SPF pass for our domain, or an
    /// authenticated submission) or a Received path that never left our servers. Otherwise it
    /// is kept as class `spoof` and moves no timer and no owner. `false` trusts the From header.
    #[serde(default = "default_true")]
    pub verify_senders: bool,
    /// The authserv-ids (the first word of an `Authentication-Results` header: `mx.google.com`,
    /// `mx.your-domain.com`) whose results are trusted. Empty: only the topmost such header,
    /// the one the receiving server adds, counts. Naming your servers here is safer.
    #[serde(default)]
    pub authserv_ids: Vec<String>,
}

/// `[[reps]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepConfig {
    /// Stable id used as customer owner (e.g. `zhao.lei`).
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Mail addresses of this rep (aliases included).
    #[serde(default)]
    pub emails: Vec<String>,
    /// WhatsApp numbers of this rep, any common format (normalized to E.164).
    #[serde(default)]
    pub whatsapp: Vec<String>,
    /// Share of new leads (3 and 2 and 1: five leads in six to the first two); 0 takes none.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Leads per day at most (none: no cap).
    #[serde(default)]
    pub daily_lead_cap: Option<u32>,
}

impl Default for TeamConfig {
    fn default() -> Self {
        TeamConfig {
            domains: Vec::new(),
            freemail_domains: Vec::new(),
            verify_senders: true,
            authserv_ids: Vec::new(),
        }
    }
}

fn default_weight() -> u32 {
    1
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
    pub message_budget: String,
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

fn default_message_budget() -> String {
    "10s".into()
}

impl IngestConfig {
    pub fn message_budget(&self) -> std::time::Duration {
        duration(&self.message_budget).unwrap_or(std::time::Duration::from_secs(10))
    }
}

fn default_batch_size() -> usize {
    1000
}

fn default_max_message_bytes() -> usize {
    64 << 20
}

/// One problem found in a config file: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path such as `reps[2].emails[0]`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Errors from loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot parse config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

impl Config {
    /// Load the config: the given file, else `keepwarm.toml` when present, else built-in defaults.
    /// The result is validated; any problem refuses the whole file.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => {
                let p = PathBuf::from(DEFAULT_CONFIG_FILE);
                if !p.exists() {
                    return Ok(Config::default());
                }
                p
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Config::from_toml(&text, &path)
    }

    /// Parse and validate config text; `path` only names the source in errors.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_toml_error(&e, text),
        })?;
        let mut problems = Vec::new();
        match std::env::var("KEEPWARM_DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => config.database.url = url.trim().to_string(),
            _ => {
                let db = &config.database;
                if db.url_env.is_some() || db.url_file.is_some() {
                    match read_secret(db.url_env.as_deref(), db.url_file.as_deref()) {
                        Ok(url) => config.database.url = url.expose().trim().to_string(),
                        Err(message) => problems.push(Problem {
                            path: if db.url_env.is_some() {
                                "database.url_env".into()
                            } else {
                                "database.url_file".into()
                            },
                            message: message.to_string(),
                        }),
                    }
                }
            }
        }
        problems.extend(config.validate());
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// Every problem in the tree, each with its key path. Empty means valid.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut add = |path: String, message: String| problems.push(Problem { path, message });

        if Backend::of_url(&self.database.url).is_none() {
            add(
                "database.url".into(),
                format!(
                    "unsupported database url {:?}: expected sqlite://PATH or postgres://USER@HOST/DB",
                    redact_url(&self.database.url)
                ),
            );
        }
        if self.database.url.starts_with("sqlite:")
            && self
                .database
                .url
                .trim_start_matches("sqlite:")
                .trim_start_matches("//")
                .is_empty()
        {
            add("database.url".into(), "sqlite url has no file path".into());
        }
        if let Some(h) = &self.cluster.heartbeat {
            match positive_ms(h) {
                None => add(
                    "cluster.heartbeat".into(),
                    format!("{h:?} is not a duration like \"10s\""),
                ),
                Some(ms) if ms * 2 > self.cluster.lease_ms() => add(
                    "cluster.heartbeat".into(),
                    format!(
                        "{h:?} must be at most half of cluster.lease ({:?}), or leases lapse between renewals",
                        self.cluster.lease
                    ),
                ),
                Some(_) => {}
            }
        }
        if let Some(id) = &self.cluster.instance
            && (id.trim().is_empty() || id.len() > 100 || id.contains(char::is_control))
        {
            add(
                "cluster.instance".into(),
                "must be a short printable name".into(),
            );
        }
        if self.database.max_connections < 2 {
            add(
                "database.max_connections".into(),
                "at least 2 (a writer and a lease heartbeat)".into(),
            );
        }
        for (i, d) in self.team.domains.iter().enumerate() {
            if let Err(e) = crate::address::normalize_domain(d) {
                add(format!("team.domains[{i}]"), e.to_string());
            }
        }
        for (i, d) in self.team.freemail_domains.iter().enumerate() {
            if let Err(e) = crate::address::normalize_domain(d) {
                add(format!("team.freemail_domains[{i}]"), e.to_string());
            }
        }
        let mut ids = std::collections::HashSet::new();
        let mut addrs = std::collections::HashMap::new();
        for (i, rep) in self.reps.iter().enumerate() {
            if rep.id.trim().is_empty() {
                add(format!("reps[{i}].id"), "must not be empty".into());
            } else if !ids.insert(rep.id.clone()) {
                add(
                    format!("reps[{i}].id"),
                    format!("duplicate rep id {:?}", rep.id),
                );
            }
            for (j, e) in rep.emails.iter().enumerate() {
                match crate::address::normalize_email(e) {
                    Ok(norm) => {
                        if let Some(other) = addrs.insert(norm.clone(), rep.id.clone())
                            && other != rep.id
                        {
                            add(
                                format!("reps[{i}].emails[{j}]"),
                                format!("{norm} is already an address of rep {other:?}"),
                            );
                        }
                    }
                    Err(err) => add(format!("reps[{i}].emails[{j}]"), err.to_string()),
                }
            }
            for (j, p) in rep.whatsapp.iter().enumerate() {
                if let Err(err) = crate::address::normalize_phone(p, None) {
                    add(format!("reps[{i}].whatsapp[{j}]"), err.to_string());
                }
            }
        }
        if let Some(dir) = &self.rules.dir
            && !dir.is_dir()
        {
            add(
                "rules.dir".into(),
                format!("{} is not a directory", dir.display()),
            );
        }
        if self.ingest.batch_size == 0 || self.ingest.batch_size > 50_000 {
            add(
                "ingest.batch_size".into(),
                "must be between 1 and 50000".into(),
            );
        }
        self.validate_imap(&mut add);
        if let Some(listen) = &self.http.listen
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            add(
                "http.listen".into(),
                format!("{listen:?} is not an address like \"0.0.0.0:8080\""),
            );
        }
        let h = &self.http;
        if let Some((admin, _)) = h.admin() {
            match admin.parse::<std::net::SocketAddr>() {
                Err(_) => add(
                    "http.admin_listen".into(),
                    format!("{admin:?} is not an address like \"127.0.0.1:9477\" (or \"off\")"),
                ),
                Ok(a)
                    if !a.ip().is_loopback()
                        && h.admin_token_env.is_none()
                        && h.admin_token_file.is_none() =>
                {
                    add(
                        "http.admin_listen".into(),
                        format!(
                            "{admin:?} is not a loopback address: set admin_token_env or admin_token_file so metrics and readiness need a token"
                        ),
                    )
                }
                Ok(_) => {}
            }
            if h.listen.as_deref() == Some(admin) {
                add(
                    "http.admin_listen".into(),
                    "must differ from http.listen: admin routes never share the public listener"
                        .into(),
                );
            }
        }
        if !(1..=100_000).contains(&h.max_connections) {
            add(
                "http.max_connections".into(),
                "must be between 1 and 100000".into(),
            );
        }
        for (key, value) in [
            ("http.header_timeout", &h.header_timeout),
            ("http.request_timeout", &h.request_timeout),
        ] {
            if duration(value).is_none() {
                add(
                    key.into(),
                    format!("{value:?} is not a duration like \"10s\""),
                );
            }
        }
        for (name, t) in &self.followup.tiers {
            for (key, v) in [
                ("interval_days", t.interval_days),
                ("warn_days", t.warn_days),
                ("release_grace_days", t.release_grace_days),
            ] {
                if v.is_some_and(|d| !(0..=3650).contains(&d)) {
                    add(
                        format!("followup.tiers.{name}.{key}"),
                        "must be between 0 and 3650 days".into(),
                    );
                }
            }
        }
        let f = &self.followup;
        for (key, value) in [
            ("followup.sweep_interval", &f.sweep_interval),
            ("followup.mailbox_stalled_after", &f.mailbox_stalled_after),
            ("followup.recent", &f.recent),
            ("leads.max_age", &self.leads.max_age),
            ("ingest.message_budget", &self.ingest.message_budget),
            ("cluster.lease", &self.cluster.lease),
        ] {
            if positive_ms(value).is_none() {
                add(
                    key.into(),
                    format!("{value:?} is not a duration like \"5m\", \"6h\" or \"7d\""),
                );
            }
        }
        for (key, v) in [
            ("followup.first_touch_days", f.first_touch_days),
            (
                "followup.no_reply_follow_up_days",
                f.no_reply_follow_up_days,
            ),
            ("followup.overdue_after_days", f.overdue_after_days),
        ] {
            if !(0..=3650).contains(&v) {
                add(key.into(), "must be between 0 and 3650 days".into());
            }
        }
        if !(1..=24 * 365).contains(&f.reply_within_hours) {
            add(
                "followup.reply_within_hours".into(),
                "must be between 1 and 8760 hours".into(),
            );
        }
        if let Err(calendar) = crate::time::calendar::Calendar::new(
            f.business_days,
            &f.utc_offset,
            &f.holidays,
            &f.weekends,
        ) {
            for (key, message) in calendar {
                add(key, message);
            }
        }
        for (i, rep) in self.reps.iter().enumerate() {
            if rep.weight > 1000 {
                add(
                    format!("reps[{i}].weight"),
                    "must be between 0 and 1000".into(),
                );
            }
        }
        if self.leads.enabled && self.reps.iter().all(|r| r.weight == 0) {
            add(
                "leads.enabled".into(),
                "lead routing needs at least one rep with a weight above 0".into(),
            );
        }
        let crm = &self.crm;
        for (i, r) in crm.retry.iter().enumerate() {
            if positive_ms(r).is_none() {
                add(
                    format!("crm.retry[{i}]"),
                    format!("{r:?} is not a duration like \"1m\" or \"2h\""),
                );
            }
        }
        if crm.retry.is_empty() {
            add("crm.retry".into(), "needs at least one step".into());
        }
        if positive_ms(&crm.expire).is_none() {
            add(
                "crm.expire".into(),
                format!("{:?} is not a duration like \"3d\"", crm.expire),
            );
        }
        if positive_ms(&crm.reject_grace).is_none() {
            add(
                "crm.reject_grace".into(),
                format!("{:?} is not a duration like \"1h\"", crm.reject_grace),
            );
        }
        if !(1..=1024).contains(&crm.concurrency) {
            add(
                "crm.concurrency".into(),
                "must be between 1 and 1024".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for (i, w) in crm.webhooks.iter().enumerate() {
            let key = |k: &str| format!("crm.webhooks[{i}].{k}");
            if w.name.trim().is_empty() || !names.insert(w.name.clone()) {
                add(
                    key("name"),
                    format!("{:?} must be unique and not empty", w.name),
                );
            }
            if let Err(why) = secure_url(&w.url) {
                add(key("url"), why.to_string());
            }
            if w.secret_env.is_none() && w.secret_file.is_none() {
                add(
                    key("secret_env"),
                    "a signing secret is required (secret_env or secret_file)".into(),
                );
            }
            if duration(&w.timeout).is_none() {
                add(key("timeout"), format!("{:?} is not a duration", w.timeout));
            }
        }
        for (key, value) in [
            ("retention.failure_raw", &self.retention.failure_raw),
            ("retention.chat_raw", &self.retention.chat_raw),
        ] {
            if let Some(v) = value
                && positive_ms(v).is_none()
            {
                add(key.into(), format!("{v:?} is not a duration like \"30d\""));
            }
        }
        if self.ingest.max_message_bytes < 1024 {
            add(
                "ingest.max_message_bytes".into(),
                "must be at least 1024".into(),
            );
        }
        problems
    }
}

impl Config {
    /// The secrets the config names (IMAP passwords, OAuth2 client secrets and refresh tokens):
    /// every one that cannot be read, with its key path. Checked by `check-config` and before
    /// a mailbox is opened, not by every command (importing customers needs no mail password).
    pub fn secret_problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut check = |path: String, env: &Option<String>, file: &Option<PathBuf>| {
            if (env.is_some() || file.is_some())
                && let Err(message) = read_secret(env.as_deref(), file.as_deref())
            {
                problems.push(Problem {
                    path,
                    message: message.to_string(),
                });
            }
        };
        let w = &self.whatsapp;
        check(
            "whatsapp.app_secret_env".into(),
            &w.app_secret_env,
            &w.app_secret_file,
        );
        check(
            "whatsapp.verify_token_env".into(),
            &w.verify_token_env,
            &w.verify_token_file,
        );
        check(
            "api.tokens_env".into(),
            &self.api.tokens_env,
            &self.api.tokens_file,
        );
        check(
            "http.admin_token_env".into(),
            &self.http.admin_token_env,
            &self.http.admin_token_file,
        );
        for (i, w) in self.crm.webhooks.iter().enumerate() {
            check(
                format!("crm.webhooks[{i}].secret_env"),
                &w.secret_env,
                &w.secret_file,
            );
            check(
                format!("crm.webhooks[{i}].previous_secret_env"),
                &w.previous_secret_env,
                &w.previous_secret_file,
            );
        }
        for (i, a) in self.imap.iter().enumerate() {
            check(
                format!("imap[{i}].password_env"),
                &a.password_env,
                &a.password_file,
            );
            if let Some(o) = &a.oauth2 {
                check(
                    format!("imap[{i}].oauth2.client_secret_env"),
                    &o.client_secret_env,
                    &o.client_secret_file,
                );
                check(
                    format!("imap[{i}].oauth2.refresh_token_env"),
                    &o.refresh_token_env,
                    &o.refresh_token_file,
                );
            }
        }
        problems
    }

    fn validate_imap(&self, add: &mut impl FnMut(String, String)) {
        let mut names = std::collections::HashSet::new();
        for (i, a) in self.imap.iter().enumerate() {
            let at = |k: &str| format!("imap[{i}].{k}");
            if a.name.trim().is_empty() || a.name.contains(['/', ' ']) {
                add(
                    at("name"),
                    "must be a non-empty name without spaces or slashes".into(),
                );
            } else if !names.insert(a.name.clone()) {
                add(at("name"), format!("duplicate account name {:?}", a.name));
            }
            if a.host.trim().is_empty() {
                add(at("host"), "must not be empty".into());
            }
            if a.tls == TlsMode::None && !is_loopback_host(&a.host) {
                add(
                    at("tls"),
                    format!(
                        "\"none\" sends the password in clear text: only allowed for a loopback host, not {:?}",
                        a.host
                    ),
                );
            }
            if let Some(ca) = &a.ca_file
                && !ca.is_file()
            {
                add(at("ca_file"), format!("{} is not a file", ca.display()));
            }
            if a.username.trim().is_empty() {
                add(at("username"), "must not be empty".into());
            }
            let password = a.password_env.is_some() || a.password_file.is_some();
            match (&a.oauth2, password) {
                (Some(_), true) => add(
                    at("oauth2"),
                    "give either a password (password_env / password_file) or oauth2, not both"
                        .into(),
                ),
                (None, false) => add(
                    at("password_env"),
                    "no credentials: set password_env, password_file or [imap.oauth2]".into(),
                ),
                (None, true) => {
                    if a.password_env.is_some() && a.password_file.is_some() {
                        add(
                            at("password_env"),
                            "give either password_env or password_file, not both".into(),
                        );
                    }
                }
                (Some(o), false) => {
                    let at = |k: &str| format!("imap[{i}].oauth2.{k}");
                    match (&o.provider, &o.token_url) {
                        (Some(p), None) if !matches!(p.as_str(), "google" | "microsoft") => add(
                            at("provider"),
                            format!("unknown provider {p:?}: google, microsoft, or give token_url"),
                        ),
                        (None, None) => add(
                            at("token_url"),
                            "set provider (google, microsoft) or token_url".into(),
                        ),
                        _ => {}
                    }
                    if let Some(url) = &o.token_url
                        && let Err(why) = secure_url(url)
                    {
                        add(at("token_url"), why.to_string());
                    }
                    if o.client_id.trim().is_empty() {
                        add(at("client_id"), "must not be empty".into());
                    }
                    if o.client_secret_env.is_some() && o.client_secret_file.is_some() {
                        add(
                            at("client_secret_env"),
                            "give either client_secret_env or client_secret_file, not both".into(),
                        );
                    }
                    match (&o.refresh_token_env, &o.refresh_token_file) {
                        (None, None) => add(
                            at("refresh_token_env"),
                            "set refresh_token_env or refresh_token_file".into(),
                        ),
                        (Some(_), Some(_)) => add(
                            at("refresh_token_env"),
                            "give either refresh_token_env or refresh_token_file, not both".into(),
                        ),
                        _ => {}
                    }
                }
            }
            if let Some(rep) = &a.rep
                && !self.reps.iter().any(|r| &r.id == rep)
            {
                add(at("rep"), format!("no [[reps]] entry has id {rep:?}"));
            }
            if a.backfill != "all" && a.backfill_ms().is_none_or(|ms| ms <= 0) {
                add(
                    at("backfill"),
                    format!("{:?} is not a duration like \"90d\" or \"all\"", a.backfill),
                );
            }
            if duration(&a.poll_interval).is_none() {
                add(
                    at("poll_interval"),
                    format!("{:?} is not a duration like \"60s\"", a.poll_interval),
                );
            }
            if duration(&a.timeout).is_none() {
                add(
                    at("timeout"),
                    format!("{:?} is not a duration like \"60s\"", a.timeout),
                );
            }
            for (j, f) in a.folders.iter().enumerate() {
                if f.trim().is_empty() {
                    add(
                        format!("imap[{i}].folders[{j}]"),
                        "must not be empty".into(),
                    );
                }
            }
        }
    }
}

fn describe_toml_error(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())]
                .bytes()
                .filter(|b| *b == b'\n')
                .count()
                + 1;
            let snippet = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line}: {msg} (at `{snippet}`)")
        }
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml(text, Path::new("test.toml"))
    }

    #[test]
    fn defaults_without_file_content() {
        let c = parse("").unwrap();
        assert_eq!(c.database.url, "sqlite://keepwarm.db");
        assert!(c.team.domains.is_empty());
        assert_eq!(c.ingest.batch_size, 1000);
    }

    #[test]
    fn full_example_parses() {
        let c = parse(
            r#"
            [database]
            url = "sqlite://x.db"
            [team]
            domains = ["sinoexport.example"]
            freemail_domains = ["mail.example"]
            [[reps]]
            id = "zhao.lei"
            emails = ["Zhao.Lei@SinoExport.example"]
            whatsapp = ["+86 139 5740 0001"]
            "#,
        )
        .unwrap();
        assert_eq!(c.reps[0].id, "zhao.lei");
        assert_eq!(c.team.domains, vec!["sinoexport.example"]);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let err = parse("[team]\ndomains = []\ndomain = \"x\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("test.toml"), "{text}");
        assert!(text.contains("line 3"), "{text}");
        assert!(text.contains("unknown field `domain`"), "{text}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let err = parse(
            r#"
            [database]
            url = "mysql://u:secret@h/db"
            [team]
            domains = ["not a domain"]
            [[reps]]
            id = "a"
            emails = ["nope"]
            [[reps]]
            id = "a"
            whatsapp = ["12"]
            [ingest]
            batch_size = 0
            "#,
        )
        .unwrap_err();
        let ConfigError::Invalid { problems, .. } = &err else {
            panic!("expected invalid, got {err}");
        };
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "database.url",
                "team.domains[0]",
                "reps[0].emails[0]",
                "reps[1].id",
                "reps[1].whatsapp[0]",
                "ingest.batch_size"
            ]
        );
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn follow_up_and_lead_problems_name_their_keys() {
        let err = parse(
            "[[reps]]\nid = \"a\"\nweight = 0\n[leads]\nenabled = true\nmax_age = \"soon\"\n\
             [followup]\nsweep_interval = \"0m\"\nutc_offset = \"CET\"\nreply_within_hours = 0\n\
             [followup.holidays]\nCN = [\"2027-02-30\"]\n",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "leads.max_age",
            "leads.enabled",
            "followup.sweep_interval",
            "followup.utc_offset",
            "followup.reply_within_hours",
            "followup.holidays.CN",
        ] {
            assert!(err.contains(key), "{key} missing in: {err}");
        }
    }

    #[test]
    fn same_address_for_two_reps_is_a_problem() {
        let err = parse(
            "[[reps]]\nid = \"a\"\nemails = [\"x@t.example\"]\n[[reps]]\nid = \"b\"\nemails = [\"X@T.example\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("reps[1].emails[0]"), "{err}");
    }

    #[test]
    fn only_https_or_loopback_http_urls() {
        assert!(secure_url("https://oauth2.googleapis.com/token").is_ok());
        assert!(secure_url("http://127.0.0.1:8080/token").is_ok());
        assert!(secure_url("http://localhost/token").is_ok());
        assert!(secure_url("http://[::1]:9/token").is_ok());
        assert!(secure_url("http://localhost:80@elsewhere.example/token").is_err());
        assert!(secure_url("http://127.0.0.1.evil.example/token").is_err());
        assert!(secure_url("http://token.example/token").is_err());
        assert!(secure_url("ftp://localhost/token").is_err());
        let err = parse(
            "[[imap]]\nname = \"a\"\nhost = \"imap.example\"\nusername = \"u\"\n\
             [imap.oauth2]\ntoken_url = \"http://localhost:80@elsewhere.example/\"\n\
             client_id = \"c\"\nrefresh_token_env = \"R\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("imap[0].oauth2.token_url"), "{err}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        let mut c = parse("").unwrap();
        c.database.url = "postgres://kw:hunter2@db.example/kw?password=hunter2".into();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:pw@host/db"),
            "postgres://u:***@host/db"
        );
        assert_eq!(redact_url("sqlite://a.db"), "sqlite://a.db");
        assert_eq!(
            redact_url("postgres://u@host/db?sslmode=verify-full&password=hunter2"),
            "postgres://u@host/db?sslmode=verify-full&password=***"
        );
        assert_eq!(
            redact_url("https://crm.example/hook?token=abc&x=1"),
            "https://crm.example/hook?token=***&x=***"
        );
        assert_eq!(
            redact_url("https://user:pw@crm.example/hook"),
            "https://user:***@crm.example/hook"
        );
        assert_eq!(
            redact_url("sqlite://kw.db?mode=rwc"),
            "sqlite://kw.db?mode=rwc"
        );
    }
}

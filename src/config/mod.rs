//! The configuration tree: one strict TOML file, validated as a whole before anything starts.
//!
//! Every field's doc comment is the reference for `config.example.toml`. Unknown keys are
//! rejected by serde; `validate()` (in `validate.rs`) collects every remaining problem with its
//! key path so an operator fixes them all in one round. Sections by role: `policy.rs` (team,
//! follow-up, leads), `services.rs` (HTTP, API, WhatsApp, CRM, cluster, retention),
//! `sources.rs` (IMAP, ingest, rules), `secrets.rs` (secrets and URLs).

mod policy;
mod secrets;
mod services;
mod sources;
mod span;
mod validate;

pub use policy::*;
pub use secrets::{
    Secret, SecretError, UrlError, is_loopback_host, read_secret, redact_url, secure_url,
};
pub use services::*;
pub use sources::*;
pub use span::Span;

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
    #[serde(default)]
    pub board: BoardConfig,
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
    /// The public pool: when releases start.
    #[serde(default)]
    pub pool: PoolConfig,
    /// `[[pools]]`: several pools, by region, product line or team (default: one, `public`).
    #[serde(default)]
    pub pools: Vec<PoolDef>,
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

fn default_true() -> bool {
    true
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
    fn ownership_problems_name_their_keys() {
        let err = parse(
            "[[reps]]\nid = \"a\"\njoined = \"last spring\"\npools = [\"asia\"]\n\
             [[pools]]\nname = \"gulf\"\ncountries = [\"UAE\"]\ntiers = [\"gold\"]\nowners = [\"zed\"]\n\
             [[pools]]\nname = \"gulf\"\ncountries = [\"SA\"]\n\
             [pool]\nclaim_daily_limit = 3\nrelease_embargo = \"soon\"\n\
             [followup]\nclaim_daily_limit = 5\n",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "reps[0].joined",
            "reps[0].pools[0]",
            "pools[0].countries[0]",
            "pools[0].tiers[0]",
            "pools[0].owners[0]",
            "pools[1].name",
            "pools:",
            "pool.release_embargo",
            "followup.claim_daily_limit",
        ] {
            assert!(err.contains(key), "{key} missing in: {err}");
        }
        // The older key alone still sets the daily claim limit.
        let old = parse("[followup]\nclaim_daily_limit = 5\n").unwrap();
        assert_eq!(old.claim_daily_limit(), Some(5));
        assert_eq!(parse("").unwrap().claim_daily_limit(), None);
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
    fn every_span_is_read_at_load_and_every_bad_one_named_at_once() {
        let err = parse(
            "[leads]\nmax_age = \"x\"\n\
             [followup]\nsweep_interval = \"x\"\nmailbox_stalled_after = \"x\"\nrecent = \"x\"\n\
             [ingest]\nmessage_budget = \"x\"\n\
             [cluster]\nlease = \"x\"\nheartbeat = \"x\"\n\
             [crm]\nretry = [\"1m\", \"x\"]\nexpire = \"x\"\nreject_grace = \"x\"\n\
             [http]\nheader_timeout = \"x\"\nrequest_timeout = \"0s\"\n\
             [retention]\nfailure_raw = \"x\"\nchat_raw = \"99999999999999999999d\"\n",
        )
        .unwrap_err()
        .to_string();
        for key in [
            "leads.max_age",
            "followup.sweep_interval",
            "followup.mailbox_stalled_after",
            "followup.recent",
            "ingest.message_budget",
            "cluster.lease",
            "cluster.heartbeat",
            "crm.retry[1]",
            "crm.expire",
            "crm.reject_grace",
            "http.header_timeout",
            "http.request_timeout",
            "retention.failure_raw",
            "retention.chat_raw",
        ] {
            assert!(err.contains(key), "{key} missing in: {err}");
        }
        // A loaded config holds each span read once, no default restated where it is used.
        let c = parse("[followup]\nsweep_interval = \"90s\"\n[crm]\nretry = [\"1m\", \"2h\"]\n")
            .unwrap();
        assert_eq!(c.followup.sweep_interval_ms(), 90_000);
        assert_eq!(c.crm.retry_ms(), vec![60_000, 7_200_000]);
        assert_eq!(c.crm.expire_ms(), 3 * 86_400_000);
        assert_eq!(c.imap.len(), 0);
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

//! The command line: clap definitions and the dispatch; each command group in its own module
//! (`mail`, `customers`, `board`, `rules`, `privacy`), shared table helpers in `table`.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::store::Db;

mod board;
mod customers;
mod mail;
mod ownership;
mod privacy;
mod rules;
mod table;
mod users;

pub use board::OutboxCmd;
pub use customers::CustomersCmd;
pub use mail::IngestCmd;
pub use rules::RulesCmd;

#[derive(Debug, Parser)]
#[command(
    name = "keepwarm",
    version,
    about = "Keeps customer follow-up timers true from real mail and chat"
)]
pub struct Cli {
    /// Config file (default: keepwarm.toml in the working directory, else built-in defaults).
    #[arg(long, global = true, env = "KEEPWARM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The daemon: syncs every configured mailbox and keeps it live (IDLE or polling), keeps
    /// the rules current (re-read on change and on SIGHUP), until SIGTERM or Ctrl-C.
    Run,
    /// Bring every configured mailbox up to date, then exit (for cron and benchmarks).
    Sync {
        /// Sync once and exit (the only mode: `keepwarm run` is the live one).
        #[arg(long)]
        once: bool,
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
        /// `json`: one summary object on stdout instead of a line per folder (for scripts and
        /// benchmarks).
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The follow-up board: per owner, most urgent first: state, deadlines, top tags and their
    /// next steps. Judged at `--at` (RFC 3339) or now, deterministically.
    Followups {
        #[arg(long)]
        at: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// Only customers in this state.
        #[arg(long, value_enum)]
        state: Option<board::StateArg>,
        /// The language of the next steps (advice to the reader): en, zh, ... (default:
        /// `[team] language`, else en).
        #[arg(long)]
        lang: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Judge every customer whose next deadline has passed: store the state, write
    /// followup.due / followup.overdue events, release overdue customers to the pool (what
    /// `keepwarm run` does every `followup.sweep_interval`). `--at` moves the policy's clock.
    Sweep {
        #[arg(long)]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Drop raw content past `[retention]` now (the daemon does it hourly).
    Retention,
    /// The pools: customers without an owner, which pool, when and why they were released;
    /// `pool claim` and `pool release` change them.
    Pool {
        #[command(subcommand)]
        action: Option<ownership::PoolCmd>,
        /// Ownership changes (released, claimed, assigned) instead, newest first, with who.
        #[arg(long)]
        history: bool,
        /// Only the pools this rep is a member of.
        #[arg(long)]
        rep: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The monthly review: per owner, high-potential customers followed 45+ days without
    /// signing, the month's lost deals with their reason, releases, claims, assignments,
    /// conflicts, and overdue customers per tier (at the month's end, or now).
    Review {
        /// YYYY-MM (default: the current month).
        #[arg(long)]
        month: Option<String>,
        /// Judge as if it were this moment (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The outbox: events written for the CRM.
    #[command(subcommand)]
    Outbox(OutboxCmd),
    /// Mailbox health: last successful sync, last error, consecutive failures, messages behind.
    Status {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Apply pending database migrations.
    Migrate,
    /// Check the config file and print every problem.
    CheckConfig,
    /// Customer directory.
    #[command(subcommand)]
    Customers(CustomersCmd),
    /// One-shot ingestion of saved mail.
    #[command(subcommand)]
    Ingest(IngestCmd),
    /// List stored messages.
    Messages {
        #[arg(long, value_enum, default_value_t = MessageFormat::Table)]
        format: MessageFormat,
        /// Only this customer's messages.
        #[arg(long)]
        customer: Option<String>,
    },
    /// Senders that matched no customer (candidates for leads).
    Unknown {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Inputs that could not be parsed, with the reason.
    Failures {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Trait rules: check, try and evaluate them.
    #[command(subcommand)]
    Rules(RulesCmd),
    /// The people who use the board and the API: reps, managers, admins.
    #[command(subcommand)]
    Users(users::UsersCmd),
    /// API tokens: each belongs to a user and carries its role and scope.
    #[command(subcommand)]
    Tokens(users::TokensCmd),
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum MessageFormat {
    Table,
    Jsonl,
}

/// A command that has said what it had to and ends with this exit status (main prints
/// nothing more): `customers import` exits 2 when a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

/// Run the parsed command.
pub async fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Run => Ok(crate::daemon::run(config).await?),
        Command::Sync {
            once,
            account,
            format,
        } => {
            if !once {
                anyhow::bail!("`keepwarm sync` needs --once (the live sync is `keepwarm run`)");
            }
            mail::sync_once(config, account.as_deref(), format).await
        }
        Command::Status { format } => mail::status(&config, format).await,
        Command::Sweep { at, format } => board::sweep(&config, at.as_deref(), format).await,
        Command::Pool {
            action: Some(cmd), ..
        } => ownership::pool(&config, cmd).await,
        Command::Pool {
            action: None,
            history,
            rep,
            format,
        } => board::pool(&config, history, rep.as_deref(), format).await,
        Command::Review { month, at, format } => {
            ownership::review(&config, month.as_deref(), at.as_deref(), format).await
        }
        Command::Outbox(cmd) => board::outbox(&config, cmd).await,
        Command::Followups {
            at,
            owner,
            state,
            lang,
            format,
        } => {
            let lang = table::reader_lang(&config, lang.as_deref())?;
            board::followups(
                &config,
                at.as_deref(),
                owner.as_deref(),
                state,
                &lang,
                format,
            )
            .await
        }
        Command::CheckConfig => {
            let problems = config.secret_problems();
            if !problems.is_empty() {
                for p in &problems {
                    eprintln!("  - {p}");
                }
                anyhow::bail!("{} secret(s) cannot be read", problems.len());
            }
            println!("config OK");
            Ok(())
        }
        Command::Migrate => {
            let db = Db::connect(&config.database).await?;
            let n = db.migrate().await?;
            println!("migrations applied: {n}");
            Ok(())
        }
        Command::Customers(cmd) => customers::run(&config, cmd).await,
        Command::Retention => privacy::retention(&config).await,
        Command::Ingest(cmd) => mail::ingest_cmd(&config, cmd).await,
        Command::Messages { format, customer } => {
            mail::messages(&config, format, customer.as_deref()).await
        }
        Command::Unknown { format } => customers::unknown(&config, format).await,
        Command::Failures { format } => mail::failures(&config, format).await,
        Command::Rules(cmd) => rules::run(&config, cmd).await,
        Command::Users(cmd) => users::users(&config, cmd).await,
        Command::Tokens(cmd) => users::tokens(&config, cmd).await,
    }
}

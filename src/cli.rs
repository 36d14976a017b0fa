//! The command line: clap definitions and one small function per subcommand.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::pipeline::{self, RunReport};
use crate::store::{self, Db};

mod privacy;

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
        /// ok, due-soon, due, overdue, released
        #[arg(long)]
        state: Option<String>,
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
    /// The public pool: customers without an owner, when and why they were released.
    Pool {
        /// Ownership changes (released, claimed) instead, newest first.
        #[arg(long)]
        history: bool,
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
}

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Events in the order they were written; with --state, deliveries to the CRM webhooks in
    /// that state (pending, delivered, rejected, dead), newest first.
    List {
        /// Only events of this kind (e.g. lead.assigned).
        #[arg(long)]
        kind: Option<String>,
        /// Deliveries in this state instead of events.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
        #[arg(long, value_enum, default_value_t = MessageFormat::Table)]
        format: MessageFormat,
    },
    /// Send an event again to every webhook (its id or sequence number), or every dead delivery.
    Replay {
        event: Option<String>,
        #[arg(long)]
        dead: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCmd {
    /// Check rule files; every problem with file:line, non-zero exit on any.
    Check {
        /// A rules directory (default: [rules] dir of the config, else the built-in pack).
        dir: Option<PathBuf>,
    },
    /// Show the hits, evidence and next steps for one .eml file, a text file, or - (stdin).
    Test {
        file: PathBuf,
        /// Print only the words the rules read: the sender's own text, quotes, signature and
        /// disclaimer removed (a plain-text or HTML file is stripped the same way).
        #[arg(long)]
        own_words: bool,
    },
    /// Run the current rules over the stored messages and show which customers would gain or
    /// lose which tags, before the rules go live.
    Backtest {
        /// A rules directory to try (default: the configured rules).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Judge tag expiry at this moment (RFC 3339) instead of now.
        #[arg(long)]
        at: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Per-tag precision, recall and F1 against a labeled corpus.
    Eval {
        #[arg(long, required_unless_present = "feedback")]
        maildir: Option<PathBuf>,
        #[arg(long, required_unless_present = "feedback")]
        labels: Option<PathBuf>,
        #[arg(long, required_unless_present = "feedback")]
        customers: Option<PathBuf>,
        /// Instead of a labeled corpus: how reps answered the suggestions in the CRM, per rule
        /// (accepted, dismissed, acceptance rate), from the stored feedback.
        #[arg(long)]
        feedback: bool,
        /// WhatsApp webhook bodies (evaluated once the WhatsApp source exists).
        #[arg(long)]
        whatsapp: Option<PathBuf>,
        /// Print every false positive and false negative with its evidence.
        #[arg(long)]
        verbose: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomersCmd {
    /// Import (upsert by id) a CSV: id,name,group,tier,owner,emails,domains,phones,country.
    /// Every owner or tier it sets or changes is recorded with your user name (and --reason).
    Import {
        file: PathBuf,
        /// Why (kept with each change of owner or tier).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Everything stored about one customer, as JSON on stdout: the customer, identities,
    /// messages with their sightings and tag hits, tags, feedback, lead, pool and change
    /// history, events and their deliveries.
    Export { id: String },
    /// Erase one customer on request: the customer, identities, tags, histories, the messages
    /// about it (also unmatched ones from its addresses and numbers) and the events naming it.
    /// Only the fact is kept (who, when, why, how many rows). Cannot be undone.
    Erase {
        id: String,
        /// Why (kept with the record of the erasure).
        #[arg(long)]
        reason: String,
        /// Confirm: nothing is erased without it.
        #[arg(long)]
        yes: bool,
    },
    /// Changes of owner and tier made by people (CLI, import, API): who, when, why; and the
    /// policy's releases and claims.
    History {
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// All customers with their contact times, least recently contacted first.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// One customer in detail.
    Show {
        id: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
pub enum IngestCmd {
    /// A Maildir (cur/ and new/, plus Maildir++ subfolders such as .Sent); files are never modified.
    Maildir {
        dir: PathBuf,
        /// The rep this mailbox belongs to.
        #[arg(long)]
        rep: Option<String>,
        /// Treat it like a live mailbox: mail "from" a team address outside the Sent folder
        /// counts as ours only when its Authentication-Results or Received path prove it
        /// (otherwise it is kept as a spoof). Off: an archive you import is trusted.
        #[arg(long)]
        verify_senders: bool,
    },
    /// An mbox file.
    Mbox {
        file: PathBuf,
        #[arg(long)]
        rep: Option<String>,
        /// As for a Maildir (not for a file named like a Sent folder).
        #[arg(long)]
        verify_senders: bool,
    },
    /// Saved WhatsApp Cloud API webhook bodies (JSON files, or directories of them).
    Whatsapp {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
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

/// Run the parsed command.
/// A command that has said what it had to and ends with this exit status (main prints
/// nothing more): `customers import` exits 2 when a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

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
            sync_once(config, account.as_deref(), format).await
        }
        Command::Status { format } => status(&config, format).await,
        Command::Sweep { at, format } => {
            let now = at_or_now(at.as_deref())?;
            let db = Db::open(&config.database).await?;
            let report = crate::followup::sweep::sweep(&db, &config, now, store::now_ms()).await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "judged {}, due {}, overdue {}, released {}, releases held {} ({:.2}s)",
                    report.judged,
                    report.due,
                    report.overdue,
                    report.released,
                    report.frozen,
                    report.elapsed_secs
                );
            }
            Ok(())
        }
        Command::Pool { history, format } => pool(&config, history, format).await,
        Command::Outbox(OutboxCmd::List {
            kind,
            state: Some(state),
            limit,
            format,
        }) => {
            if kind.is_some() {
                bail!("--kind lists events, --state deliveries: give one of them");
            }
            deliveries_list(&config, &state, limit, format).await
        }
        Command::Outbox(OutboxCmd::List {
            kind,
            state: None,
            limit,
            format,
        }) => outbox_list(&config, kind.as_deref(), limit, format).await,
        Command::Outbox(OutboxCmd::Replay { event, dead }) => {
            if event.is_none() && !dead {
                bail!("say which event to send again (its id), or --dead for every dead delivery");
            }
            let db = Db::open(&config.database).await?;
            let n = store::outbox::replay(&db, event.as_deref(), dead, store::now_ms()).await?;
            println!("{n} deliveries queued again");
            if n == 0 && event.is_some() {
                bail!("no delivery of that event");
            }
            Ok(())
        }
        Command::Followups {
            at,
            owner,
            state,
            format,
        } => {
            let now = at_or_now(at.as_deref())?;
            let state = match state.as_deref() {
                Some(s) => Some(crate::followup::policy::State::parse(s).ok_or_else(|| {
                    anyhow::anyhow!("--state {s:?}: one of ok, due-soon, due, overdue, released")
                })?),
                None => None,
            };
            followups(&config, now, owner.as_deref(), state, format).await
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
        Command::Customers(CustomersCmd::Import { file, reason }) => {
            customers_import(&config, &file, reason).await
        }
        Command::Customers(CustomersCmd::Export { id }) => privacy::export(&config, &id).await,
        Command::Customers(CustomersCmd::Erase { id, reason, yes }) => {
            privacy::erase(&config, &id, reason, yes).await
        }
        Command::Customers(CustomersCmd::History { id, format }) => {
            privacy::history(&config, &id, format).await
        }
        Command::Retention => privacy::retention(&config).await,
        Command::Customers(CustomersCmd::List { format }) => customers_list(&config, format).await,
        Command::Customers(CustomersCmd::Show { id, format }) => {
            customers_show(&config, &id, format).await
        }
        Command::Ingest(IngestCmd::Maildir {
            dir,
            rep,
            verify_senders,
        }) => {
            check_rep(&config, rep.as_deref())?;
            let source = crate::source::maildir::read(&dir, rep, verify_senders)
                .with_context(|| format!("cannot read Maildir {}", dir.display()))?;
            ingest(&config, source).await
        }
        Command::Ingest(IngestCmd::Mbox {
            file,
            rep,
            verify_senders,
        }) => {
            check_rep(&config, rep.as_deref())?;
            let source = crate::source::mbox::read(&file, rep, verify_senders)
                .with_context(|| format!("cannot read mbox {}", file.display()))?;
            ingest(&config, source).await
        }
        Command::Ingest(IngestCmd::Whatsapp { paths }) => {
            let items = crate::source::whatsapp::read_paths(&paths)
                .context("cannot read the WhatsApp bodies")?;
            ingest(&config, items.into_iter()).await
        }
        Command::Messages { format, customer } => {
            messages(&config, format, customer.as_deref()).await
        }
        Command::Unknown { format } => unknown(&config, format).await,
        Command::Failures { format } => failures(&config, format).await,
        Command::Rules(RulesCmd::Check { dir }) => rules_check(&config, dir.as_deref()),
        Command::Rules(RulesCmd::Test { file, own_words }) => rules_test(&config, &file, own_words),
        Command::Rules(RulesCmd::Backtest { dir, at, format }) => {
            let now = match at {
                Some(t) => chrono::DateTime::parse_from_rfc3339(&t)
                    .with_context(|| format!("--at {t:?} is not an RFC 3339 time"))?
                    .timestamp_millis(),
                None => store::now_ms(),
            };
            rules_backtest(&config, dir.as_deref(), now, format).await
        }
        Command::Rules(RulesCmd::Eval {
            feedback: true,
            format,
            ..
        }) => {
            let db = Db::open(&config.database).await?;
            let rows = store::customers::feedback_by_rule(&db).await?;
            if format == Format::Json {
                let json: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|(rule, a, d)| {
                        serde_json::json!({"rule": rule, "accepted": a, "dismissed": d,
                            "acceptance": *a as f64 / (*a + *d).max(1) as f64})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json)?);
                return Ok(());
            }
            println!(
                "{:<48} {:>8} {:>9} {:>10}",
                "RULE", "ACCEPTED", "DISMISSED", "ACCEPTANCE"
            );
            for (rule, a, d) in &rows {
                println!(
                    "{} {a:>8} {d:>9} {:>9.0}%",
                    cell(rule, 48),
                    100.0 * *a as f64 / (*a + *d).max(1) as f64
                );
            }
            println!("{} rules with feedback", rows.len());
            Ok(())
        }
        Command::Rules(RulesCmd::Eval {
            maildir: Some(maildir),
            labels: Some(labels),
            customers: Some(customers),
            whatsapp,
            verbose,
            format,
            ..
        }) => {
            let report =
                crate::eval::run(&config, &maildir, &labels, &customers, whatsapp.as_deref())
                    .await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render(verbose));
            }
            Ok(())
        }
        Command::Rules(RulesCmd::Eval { .. }) => {
            bail!("rules eval needs --maildir, --labels and --customers (or --feedback)")
        }
    }
}

/// Load the configured rules, or fail with every problem.
pub fn load_rules(config: &Config) -> Result<Arc<crate::rules::RuleSet>> {
    crate::rules::load_or_explain(config.rules.dir.as_deref())
        .map(Arc::new)
        .map_err(anyhow::Error::from)
}

fn rules_check(config: &Config, dir: Option<&Path>) -> Result<()> {
    let dir = dir.or(config.rules.dir.as_deref());
    match crate::rules::load(dir) {
        Ok(set) => {
            let terms: usize = set
                .rules
                .iter()
                .map(|r| r.keywords.len() + r.patterns.len())
                .sum();
            println!(
                "rules OK: {} tags, {} keywords and patterns, version {} ({})",
                set.rules.len(),
                terms,
                set.version,
                dir.map(|d| d.display().to_string())
                    .unwrap_or_else(|| "built-in pack".into())
            );
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            bail!("{} problem(s) in the rules", problems.len())
        }
    }
}

async fn rules_backtest(
    config: &Config,
    dir: Option<&Path>,
    now: i64,
    format: Format,
) -> Result<()> {
    let dir = dir.or(config.rules.dir.as_deref());
    let rules = match crate::rules::load(dir) {
        Ok(r) => r,
        Err(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            bail!("the rules have {} problem(s)", problems.len());
        }
    };
    let db = Db::open(&config.database).await?;
    let report = crate::eval::backtest(&db, &rules, now).await?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.changes {
            println!(
                "{:<10} {:<6} {:<22} {}",
                c.customer, c.change, c.tag, c.evidence
            );
        }
        println!(
            "{} messages re-tagged; {} customer tags gained, {} lost, {} kept",
            report.messages, report.gained, report.lost, report.kept
        );
    }
    Ok(())
}

fn rules_test(config: &Config, file: &Path, own_words: bool) -> Result<()> {
    let rules = load_rules(config)?;
    let raw = if file == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    // An .eml is normalized first (quotes and signature removed); plain text is used as is.
    // A mail starts with a header line ("From: …", "Received: …"); anything else is text.
    let first = raw
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(&[]);
    let header = first.iter().position(|b| *b == b':').is_some_and(|i| {
        i > 0
            && first[..i]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    });
    let mail = if header {
        crate::normalize::parse_email(&raw)
            .ok()
            .filter(|e| e.from.is_some() || e.message_id.is_some())
    } else {
        None
    };
    if own_words {
        let text = match mail {
            Some(e) => e.text,
            None => {
                let text = String::from_utf8_lossy(&raw);
                let html =
                    text.trim_start().starts_with('<') && text.to_ascii_lowercase().contains("</");
                let text = if html {
                    crate::normalize::html::html_to_text(&text)
                } else {
                    text.into_owned()
                };
                crate::normalize::quote::own_text(&text)
            }
        };
        println!("{text}");
        return Ok(());
    }
    let (subject, body) = match mail {
        Some(e) => {
            println!("class: {}", e.class.as_str());
            (e.subject, e.text)
        }
        None => (String::new(), String::from_utf8_lossy(&raw).into_owned()),
    };
    let hits = rules.scan_message(&subject, &body);
    if hits.is_empty() {
        println!("no tags");
    }
    let mut shown: Vec<String> = Vec::new();
    for h in &hits {
        println!(
            "{:<22} {:<8} {}  «{}»",
            h.tag,
            h.field.as_str(),
            h.rule,
            h.evidence
        );
        if !shown.contains(&h.tag) {
            shown.push(h.tag.clone());
        }
    }
    for tag in shown {
        if let Some(rule) = rules.rule(&tag) {
            let lang = hits
                .iter()
                .find(|h| h.tag == tag)
                .map(|h| h.lang.as_str())
                .unwrap_or("en");
            println!("next step for {tag}: {}", rule.next_step(lang));
        }
    }
    Ok(())
}

fn check_rep(config: &Config, rep: Option<&str>) -> Result<()> {
    if let Some(r) = rep
        && !config.reps.is_empty()
        && !config.reps.iter().any(|c| c.id == r)
    {
        bail!(
            "--rep {r:?} is not a rep in the config (known: {})",
            config
                .reps
                .iter()
                .map(|c| c.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

async fn customers_import(config: &Config, file: &Path, reason: Option<String>) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let parsed = crate::directory::import::parse_csv(&bytes, config);
    let db = Db::open(&config.database).await?;
    let actor = store::customers::Actor::cli("import", reason);
    let s = store::customers::apply_import(&db, parsed, &actor).await?;
    let name = file.display();
    for w in &s.warnings {
        eprintln!("{name}:{}: warning: {}", w.line, w.message);
    }
    for e in &s.errors {
        eprintln!("{name}:{}: error: {}", e.line, e.message);
    }
    println!(
        "customers: {} added, {} updated, {} unchanged, {} rejected, {} warnings (read as {})",
        s.added,
        s.updated,
        s.unchanged,
        s.errors.len(),
        s.warnings.len(),
        s.encoding
    );
    db.close().await;
    if !s.errors.is_empty() {
        return Err(Exit(2).into());
    }
    Ok(())
}

async fn ingest<I>(config: &Config, source: I) -> Result<()>
where
    I: Iterator<Item = crate::message::Pending> + Send + 'static,
{
    let db = Db::open(&config.database).await?;
    let ctx = Arc::new(
        pipeline::Context::load(&db, load_rules(config)?, Arc::new(config.clone())).await?,
    );
    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        Some(bar)
    } else {
        None
    };
    let report = pipeline::ingest_stream(
        &db,
        ctx,
        source,
        config.ingest.batch_size,
        |r: &RunReport| {
            if let Some(bar) = &bar {
                bar.set_message(format!(
                    "{} messages ({} new, {} failed), {:.0}/s",
                    r.batch.seen(),
                    r.batch.ingested,
                    r.batch.failed,
                    r.rate()
                ));
                bar.tick();
            }
        },
    )
    .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    db.close().await;
    println!("{}", report.summary_line());
    Ok(())
}

/// "2026-11-27 14:05 (3 days ago)" in local time, or "never".
pub fn when(ms: Option<i64>, now_ms: i64) -> String {
    let Some(ms) = ms else { return "never".into() };
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
        return "?".into();
    };
    let local = t.with_timezone(&chrono::Local);
    format!("{} ({})", local.format("%Y-%m-%d %H:%M"), ago(ms, now_ms))
}

/// "today", "1 day ago", "12 days ago", "in 2 days".
pub fn ago(ms: i64, now_ms: i64) -> String {
    let days = (now_ms - ms).div_euclid(86_400_000);
    match days {
        0 => "today".into(),
        1 => "1 day ago".into(),
        d if d > 1 => format!("{d} days ago"),
        -1 => "in 1 day".into(),
        d => format!("in {} days", -d),
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Cut to `width` display columns (CJK characters count two), marking the cut with "…".
fn truncate(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    if unicode_width::UnicodeWidthStr::width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Cut and pad to exactly `width` display columns.
fn cell(s: &str, width: usize) -> String {
    let t = truncate(s, width);
    let pad = width.saturating_sub(unicode_width::UnicodeWidthStr::width(t.as_str()));
    format!("{t}{}", " ".repeat(pad))
}

async fn customers_list(config: &Config, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let rows = store::customers::list_customers(&db).await?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(());
    }
    let now = store::now_ms();
    writeln!(
        out,
        "{:<8} {:<34} {:<14} {:<12} {:<30} {:<30}",
        "ID", "NAME", "TIER", "OWNER", "LAST INBOUND", "LAST OUTBOUND"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:<8} {} {:<14} {} {:<30} {}",
            r.id,
            cell(&r.name, 34),
            r.tier,
            cell(r.owner.as_deref().unwrap_or("(pool)"), 12),
            when(r.last_inbound_at, now),
            when(r.last_outbound_at, now)
        )?;
    }
    let contacted = rows.iter().filter(|r| r.last_contact_at.is_some()).count();
    writeln!(
        out,
        "{} customers, {} contacted, {} never contacted",
        rows.len(),
        contacted,
        rows.len() - contacted
    )?;
    Ok(())
}

async fn customers_show(config: &Config, id: &str, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let Some(d) = store::customers::get_customer(&db, id).await? else {
        bail!("no customer with id {id:?}");
    };
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let now = store::now_ms();
    let c = &d.customer;
    println!("{} {}", c.id, c.name);
    println!("  tier:           {}", c.tier);
    println!(
        "  owner:          {}",
        c.owner.as_deref().unwrap_or("(public pool)")
    );
    if let Some(g) = &c.group {
        println!("  group:          {g}");
    }
    if let Some(country) = &c.country {
        println!("  country:        {country}");
    }
    println!("  emails:         {}", d.emails.join(", "));
    println!("  domains:        {}", d.domains.join(", "));
    println!("  phones:         {}", d.phones.join(", "));
    println!("  last inbound:   {}", when(c.last_inbound_at, now));
    println!("  last outbound:  {}", when(c.last_outbound_at, now));
    println!("  last contact:   {}", when(c.last_contact_at, now));
    println!(
        "  messages:       {} inbound, {} outbound, {} not counted (auto-replies, bounces, bulk)",
        d.messages_inbound, d.messages_outbound, d.messages_not_contact
    );
    if d.tags.is_empty() {
        println!("  tags:           none");
    }
    for t in &d.tags {
        println!(
            "  tag {} ({}, {} message{}, last {}, expires {})",
            t.tag,
            t.state,
            t.evidence_count,
            if t.evidence_count == 1 { "" } else { "s" },
            ago(t.last_seen, now),
            ago(t.expires_at, now)
        );
        println!("      evidence:   «{}»  [{}]", t.evidence, t.rule);
        println!("      next step:  {}", t.next_step);
    }
    Ok(())
}

async fn messages(config: &Config, format: MessageFormat, customer: Option<&str>) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after = 0;
    loop {
        let page = store::messages::page(&db, after, 1000, customer).await?;
        let Some(last) = page.last() else { break };
        let mut page_tags = store::messages::tags_by_id_range(&db, after, last.id).await?;
        after = last.id;
        for m in &page {
            let tags = page_tags.remove(&m.key).unwrap_or_default();
            let properties: Vec<&str> = match m.class {
                crate::normalize::Class::AutoReply => vec!["auto-reply"],
                crate::normalize::Class::Bounce => vec!["bounce"],
                crate::normalize::Class::Spoof => vec!["spoof"],
                _ => vec![],
            };
            match format {
                MessageFormat::Jsonl => {
                    let line = serde_json::json!({
                        "key": m.key,
                        "channel": m.channel,
                        "direction": m.direction,
                        "customer": m.customer,
                        "counts_as_contact": m.counts_as_contact,
                        "properties": properties,
                        "tags": tags.iter().map(|t| serde_json::json!({
                            "tag": t.tag,
                            "rule": t.rule,
                            "evidence": t.evidence,
                            "matched": t.matched,
                            "field": t.field,
                            "span": [t.start, t.end],
                        })).collect::<Vec<_>>(),
                        "class": m.class.as_str(),
                        "group": m.group,
                        "match": m.match_reason,
                        "rep": m.rep,
                        "from": m.from,
                        "sent_at": rfc3339(m.sent_at),
                        "subject": m.subject,
                        "flags": m.flags,
                    });
                    writeln!(out, "{line}")?;
                }
                MessageFormat::Table => {
                    let tag_list: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
                    writeln!(
                        out,
                        "{}  {:<8} {:<8} {:<10} {:<8} {} {}{}",
                        rfc3339(m.sent_at),
                        m.direction,
                        m.customer.as_deref().unwrap_or("-"),
                        m.class.as_str(),
                        m.match_reason,
                        cell(m.from.as_deref().unwrap_or("-"), 32),
                        truncate(&m.subject, 60),
                        if tag_list.is_empty() {
                            String::new()
                        } else {
                            format!("  [{}]", tag_list.join(", "))
                        }
                    )?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

async fn sync_once(config: Config, only: Option<&str>, format: Format) -> Result<()> {
    if config.imap.is_empty() {
        anyhow::bail!("no [[imap]] account in the config: nothing to sync");
    }
    if let Some(name) = only
        && !config.imap.iter().any(|a| a.name == name)
    {
        anyhow::bail!("no [[imap]] account is named {name:?}");
    }
    let mut accounts = Vec::new();
    for cfg in config
        .imap
        .iter()
        .filter(|a| only.is_none_or(|n| a.name == n))
    {
        let account = crate::source::imap::Account::new(cfg)
            .map_err(|e| anyhow::anyhow!("imap account {}: {e}", cfg.name))?;
        accounts.push(account);
    }
    let started = std::time::Instant::now();
    let app = crate::app::App::start(config).await?;
    for a in &accounts {
        a.keep_tokens_in(&app.db);
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    // Ctrl-C / SIGTERM: stop fetching, let the chunks under way commit.
    tokio::spawn(async move {
        crate::daemon::shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    // A few accounts at a time (each opens one connection per folder).
    let results: Vec<_> = {
        use futures::StreamExt;
        futures::stream::iter(
            accounts
                .iter()
                .map(|a| crate::source::imap::sync_account_once(&app, a, &stop)),
        )
        .buffered(8)
        .collect()
        .await
    };
    let mut total = crate::store::batch::BatchReport::default();
    let (mut fetched, mut bytes, mut errors) = (0usize, 0u64, 0usize);
    for (account, folders) in accounts.iter().zip(results) {
        for (folder, result) in folders {
            match result {
                Ok(s) => {
                    total.add(&s.report);
                    fetched += s.fetched;
                    bytes += s.bytes;
                    if format == Format::Json {
                        continue;
                    }
                    println!(
                        "{}/{}: fetched {}, ingested {}, also seen in another mailbox {}, failed {}",
                        account.name(),
                        folder.name,
                        s.fetched,
                        s.report.ingested,
                        s.report.sightings,
                        s.report.failed
                    );
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("{}/{}: {e}", account.name(), folder.name);
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    if format == Format::Json {
        println!(
            "{}",
            serde_json::json!({"accounts": accounts.len(), "messages": fetched, "ingested": total.ingested,
                               "failed": total.failed, "bytes": bytes, "seconds": secs})
        );
    } else {
        println!(
            "synced {} mailbox folder(s): fetched {fetched} ({:.1} MB), ingested {}, failed {}, elapsed {secs:.2}s, {:.0} messages/s",
            accounts.len(),
            bytes as f64 / 1e6,
            total.ingested,
            total.failed,
            if secs > 0.0 {
                fetched as f64 / secs
            } else {
                0.0
            }
        );
    }
    app.db.close().await;
    if errors > 0 {
        anyhow::bail!("{errors} mailbox folder(s) could not be synced");
    }
    Ok(())
}

async fn followups(
    config: &Config,
    now: i64,
    owner: Option<&str>,
    state: Option<crate::followup::policy::State>,
    format: Format,
) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let judge = crate::followup::sweep::Judge::load(&db, &config.followup).await?;
    let rows = store::followup::all_timers(&db).await?;
    let tags = store::customers::live_tags(&db, now).await?;
    let recent = now - config.followup.recent_ms();
    let mut board: Vec<_> = rows
        .into_iter()
        .filter(|c| owner.is_none_or(|o| c.owner.as_deref() == Some(o)))
        .map(|c| {
            let a = judge.assess(&c, now);
            (c, a)
        })
        .filter(|(_, a)| state.is_none_or(|s| a.state == s))
        .collect();
    // Per owner (the pool last), most urgent first.
    board.sort_by(|(c1, a1), (c2, a2)| {
        (
            c1.owner.is_none(),
            &c1.owner,
            a1.state,
            a1.next_due_at,
            &c1.id,
        )
            .cmp(&(
                c2.owner.is_none(),
                &c2.owner,
                a2.state,
                a2.next_due_at,
                &c2.id,
            ))
    });
    // Flags: away (out of office), another rep's contact, a release held back.
    let flags = |c: &store::followup::TimerRow| {
        let mut f: Vec<String> = Vec::new();
        if let Some(until) = c.paused_until.filter(|u| *u > now) {
            f.push(format!("away until {}", day(until)));
        }
        if let (Some(rep), Some(at)) = (&c.conflict_rep, c.conflict_at)
            && at >= recent
        {
            f.push(format!("contacted by {rep} {}", ago(at, now)));
        }
        if let Some(why) = &c.release_frozen {
            f.push(format!("release held: {why}"));
        }
        f
    };
    if format == Format::Json {
        let json: Vec<serde_json::Value> = board
            .iter()
            .map(|(c, a)| {
                serde_json::json!({
                    "customer": c.id, "name": c.name, "tier": c.tier, "owner": c.owner,
                    "group": c.group, "country": c.country,
                    "last_inbound_at": c.last_inbound_at, "last_outbound_at": c.last_outbound_at,
                    "state": a.state, "tier_due_at": a.tier_due_at,
                    "awaiting_reply_since": a.awaiting_reply_since, "reply_due_at": a.reply_due_at,
                    "waiting_since": a.waiting_since, "follow_up_due_at": a.follow_up_due_at,
                    "next_due_at": a.next_due_at, "reason": a.reason,
                    "paused_until": c.paused_until.filter(|u| *u > now),
                    "conflict": c.conflict_rep.as_ref().filter(|_| c.conflict_at.is_some_and(|at| at >= recent))
                        .map(|rep| serde_json::json!({"rep": rep, "at": c.conflict_at})),
                    "release_frozen": c.release_frozen,
                    "pool_changed_at": c.pool_changed_at, "pool_reason": c.pool_reason,
                    "flags": flags(c),
                    "tags": tags.get(&c.id).map(|t| t.iter().take(3).map(|(tag, step)| serde_json::json!({"tag": tag, "next_step": step})).collect::<Vec<_>>()).unwrap_or_default(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let mut last_owner: Option<Option<String>> = None;
    for (c, a) in &board {
        if last_owner.as_ref() != Some(&c.owner) {
            println!(
                "\n== {}",
                c.owner.as_deref().unwrap_or("public pool (no owner)")
            );
            println!(
                "{:<10} {} {:<15} {:<9} {:<22} {:<22} {:<26} REASON / TAGS",
                "CUSTOMER",
                cell("NAME", 24),
                "TIER",
                "STATE",
                "LAST INBOUND",
                "LAST OUTBOUND",
                "NEXT DUE"
            );
            last_owner = Some(c.owner.clone());
        }
        let tag_text: Vec<String> = tags
            .get(&c.id)
            .map(|t| t.iter().take(3).map(|(tag, _)| tag.clone()).collect())
            .unwrap_or_default();
        println!(
            "{:<10} {} {:<15} {:<9} {:<22} {:<22} {:<26} {}{}",
            c.id,
            cell(&c.name, 24),
            c.tier,
            a.state.as_str(),
            ago_or_never(c.last_inbound_at, now),
            ago_or_never(c.last_outbound_at, now),
            when(Some(a.next_due_at), now),
            a.reason,
            if tag_text.is_empty() {
                String::new()
            } else {
                format!(" [{}]", tag_text.join(", "))
            }
        );
        for flag in flags(c) {
            println!("{:>12}! {flag}", "");
        }
        if let Some((tag, step)) = tags.get(&c.id).and_then(|t| t.first())
            && !step.is_empty()
        {
            println!("{:>12}next step ({tag}): {step}", "");
        }
    }
    println!("\n{} customers", board.len());
    Ok(())
}

/// The UTC date of a Unix ms time.
fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn at_or_now(at: Option<&str>) -> Result<i64> {
    Ok(match at {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .with_context(|| format!("--at {t:?} is not an RFC 3339 time"))?
            .timestamp_millis(),
        None => store::now_ms(),
    })
}

async fn pool(config: &Config, history: bool, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let now = store::now_ms();
    if history {
        let rows = store::followup::pool_history(&db, None, 1000).await?;
        if format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&rows)?);
            return Ok(());
        }
        for r in &rows {
            println!(
                "{:<26} {:<9} {:<12} {:<12} {}",
                when(Some(r.at), now),
                r.action,
                r.customer_id,
                r.rep.as_deref().unwrap_or("-"),
                r.reason
            );
        }
        println!("{} changes", rows.len());
        return Ok(());
    }
    let rows = store::followup::pool(&db).await?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<12} {} {:<15} {:<22} {:<22} {:<12} REASON",
        "CUSTOMER",
        cell("NAME", 24),
        "TIER",
        "LAST CONTACT",
        "RELEASED",
        "FORMER OWNER"
    );
    for r in &rows {
        println!(
            "{:<12} {} {:<15} {:<22} {:<22} {:<12} {}",
            r.id,
            cell(&r.name, 24),
            r.tier,
            ago_or_never(r.last_contact_at, now),
            r.released_at
                .map(|t| ago(t, now))
                .unwrap_or_else(|| "never owned".into()),
            r.former_owner.as_deref().unwrap_or("-"),
            r.reason.as_deref().unwrap_or("")
        );
    }
    println!("{} customers in the pool", rows.len());
    Ok(())
}

async fn outbox_list(
    config: &Config,
    kind: Option<&str>,
    limit: i64,
    format: MessageFormat,
) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let rows = store::outbox::list(&db, 0, limit, kind).await?;
    let mut out = std::io::stdout().lock();
    for r in &rows {
        if format == MessageFormat::Jsonl {
            writeln!(out, "{}", r.payload)?;
        } else {
            writeln!(
                out,
                "{:>6} {} {:<18} {:<14} {}",
                r.seq,
                store::outbox::rfc3339(r.created_at),
                r.kind,
                r.customer_id.as_deref().unwrap_or("-"),
                r.event_id
            )?;
        }
    }
    Ok(())
}

async fn deliveries_list(
    config: &Config,
    state: &str,
    limit: i64,
    format: MessageFormat,
) -> Result<()> {
    if !["pending", "delivered", "rejected", "dead"].contains(&state) {
        bail!("--state {state:?}: one of pending, delivered, rejected, dead");
    }
    let db = Db::open(&config.database).await?;
    let rows = store::outbox::deliveries(&db, Some(state), limit).await?;
    let now = store::now_ms();
    let mut out = std::io::stdout().lock();
    for r in &rows {
        if format == MessageFormat::Jsonl {
            writeln!(out, "{}", serde_json::to_string(r)?)?;
        } else {
            writeln!(
                out,
                "{:>7} {:<10} {:<9} {:<18} {:<14} attempts {:<3} {} {}",
                r.id,
                r.webhook,
                r.state,
                r.kind,
                r.customer_id.as_deref().unwrap_or("-"),
                r.attempts,
                if r.state == "pending" {
                    format!("next {}", when(Some(r.next_attempt_at), now))
                } else {
                    String::new()
                },
                r.last_error.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

fn ago_or_never(ms: Option<i64>, now: i64) -> String {
    ms.map(|m| ago(m, now)).unwrap_or_else(|| "never".into())
}

async fn status(config: &Config, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let rows = store::mailboxes::health(&db).await?;
    // Which instance syncs each account now (a live lease), and the instances seen lately.
    let leases = store::cluster::leases(&db).await?;
    let holder = |account: &str| -> Option<String> {
        let name = crate::cluster::account_lease(account);
        leases
            .iter()
            .find(|l| l.live && l.name == name)
            .map(|l| l.owner.clone())
    };
    let lease_ms = config.cluster.lease_ms();
    let instances = store::cluster::instances(&db, lease_ms, 24 * 3_600_000).await?;
    if format == Format::Json {
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|h| {
                serde_json::json!({
                    "account": h.account, "folder": h.folder, "rep": h.rep,
                    "mode": h.mode, "uid_validity": h.uid_validity, "last_uid": h.last_uid,
                    "backfilling": h.backfilling, "last_sync_at": h.last_sync_at,
                    "last_error": h.last_error, "last_error_at": h.last_error_at,
                    "failures": h.failures, "behind": h.behind,
                    "instance": holder(&h.account),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let now = store::now_ms();
    println!(
        "{:<16} {:<18} {:<12} {:<5} {:<26} {:>7} {:>8}  {:<24} LAST ERROR",
        "ACCOUNT", "FOLDER", "REP", "MODE", "LAST SYNC", "BEHIND", "FAILURES", "INSTANCE"
    );
    for h in &rows {
        let error = match (&h.last_error, h.last_error_at) {
            (Some(e), Some(at)) if h.failures > 0 || h.last_sync_at.is_none_or(|s| s < at) => {
                format!("{} ({})", e, when(Some(at), now))
            }
            _ => String::new(),
        };
        println!(
            "{} {} {} {:<5} {:<26} {:>7} {:>8}  {} {}",
            cell(&h.account, 16),
            cell(&h.folder, 18),
            cell(h.rep.as_deref().unwrap_or("-"), 12),
            h.mode.as_deref().unwrap_or("-"),
            if h.backfilling && h.last_sync_at.is_none() {
                "backfilling".to_string()
            } else {
                when(h.last_sync_at, now)
            },
            h.behind
                .map(|b| b.to_string())
                .unwrap_or_else(|| "-".into()),
            h.failures,
            cell(holder(&h.account).as_deref().unwrap_or("-"), 24),
            error
        );
    }
    for a in &config.imap {
        if !rows.iter().any(|h| h.account == a.name) {
            println!(
                "{} {} {} {:<5} {:<26} {:>7} {:>8}  {}",
                cell(&a.name, 16),
                cell("*", 18),
                cell(a.rep.as_deref().unwrap_or("-"), 12),
                "-",
                "never synced",
                "-",
                "-",
                cell(holder(&a.name).as_deref().unwrap_or("-"), 24),
            );
        }
    }
    if !instances.is_empty() {
        println!();
        println!(
            "{:<24} {:<16} {:>8} {:<8} {:>8}  LAST HEARTBEAT",
            "INSTANCE", "HOST", "PID", "STATE", "ACCOUNTS"
        );
        for i in &instances {
            let held = leases
                .iter()
                .filter(|l| l.live && l.owner == i.id && l.name.starts_with("imap:"))
                .count();
            let state = match (i.live, i.stopped_at) {
                (true, _) => "live",
                (false, Some(_)) => "stopped",
                (false, None) => "lost",
            };
            println!(
                "{} {} {:>8} {:<8} {:>8}  {}",
                cell(&i.id, 24),
                cell(&i.host, 16),
                i.pid,
                state,
                held,
                when(Some(i.heartbeat_at), now)
            );
        }
    }
    Ok(())
}

async fn unknown(config: &Config, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let rows = store::messages::unknown_senders(&db, None, i64::MAX).await?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let now = store::now_ms();
    println!(
        "{:<44} {:>8}  {:<30} {:<30}",
        "ADDRESS", "MESSAGES", "FIRST SEEN", "LAST SEEN"
    );
    for r in &rows {
        println!(
            "{} {:>8}  {:<30} {:<30}",
            cell(&r.address, 44),
            r.messages,
            when(Some(r.first_seen), now),
            when(Some(r.last_seen), now)
        );
    }
    println!("{} unknown senders", rows.len());
    Ok(())
}

async fn failures(config: &Config, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let rows = store::messages::failures(&db).await?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        println!("{}  {} bytes  {}", r.source_key, r.size, r.reason);
    }
    println!("{} failures", rows.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_count_display_width() {
        assert_eq!(cell("abc", 5), "abc  ");
        assert_eq!(cell("华东灯具贸易", 7), "华东灯…");
        assert_eq!(cell("Harbor Lights Inc.", 10), "Harbor Li…");
    }

    #[test]
    fn relative_days() {
        let day = 86_400_000;
        let now = 100 * day;
        assert_eq!(ago(now - 1000, now), "today");
        assert_eq!(ago(now - day, now), "1 day ago");
        assert_eq!(ago(now - 12 * day - 5, now), "12 days ago");
        assert_eq!(ago(now + 2 * day, now), "in 2 days");
        assert_eq!(when(None, now), "never");
    }
}

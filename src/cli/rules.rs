//! `keepwarm rules check|test|backtest|eval`: the trait rules, tried before they go live.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use super::Format;
use super::table::cell;
use crate::config::Config;
use crate::store::{self, Db};

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
        /// Do not keep the scores in the database (by default they are kept for the board's
        /// Rules page).
        #[arg(long)]
        no_record: bool,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub async fn run(config: &Config, cmd: RulesCmd) -> Result<()> {
    match cmd {
        RulesCmd::Check { dir } => rules_check(config, dir.as_deref()),
        RulesCmd::Test { file, own_words } => rules_test(config, &file, own_words),
        RulesCmd::Backtest { dir, at, format } => {
            let now = super::table::at_or_now(at.as_deref())?;
            rules_backtest(config, dir.as_deref(), now, format).await
        }
        RulesCmd::Eval {
            feedback: true,
            format,
            ..
        } => eval_feedback(config, format).await,
        RulesCmd::Eval {
            maildir: Some(maildir),
            labels: Some(labels),
            customers: Some(customers),
            whatsapp,
            verbose,
            no_record,
            format,
            ..
        } => {
            let report =
                crate::eval::run(config, &maildir, &labels, &customers, whatsapp.as_deref())
                    .await?;
            if format == Format::Json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", report.render(verbose));
            }
            if !no_record {
                record_eval(config, &maildir, &report).await?;
            }
            Ok(())
        }
        RulesCmd::Eval { .. } => {
            bail!("rules eval needs --maildir, --labels and --customers (or --feedback)")
        }
    }
}

/// Keep an evaluation's scores for the board's Rules page.
async fn record_eval(config: &Config, corpus: &Path, r: &crate::eval::EvalReport) -> Result<()> {
    let rules = load_rules(config)?;
    let db = Db::open(&config.database)
        .await
        .context("cannot keep the scores for the board (--no-record skips this)")?;
    let tags = r
        .tags
        .iter()
        .map(|t| store::rule_evals::TagFigures {
            tag: t.tag.clone(),
            precision: t.precision,
            recall: t.recall,
            f1: t.f1,
            tp: t.tp as u64,
            fp: t.fp as u64,
            fn_: t.fn_ as u64,
        })
        .collect();
    let eval = store::rule_evals::RuleEval {
        at: store::now_ms(),
        pack_version: rules.version.clone(),
        corpus: corpus.display().to_string(),
        messages: r.messages as i64,
        labeled: r.labeled as i64,
        micro_f1: r.micro_f1,
        macro_f1: r.macro_f1,
        tags,
    };
    store::rule_evals::record(&db, &eval).await?;
    eprintln!("(scores kept for the board's Rules page)");
    Ok(())
}

/// How reps answered the suggestions, per rule.
async fn eval_feedback(config: &Config, format: Format) -> Result<()> {
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

/// Load the configured rules, or fail with every problem.
pub(super) fn load_rules(config: &Config) -> Result<Arc<crate::rules::RuleSet>> {
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

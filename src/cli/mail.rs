//! Mail and chat in: `keepwarm ingest ...`, `sync --once`, `status` (mailbox health), `messages`
//! and `failures`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result};
use clap::Subcommand;

use super::customers::check_rep;
use super::rules::load_rules;
use super::table::{cell, rfc3339, truncate, when};
use super::{Format, MessageFormat};
use crate::config::Config;
use crate::pipeline::{self, RunReport};
use crate::store::{self, Db};

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

pub async fn ingest_cmd(config: &Config, cmd: IngestCmd) -> Result<()> {
    match cmd {
        IngestCmd::Maildir {
            dir,
            rep,
            verify_senders,
        } => {
            check_rep(config, rep.as_deref())?;
            let source = crate::source::maildir::read(&dir, rep, verify_senders)
                .with_context(|| format!("cannot read Maildir {}", dir.display()))?;
            ingest(config, source).await
        }
        IngestCmd::Mbox {
            file,
            rep,
            verify_senders,
        } => {
            check_rep(config, rep.as_deref())?;
            let source = crate::source::mbox::read(&file, rep, verify_senders)
                .with_context(|| format!("cannot read mbox {}", file.display()))?;
            ingest(config, source).await
        }
        IngestCmd::Whatsapp { paths } => {
            let items = crate::source::whatsapp::read_paths(&paths)
                .context("cannot read the WhatsApp bodies")?;
            ingest(config, items.into_iter()).await
        }
    }
}

async fn ingest<I>(config: &Config, source: I) -> Result<()>
where
    I: Iterator<Item = crate::message::Pending> + Send + 'static,
{
    let db = Db::open(&config.database).await?;
    let ingestor =
        pipeline::Ingestor::load(&db, load_rules(config)?, Arc::new(config.clone())).await?;
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
    let report = ingestor
        .stream(source, config.ingest.batch_size, |r: &RunReport| {
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
        })
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    db.close().await;
    println!("{}", report.summary_line());
    Ok(())
}

pub async fn messages(
    config: &Config,
    format: MessageFormat,
    customer: Option<&str>,
) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut after = 0;
    loop {
        let page = store::messages::page(&db, after, 1000, customer, i64::MIN).await?;
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

pub async fn sync_once(config: Config, only: Option<&str>, format: Format) -> Result<()> {
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

pub async fn status(config: &Config, format: Format) -> Result<()> {
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
    let instances = store::cluster::instances(&db, lease_ms, crate::time::DAY_MS).await?;
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

pub async fn failures(config: &Config, format: Format) -> Result<()> {
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

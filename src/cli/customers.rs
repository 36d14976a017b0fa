//! `keepwarm customers ...` and `keepwarm unknown`: the customer directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;

use super::table::{ago, cell, when};
use super::{Exit, Format, privacy};
use crate::config::Config;
use crate::store::{self, Db};

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
    #[command(flatten)]
    Own(super::ownership::OwnCmd),
    /// One customer in detail.
    Show {
        id: String,
        /// The language of the next steps: en, zh, ... (default: `[team] language`, else en).
        #[arg(long)]
        lang: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

pub async fn run(config: &Config, cmd: CustomersCmd) -> Result<()> {
    match cmd {
        CustomersCmd::Import { file, reason } => customers_import(config, &file, reason).await,
        CustomersCmd::Export { id } => privacy::export(config, &id).await,
        CustomersCmd::Erase { id, reason, yes } => privacy::erase(config, &id, reason, yes).await,
        CustomersCmd::History { id, format } => privacy::history(config, &id, format).await,
        CustomersCmd::List { format } => customers_list(config, format).await,
        CustomersCmd::Show { id, lang, format } => {
            let lang = super::table::reader_lang(config, lang.as_deref())?;
            customers_show(config, &id, &lang, format).await
        }
        CustomersCmd::Own(cmd) => super::ownership::customers(config, cmd).await,
    }
}

pub fn check_rep(config: &Config, rep: Option<&str>) -> Result<()> {
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

async fn customers_show(config: &Config, id: &str, lang: &str, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let Some(mut d) = store::customers::get_customer(&db, id).await? else {
        bail!("no customer with id {id:?}");
    };
    let rules = super::rules::load_rules(config)?;
    for t in &mut d.tags {
        t.next_step = super::table::step_in(&rules, &t.tag, &t.next_step, lang);
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(());
    }
    let now = store::now_ms();
    let c = &d.customer;
    println!("{} {}", c.id, c.name);
    println!("  tier:           {}", c.tier);
    match &c.owner {
        Some(o) => println!("  owner:          {o}"),
        None => println!(
            "  owner:          (pool {})",
            store::ownership::pool_of(config, c.pool.as_deref(), c.country.as_deref(), &c.tier)
        ),
    }
    println!(
        "  stage:          {}{}",
        c.stage,
        if c.protected { ", protected" } else { "" }
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

pub async fn unknown(config: &Config, format: Format) -> Result<()> {
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

//! `keepwarm pool claim|release` and `keepwarm customers protect|unprotect|assign|stage`:
//! changes of ownership by people, judged by the team's rules at `--at` (or now). A refusal
//! prints its reason code and exits 3; `--format json` prints `{"ok": true, ...}` or
//! `{"ok": false, "reason", "message"}`.

use anyhow::Result;
use clap::{Args, Subcommand};

use super::table::at_or_now;
use super::{Exit, Format};
use crate::config::Config;
use crate::followup::changes::{Ask, act};
use crate::store::Db;
use crate::store::customers::Actor;

/// The options every change takes.
#[derive(Debug, Clone, Args)]
pub struct When {
    /// The moment the change is judged and recorded at (RFC 3339; default now): for scripted
    /// scenarios and tests.
    #[arg(long)]
    pub at: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Debug, Subcommand)]
pub enum PoolCmd {
    /// Claim a customer of a pool for a rep (pool membership, embargo, cool-down, tenure,
    /// holding cap and claim limits apply).
    Claim {
        customer: String,
        #[arg(long)]
        rep: String,
        /// Why (kept in the pool history).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        when: When,
    },
    /// Release a customer to its pool, with the reason (required).
    Release {
        customer: String,
        #[arg(long)]
        reason: String,
        /// The rep asking (it must own the customer); left out: a manager.
        #[arg(long)]
        rep: Option<String>,
        #[command(flatten)]
        when: When,
    },
}

/// The ownership commands of `keepwarm customers`.
#[derive(Debug, Subcommand)]
pub enum OwnCmd {
    /// Protect a customer for its owner (within `max_protected`; signed ones are protected
    /// anyway): never released by the no-contact rule, other reps' contact is a conflict.
    Protect {
        customer: String,
        /// The rep asking (it must own the customer); left out: a manager.
        #[arg(long)]
        rep: Option<String>,
        #[command(flatten)]
        when: When,
    },
    /// Lift a customer's protection.
    Unprotect {
        customer: String,
        #[arg(long)]
        rep: Option<String>,
        #[command(flatten)]
        when: When,
    },
    /// Give a customer to a rep (a manager's act; the holding cap and the VIP tenure rule
    /// apply unless --force).
    Assign {
        customer: String,
        #[arg(long)]
        rep: String,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        when: When,
    },
    /// Move a customer to a stage: potential, target, signed (protected), dormant.
    Stage {
        customer: String,
        stage: String,
        #[command(flatten)]
        when: When,
    },
}

pub async fn pool(config: &Config, cmd: PoolCmd) -> Result<()> {
    match cmd {
        PoolCmd::Claim {
            customer,
            rep,
            reason,
            when,
        } => run(config, &customer, Ask::Claim { rep, reason }, &when).await,
        PoolCmd::Release {
            customer,
            reason,
            rep,
            when,
        } => run(config, &customer, Ask::Release { by: rep, reason }, &when).await,
    }
}

pub async fn customers(config: &Config, cmd: OwnCmd) -> Result<()> {
    match cmd {
        OwnCmd::Protect {
            customer,
            rep,
            when,
        } => run(config, &customer, Ask::Protect { by: rep, on: true }, &when).await,
        OwnCmd::Unprotect {
            customer,
            rep,
            when,
        } => {
            run(
                config,
                &customer,
                Ask::Protect { by: rep, on: false },
                &when,
            )
            .await
        }
        OwnCmd::Assign {
            customer,
            rep,
            force,
            reason,
            when,
        } => {
            let ask = Ask::Assign { rep, force, reason };
            run(config, &customer, ask, &when).await
        }
        OwnCmd::Stage {
            customer,
            stage,
            when,
        } => run(config, &customer, Ask::Stage { stage }, &when).await,
    }
}

async fn run(config: &Config, customer: &str, ask: Ask, when: &When) -> Result<()> {
    let now = at_or_now(when.at.as_deref())?;
    let db = Db::open(&config.database).await?;
    let actor = Actor::cli("ownership", None).who;
    let outcome = act(&db, config, customer, &ask, &actor, now).await;
    db.close().await;
    match outcome? {
        Ok(done) => {
            if when.format == Format::Json {
                let mut v = serde_json::to_value(&done)?;
                v["ok"] = true.into();
                println!("{v}");
            } else {
                let owner = done.owner.as_deref().map_or_else(
                    || format!("in pool {}", done.pool.as_deref().unwrap_or("-")),
                    |o| format!("owner {o}"),
                );
                println!(
                    "{} {}: {owner}, stage {}{}",
                    done.customer,
                    done.action,
                    done.stage,
                    if done.protected { ", protected" } else { "" }
                );
            }
            Ok(())
        }
        Err(refusal) => {
            if when.format == Format::Json {
                let v = serde_json::json!({
                    "ok": false, "reason": refusal.reason.code(), "message": refusal.message,
                });
                println!("{v}");
            } else {
                eprintln!("refused ({}): {}", refusal.reason.code(), refusal.message);
            }
            Err(Exit(3).into())
        }
    }
}

pub async fn review(
    config: &Config,
    month: Option<&str>,
    at: Option<&str>,
    format: Format,
) -> Result<()> {
    let now = at_or_now(at)?;
    let month = match month {
        Some(m) => m.to_string(),
        None => config.followup.calendar().month_of(now),
    };
    let db = Db::open(&config.database).await?;
    let r = crate::followup::review::review(&db, config, &month, now).await;
    db.close().await;
    let r = r?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "Review of {} ({} to {}), states at {}",
        r.month, r.from, r.to, r.at
    );
    for o in &r.owners {
        println!("\n== {}", o.owner.as_deref().unwrap_or("pools (no owner)"));
        let overdue: Vec<String> = o.overdue.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!(
            "  overdue: {}{}   released {}, claimed {}, assigned {}, conflicts {}",
            o.overdue_total,
            if overdue.is_empty() {
                String::new()
            } else {
                format!(" ({})", overdue.join(", "))
            },
            o.released,
            o.claimed,
            o.assigned,
            o.conflicts
        );
        for s in &o.high_potential_stalled {
            println!(
                "  high-potential for {} days, stage {}: {} {} (last contact {}){}",
                s.days,
                s.stage,
                s.customer,
                s.name,
                s.last_contact_at.as_deref().unwrap_or("never"),
                if s.tags.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", s.tags.join(", "))
                }
            );
        }
        for l in &o.lost_deals {
            println!(
                "  lost deal {} {} on {}: «{}»",
                l.customer,
                l.name,
                &l.at[..10],
                l.reason
            );
        }
    }
    Ok(())
}

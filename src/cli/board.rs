//! The follow-up board and what feeds the CRM: `followups`, `sweep`, `pool`, `outbox`.

use std::io::Write;

use anyhow::{Result, bail};
use clap::{Subcommand, ValueEnum};

use super::table::{ago, ago_or_never, at_or_now, cell, day, when};
use super::{Format, MessageFormat};
use crate::config::Config;
use crate::followup::policy::State;
use crate::store::{self, Db};

#[derive(Debug, Subcommand)]
pub enum OutboxCmd {
    /// Events in the order they were written; with --state, deliveries to the CRM webhooks in
    /// that state (pending, delivered, rejected, dead), newest first.
    List {
        /// Only events of this kind (e.g. lead.assigned).
        #[arg(long)]
        kind: Option<String>,
        /// Deliveries in this state instead of events.
        #[arg(long, value_enum)]
        state: Option<DeliveryState>,
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

/// A delivery's state, as `outbox list --state` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Rejected,
    Dead,
}

impl DeliveryState {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Rejected => "rejected",
            DeliveryState::Dead => "dead",
        }
    }
}

/// A follow-up state, as `followups --state` takes it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Ok,
    #[value(alias = "due_soon")]
    DueSoon,
    Due,
    Overdue,
    Released,
}

impl From<StateArg> for State {
    fn from(s: StateArg) -> State {
        match s {
            StateArg::Ok => State::Ok,
            StateArg::DueSoon => State::DueSoon,
            StateArg::Due => State::Due,
            StateArg::Overdue => State::Overdue,
            StateArg::Released => State::Released,
        }
    }
}

/// `keepwarm outbox list|replay`.
pub async fn outbox(config: &Config, cmd: OutboxCmd) -> Result<()> {
    match cmd {
        OutboxCmd::List {
            kind,
            state: Some(state),
            limit,
            format,
        } => {
            if kind.is_some() {
                bail!("--kind lists events, --state deliveries: give one of them");
            }
            deliveries_list(config, state, limit, format).await
        }
        OutboxCmd::List {
            kind,
            state: None,
            limit,
            format,
        } => outbox_list(config, kind.as_deref(), limit, format).await,
        OutboxCmd::Replay { event, dead } => {
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
    }
}

/// `keepwarm sweep`: judge every customer whose deadline has passed, at `at` or now.
pub async fn sweep(config: &Config, at: Option<&str>, format: Format) -> Result<()> {
    let now = at_or_now(at)?;
    let db = Db::open(&config.database).await?;
    let report = crate::followup::sweep::sweep(&db, config, now, store::now_ms()).await?;
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

/// `keepwarm followups`: the board judged at `at` (RFC 3339) or now.
pub async fn followups(
    config: &Config,
    at: Option<&str>,
    owner: Option<&str>,
    state: Option<StateArg>,
    lang: &str,
    format: Format,
) -> Result<()> {
    let now = at_or_now(at)?;
    let rules = super::rules::load_rules(config)?;
    let state = state.map(State::from);
    let db = Db::open(&config.database).await?;
    let judge = crate::followup::sweep::Judge::load(&db, config).await?;
    let rows = store::followup::all_timers(&db).await?;
    let mut tags = store::customers::live_tags(&db, now).await?;
    for list in tags.values_mut() {
        for (tag, step) in list.iter_mut() {
            *step = super::table::step_in(&rules, tag, step, lang);
        }
    }
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
    // Flags: away (out of office), another rep's contact, a release held back or coming, a
    // VIP whose owner is too new.
    let warn_before = config.pool.warn_before_release.as_ref().map(|s| s.ms());
    let flags = |c: &store::followup::TimerRow, a: &crate::followup::policy::Assessment| {
        let mut f: Vec<String> = Vec::new();
        if let (Some(w), Some(release_at), Some(_)) = (warn_before, a.release_at, &c.owner)
            && now >= release_at - w
            && now < release_at
        {
            f.push(format!(
                "released to the pool {}",
                when(Some(release_at), now)
            ));
        }
        if let Some(why) =
            crate::followup::ownership::tenure_flag(config, &c.tier, c.owner.as_deref(), now)
        {
            f.push(why);
        }
        if let Some(until) = c.paused_until.filter(|u| *u > now) {
            f.push(format!("away until {}", day(until)));
        }
        if let (Some(rep), Some(at)) = (&c.conflict_rep, c.conflict_at)
            && at >= recent
        {
            let protected = if c.protected || c.stage == "signed" {
                " (a protected customer)"
            } else {
                ""
            };
            f.insert(0, format!("contacted by {rep} {}{protected}", ago(at, now)));
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
                    "first_inbound_at": c.first_inbound_at,
                    "state": a.state, "tier_due_at": a.tier_due_at, "tier_reason": a.tier_reason,
                    "awaiting_reply_since": a.awaiting_reply_since, "reply_due_at": a.reply_due_at,
                    "waiting_since": a.waiting_since, "follow_up_due_at": a.follow_up_due_at,
                    "next_due_at": a.next_due_at, "reason": a.reason,
                    "paused_until": c.paused_until.filter(|u| *u > now),
                    "conflict": c.conflict_rep.as_ref().filter(|_| c.conflict_at.is_some_and(|at| at >= recent))
                        .map(|rep| serde_json::json!({"rep": rep, "at": c.conflict_at})),
                    "release_frozen": c.release_frozen,
                    "pool_changed_at": c.pool_changed_at, "pool_reason": c.pool_reason,
                    "stage": c.stage, "protected": c.protected || c.stage == "signed",
                    "pool": c.owner.is_none().then(|| store::ownership::pool_of(config, c.pool.as_deref(), c.country.as_deref(), &c.tier)),
                    "release_at": a.release_at.filter(|_| c.owner.is_some()),
                    "flags": flags(c, a),
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
        for flag in flags(c, a) {
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

pub async fn pool(config: &Config, history: bool, rep: Option<&str>, format: Format) -> Result<()> {
    super::customers::check_rep(config, rep)?;
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
                "{:<26} {:<9} {:<12} {:<12} {:<12} {:<14} {}",
                when(Some(r.at), now),
                r.action,
                r.customer_id,
                r.rep.as_deref().unwrap_or("-"),
                r.pool.as_deref().unwrap_or("-"),
                r.actor.as_deref().unwrap_or("policy"),
                r.reason
            );
        }
        println!("{} changes", rows.len());
        return Ok(());
    }
    let mut rows = store::followup::pool(&db).await?;
    for r in &mut rows {
        let pool =
            store::ownership::pool_of(config, r.pool.as_deref(), r.country.as_deref(), &r.tier);
        r.pool = Some(pool.to_string());
    }
    if let Some(rep) = rep {
        rows.retain(|r| config.rep_in_pool(rep, r.pool.as_deref().unwrap_or_default()));
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<12} {} {:<12} {:<15} {:<22} {:<22} {:<12} REASON",
        "CUSTOMER",
        cell("NAME", 24),
        "POOL",
        "TIER",
        "LAST CONTACT",
        "RELEASED",
        "FORMER OWNER"
    );
    for r in &rows {
        println!(
            "{:<12} {} {:<12} {:<15} {:<22} {:<22} {:<12} {}",
            r.id,
            cell(&r.name, 24),
            r.pool.as_deref().unwrap_or("-"),
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
    state: DeliveryState,
    limit: i64,
    format: MessageFormat,
) -> Result<()> {
    let state = state.as_str();
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

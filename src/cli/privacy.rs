//! `keepwarm customers export|erase|history` and `keepwarm retention`: the data a team is
//! trusted with.

use anyhow::{Result, bail};

use super::Format;
use super::table::when;
use crate::config::Config;
use crate::store::{self, Db};

pub async fn export(config: &Config, id: &str) -> Result<()> {
    let db = Db::open(&config.database).await?;
    let Some(doc) = store::privacy::export(&db, id).await? else {
        bail!("no customer with id {id:?}");
    };
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

pub async fn erase(config: &Config, id: &str, reason: String, yes: bool) -> Result<()> {
    if !yes {
        bail!(
            "erasing {id:?} removes its messages, tags and history for good: run again with --yes to confirm"
        );
    }
    let reason = reason.trim().to_string();
    if reason.is_empty() {
        bail!("--reason must say why the customer is erased");
    }
    let db = Db::open(&config.database).await?;
    let actor = store::customers::Actor::cli("erase", Some(reason));
    let Some(erased) = store::privacy::erase(&db, id, &actor).await? else {
        bail!("no customer with id {id:?}");
    };
    let parts: Vec<String> = erased
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(t, n)| format!("{n} {t}"))
        .collect();
    println!("erased customer {id}: {}", parts.join(", "));
    Ok(())
}

pub async fn history(config: &Config, id: &str, format: Format) -> Result<()> {
    let db = Db::open(&config.database).await?;
    if store::customers::get_customer(&db, id).await?.is_none() {
        bail!("no customer with id {id:?}");
    }
    let changes = store::privacy::changes(&db, id).await?;
    let policy = store::followup::pool_history(&db, Some(id), 1000).await?;
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"changes": changes, "policy": policy})
            )?
        );
        return Ok(());
    }
    let now = store::now_ms();
    for c in &changes {
        println!(
            "{:<26} {:<6} {} → {}  by {} ({}){}",
            when(Some(c.at), now),
            c.field,
            c.old_value.as_deref().unwrap_or("-"),
            c.new_value.as_deref().unwrap_or("-"),
            c.actor,
            c.via,
            c.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    for p in &policy {
        let pool = p
            .pool
            .as_deref()
            .map(|p| format!(" (pool {p})"))
            .unwrap_or_default();
        println!(
            "{:<26} {:<6} {}{pool}  by {}: {}",
            when(Some(p.at), now),
            p.action,
            p.rep.as_deref().unwrap_or("-"),
            match p.actor.as_deref() {
                None | Some("policy") => "the policy",
                Some(who) => who,
            },
            p.reason
        );
    }
    println!(
        "{} changes of fields, {} of owner",
        changes.len(),
        policy.len()
    );
    Ok(())
}

pub async fn retention(config: &Config) -> Result<()> {
    let keep = crate::store::privacy::Keep::of(&config.retention);
    let db = Db::open(&config.database).await?;
    let dropped = store::privacy::apply_retention(
        &db,
        keep,
        crate::account::SESSION_IDLE_MS,
        store::now_ms(),
    )
    .await?;
    if keep.failure_raw.is_none()
        && keep.chat_raw.is_none()
        && keep.quoted.is_none()
        && keep.sign_ins.is_none()
    {
        println!("no [retention] set: raw content is kept");
    } else {
        println!(
            "raw content dropped: {} failures, {} chat messages, {} mails' quoted text, {} sign-in records",
            dropped.failure_raw, dropped.chat_raw, dropped.quoted, dropped.sign_ins
        );
    }
    println!("{} ended board sessions removed", dropped.sessions);
    Ok(())
}

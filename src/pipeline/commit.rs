//! The one function that commits ingested messages: a batch of prepared inputs in one
//! transaction, in the order the policy needs (inputs → leads → tags and contact times →
//! group roll-up → ownership after contact), with a hook run before the commit and the
//! one-input-at-a-time fallback that keeps one bad input from stopping the others.

use crate::config::Config;
use crate::message::Prepared;
use crate::rules::RuleSet;
use crate::store::batch::{
    BatchReport, InTransaction, Savepoint, advance_timers, insert_failure, savepoint, tally,
    write_inputs,
};
use crate::store::{Context, Db, StoreError, Tx, now_ms};

/// Commit a batch in one transaction. Idempotent: a sighting already stored is a duplicate; a
/// message already stored under the same key gets only a new sighting. An input the database
/// refuses becomes a failure; the others are stored (see [`commit_with`]).
pub async fn commit(
    db: &Db,
    batch: &[Prepared],
    rules: &RuleSet,
    config: &Config,
) -> Result<BatchReport, StoreError> {
    if batch.is_empty() {
        return Ok(BatchReport::default());
    }
    commit_with(db, batch, rules, config, &()).await
}

/// Commit a batch in one transaction and run `hook` in it before the commit (an IMAP source
/// moves its checkpoint there), so that one bad input never stops the others.
///
/// The batch is written as a whole. When the database refuses it for a reason one input can
/// cause (a value it cannot hold, a constraint, a limit: [`StoreError::is_input_fault`]), the
/// transaction is rolled back and the batch written again in a new one, one input at a time,
/// each in its own savepoint. An input the database still refuses is stored as a failure with
/// the database's reason (and what was prepared of it), and its source key is listed in
/// [`BatchReport::refused`]; the rest are stored, and the hook's checkpoint moves past it. Any
/// other error (connection, lock, disk) is returned: the caller retries the whole batch later.
/// The common case pays nothing for this: no savepoint is taken until a batch fails (SQLite
/// journals every page a savepoint covers).
pub async fn commit_with(
    db: &Db,
    batch: &[Prepared],
    rules: &RuleSet,
    config: &Config,
    hook: &dyn InTransaction,
) -> Result<BatchReport, StoreError> {
    let mut tx = db.begin_write().await?;
    let error = match write_batch(&mut tx, batch, rules, config).await {
        Ok((report, hits)) => {
            hook.run(&mut tx).await?;
            tx.commit().await.ctx("commit a batch")?;
            count(batch, &report, &hits);
            return Ok(report);
        }
        Err(e) if e.is_input_fault() => e,
        Err(e) => return Err(e),
    };
    tx.rollback().await.ctx("roll back a refused batch")?;
    tracing::warn!(error = %error, inputs = batch.len(),
        "The database refused a batch; storing it one input at a time.");
    let mut tx = db.begin_write().await?;
    let (report, hits) = one_by_one(&mut tx, batch, rules, config).await?;
    hook.run(&mut tx).await?;
    tx.commit().await.ctx("commit a batch")?;
    count(batch, &report, &hits);
    Ok(report)
}

/// The fallback of [`commit_with`]: each input in its own savepoint; one the database refuses
/// becomes a failure.
async fn one_by_one(
    tx: &mut Tx,
    batch: &[Prepared],
    rules: &RuleSet,
    config: &Config,
) -> Result<(BatchReport, Vec<String>), StoreError> {
    let mut report = BatchReport::default();
    let mut hits = Vec::new();
    let mut first_refusal = None;
    for p in batch {
        savepoint(tx, Savepoint::Mark).await?;
        match write_batch(tx, std::slice::from_ref(p), rules, config).await {
            Ok((r, h)) => {
                savepoint(tx, Savepoint::Release).await?;
                report.add(&r);
                hits.extend(h);
            }
            Err(e) if e.is_input_fault() => {
                savepoint(tx, Savepoint::RollBack).await?;
                savepoint(tx, Savepoint::Release).await?;
                let (origin, raw) = match p {
                    Prepared::Message { origin, message } => (origin, message.to_failure_json()),
                    Prepared::Failure { origin, raw, .. } => (origin, raw.clone()),
                };
                let mut reason = format!("the database refused this input: {}", e.cause());
                crate::message::truncate_in_place(&mut reason, 1000);
                tracing::warn!(source = %origin.source_key, %reason, "Input stored as a failure.");
                if insert_failure(tx, origin, &reason, &raw, now_ms()).await? {
                    report.failed += 1;
                } else {
                    report.duplicates += 1;
                }
                report.refused.push(origin.source_key.clone());
                first_refusal.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    // Every input of a batch refused is the database's own problem (a schema out of step, a
    // full disk reported as a constraint), not a poison input: retry the batch later rather
    // than turn the whole batch into failures.
    if batch.len() > 1
        && report.refused.len() == batch.len()
        && let Some(e) = first_refusal
    {
        return Err(e);
    }
    Ok((report, hits))
}

/// Write a batch inside a transaction the caller commits: its report and the tags its new
/// messages carry (counted once the transaction commits).
async fn write_batch(
    tx: &mut Tx,
    batch: &[Prepared],
    rules: &RuleSet,
    config: &Config,
) -> Result<(BatchReport, Vec<String>), StoreError> {
    let now = now_ms();
    let mut written = write_inputs(tx, batch, now).await?;
    if config.leads.enabled {
        written.report.leads =
            crate::followup::leads::make(tx, &mut written.messages, &written.inserted, config, now)
                .await?;
    }
    // The next step is advice to the team: in its language, whatever the customer wrote in
    // (the board shows each reader's own).
    let team_lang = config.team.language.as_deref().unwrap_or("en");
    let step_of = |t: &crate::message::TagHit| -> (i64, String) {
        rules
            .rule(&t.tag)
            .map(|r| (r.ttl_ms, r.next_step(team_lang).to_string()))
            .unwrap_or((90 * crate::time::DAY_MS, String::new()))
    };
    let tally = tally(&written);
    crate::store::tags::insert_hits(tx, &tally.hits).await?;
    crate::followup::tags::record(tx, &tally.tags, &step_of, config, now).await?;
    let contact = advance_timers(tx, tally, now).await?;
    crate::followup::contact::tell(tx, &contact.moved, config, now).await?;
    let mut report = written.report.clone();
    report.add(&contact.report);
    if config.followup.group_rollup && !contact.touched.is_empty() {
        crate::store::followup::recheck_groups(tx, &contact.touched).await?;
    }
    crate::followup::ownership::after_contact(tx, &contact.fresh, config, now).await?;
    let hits = contact
        .fresh
        .iter()
        .flat_map(|m| m.tags.iter().map(|t| t.tag.clone()))
        .collect();
    Ok((report, hits))
}

/// Metrics of a committed batch by its source: imap, maildir, mbox, or the chat channel
/// (whatsapp, wechat…).
fn count(batch: &[Prepared], report: &BatchReport, hits: &[String]) {
    let source = batch
        .first()
        .map(|p| match p {
            Prepared::Message {
                origin, message, ..
            } if origin.source_key.starts_with("wa:") => message.channel.as_str(),
            Prepared::Message { origin, .. } | Prepared::Failure { origin, .. } => {
                origin.source_key.split(':').next().unwrap_or("unknown")
            }
        })
        .unwrap_or("unknown");
    crate::metrics::messages(source, "ingested", report.ingested);
    crate::metrics::messages(source, "sighting", report.sightings);
    crate::metrics::messages(source, "duplicate", report.duplicates);
    crate::metrics::messages(source, "failed", report.failed);
    for tag in hits {
        crate::metrics::rule_hit(tag);
    }
}

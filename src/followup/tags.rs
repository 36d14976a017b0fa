//! The life of a customer's tag: a first sighting makes a suggestion; later evidence refreshes
//! it (newer evidence replaces older, never the reverse); a tag a rep dismissed comes back only
//! with evidence newer than the dismissal, and an expired one only with evidence that is live
//! again. A suggestion that became live from recent evidence is news for the CRM
//! (`tag.suggested`). The decisions are pure functions over the stored row; `record` runs them
//! for a batch inside its transaction.

use std::collections::HashSet;

use crate::config::Config;
use crate::events::{At, Event};
use crate::store::batch::StepOf;
use crate::store::tags::{self, StoredTag, TagSighting, TagState};
use crate::store::{StoreError, Tx};

/// What a batch's sightings of one tag bring: evidence, its lifetime and the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub first_seen: i64,
    /// The newest hit's sent time.
    pub last_seen: i64,
    /// `last_seen` plus the rule's evidence lifetime.
    pub expires_at: i64,
    pub count: i64,
    pub message_key: String,
    pub rule: String,
    pub evidence: String,
    pub next_step: String,
}

/// A tag seen for the first time: a live suggestion from now.
pub fn fresh(customer: &str, tag: &str, e: &Evidence, now: i64) -> StoredTag {
    StoredTag {
        customer_id: customer.to_string(),
        tag: tag.to_string(),
        state: TagState::Suggested,
        first_seen: e.first_seen,
        last_seen: e.last_seen,
        expires_at: e.expires_at,
        evidence_count: e.count,
        last_message_key: e.message_key.clone(),
        last_rule: e.rule.clone(),
        last_evidence: e.evidence.clone(),
        next_step: e.next_step.clone(),
        updated_at: now,
        suggested_at: Some(now),
        feedback_at: None,
    }
}

/// A stored tag with a batch's evidence folded in.
pub fn merge(old: &StoredTag, e: &Evidence, now: i64) -> StoredTag {
    // Dismissed, and this evidence is newer than the rep's answer: a suggestion again.
    let back = old.state == TagState::Dismissed && e.last_seen > old.feedback_at.unwrap_or(0);
    // Expired, and this evidence is live: suggested again (the CRM hears of it anew).
    let revived = old.expires_at <= now && e.expires_at > now;
    let newer = e.last_seen >= old.last_seen;
    let pick = |new: &String, old: &String| if newer { new.clone() } else { old.clone() };
    StoredTag {
        customer_id: old.customer_id.clone(),
        tag: old.tag.clone(),
        state: if back { TagState::Suggested } else { old.state },
        first_seen: old.first_seen.min(e.first_seen),
        last_seen: old.last_seen.max(e.last_seen),
        expires_at: old.expires_at.max(e.expires_at),
        evidence_count: old.evidence_count + e.count,
        last_message_key: pick(&e.message_key, &old.last_message_key),
        last_rule: pick(&e.rule, &old.last_rule),
        last_evidence: pick(&e.evidence, &old.last_evidence),
        next_step: pick(&e.next_step, &old.next_step),
        updated_at: now,
        suggested_at: if back || revived {
            Some(now)
        } else {
            old.suggested_at
        },
        feedback_at: old.feedback_at,
    }
}

/// Did the tag become a live suggestion at `now`?
pub fn became_live(t: &StoredTag, now: i64) -> bool {
    t.state == TagState::Suggested && t.suggested_at == Some(now)
}

/// Fold a batch's sightings (sorted by customer and tag) into the customers' tags, in the
/// transaction: new tags are inserted, existing ones locked, merged and written back; a
/// suggestion that became live from evidence sent within `followup.recent` is a
/// `tag.suggested` event (in the order of the sightings).
pub async fn record(
    tx: &mut Tx,
    sightings: &[TagSighting<'_>],
    step_of: StepOf<'_>,
    config: &Config,
    now: i64,
) -> Result<(), StoreError> {
    let evidence: Vec<Evidence> = sightings
        .iter()
        .map(|s| {
            let (m, t) = s.latest;
            let (ttl, step) = step_of(t);
            Evidence {
                first_seen: s.first_seen,
                last_seen: m.sent_at,
                expires_at: m.sent_at + ttl,
                count: s.count,
                message_key: m.key.clone(),
                rule: t.rule.clone(),
                evidence: t.evidence.clone(),
                next_step: step,
            }
        })
        .collect();
    let rows: Vec<StoredTag> = sightings
        .iter()
        .zip(&evidence)
        .map(|(s, e)| fresh(s.customer, s.tag, e, now))
        .collect();
    let inserted: HashSet<(String, String)> = tags::insert_new(tx, &rows).await?;
    let key = |s: &TagSighting| (s.customer.to_string(), s.tag.to_string());
    let new: Vec<bool> = sightings
        .iter()
        .map(|s| inserted.contains(&key(s)))
        .collect();
    let known: Vec<(&str, &str)> = sightings
        .iter()
        .zip(&new)
        .filter(|(_, new)| !**new)
        .map(|(s, _)| (s.customer, s.tag))
        .collect();
    let stored = tags::lock(tx, &known).await?;
    let mut merged = Vec::with_capacity(known.len());
    let mut live = Vec::new();
    for (i, (s, e)) in sightings.iter().zip(&evidence).enumerate() {
        if new[i] {
            live.push(i);
            continue;
        }
        // A row gone since the insert saw it (erased meanwhile) stays gone.
        let Some(old) = stored.get(&key(s)) else {
            continue;
        };
        let row = merge(old, e, now);
        if became_live(&row, now) {
            live.push(i);
        }
        merged.push(row);
    }
    tags::overwrite(tx, &merged).await?;
    let recent = now - config.followup.recent_ms();
    for i in live {
        let (s, e) = (&sightings[i], &evidence[i]);
        let (m, t) = s.latest;
        if m.sent_at < recent {
            continue;
        }
        let event = Event::TagSuggested {
            customer: crate::store::followup::customer_summary(tx, s.customer).await?,
            tag: s.tag.to_string(),
            rule: t.rule.clone(),
            evidence: t.evidence.clone(),
            message_key: crate::message::display_key(&m.key).to_string(),
            next_step: e.next_step.clone(),
            lang: t.lang.clone(),
            sent_at: At(m.sent_at),
        };
        crate::store::outbox::emit(tx, &event, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::time::DAY_MS as DAY;

    fn evidence(last_seen: i64, key: &str) -> Evidence {
        Evidence {
            first_seen: last_seen,
            last_seen,
            expires_at: last_seen + 30 * DAY,
            count: 1,
            message_key: key.into(),
            rule: "price-sensitive/en/discount".into(),
            evidence: format!("evidence of {key}"),
            next_step: "Quote a tiered price.".into(),
        }
    }

    #[test]
    fn a_first_sighting_is_a_live_suggestion() {
        let now = 100 * DAY;
        let t = fresh("C1", "price-sensitive", &evidence(now - DAY, "m1"), now);
        assert_eq!(t.state, TagState::Suggested);
        assert!(became_live(&t, now));
        assert_eq!(t.evidence_count, 1);
    }

    #[test]
    fn newer_evidence_replaces_older_never_the_reverse() {
        let now = 100 * DAY;
        let old = fresh("C1", "t", &evidence(now - 5 * DAY, "m5"), now - 5 * DAY);
        let newer = merge(&old, &evidence(now - DAY, "m1"), now);
        assert_eq!(newer.last_message_key, "m1");
        assert_eq!(newer.last_seen, now - DAY);
        assert_eq!(newer.evidence_count, 2);
        assert_eq!(newer.first_seen, now - 5 * DAY);
        // An older message imported later adds to the count but not the evidence.
        let older = merge(&newer, &evidence(now - 9 * DAY, "m9"), now);
        assert_eq!(older.last_message_key, "m1");
        assert_eq!(older.last_evidence, "evidence of m1");
        assert_eq!(older.first_seen, now - 9 * DAY);
        assert_eq!(older.evidence_count, 3);
        assert_eq!(older.expires_at, newer.expires_at);
        // Still live, so not news again.
        assert!(!became_live(&older, now));
        assert_eq!(older.suggested_at, Some(now - 5 * DAY));
    }

    #[test]
    fn a_dismissed_tag_comes_back_only_with_evidence_newer_than_the_dismissal() {
        let now = 100 * DAY;
        let mut t = fresh("C1", "t", &evidence(now - 10 * DAY, "m10"), now - 10 * DAY);
        t.state = TagState::Dismissed;
        t.feedback_at = Some(now - 3 * DAY);
        let before = merge(&t, &evidence(now - 4 * DAY, "m4"), now);
        assert_eq!(before.state, TagState::Dismissed);
        assert!(!became_live(&before, now));
        let after = merge(&t, &evidence(now - 2 * DAY, "m2"), now);
        assert_eq!(after.state, TagState::Suggested);
        assert!(became_live(&after, now));
        assert_eq!(after.feedback_at, Some(now - 3 * DAY), "the answer is kept");
    }

    #[test]
    fn an_expired_tag_is_suggested_again_only_by_live_evidence() {
        let now = 100 * DAY;
        let t = fresh("C1", "t", &evidence(now - 40 * DAY, "m40"), now - 40 * DAY);
        assert!(t.expires_at <= now);
        // Evidence that is itself expired: counted, not news.
        let stale = merge(&t, &evidence(now - 35 * DAY, "m35"), now);
        assert!(!became_live(&stale, now));
        let live = merge(&t, &evidence(now - DAY, "m1"), now);
        assert!(became_live(&live, now));
        assert_eq!(live.expires_at, now + 29 * DAY);
    }

    #[test]
    fn an_accepted_tag_stays_accepted() {
        let now = 100 * DAY;
        let mut t = fresh("C1", "t", &evidence(now - 10 * DAY, "m10"), now - 10 * DAY);
        t.state = TagState::Accepted;
        t.feedback_at = Some(now - 9 * DAY);
        let m = merge(&t, &evidence(now - DAY, "m1"), now);
        assert_eq!(m.state, TagState::Accepted);
        assert!(!became_live(&m, now));
    }
}

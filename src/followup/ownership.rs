//! What a rep's recent contact does to a customer's ownership: a pool customer contacted by a
//! rep is claimed by that rep (within the rep's daily claim limit); a customer contacted by a rep
//! who does not own it is a conflict, flagged for the board and told to the CRM when it is news.
//! An out-of-office reply pauses the customer's clock. The decisions are plain functions; the
//! rows are `store::followup`'s.

use std::collections::HashMap;

use crate::config::Config;
use crate::events::{At, Event};
use crate::message::{Direction, Message};
use crate::store::followup::{claim, claims_since, flag_conflict, owner_row, pause};
use crate::store::outbox::{customer_ref, emit};
use crate::store::{StoreError, Tx};

/// The contacts that can change ownership: recent outbound messages that count, from a rep's
/// mailbox or number to a known customer, oldest first.
pub fn contacts<'m>(fresh: &[&'m Message], recent: i64) -> Vec<&'m Message> {
    let mut out: Vec<&Message> = fresh
        .iter()
        .copied()
        .filter(|m| {
            m.direction == Direction::Outbound
                && m.counts_as_contact
                && m.customer.is_some()
                && m.rep.is_some()
                && m.sent_at >= recent
        })
        .collect();
    out.sort_by_key(|m| m.sent_at);
    out
}

/// What one contact by `rep` means for a customer owned by `owner`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The rep owns it, or nobody does and claims on contact are off.
    Nothing,
    /// A pool customer the rep's contact claims.
    Claim { reason: String },
    /// Someone other than the owner wrote (`owner`: the owner named, none when a claim was
    /// refused), and why.
    Conflict {
        owner: Option<String>,
        reason: String,
    },
}

/// The team's claim rules as a contact needs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimRules {
    pub claim_on_contact: bool,
    pub daily_limit: u32,
}

/// Judge one contact: `claimed_today` is how many customers the rep claimed today so far.
pub fn judge(
    owner: Option<&str>,
    rep: &str,
    channel: &str,
    rules: ClaimRules,
    claimed_today: u32,
) -> Verdict {
    match owner {
        Some(o) if o == rep => Verdict::Nothing,
        Some(o) => Verdict::Conflict {
            owner: Some(o.to_string()),
            reason: "contacted by another rep".into(),
        },
        None if !rules.claim_on_contact => Verdict::Nothing,
        None if claimed_today < rules.daily_limit => Verdict::Claim {
            reason: format!("claimed by contact ({channel} message)"),
        },
        None => Verdict::Conflict {
            owner: None,
            reason: format!("claim limit reached ({} per day)", rules.daily_limit),
        },
    }
}

/// Is a conflict by `rep` news for the CRM: a rep new to the flag, or the last flag older than
/// `recent`?
pub fn conflict_is_news(
    flagged_rep: Option<&str>,
    flagged_at: Option<i64>,
    rep: &str,
    recent: i64,
) -> bool {
    flagged_rep != Some(rep) || flagged_at.is_none_or(|at| at < recent)
}

/// Apply a batch's new messages to ownership inside its transaction: out-of-office pauses,
/// claims and conflicts (with their events).
pub async fn after_contact(
    tx: &mut Tx,
    fresh: &[&Message],
    config: &Config,
    now: i64,
) -> Result<(), StoreError> {
    for m in fresh {
        if let (Some(until), Some(c)) = (m.away_until, &m.customer) {
            pause(tx, c, m.sent_at, until).await?;
        }
    }
    let policy = &config.followup;
    let recent = now - policy.recent_ms();
    let contacts = contacts(fresh, recent);
    if contacts.is_empty() {
        return Ok(());
    }
    let rules = ClaimRules {
        claim_on_contact: policy.claim_on_contact,
        daily_limit: policy.claim_daily_limit,
    };
    let day_start = policy.calendar().day_start(now);
    let mut claimed: HashMap<String, u32> = HashMap::new();
    for m in contacts {
        let (Some(customer), Some(rep)) = (m.customer.as_deref(), m.rep.as_deref()) else {
            continue;
        };
        let Some(row) = owner_row(tx, customer).await? else {
            continue;
        };
        // Today's claims are counted only where a claim is possible.
        let today = if row.owner.is_none() && rules.claim_on_contact {
            let n = match claimed.get(rep) {
                Some(n) => *n,
                None => claims_since(tx, rep, day_start).await?,
            };
            claimed.insert(rep.to_string(), n);
            n
        } else {
            0
        };
        let message_key = crate::message::display_key(&m.key).to_string();
        match judge(row.owner.as_deref(), rep, m.channel.as_str(), rules, today) {
            Verdict::Nothing => {}
            Verdict::Claim { reason } => {
                claim(tx, customer, rep, &reason, now).await?;
                claimed.insert(rep.to_string(), today + 1);
                let event = Event::CustomerClaimed {
                    customer: customer_ref(customer, &row.name, &row.tier, Some(rep)),
                    owner: rep.to_string(),
                    reason,
                    message_key,
                    sent_at: At(m.sent_at),
                };
                emit(tx, &event, now).await?;
            }
            Verdict::Conflict { owner, reason } => {
                flag_conflict(tx, customer, rep, m.sent_at).await?;
                if conflict_is_news(row.conflict_rep.as_deref(), row.conflict_at, rep, recent) {
                    let event = Event::CustomerConflict {
                        customer: customer_ref(
                            customer,
                            &row.name,
                            &row.tier,
                            row.owner.as_deref(),
                        ),
                        owner,
                        other_rep: rep.to_string(),
                        reason,
                        message_key,
                        channel: m.channel.as_str().to_string(),
                        sent_at: At(m.sent_at),
                    };
                    emit(tx, &event, now).await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: ClaimRules = ClaimRules {
        claim_on_contact: true,
        daily_limit: 2,
    };

    #[test]
    fn the_owner_writing_changes_nothing_another_rep_is_a_conflict() {
        assert_eq!(
            judge(Some("ana"), "ana", "email", RULES, 0),
            Verdict::Nothing
        );
        assert_eq!(
            judge(Some("ana"), "bo", "email", RULES, 0),
            Verdict::Conflict {
                owner: Some("ana".into()),
                reason: "contacted by another rep".into()
            }
        );
    }

    #[test]
    fn a_pool_customer_is_claimed_within_the_daily_limit() {
        assert_eq!(
            judge(None, "bo", "whatsapp", RULES, 1),
            Verdict::Claim {
                reason: "claimed by contact (whatsapp message)".into()
            }
        );
        assert_eq!(
            judge(None, "bo", "email", RULES, 2),
            Verdict::Conflict {
                owner: None,
                reason: "claim limit reached (2 per day)".into()
            }
        );
        let off = ClaimRules {
            claim_on_contact: false,
            ..RULES
        };
        assert_eq!(judge(None, "bo", "email", off, 0), Verdict::Nothing);
    }

    #[test]
    fn a_conflict_is_news_for_a_new_rep_or_after_a_quiet_while() {
        assert!(conflict_is_news(None, None, "bo", 100));
        assert!(conflict_is_news(Some("cy"), Some(500), "bo", 100));
        assert!(conflict_is_news(Some("bo"), Some(50), "bo", 100));
        assert!(!conflict_is_news(Some("bo"), Some(150), "bo", 100));
    }
}

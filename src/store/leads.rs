//! Lead rows: the routing state (position in the round-robin cycle, leads dealt today), a new
//! lead (its customer, identities, lead record and events) and the messages that join it. What
//! becomes a lead and who gets it is `followup::leads`.

use std::collections::HashMap;

use sqlx::Row;

use super::outbox::{customer_ref, emit};
use super::{Context, StoreError, Tx, set_setting, setting};
use crate::directory::identity::MatchReason;
use crate::events::{At, Event};
use crate::message::Message;

/// The stored id of the lead of a counterpart (`kind`: email, phone or wa_user).
pub fn lead_id(kind: &str, value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{kind}:{value}").as_bytes());
    format!("lead-{}", &hex::encode(digest)[..12])
}

fn excerpt(text: &str) -> String {
    let t: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match t.char_indices().nth(280) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t,
    }
}

/// Where routing stands, as the store reads it.
#[derive(Debug, Clone, Default)]
pub struct Standing {
    /// The number of places dealt so far.
    pub position: u64,
    /// Leads per rep today.
    pub today: HashMap<String, u32>,
    /// Customers per rep (as the holding cap counts them).
    pub holding: HashMap<String, u32>,
    /// Leads per rep of the last 90 days that reached stage target or signed.
    pub converted: HashMap<String, u32>,
}

/// Where lead routing stands: the position, the leads each rep got since `day_start`, the
/// customers each holds (signed ones only if `counts_signed`), and the leads since
/// `converted_since` that reached stage target or signed with the rep they were dealt to.
pub async fn routing_state(
    tx: &mut Tx,
    day_start: i64,
    counts_signed: bool,
    converted_since: i64,
) -> Result<Standing, StoreError> {
    let position: u64 = setting(tx, "lead_position")
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut s = Standing {
        position,
        ..Standing::default()
    };
    let queries: [(&str, Option<i64>, &'static str); 3] = [
        (
            "SELECT owner, COUNT(*) FROM lead WHERE created_at >= $1 AND owner IS NOT NULL GROUP BY owner",
            Some(day_start),
            "count today's leads",
        ),
        (
            if counts_signed {
                "SELECT owner, COUNT(*) FROM customer WHERE owner IS NOT NULL GROUP BY owner"
            } else {
                "SELECT owner, COUNT(*) FROM customer WHERE owner IS NOT NULL AND stage <> 'signed'
                 GROUP BY owner"
            },
            None,
            "count the reps' customers",
        ),
        (
            "SELECT l.owner, COUNT(*) FROM lead l JOIN customer c ON c.id = l.customer_id
             WHERE l.created_at >= $1 AND l.owner IS NOT NULL AND c.owner = l.owner
               AND c.stage IN ('target', 'signed')
             GROUP BY l.owner",
            Some(converted_since),
            "count converted leads",
        ),
    ];
    for (i, (sql, since, context)) in queries.into_iter().enumerate() {
        let mut q = sqlx::query(sql);
        if let Some(t) = since {
            q = q.bind(t);
        }
        let into = match i {
            0 => &mut s.today,
            1 => &mut s.holding,
            _ => &mut s.converted,
        };
        for r in q.fetch_all(&mut **tx).await.ctx(context)? {
            into.insert(r.get(0), r.get::<i64, _>(1) as u32);
        }
    }
    Ok(s)
}

/// Store the routing position.
pub async fn set_position(tx: &mut Tx, position: u64) -> Result<(), StoreError> {
    set_setting(tx, "lead_position", &position.to_string()).await
}

/// A lead to store.
pub struct NewLead<'a> {
    pub id: &'a str,
    pub name: &'a str,
    /// The key near-duplicate company names share (`directory::import::name_key`).
    pub name_key: &'a str,
    /// The counterpart's identity: kind (email, phone, wa_user) and value.
    pub kind: &'a str,
    pub value: &'a str,
    pub owner: Option<&'a str>,
    /// How the owner was chosen (direct, round-robin, pool).
    pub how: &'a str,
    /// The inquiry that made it.
    pub message: &'a Message,
}

/// Store a lead: its customer (tier new), the counterpart's identity and, for a new customer,
/// its company domain, the lead record and the `lead.created` and `lead.assigned` events.
/// Returns false when the customer already existed (nothing but the identity is written).
pub async fn create(tx: &mut Tx, lead: &NewLead<'_>, now: i64) -> Result<bool, StoreError> {
    let m = lead.message;
    let created = sqlx::query(
        "INSERT INTO customer (id, name, name_key, tier, owner, created_at, updated_at, check_at,
                               pool_changed_at, pool_reason)
         VALUES ($1, $2, $3, 'new', $4, $5, $5, 0, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(lead.id)
    .bind(lead.name)
    .bind(lead.name_key)
    .bind(lead.owner)
    .bind(now)
    .bind(format!("lead ({})", lead.how))
    .fetch_optional(&mut **tx)
    .await
    .ctx("create a lead")?
    .is_some();
    sqlx::query(
        "INSERT INTO identity (kind, value, customer_id) VALUES ($1, $2, $3) ON CONFLICT (kind, value) DO NOTHING",
    )
    .bind(lead.kind)
    .bind(lead.value)
    .bind(lead.id)
    .execute(&mut **tx)
    .await
    .ctx("store a lead's identity")?;
    if !created {
        return Ok(false);
    }
    if let Some(domain) = &m.lead_domain {
        sqlx::query(
            "INSERT INTO identity (kind, value, customer_id) VALUES ('domain', $1, $2) ON CONFLICT (kind, value) DO NOTHING",
        )
        .bind(domain)
        .bind(lead.id)
        .execute(&mut **tx)
        .await
        .ctx("store a lead's domain")?;
    }
    sqlx::query(
        "INSERT INTO lead (customer_id, message_key, channel, counterpart, owner, how, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(lead.id)
    .bind(&m.key)
    .bind(m.channel.as_str())
    .bind(lead.value)
    .bind(lead.owner)
    .bind(lead.how)
    .bind(now)
    .execute(&mut **tx)
    .await
    .ctx("record a lead")?;
    let customer = customer_ref(lead.id, lead.name, "new", lead.owner);
    emit(
        tx,
        &Event::LeadCreated {
            customer: customer.clone(),
            channel: m.channel.as_str().to_string(),
            counterpart: lead.value.to_string(),
            message_key: crate::message::display_key(&m.key).to_string(),
            subject: m.subject.clone(),
            excerpt: excerpt(&m.body),
            sent_at: At(m.sent_at),
        },
        now,
    )
    .await?;
    emit(
        tx,
        &Event::LeadAssigned {
            customer,
            owner: lead.owner.map(str::to_string),
            how: lead.how.to_string(),
        },
        now,
    )
    .await?;
    Ok(true)
}

/// Attach the stored messages of a counterpart that matched nobody to its lead, and set the
/// lead's contact times from them.
pub async fn attach_stored(
    tx: &mut Tx,
    id: &str,
    kind: &str,
    counterpart: Option<&str>,
) -> Result<(), StoreError> {
    let attached = sqlx::query(
        "UPDATE message SET customer_id = $1, match_reason = $2
         WHERE customer_id IS NULL AND group_id IS NULL AND direction <> 'internal' AND counterpart = $3",
    )
    .bind(id)
    .bind(MatchReason::of_identity(kind).as_str())
    .bind(counterpart)
    .execute(&mut **tx)
    .await
    .ctx("attach messages to a lead")?;
    if attached.rows_affected() > 0 {
        sqlx::query(
            "UPDATE customer SET
               first_inbound_at = (SELECT MIN(sent_at) FROM message WHERE customer_id = $1 AND direction = 'inbound' AND counts_as_contact = $2),
               last_inbound_at = (SELECT MAX(sent_at) FROM message WHERE customer_id = $1 AND direction = 'inbound' AND counts_as_contact = $2),
               last_outbound_at = (SELECT MAX(sent_at) FROM message WHERE customer_id = $1 AND direction = 'outbound' AND counts_as_contact = $2),
               last_contact_at = (SELECT MAX(sent_at) FROM message WHERE customer_id = $1 AND counts_as_contact = $2),
               unanswered_since = (SELECT MIN(sent_at) FROM message WHERE customer_id = $1 AND direction = 'outbound' AND counts_as_contact = $2
                 AND sent_at > COALESCE((SELECT MAX(sent_at) FROM message WHERE customer_id = $1 AND direction = 'inbound' AND counts_as_contact = $2), -1)),
               check_at = 0
             WHERE id = $1",
        )
        .bind(id)
        .bind(1_i64)
        .execute(&mut **tx)
        .await
        .ctx("set a lead's contact times")?;
    }
    Ok(())
}

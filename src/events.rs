//! The events keepwarm writes for a team's CRM, as one typed enum: what each one carries is
//! checked by the compiler here, and against its JSON Schema in `schemas/events/` (the
//! external contract) by `tests/events.rs`. `store::outbox::emit` writes them, in the
//! transaction of the change that caused them, as `{"id", "type", "created_at",
//! "customer_id", "data"}`. A leaf: it imports nothing of the crate but time formatting.

use serde::{Serialize, Serializer};

/// A customer as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerRef {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub owner: Option<String>,
}

/// A time in an event (Unix ms), written as RFC 3339 UTC with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At(pub i64);

impl Serialize for At {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::rfc3339(self.0))
    }
}

/// Where a customer's follow-up stands, in `followup.due` and `followup.overdue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Due {
    pub customer: CustomerRef,
    /// ok, due-soon, due, overdue, released.
    pub state: String,
    /// contact interval, first touch, reply to the customer, second follow-up.
    pub reason: String,
    pub due_at: At,
    pub last_inbound_at: Option<At>,
    pub last_outbound_at: Option<At>,
}

/// An event for the CRM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// A customer's contact times moved with recent mail or chat.
    #[serde(rename = "contact.updated")]
    ContactUpdated {
        customer: CustomerRef,
        last_inbound_at: Option<At>,
        last_outbound_at: Option<At>,
        /// inbound or outbound.
        direction: String,
        channel: String,
        message_key: String,
        rep: Option<String>,
        sent_at: At,
    },
    /// A pool customer was claimed by a rep: by contacting it (`how` = "contact", with the
    /// message) or by a command or API call ("command").
    #[serde(rename = "customer.claimed")]
    CustomerClaimed {
        customer: CustomerRef,
        owner: String,
        reason: String,
        how: String,
        /// The pool it was claimed from.
        pool: Option<String>,
        message_key: Option<String>,
        sent_at: Option<At>,
    },
    /// Another rep contacted a customer (or a claim was refused).
    #[serde(rename = "customer.conflict")]
    CustomerConflict {
        customer: CustomerRef,
        owner: Option<String>,
        other_rep: String,
        reason: String,
        message_key: String,
        channel: String,
        sent_at: At,
    },
    /// A customer went to a pool: neglected (`how` = "no-contact", with the due date it
    /// missed) or released by a person ("manual", with who and why).
    #[serde(rename = "customer.released")]
    CustomerReleased {
        customer: CustomerRef,
        former_owner: Option<String>,
        reason: String,
        how: String,
        pool: String,
        by: Option<String>,
        due_at: Option<At>,
        last_inbound_at: Option<At>,
        last_outbound_at: Option<At>,
    },
    /// A manager gave a customer to a rep (`forced`: over the rep's cap or tenure rule).
    #[serde(rename = "customer.assigned")]
    CustomerAssigned {
        customer: CustomerRef,
        owner: String,
        former_owner: Option<String>,
        reason: String,
        by: String,
        forced: bool,
    },
    /// The no-contact rule will release this customer at `release_at` unless someone contacts
    /// it first (`[pool] warn_before_release` ahead).
    #[serde(rename = "customer.release_warning")]
    CustomerReleaseWarning {
        customer: CustomerRef,
        owner: String,
        release_at: At,
        due_at: At,
        reason: String,
    },
    #[serde(rename = "followup.due")]
    FollowupDue(Due),
    #[serde(rename = "followup.overdue")]
    FollowupOverdue(Due),
    /// An unknown sender's inquiry became a lead.
    #[serde(rename = "lead.created")]
    LeadCreated {
        customer: CustomerRef,
        channel: String,
        /// The sender's address or E.164 number.
        counterpart: String,
        message_key: String,
        subject: String,
        /// The first 280 characters the sender wrote.
        excerpt: String,
        sent_at: At,
    },
    /// Who got a lead, and how (round-robin, direct, pool).
    #[serde(rename = "lead.assigned")]
    LeadAssigned {
        customer: CustomerRef,
        owner: Option<String>,
        how: String,
    },
    /// A trait tag became a live suggestion from recent evidence.
    #[serde(rename = "tag.suggested")]
    TagSuggested {
        customer: CustomerRef,
        tag: String,
        rule: String,
        evidence: String,
        message_key: String,
        next_step: String,
        lang: String,
        sent_at: At,
    },
}

impl Event {
    /// The event's type, as the CRM sees it (`contact.updated`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ContactUpdated { .. } => "contact.updated",
            Event::CustomerClaimed { .. } => "customer.claimed",
            Event::CustomerConflict { .. } => "customer.conflict",
            Event::CustomerReleased { .. } => "customer.released",
            Event::CustomerAssigned { .. } => "customer.assigned",
            Event::CustomerReleaseWarning { .. } => "customer.release_warning",
            Event::FollowupDue(_) => "followup.due",
            Event::FollowupOverdue(_) => "followup.overdue",
            Event::LeadCreated { .. } => "lead.created",
            Event::LeadAssigned { .. } => "lead.assigned",
            Event::TagSuggested { .. } => "tag.suggested",
        }
    }

    /// The customer the event is about.
    pub fn customer(&self) -> &CustomerRef {
        match self {
            Event::ContactUpdated { customer, .. }
            | Event::CustomerClaimed { customer, .. }
            | Event::CustomerConflict { customer, .. }
            | Event::CustomerReleased { customer, .. }
            | Event::CustomerAssigned { customer, .. }
            | Event::CustomerReleaseWarning { customer, .. }
            | Event::LeadCreated { customer, .. }
            | Event::LeadAssigned { customer, .. }
            | Event::TagSuggested { customer, .. } => customer,
            Event::FollowupDue(d) | Event::FollowupOverdue(d) => &d.customer,
        }
    }

    /// The whole envelope the outbox stores and the CRM receives.
    pub fn envelope(&self, id: &str, created_at: i64) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("id".into(), id.into());
            o.insert("created_at".into(), crate::time::rfc3339(created_at).into());
            o.insert("customer_id".into(), self.customer().id.clone().into());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_carries_type_customer_id_and_data() {
        let e = Event::LeadAssigned {
            customer: CustomerRef {
                id: "lead-1".into(),
                name: "Ana".into(),
                tier: "new".into(),
                owner: None,
            },
            owner: None,
            how: "pool".into(),
        };
        let v = e.envelope("ev-1", 0);
        assert_eq!(v["type"], "lead.assigned");
        assert_eq!(v["type"], e.kind());
        assert_eq!(v["id"], "ev-1");
        assert_eq!(v["customer_id"], "lead-1");
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["data"]["how"], "pool");
        assert!(v["data"]["owner"].is_null());
        assert_eq!(v["data"]["customer"]["name"], "Ana");
    }
}

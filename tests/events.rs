//! Every event keepwarm can write matches its JSON Schema in `schemas/events/` (the contract a
//! CRM codes against), and every schema there has an event. The match below has no wildcard:
//! a new variant does not compile until it has a sample here.

mod common;

use keepwarm::events::{At, CustomerRef, Due, Event};

fn customer(owner: Option<&str>) -> CustomerRef {
    CustomerRef {
        id: "c-1".into(),
        name: "Gulf Trading LLC".into(),
        tier: "vip".into(),
        owner: owner.map(str::to_string),
    }
}

fn due(state: &str, reason: &str) -> Due {
    Due {
        customer: customer(Some("ana")),
        state: state.into(),
        reason: reason.into(),
        due_at: At(1_760_000_000_000),
        last_inbound_at: None,
        last_outbound_at: Some(At(1_750_000_000_000)),
    }
}

/// Samples of every variant, with the optional fields both present and absent.
fn samples() -> Vec<Event> {
    let at = At(1_765_000_000_123);
    vec![
        Event::ContactUpdated {
            customer: customer(Some("ana")),
            last_inbound_at: Some(at),
            last_outbound_at: None,
            direction: "inbound".into(),
            channel: "email".into(),
            message_key: "abc@example.com".into(),
            rep: None,
            sent_at: at,
        },
        Event::ContactUpdated {
            customer: customer(None),
            last_inbound_at: None,
            last_outbound_at: Some(at),
            direction: "outbound".into(),
            channel: "whatsapp".into(),
            message_key: "wamid.1".into(),
            rep: Some("ana".into()),
            sent_at: at,
        },
        Event::CustomerClaimed {
            customer: customer(Some("bo")),
            owner: "bo".into(),
            reason: "claimed by contact (email message)".into(),
            how: "contact".into(),
            pool: Some("public".into()),
            message_key: Some("k".into()),
            sent_at: Some(at),
        },
        Event::CustomerClaimed {
            customer: customer(Some("bo")),
            owner: "bo".into(),
            reason: "met them at the fair".into(),
            how: "command".into(),
            pool: Some("europe".into()),
            message_key: None,
            sent_at: None,
        },
        Event::CustomerConflict {
            customer: customer(Some("ana")),
            owner: Some("ana".into()),
            other_rep: "bo".into(),
            reason: "contacted by another rep".into(),
            message_key: "k".into(),
            channel: "email".into(),
            sent_at: at,
        },
        Event::CustomerConflict {
            customer: customer(None),
            owner: None,
            other_rep: "bo".into(),
            reason: "claim limit reached (5 per day)".into(),
            message_key: "k".into(),
            channel: "whatsapp".into(),
            sent_at: at,
        },
        Event::CustomerReleased {
            customer: customer(None),
            former_owner: Some("ana".into()),
            reason: "no contact for 45 days".into(),
            how: "no-contact".into(),
            pool: "public".into(),
            by: None,
            due_at: Some(at),
            last_inbound_at: None,
            last_outbound_at: Some(at),
        },
        Event::CustomerReleased {
            customer: customer(None),
            former_owner: Some("ana".into()),
            reason: "the buyer moved to our Dubai office".into(),
            how: "manual".into(),
            pool: "middle-east".into(),
            by: Some("cli:lin".into()),
            due_at: None,
            last_inbound_at: Some(at),
            last_outbound_at: None,
        },
        Event::CustomerAssigned {
            customer: customer(Some("bo")),
            owner: "bo".into(),
            former_owner: Some("ana".into()),
            reason: "ana left the team".into(),
            by: "cli:lin".into(),
            forced: false,
        },
        Event::CustomerReleaseWarning {
            customer: customer(Some("ana")),
            owner: "ana".into(),
            release_at: at,
            due_at: at,
            reason: "contact interval".into(),
        },
        Event::FollowupDue(due("due", "contact interval")),
        Event::FollowupDue(due("due-soon", "reply to the customer")),
        Event::FollowupDue(due("overdue", "second follow-up")),
        Event::FollowupOverdue(due("overdue", "first touch")),
        Event::LeadCreated {
            customer: customer(Some("ana")),
            channel: "email".into(),
            counterpart: "buyer@example.com".into(),
            message_key: "k".into(),
            subject: "询价 2,000 pcs".into(),
            excerpt: "Please quote…".into(),
            sent_at: at,
        },
        Event::LeadAssigned {
            customer: customer(None),
            owner: None,
            how: "pool".into(),
        },
        Event::LeadAssigned {
            customer: customer(Some("ana")),
            owner: Some("ana".into()),
            how: "round-robin".into(),
        },
        Event::TagSuggested {
            customer: customer(Some("ana")),
            tag: "price-sensitive".into(),
            rule: "price-sensitive/en/too expensive".into(),
            evidence: "…your price is too expensive for us…".into(),
            message_key: "k".into(),
            next_step: "Offer a tiered quote".into(),
            lang: "en".into(),
            sent_at: at,
        },
    ]
}

#[test]
fn every_event_matches_its_schema_and_every_schema_has_an_event() {
    let mut kinds = std::collections::BTreeSet::new();
    for event in samples() {
        // Exhaustive: a new variant needs a sample above.
        match &event {
            Event::ContactUpdated { .. }
            | Event::CustomerClaimed { .. }
            | Event::CustomerConflict { .. }
            | Event::CustomerReleased { .. }
            | Event::CustomerAssigned { .. }
            | Event::CustomerReleaseWarning { .. }
            | Event::FollowupDue(_)
            | Event::FollowupOverdue(_)
            | Event::LeadCreated { .. }
            | Event::LeadAssigned { .. }
            | Event::TagSuggested { .. } => {}
        }
        let envelope = event.envelope("0190a0b0-0000-7000-8000-000000000000", 1_765_000_000_000);
        assert_eq!(envelope["type"], event.kind());
        assert_eq!(envelope["customer_id"], event.customer().id);
        common::schema::check_event(&envelope);
        kinds.insert(event.kind().to_string());
    }
    let schemas: std::collections::BTreeSet<String> =
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/events"))
            .unwrap()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_string)
            })
            .collect();
    assert_eq!(
        kinds, schemas,
        "events without a schema, or schemas without an event"
    );
}

#[test]
fn a_sample_that_breaks_its_schema_is_caught() {
    // The checker is not a rubber stamp: a wrong state and a missing field fail.
    let mut bad = Event::FollowupOverdue(due("due", "contact interval")).envelope("x", 0);
    let r = std::panic::catch_unwind(|| common::schema::check_event(&bad));
    assert!(r.is_err(), "followup.overdue with state due passed");
    bad = Event::LeadAssigned {
        customer: customer(None),
        owner: None,
        how: "lottery".into(),
    }
    .envelope("x", 0);
    let r = std::panic::catch_unwind(|| common::schema::check_event(&bad));
    assert!(r.is_err(), "lead.assigned with how = lottery passed");
}

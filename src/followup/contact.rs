//! Which moved contact times are news for the CRM: recent contact is (`contact.updated`); a
//! backfill of old mail is not (the CRM reads the current state through the API).

use crate::config::Config;
use crate::events::{At, Event};
use crate::store::batch::Moved;
use crate::store::{StoreError, Tx};

/// The `contact.updated` event for a customer whose times moved, if its latest contact was
/// sent at `recent_from` or later.
pub fn news(moved: &Moved<'_>, recent_from: i64) -> Option<Event> {
    let m = moved.latest.filter(|m| m.sent_at >= recent_from)?;
    Some(Event::ContactUpdated {
        customer: moved.customer.clone(),
        last_inbound_at: moved.last_inbound_at.map(At),
        last_outbound_at: moved.last_outbound_at.map(At),
        direction: m.direction.as_str().to_string(),
        channel: m.channel.as_str().to_string(),
        message_key: crate::message::display_key(&m.key).to_string(),
        rep: m.rep.clone(),
        sent_at: At(m.sent_at),
    })
}

/// Write the news of a batch's moved contact times (within `followup.recent`), in order.
pub async fn tell(
    tx: &mut Tx,
    moved: &[Moved<'_>],
    config: &Config,
    now: i64,
) -> Result<(), StoreError> {
    let recent_from = now - config.followup.recent_ms();
    for event in moved.iter().filter_map(|m| news(m, recent_from)) {
        crate::store::outbox::emit(tx, &event, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Direction, Message};

    fn moved(latest: Option<&Message>) -> Moved<'_> {
        Moved {
            customer: crate::store::outbox::customer_ref("C1", "Acme", "vip", Some("amy")),
            last_inbound_at: Some(5_000),
            last_outbound_at: None,
            latest,
        }
    }

    #[test]
    fn recent_contact_is_news_a_backfill_is_not() {
        let mut m = Message::sample("email:k1", "buyer@acme.example");
        m.sent_at = 5_000;
        let Some(Event::ContactUpdated {
            customer,
            direction,
            sent_at,
            last_inbound_at,
            ..
        }) = news(&moved(Some(&m)), 4_000)
        else {
            panic!("recent contact is news");
        };
        assert_eq!(customer.id, "C1");
        assert_eq!(direction, Direction::Inbound.as_str());
        assert_eq!((sent_at, last_inbound_at), (At(5_000), Some(At(5_000))));
        assert!(news(&moved(Some(&m)), 6_000).is_none(), "older than recent");
        assert!(news(&moved(None), 0).is_none(), "no message of contact");
    }
}

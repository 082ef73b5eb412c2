//! What providers report about messages already sent: a delivery receipt, a read, a bounce, a
//! status callback. Every report is kept in the message's delivery history; the message's
//! status moves only forward — `sent` < `delivered` < `read`, and `failed` only before
//! delivery — because providers report out of order and twice (a late "sent" after "read" is
//! history, not news; delivery evidence after a failure wins). The new state and its events
//! commit together, like every other change.

use omnibridge_channel::DeliveryStatus;
use uuid::Uuid;

use crate::domain::events::{self, Event};
use crate::events::WorkError;
use crate::events::outbox::UnitOfWork;
use crate::events::outbox::{self, EventBus};
use crate::events::present;
use crate::privacy::Keyring;
use crate::store::deliveries::{self, NewReport};
use crate::store::{self, Db, MessageRow};

/// A provider's word about one of our outbound messages.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: DeliveryStatus,
    /// The provider's id for the message, when the report is the first to tell it.
    pub external_id: Option<String>,
    /// Why it failed, in the provider's words.
    pub error: Option<String>,
}

/// How far along a status is; failures and notes are not on the line.
fn rank(status: &str) -> i32 {
    match status {
        "queued" | "scheduled" | "sending" => 0,
        "sent" => 1,
        "delivered" => 2,
        "read" => 3,
        _ => -1,
    }
}

/// The status a message at `current` moves to on `reported`, if it moves.
pub fn merge(current: &str, reported: DeliveryStatus) -> Option<DeliveryStatus> {
    let new = reported.as_str();
    match reported {
        DeliveryStatus::Queued => None,
        DeliveryStatus::Failed if current == "failed" => None,
        // A failure after delivery (another device of the person) does not undo it.
        DeliveryStatus::Failed => (rank(current) >= 0 && rank(current) < rank("delivered")).then_some(reported),
        // Delivery evidence after a failure wins; a late "sent" does not.
        _ if current == "failed" => (rank(new) >= rank("delivered")).then_some(reported),
        _ => (rank(current) >= 0 && rank(new) > rank(current)).then_some(reported),
    }
}

/// Records `report` on `message`: kept in its history, applied when it moves the status, with
/// `message.updated` (and `message.delivered` the first time it is delivered or read,
/// `message.failed` when it fails). Returns whether the status moved.
pub async fn record(db: &Db, keyring: &Keyring, bus: &EventBus, message: &MessageRow, report: Report) -> Result<bool, WorkError> {
    let moved = merge(&message.status, report.status);
    let error = report.error.as_deref().map(crate::domain::without_addresses);
    let key = keyring.data_key(db, message.tenant_id, message.contact_id).await?;
    let mut work = UnitOfWork::begin(db, bus).await?;
    let history = NewReport {
        message_id: Some(message.id),
        channel_id: message.channel_id,
        external_id: report.external_id.as_deref(),
        status: report.status.as_str(),
        error: error.as_deref(),
        applied: moved.is_some(),
    };
    deliveries::insert(work.tx(), &history).await?;
    if let Some(status) = moved {
        // The failure's reason stays with a message delivered after all.
        let kept_error = if status == DeliveryStatus::Failed { error.clone() } else { message.error.clone() };
        store::messages::record_attempt(work.tx(), message.id, status.as_str(), report.external_id.as_deref(), kept_error.as_deref(), None).await?;
        let row = store::messages::get(work.tx(), message.tenant_id, message.id).await?.ok_or(WorkError::Vanished("the message"))?;
        let view = present::message(&row, &key)?;
        let mut types = vec![events::MESSAGE_UPDATED];
        match status {
            DeliveryStatus::Delivered | DeliveryStatus::Read if rank(&message.status) < rank("delivered") => types.push(events::MESSAGE_DELIVERED),
            DeliveryStatus::Failed => types.push(events::MESSAGE_FAILED),
            _ => {}
        }
        for event_type in types {
            let sequence = outbox::next_sequence(work.tx(), row.conversation_id).await?;
            let event = Event::in_conversation(row.tenant_id, event_type, row.contact_id, row.conversation_id, sequence, &view);
            work.append(Some(&key), event).await?;
        }
    }
    work.commit().await?;
    Ok(moved.is_some())
}

/// Keeps a report whose provider id no message has yet (the status overtook the send's own
/// answer): applied when the send records the id ([`apply_waiting`]), forgotten after a day.
pub async fn park(db: &Db, channel_id: Uuid, report: &Report) -> Result<(), WorkError> {
    let error = report.error.as_deref().map(crate::domain::without_addresses);
    let mut tx = db.begin().await?;
    let waiting = NewReport {
        message_id: None,
        channel_id,
        external_id: report.external_id.as_deref(),
        status: report.status.as_str(),
        error: error.as_deref(),
        applied: false,
    };
    deliveries::insert(&mut tx, &waiting).await?;
    tx.commit().await?;
    Ok(())
}

/// Applies the reports that waited for `external_id`, now that `message` carries it.
pub async fn apply_waiting(db: &Db, keyring: &Keyring, bus: &EventBus, tenant_id: Uuid, message_id: Uuid, channel_id: Uuid, external_id: &str) -> Result<(), WorkError> {
    let mut tx = db.begin().await?;
    let waiting = deliveries::take_waiting(&mut tx, channel_id, external_id).await?;
    tx.commit().await?;
    for row in waiting {
        let Some(message) = store::messages::get(db, tenant_id, message_id).await? else { return Ok(()) };
        let Some(status) = parse_status(&row.status) else { continue };
        record(db, keyring, bus, &message, Report { status, external_id: None, error: row.error }).await?;
    }
    Ok(())
}

fn parse_status(status: &str) -> Option<DeliveryStatus> {
    Some(match status {
        "queued" => DeliveryStatus::Queued,
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryStatus::*;

    fn apply(reports: &[DeliveryStatus]) -> String {
        let mut status = "sent".to_owned();
        for r in reports {
            if let Some(new) = merge(&status, *r) {
                status = new.as_str().to_owned();
            }
        }
        status
    }

    #[test]
    fn statuses_never_move_back() {
        assert_eq!(apply(&[Delivered, Sent]), "delivered");
        assert_eq!(apply(&[Read]), "read");
        assert_eq!(apply(&[Read, Delivered, Sent]), "read");
        assert_eq!(apply(&[Failed]), "failed");
        assert_eq!(apply(&[Failed, Sent]), "failed");
        assert_eq!(apply(&[Failed, Delivered]), "delivered");
        assert_eq!(apply(&[Delivered, Failed]), "delivered");
        assert_eq!(merge("read", Read), None, "a repeated report is no change");
        assert_eq!(merge("note", Delivered), None);
        assert_eq!(merge("received", Read), None);
        assert_eq!(merge("queued", Delivered), Some(Delivered), "a status may overtake the send's own answer");
    }

    #[test]
    fn any_order_of_sent_delivered_read_ends_at_read() {
        let all = [Sent, Delivered, Read];
        for a in 0..3 {
            for b in 0..3 {
                for c in 0..3 {
                    if a != b && b != c && a != c {
                        assert_eq!(apply(&[all[a], all[b], all[c], all[a]]), "read");
                    }
                }
            }
        }
    }
}

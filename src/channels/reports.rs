//! What providers report about messages already sent: a delivery receipt, a bounce, a status
//! callback. The new state and its event commit together, like every other change.

use omnibridge_channel::DeliveryStatus;

use crate::events::WorkError;
use crate::events::outbox::UnitOfWork;
use crate::domain::events::{self, Event};
use crate::events::outbox::{self, EventBus};
use crate::events::present;
use crate::privacy::Keyring;
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

/// Records `report` on `message` with its event (`message.delivered`, `message.failed`), unless
/// the message already stands there. Returns whether anything changed.
pub async fn record(db: &Db, keyring: &Keyring, bus: &EventBus, message: &MessageRow, report: Report) -> Result<bool, WorkError> {
    let event_type = match report.status {
        DeliveryStatus::Delivered | DeliveryStatus::Read => events::MESSAGE_DELIVERED,
        DeliveryStatus::Failed => events::MESSAGE_FAILED,
        DeliveryStatus::Queued | DeliveryStatus::Sent => return Ok(false),
    };
    let already = match report.status {
        DeliveryStatus::Delivered => matches!(message.status.as_str(), "delivered" | "read"),
        status => message.status == status.as_str(),
    };
    if already {
        return Ok(false);
    }
    // Read implies delivered: one `message.delivered` covers both, the first time.
    let announce = !(report.status == DeliveryStatus::Read && message.status == "delivered");
    let key = keyring.data_key(db, message.tenant_id, message.contact_id).await?;
    let mut work = UnitOfWork::begin(db, bus).await?;
    store::messages::record_attempt(work.tx(), message.id, report.status.as_str(), report.external_id.as_deref(), report.error.as_deref().map(crate::domain::without_addresses).as_deref(), None)
        .await
        ?;
    if announce {
        let row = store::messages::get(work.tx(), message.tenant_id, message.id).await?.ok_or(WorkError::Vanished("the message"))?;
        let view = present::message(&row, &key)?;
        let sequence = outbox::next_sequence(work.tx(), row.conversation_id).await?;
        let event = Event::in_conversation(row.tenant_id, event_type, row.contact_id, row.conversation_id, sequence, &view);
        work.append(Some(&key), event).await?;
    }
    work.commit().await?;
    Ok(true)
}

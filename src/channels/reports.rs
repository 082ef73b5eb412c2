//! What providers report about messages already sent: a delivery receipt, a read, a bounce, a
//! status callback. Every report is kept in the message's delivery history; the message's
//! status moves only forward — `sent` < `delivered` < `read`, and `failed` only before
//! delivery — because providers report out of order and twice (a late "sent" after "read" is
//! history, not news; delivery evidence after a failure wins). A reported failure is taken
//! like a failed send: one worth retrying queues the message for another attempt (while
//! attempts remain), a recipient's opt-out at the provider is a withdrawal in the consent
//! ledger. The new state and its events commit together, like every other change.

use std::sync::Arc;

use omnibridge_channel::{AdapterError, ChannelKind, DeliveryStatus};

use crate::domain::delivery::{Failure, Status};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::events::{self, Event};
use crate::events::WorkError;
use crate::events::outbox::UnitOfWork;
use crate::events::outbox::{self, EventBus};
use crate::events::present;
use crate::consent::NewConsent;
use crate::events::present::fields;
use crate::privacy::{DataKey, Keyring};
use crate::store::deliveries::{self, NewReport};
use crate::store::{self, Db, MessageRow};

/// A provider's word about one of our outbound messages.
#[derive(Debug, Clone)]
pub struct Report {
    pub status: DeliveryStatus,
    /// The provider's id for the message, when the report is the first to tell it.
    pub external_id: Option<String>,
    /// Why it failed, classified, in the provider's words.
    pub failure: Option<AdapterError>,
    /// The provider retried already: a transient failure is not resent on its own.
    pub gave_up: bool,
}

impl Report {
    fn error(&self) -> Option<String> {
        self.failure.as_ref().map(|f| crate::domain::without_addresses(f.reason()))
    }
}

/// Records providers' reports: the store, keys and events, and what a failure worth another
/// attempt needs (the send worker's wake-up and its attempt limit).
#[derive(Clone)]
pub struct Reports {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub bus: EventBus,
    pub send_wake: Arc<Notify>,
    pub max_attempts: i64,
}

/// The hub's word for a provider's status.
pub fn status_of(reported: DeliveryStatus) -> Status {
    match reported {
        DeliveryStatus::Queued => Status::Queued,
        DeliveryStatus::Sent => Status::Sent,
        DeliveryStatus::Delivered => Status::Delivered,
        DeliveryStatus::Read => Status::Read,
        DeliveryStatus::Failed => Status::Failed,
    }
}

impl Reports {
    /// Records `report` on `message`: kept in its history, applied when it moves the status, with
    /// `message.updated` (and `message.delivered` the first time it is delivered or read,
    /// `message.failed` when it fails). `kind` is the sending channel's kind (an opt-out is
    /// recorded on its medium). Returns whether the status moved.
    pub async fn record(&self, message: &MessageRow, report: Report, kind: Option<&dyn ChannelKind>) -> Result<bool, WorkError> {
        let current = Status::parse(&message.status);
        let moved = current.and_then(|c| c.on_report(status_of(report.status)));
        let error = report.error();
        let key = self.keyring.data_key(&self.db, message.tenant_id, message.contact_id).await?;
        let mut work = UnitOfWork::begin(&self.db, &self.bus).await?;
        let history = NewReport {
            message_id: Some(message.id),
            channel_id: message.channel_id,
            external_id: report.external_id.as_deref(),
            status: report.status.as_str(),
            error: error.as_deref(),
            applied: moved.is_some(),
        };
        deliveries::insert(work.tx(), &history).await?;
        let Some(status) = moved else {
            work.commit().await?;
            return Ok(false);
        };
        let provider = kind.map_or("provider", |k| k.hook_name());
        // The provider's failure, classified; a failure without one is permanent, unexplained.
        let failure = (status == Status::Failed).then(|| report.failure.clone().unwrap_or_else(|| AdapterError::Permanent(String::new())));
        let failure = failure.map(|f| {
            let described = Failure::from_adapter(&f, provider);
            (f, described)
        });
        let retry = match &failure {
            Some((f, _)) if f.is_retryable() && !report.gave_up => {
                let attempts = store::messages::attempts(work.tx(), message.id).await?;
                // 1 s, 2 s, 4 s … capped at 5 minutes, as for a failed send.
                (attempts < self.max_attempts).then(|| store::now_micros() + (1_000_000i64 << attempts.clamp(0, 8)).min(300_000_000))
            }
            _ => None,
        };
        let mut types = vec![events::MESSAGE_UPDATED];
        if let (Some(next), Some((_, failure))) = (retry, &failure) {
            // Another attempt of the same message, not a copy.
            store::messages::resend(work.tx(), message.id, failure, next).await?;
        } else {
            // A message delivered after a failure keeps the failure's reason, as history.
            let kept = match &failure {
                Some((_, failure)) => Some(failure.clone()),
                None => message.failure(),
            };
            store::messages::record_attempt(work.tx(), message.id, status.as_str(), report.external_id.as_deref(), kept.as_ref(), None).await?;
            match status {
                Status::Delivered | Status::Read if current.is_none_or(|c| !matches!(c, Status::Delivered | Status::Read)) => types.push(events::MESSAGE_DELIVERED),
                Status::Failed => types.push(events::MESSAGE_FAILED),
                _ => {}
            }
            let purpose = match failure.as_ref().map(|(f, _)| f) {
                Some(AdapterError::RecipientOptedOut(_)) => Some(crate::consent::purposes::ALL),
                Some(AdapterError::MarketingOptedOut(_)) => Some(crate::consent::purposes::MARKETING),
                _ => None,
            };
            if let (Some(purpose), Some(kind)) = (purpose, kind) {
                self.withdraw(&mut work, &key, message, kind, purpose, error.as_deref().unwrap_or_default()).await?;
            }
            // A hard bounce counts against the address; repeated ones mark it undeliverable.
            if let (Some((_, failure)), true, Some(kind)) = (&failure, report.gave_up, kind)
                && failure.class == crate::domain::delivery::FailureClass::Permanent
                && let Some(identity) = store::contacts::identity_for_kind(work.tx(), message.tenant_id, message.contact_id, kind.address_kind().as_str()).await?
            {
                let marked = store::undeliverable::hard_bounce(work.tx(), message.tenant_id, message.channel_id, message.contact_id, identity.id, failure.code.as_deref(), &failure.reason).await?;
                if marked {
                    tracing::info!(channel_id = %message.channel_id, contact_id = %message.contact_id, "an address was marked undeliverable after repeated hard bounces");
                }
            }
        }
        let row = store::messages::get(work.tx(), message.tenant_id, message.id).await?.ok_or(WorkError::Vanished("the message"))?;
        let view = present::message(&row, &key)?;
        for event_type in types {
            let sequence = outbox::next_sequence(work.tx(), row.conversation_id).await?;
            let event = Event::in_conversation(row.tenant_id, event_type, row.contact_id, row.conversation_id, sequence, &view);
            work.append(Some(&key), event).await?;
        }
        work.commit().await?;
        if retry.is_some() {
            self.send_wake.notify_one();
        }
        Ok(true)
    }

    /// The recipient opted out at the provider after the send: a withdrawal on the medium, for
    /// the address the message went to.
    async fn withdraw(&self, work: &mut UnitOfWork, key: &DataKey, message: &MessageRow, kind: &dyn ChannelKind, purpose: &str, error: &str) -> Result<(), WorkError> {
        let address_kind = kind.address_kind();
        let Some(identity) = store::contacts::identity_for_kind(work.tx(), message.tenant_id, message.contact_id, address_kind.as_str()).await? else { return Ok(()) };
        let value = key.open(fields::IDENTITY_ADDRESS, message.contact_id, &identity.address)?;
        let to = omnibridge_channel::Address { kind: address_kind, value };
        let withdrawal = NewConsent::provider_withdrawal(&self.keyring, key, message.tenant_id, message.contact_id, message.channel_id, kind.medium().as_str(), &to, purpose, message.id, error)?;
        let (_, changed) = crate::consent::record(work.tx(), key, &[withdrawal]).await?;
        work.appended(changed);
        Ok(())
    }

    /// Keeps a report whose provider id no message has yet (the status overtook the send's own
    /// answer): applied when the send records the id ([`Reports::apply_waiting`]), forgotten after a day.
    pub async fn park(&self, channel_id: Uuid, report: &Report) -> Result<(), WorkError> {
        let error = report.error();
        let mut tx = self.db.begin().await?;
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

    /// Applies the reports that waited for `external_id`, now that `message` carries it. A
    /// failure that waited is taken as permanent: its class was not kept.
    pub async fn apply_waiting(&self, tenant_id: Uuid, message_id: Uuid, channel_id: Uuid, external_id: &str, kind: Option<&dyn ChannelKind>) -> Result<(), WorkError> {
        let mut tx = self.db.begin().await?;
        let waiting = deliveries::take_waiting(&mut tx, channel_id, external_id).await?;
        tx.commit().await?;
        for row in waiting {
            let Some(message) = store::messages::get(&self.db, tenant_id, message_id).await? else { return Ok(()) };
            let Some(status) = parse_status(&row.status) else { continue };
            let failure = (status == DeliveryStatus::Failed).then(|| AdapterError::Permanent(row.error.unwrap_or_default()));
            self.record(&message, Report { status, external_id: None, failure, gave_up: false }, kind).await?;
        }
        Ok(())
    }
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

//! What the hub keeps for adapters, and what their provider callbacks may ask of it: the
//! [`ChannelHost`] port. The hub implements it once, over its store and keys; adapters and
//! their tests see only this trait.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use uuid::Uuid;

use crate::{Accepted, AdapterError, Channel, DeliveryStatus, InboundTx};

/// Why the hub could not do what an adapter asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HostError {
    /// Storage or keys are unavailable right now; the provider should retry.
    #[error("the hub is unavailable: {0}")]
    Unavailable(String),
}

/// A channel as its provider callbacks see it.
#[derive(Clone)]
pub struct HostedChannel {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// The settings, secrets opened and put back in.
    pub settings: Value,
    /// The channel's adapter, for callbacks that need it.
    pub adapter: Arc<dyn Channel>,
}

/// What a provider reported about a message the hub sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// The hub's message id, when the provider echoes it (it rode in a callback URL).
    pub message_id: Option<Uuid>,
    /// The provider's id for the message (a Twilio `MessageSid`, an email `Message-ID`).
    pub provider_id: Option<String>,
    pub status: DeliveryStatus,
    /// Why it failed, classified like a failed send (retry, never, opted out), in words
    /// without personal data.
    pub failure: Option<AdapterError>,
    /// The provider already retried and gave up (a bounce after days of retries): a transient
    /// failure is recorded as transient but not sent again on its own.
    pub gave_up: bool,
}

/// The hub's side of every adapter.
#[async_trait]
pub trait ChannelHost: Send + Sync + 'static {
    /// The channel with this id, if it exists and is of `kind`.
    async fn channel(&self, kind: &str, id: Uuid) -> Result<Option<HostedChannel>, HostError>;

    /// The other channels of `kind` the same tenant has (a provider that calls one URL for all
    /// of an account's numbers: the callback routes each item to its number's channel).
    async fn siblings(&self, kind: &str, channel: &HostedChannel) -> Result<Vec<HostedChannel>, HostError> {
        let _ = (kind, channel);
        Ok(Vec::new())
    }

    /// Where the channel's intake stands (an update offset, a mailbox position), if it ever
    /// saved one.
    async fn cursor(&self, channel_id: Uuid) -> Result<Option<String>, HostError>;

    async fn save_cursor(&self, channel_id: Uuid, cursor: &str) -> Result<(), HostError>;

    /// The last error the channel's background work hit, or `None` once it works again.
    async fn health(&self, channel_id: Uuid, last_error: Option<String>);

    /// Keeps input that could not be read as a message (sealed, for a while), with the reason.
    async fn quarantine(&self, channel_id: Uuid, reference: i64, raw: &[u8], error: &str) -> Result<(), HostError>;

    /// Records what the provider reported about a sent message (a status callback, a bounce).
    /// Reports about messages the channel did not send are ignored.
    async fn report(&self, channel_id: Uuid, report: DeliveryReport) -> Result<(), HostError>;

    /// Queues the hub's own answer (not an operator's) in the conversation of a message just
    /// accepted: it passes the egress door like any other message.
    async fn auto_reply(&self, channel_id: Uuid, accepted: &Accepted, text: &str) -> Result<(), HostError>;

    /// Every message the channel sent to `to` up to `until_ms` (Unix milliseconds) reached
    /// `status` (Messenger's delivery and read watermarks, which name no message).
    async fn report_until(&self, channel_id: Uuid, to: &crate::Address, status: DeliveryStatus, until_ms: i64) -> Result<(), HostError> {
        let _ = (channel_id, to, status, until_ms);
        Ok(())
    }

    /// The provider changed a template's status (approved, paused, disabled): the hub's copy
    /// follows, so a paused template is not offered.
    async fn template_status(&self, channel_id: Uuid, name: &str, language: &str, status: &str) -> Result<(), HostError>;

    /// A provider callback was refused for a bad signature or secret: counted and logged.
    fn signature_refused(&self, kind: &str, channel_id: Uuid);
}

/// What a kind's provider callbacks are served with.
#[derive(Clone)]
pub struct HookContext {
    pub host: Arc<dyn ChannelHost>,
    /// Where inbound messages go; `accept` returns once they are durable.
    pub inbound: InboundTx,
    /// The hub's public base URL (what providers were told to call).
    pub public_url: String,
}

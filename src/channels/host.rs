//! The hub's side of the adapters' port ([`ChannelHost`]): cursors, health, quarantined input,
//! delivery reports and automatic replies, over the store and the keyring. One implementation
//! for every kind.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use omnibridge_channel::{Accepted, ChannelHost, DeliveryReport, HostError, HostedChannel};
use tokio::sync::Notify;
use uuid::Uuid;

use super::Channels;
use crate::outgoing::{self, Draft};
use crate::channels::reports::{Report, Reports};
use crate::events::outbox::UnitOfWork;
use crate::events::outbox::EventBus;
use crate::privacy::{Keyring, tenant_sealed};
use crate::store::mailboxes::QuarantineRow;
use crate::store::{self, Db, now_micros};

pub struct HubChannelHost {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub bus: EventBus,
    /// Wakes the send worker when an automatic reply is queued.
    pub send_wake: Arc<Notify>,
    pub reports: Reports,
    pub channels: Weak<Channels>,
}

fn unavailable(err: impl std::fmt::Display) -> HostError {
    HostError::Unavailable(err.to_string())
}

impl HubChannelHost {
    fn channels(&self) -> Result<Arc<Channels>, HostError> {
        self.channels.upgrade().ok_or_else(|| HostError::Unavailable("the hub is stopping".into()))
    }
}

#[async_trait]
impl ChannelHost for HubChannelHost {
    async fn channel(&self, kind: &str, id: Uuid) -> Result<Option<HostedChannel>, HostError> {
        let channels = self.channels()?;
        let Some(info) = channels.get(id).await.map_err(unavailable)?.filter(|c| c.kind == kind) else { return Ok(None) };
        let settings = super::settings_with_secrets(&self.keyring, &info).map_err(|err| {
            tracing::error!(channel_id = %id, error = %err, "channel settings do not load");
            unavailable(err)
        })?;
        let adapter = channels.adapter(&info).ok_or_else(|| HostError::Unavailable("the channel's adapter could not be built".into()))?;
        Ok(Some(HostedChannel { id: info.id, tenant_id: info.tenant_id, settings, adapter }))
    }

    async fn siblings(&self, kind: &str, of: &HostedChannel) -> Result<Vec<HostedChannel>, HostError> {
        let mut found = Vec::new();
        let mut after = None;
        loop {
            let page = self.db.channels(of.tenant_id, after, 200).await.map_err(unavailable)?;
            after = page.last().map(|c| c.id);
            for row in page.iter().filter(|c| c.kind == kind && c.id != of.id) {
                if let Some(sibling) = self.channel(kind, row.id).await? {
                    found.push(sibling);
                }
            }
            if page.len() < 200 {
                return Ok(found);
            }
        }
    }

    async fn cursor(&self, channel_id: Uuid) -> Result<Option<String>, HostError> {
        store::links::cursor(&self.db, channel_id).await.map_err(unavailable)
    }

    async fn save_cursor(&self, channel_id: Uuid, cursor: &str) -> Result<(), HostError> {
        store::links::save_cursor(&self.db, channel_id, cursor).await.map_err(unavailable)
    }

    async fn health(&self, channel_id: Uuid, last_error: Option<String>) {
        if let Err(err) = store::mailboxes::set_health(&self.db, channel_id, last_error.as_deref()).await {
            tracing::error!(%channel_id, error = %err, "recording channel health failed");
        }
    }

    async fn quarantine(&self, channel_id: Uuid, reference: i64, raw: &[u8], error: &str) -> Result<(), HostError> {
        let channel = self.db.channel_by_id(channel_id).await.map_err(unavailable)?.ok_or_else(|| unavailable("the channel is gone"))?;
        let id = Uuid::now_v7();
        let sealed = self.keyring.seal_for_tenant(channel.tenant_id, tenant_sealed::EMAIL_QUARANTINE, id, raw).map_err(unavailable)?;
        let row = QuarantineRow { id, tenant_id: channel.tenant_id, channel_id, uid: reference, raw: sealed, error: error.to_owned(), created_at: now_micros() };
        tracing::warn!(%channel_id, reference, error, "input quarantined");
        store::mailboxes::quarantine(&self.db, &row).await.map_err(unavailable)
    }

    /// Finds the message by the hub's id (within the channel's tenant) or by the provider's id,
    /// and records the status with its event. Reports about messages the channel did not send
    /// are ignored.
    async fn report(&self, channel_id: Uuid, report: DeliveryReport) -> Result<(), HostError> {
        let Some(channel) = self.channels()?.get(channel_id).await.map_err(unavailable)? else { return Ok(()) };
        let message = match (report.message_id, report.provider_id.as_deref()) {
            (Some(id), _) => store::messages::get(&self.db, channel.tenant_id, id).await.map_err(unavailable)?,
            (None, Some(provider_id)) => store::messages::existing(&self.db, &[(channel_id, provider_id)])
                .await
                .map_err(unavailable)?
                .into_iter()
                .find(|m| m.direction == crate::domain::Direction::Out.as_str()),
            (None, None) => None,
        };
        let waits = report.message_id.is_none() && report.provider_id.is_some();
        let report = Report { status: report.status, external_id: report.provider_id, failure: report.failure, gave_up: report.gave_up };
        let Some(message) = message.filter(|m| m.channel_id == channel_id && m.direction == crate::domain::Direction::Out.as_str()) else {
            if waits {
                // Perhaps the send's own answer has not been recorded yet.
                return self.reports.park(channel_id, &report).await.map_err(unavailable);
            }
            tracing::info!(%channel_id, "a delivery report for a message this channel did not send; ignored");
            return Ok(());
        };
        let channels = self.channels()?;
        self.reports.record(&message, report, channels.kind_of(&channel)).await.map(|_| ()).map_err(unavailable)
    }

    async fn report_until(&self, channel_id: Uuid, to: &omnibridge_channel::Address, status: omnibridge_channel::DeliveryStatus, until_ms: i64) -> Result<(), HostError> {
        let Some(channel) = self.channels()?.get(channel_id).await.map_err(unavailable)? else { return Ok(()) };
        let index = self.keyring.blind_index(channel.tenant_id, to);
        let found = store::contacts::identities_by_indexes(&self.db, &[(channel.tenant_id, to.kind.as_str(), index.as_slice())], true).await.map_err(unavailable)?;
        let Some(identity) = found.first() else { return Ok(()) };
        let messages = store::messages::outbound_up_to(&self.db, channel_id, identity.contact_id, until_ms.saturating_mul(1000)).await.map_err(unavailable)?;
        let channels = self.channels()?;
        for message in messages {
            let report = Report { status, external_id: None, failure: None, gave_up: false };
            self.reports.record(&message, report, channels.kind_of(&channel)).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn template_status(&self, channel_id: Uuid, name: &str, language: &str, status: &str) -> Result<(), HostError> {
        store::templates::set_status(&self.db, channel_id, name, language, status).await.map(|_| ()).map_err(unavailable)
    }

    async fn auto_reply(&self, channel_id: Uuid, accepted: &Accepted, text: &str) -> Result<(), HostError> {
        let Some(channel) = self.channels()?.get(channel_id).await.map_err(unavailable)? else { return Ok(()) };
        let key = self.keyring.data_key(&self.db, channel.tenant_id, accepted.contact_id).await.map_err(unavailable)?;
        let mut work = UnitOfWork::begin(&self.db, &self.bus).await.map_err(unavailable)?;
        let draft = Draft::automatic(channel.tenant_id, accepted.conversation_id, channel.id, &key, text, crate::consent::purposes::SERVICE);
        outgoing::queue(&mut work, &self.send_wake, draft).await.map_err(unavailable)?;
        work.commit().await.map_err(unavailable)
    }

    fn signature_refused(&self, kind: &str, channel_id: Uuid) {
        let provider = self.channels.upgrade().and_then(|c| c.kinds().get(kind).map(|k| k.hook_name())).unwrap_or("unknown");
        tracing::warn!(%channel_id, provider, "a provider callback with a wrong signature or secret was refused");
        metrics::counter!("omnibridge_provider_signature_failures_total", "provider" => provider).increment(1);
    }
}

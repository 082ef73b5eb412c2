//! The hub's side of the email channel: the adapter built from a channel's stored settings, and
//! the [`MailboxStore`] port (importer cursor, quarantine, bounces, health) on our database.

use std::sync::Arc;

use async_trait::async_trait;
use omnibridge_channel::DeliveryStatus;
use omnibridge_email::imap::Cursor;
use omnibridge_email::{EmailConfig, EmailSettings, MailboxStore};
use uuid::Uuid;

use super::ChannelInfo;
use crate::egress::reports::{self, Report};
use crate::outbox::EventBus;
use crate::privacy::{Keyring, tenant_sealed};
use crate::store::mailboxes::QuarantineRow;
use crate::store::{self, Db, now_micros};

/// The typed settings of an email channel: public settings plus its opened secrets.
pub fn settings_of(keyring: &Keyring, info: &ChannelInfo) -> Result<EmailSettings, String> {
    let config: EmailConfig = serde_json::from_value(super::settings_with_secrets(keyring, info)?).map_err(|e| format!("stored settings: {e}"))?;
    config.validate().map_err(|e| e.to_string())
}

pub struct HubMailboxStore {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub bus: EventBus,
}

#[async_trait]
impl MailboxStore for HubMailboxStore {
    async fn cursor(&self, channel_id: Uuid) -> Result<Option<Cursor>, String> {
        let row = store::mailboxes::cursor(&self.db, channel_id).await.map_err(|e| e.to_string())?;
        Ok(row.map(|(v, u)| Cursor { uid_validity: v as u32, last_uid: u as u32 }))
    }

    async fn save_cursor(&self, channel_id: Uuid, cursor: Cursor) -> Result<(), String> {
        store::mailboxes::save_cursor(&self.db, channel_id, i64::from(cursor.uid_validity), i64::from(cursor.last_uid))
            .await
            .map_err(|e| e.to_string())
    }

    async fn quarantine(&self, channel_id: Uuid, uid: u32, raw: &[u8], error: &str) -> Result<(), String> {
        let channel = self.db.channel_by_id(channel_id).await.map_err(|e| e.to_string())?.ok_or("the channel is gone")?;
        let id = Uuid::now_v7();
        let sealed = self.keyring.seal_for_tenant(channel.tenant_id, tenant_sealed::EMAIL_QUARANTINE, id, raw).map_err(|e| e.to_string())?;
        let row = QuarantineRow { id, tenant_id: channel.tenant_id, channel_id, uid: i64::from(uid), raw: sealed, error: error.to_owned(), created_at: now_micros() };
        tracing::warn!(%channel_id, uid, error, "mail quarantined");
        store::mailboxes::quarantine(&self.db, &row).await.map_err(|e| e.to_string())
    }

    /// Marks our message `failed` with the bounce's reason, with its `message.failed` event.
    async fn bounce(&self, channel_id: Uuid, original_message_id: &str, reason: &str) -> Result<(), String> {
        let found = store::messages::existing(&self.db, &[(channel_id, original_message_id)]).await.map_err(|e| e.to_string())?;
        let Some(message) = found.into_iter().find(|m| m.direction == "out") else {
            tracing::info!(%channel_id, "a bounce for a message this channel did not send; ignored");
            return Ok(());
        };
        let report = Report { status: DeliveryStatus::Failed, external_id: None, error: Some(format!("bounced: {reason}")) };
        reports::record(&self.db, &self.keyring, &self.bus, &message, report).await.map(|_| ())
    }

    async fn health(&self, channel_id: Uuid, last_error: Option<String>) {
        if let Err(err) = store::mailboxes::set_health(&self.db, channel_id, last_error.as_deref()).await {
            tracing::error!(%channel_id, error = %err, "recording channel health failed");
        }
    }
}

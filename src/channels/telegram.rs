//! The hub's side of the Telegram channel: its settings with opened secrets, and the
//! [`ChannelStateStore`] port (update offset, health) on our database.

use async_trait::async_trait;
use omnibridge_channel::ChannelStateStore;
use omnibridge_telegram::{TelegramConfig, TelegramSettings};
use uuid::Uuid;

use super::ChannelInfo;
use crate::privacy::Keyring;
use crate::store::{self, Db};

pub fn settings_of(keyring: &Keyring, info: &ChannelInfo) -> Result<TelegramSettings, String> {
    let config: TelegramConfig = serde_json::from_value(super::settings_with_secrets(keyring, info)?).map_err(|e| format!("stored settings: {e}"))?;
    config.validate().map_err(|e| e.to_string())
}

/// Where Telegram posts a webhook-mode channel's updates.
pub fn webhook_path(channel_id: Uuid) -> String {
    format!("/hooks/telegram/{channel_id}")
}

pub struct HubChannelState {
    pub db: Db,
}

#[async_trait]
impl ChannelStateStore for HubChannelState {
    async fn cursor(&self, channel_id: Uuid) -> Result<Option<String>, String> {
        store::links::cursor(&self.db, channel_id).await.map_err(|e| e.to_string())
    }

    async fn save_cursor(&self, channel_id: Uuid, cursor: &str) -> Result<(), String> {
        store::links::save_cursor(&self.db, channel_id, cursor).await.map_err(|e| e.to_string())
    }

    async fn health(&self, channel_id: Uuid, last_error: Option<String>) {
        if let Err(err) = store::mailboxes::set_health(&self.db, channel_id, last_error.as_deref()).await {
            tracing::error!(%channel_id, error = %err, "recording channel health failed");
        }
    }
}

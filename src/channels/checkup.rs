//! A messenger channel (a kind with a reply window: WhatsApp, Messenger, Instagram) is checked
//! when it is created or changed: the provider is asked with the configured credentials and the
//! answer kept as the channel's health (`GET /v1/channels/{id}` shows it), and a kind with
//! message templates gets them synced. In the background: the API answers first, and a
//! provider that is down does not fail the change.

use std::sync::Arc;

use omnibridge_channel::DataDestination;

use super::{ChannelInfo, Channels, templates};
use crate::store::{self, Db};

pub fn spawn(channels: &Arc<Channels>, db: &Db, info: &ChannelInfo) {
    let Some(kind) = channels.kind_of(info) else { return };
    let capabilities = kind.capabilities();
    // Pulling channels report their own health as they run; the hub's own web chat has none.
    if capabilities.pulls || kind.destination() == DataDestination::Hub || capabilities.reply_window.is_none() {
        return;
    }
    let (channels, db, info) = (channels.clone(), db.clone(), info.clone());
    tokio::spawn(async move {
        let Some(adapter) = channels.adapter(&info) else { return };
        let health = adapter.healthcheck().await.err().map(|e| e.to_string());
        if let Err(err) = store::mailboxes::set_health(&db, info.id, health.as_deref()).await {
            tracing::warn!(channel_id = %info.id, error = %err, "recording channel health failed");
        }
        if health.is_none()
            && capabilities.templates
            && let Err(err) = templates::sync(&channels, &db, &info).await
        {
            tracing::warn!(channel_id = %info.id, error = %err, "syncing the channel's templates failed");
        }
    });
}

//! Web chat visitors whose widget is connected to this process, for messages another process
//! sent. A reply is sent by whichever process claims it; if the visitor's websocket is held by
//! another process, the send finds no socket there and records the message as `sent`. That
//! `message.sent` event reaches every process (see [`crate::cluster`]); the one holding the
//! visitor's socket pushes the message to the widget here (once per message: the web chat
//! adapter remembers what it pushed).

use omnibridge_channel::{Address, OutboundMessage};
use serde_json::Value;

use crate::domain::events::{self, Event};
use crate::present::fields;
use crate::state::AppState;
use crate::store;

pub async fn deliver(hub: &AppState, events: &[Event]) {
    for event in events.iter().filter(|e| e.event_type == events::MESSAGE_SENT) {
        if let Err(err) = push(hub, event).await {
            tracing::debug!(event_id = %event.id, error = %err, "relaying a message to a local widget failed");
        }
    }
}

async fn push(hub: &AppState, event: &Event) -> Result<(), String> {
    let payload: Value = serde_json::from_str(&event.payload).map_err(|e| e.to_string())?;
    let m = &payload["data"];
    let (Some(channel_id), Some(contact_id)) = (m["channel_id"].as_str().and_then(|v| v.parse().ok()), m["contact_id"].as_str().and_then(|v| v.parse().ok())) else {
        return Ok(());
    };
    if m["direction"] != "out" || m["private"] == true {
        return Ok(());
    }
    let Some(channel) = hub.channels.get(channel_id).await.map_err(|e| e.to_string())? else { return Ok(()) };
    let Some(address_kind) = hub.channels.kind_of(&channel).filter(|k| k.capabilities().live_sessions).map(|k| k.address_kind()) else {
        return Ok(());
    };
    let Some(identity) = store::contacts::identity_for_kind(&hub.db, event.tenant_id, contact_id, address_kind.as_str()).await.map_err(|e| e.to_string())? else {
        return Ok(());
    };
    let key = hub.keyring.data_key(&hub.db, event.tenant_id, contact_id).await.map_err(|e| e.to_string())?;
    let visitor = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address).map_err(|e| e.to_string())?;
    let message = OutboundMessage {
        id: m["id"].as_str().and_then(|v| v.parse().ok()).ok_or("no message id")?,
        channel_id,
        conversation_id: m["conversation_id"].as_str().and_then(|v| v.parse().ok()).ok_or("no conversation id")?,
        to: Address::new(address_kind, &visitor),
        text: m["text"].as_str().unwrap_or_default().to_owned(),
        created_at: m["created_at"].as_str().unwrap_or_default().to_owned(),
        author_name: None,
        extras: Default::default(),
    };
    hub.channels.relay(&channel, &message).await;
    Ok(())
}

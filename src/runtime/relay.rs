//! Many processes on one PostgreSQL. The event log is the database's, so every process's log
//! tail reads every process's events; what this module adds is the prompt part: it tells the
//! other processes when this one committed events (one notification per burst), wakes this
//! process's tail when they did, and applies their configuration announcements. A lost
//! notification delays nothing by more than a second: each tail also looks on its own.
//!
//! A reply another process sent to a web chat visitor whose widget is connected here is pushed
//! from the log's `message.sent` ([`follow_replies`]; once per message: the web chat adapter
//! remembers what it pushed).

use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::{Address, OutboundMessage};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::events::WorkError;
use crate::cluster::{CONFIG_CHANNEL, Change, EVENTS_CHANNEL, node_id};
use crate::domain::events::{self, Event};
use crate::events::present::fields;
use crate::hub::AppState;
use crate::store::{self, Db};

/// PostgreSQL only: tells the other nodes when this one committed events, wakes this node's
/// log tail when they did, and applies their configuration changes through `on_change`.
pub async fn bridge(
    hub: crate::hub::AppState,
    on_change: Arc<dyn Fn(Change) + Send + Sync>,
    stop: CancellationToken,
) {
    if !matches!(hub.db, Db::Pg(_)) {
        return;
    }
    let me = node_id();
    let log = hub.bus.log().clone();
    let mut local = log.committed_here();
    let mut backoff = Duration::from_millis(200);
    'connect: loop {
        let mut listener = match store::cluster::Listener::connect(&hub.db, &[EVENTS_CHANNEL, CONFIG_CHANNEL]).await {
            Ok(Some(l)) => l,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "the cluster bridge cannot listen; retrying");
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        // Whatever was missed while not listening.
        log.look();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // Events this node committed: tell the others (a burst becomes one notification).
                changed = local.changed() => match changed {
                    Ok(()) => hub.cluster.events_committed().await,
                    Err(_) => return,
                },
                note = listener.recv() => match note {
                    Ok(note) if note.channel == CONFIG_CHANNEL => {
                        if let Some((node, change)) = Change::decode(&note.payload)
                            && node != me
                        {
                            on_change(change);
                        }
                    }
                    Ok(note) => {
                        if note.payload != me.to_string() {
                            log.look();
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the cluster bridge lost its connection; reconnecting");
                        continue 'connect;
                    }
                },
            }
        }
    }
}

/// Follows the log (from its end, in memory) and pushes the replies other processes sent to
/// the web chat visitors whose widgets are connected here.
pub async fn follow_replies(hub: AppState, stop: CancellationToken) {
    let log = hub.bus.log().clone();
    let mut head = log.watch();
    let mut position = log.head();
    loop {
        match log.read(position, 512).await {
            Ok(batch) => {
                let replies: Vec<&Event> = batch.events.iter().map(|e| e.as_ref()).filter(|e| e.remote && e.event_type == events::MESSAGE_SENT).collect();
                for event in replies {
                    if let Err(err) = push(&hub, event).await {
                        tracing::debug!(event_id = %event.id, error = %err, "relaying a message to a local widget failed");
                    }
                }
                let more = batch.through > position && batch.through < log.head();
                position = batch.through;
                if more {
                    continue;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "following the event log for web chat replies failed");
                position = log.head();
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = head.changed() => {}
        }
    }
}

async fn push(hub: &AppState, event: &Event) -> Result<(), WorkError> {
    let payload: Value = serde_json::from_str(&event.payload)?;
    let m = &payload["data"];
    let (Some(channel_id), Some(contact_id)) = (m["channel_id"].as_str().and_then(|v| v.parse().ok()), m["contact_id"].as_str().and_then(|v| v.parse().ok())) else {
        return Ok(());
    };
    if m["direction"] != "out" || m["private"] == true {
        return Ok(());
    }
    let Some(channel) = hub.channels.get(channel_id).await? else { return Ok(()) };
    let Some(address_kind) = hub.channels.kind_of(&channel).filter(|k| k.capabilities().live_sessions).map(|k| k.address_kind()) else {
        return Ok(());
    };
    let Some(identity) = store::contacts::identity_for_kind(&hub.db, event.tenant_id, contact_id, address_kind.as_str()).await? else {
        return Ok(());
    };
    let key = hub.keyring.data_key(&hub.db, event.tenant_id, contact_id).await?;
    let visitor = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address)?;
    let message = OutboundMessage {
        id: m["id"].as_str().and_then(|v| v.parse().ok()).ok_or(WorkError::Payload("no message id".into()))?,
        channel_id,
        conversation_id: m["conversation_id"].as_str().and_then(|v| v.parse().ok()).ok_or(WorkError::Payload("no conversation id".into()))?,
        to: Address::new(address_kind, &visitor),
        text: m["text"].as_str().unwrap_or_default().to_owned(),
        created_at: m["created_at"].as_str().unwrap_or_default().to_owned(),
        author_name: None,
        extras: Default::default(),
    };
    hub.channels.relay(&channel, &message).await;
    Ok(())
}

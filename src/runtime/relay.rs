//! Events other hub processes committed, relayed to this one (PostgreSQL): the bridge listens
//! for their notifications, reads the outbox past its cursor (the outbox is the source of
//! truth, so a missed notification is caught up by the next one or by the periodic check) and
//! hands those events to this process's websockets only — the work events trigger (assignment,
//! away messages, webhooks) is done once, by the committing process or by whoever claims it.
//! It also tells the other processes when this one committed events, and applies their
//! configuration announcements.
//!
//! A reply another process sent to a web chat visitor whose widget is connected here is pushed
//! from the relayed `message.sent` ([`deliver`]; once per message: the web chat adapter
//! remembers what it pushed).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::{Address, OutboundMessage};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::events::WorkError;
use crate::cluster::{CONFIG_CHANNEL, Change, EVENTS_CHANNEL, node_id};
use crate::domain::events::{self, Event};
use crate::events::present::fields;
use crate::hub::AppState;
use crate::store::{self, Db};

/// Outbox rows already handed on, so a row read twice (the cursor looks back a little, for
/// transactions that committed out of order) is passed on once.
struct Seen {
    ids: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl Seen {
    const MAX: usize = 20_000;

    fn first_time(&mut self, id: Uuid) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::MAX
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// How far back (in outbox sequence numbers) each read looks, for transactions that took a
/// number earlier and committed later.
const LOOK_BACK: i64 = 500;

/// PostgreSQL only: listens for the other nodes' notifications; hands their committed events to
/// this node's websockets, and applies their configuration changes through `on_change`.
pub async fn bridge(
    hub: crate::hub::AppState,
    on_change: Arc<dyn Fn(Change) + Send + Sync>,
    stop: CancellationToken,
) {
    if !matches!(hub.db, Db::Pg(_)) {
        return;
    }
    let me = node_id();
    let mut cursor = match store::outbox::max_seq(&hub.db).await {
        Ok(seq) => seq,
        Err(err) => {
            tracing::error!(error = %err, "the cluster bridge cannot read the outbox; realtime stays local");
            return;
        }
    };
    let mut seen = Seen { ids: HashSet::new(), order: VecDeque::new() };
    let mut local = hub.bus.subscribe();
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
        cursor = catch_up(&hub, me, cursor, &mut seen).await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // Events this node committed: tell the others (coalescing a burst into one).
                event = local.recv() => match event {
                    Ok(e) if !e.remote => {
                        while local.try_recv().is_ok() {}
                        hub.cluster.events_committed().await;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => hub.cluster.events_committed().await,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
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
                            cursor = catch_up(&hub, me, cursor, &mut seen).await;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the cluster bridge lost its connection; reconnecting");
                        continue 'connect;
                    }
                },
                // A notification can be lost with a connection: look anyway, now and then.
                _ = tokio::time::sleep(Duration::from_secs(1)) => cursor = catch_up(&hub, me, cursor, &mut seen).await,
            }
        }
    }
}

/// Publishes to this node's websockets the other nodes' events past `cursor`; returns the new
/// cursor.
async fn catch_up(hub: &crate::hub::AppState, me: Uuid, cursor: i64, seen: &mut Seen) -> i64 {
    let recent = match store::outbox::others_since(&hub.db, cursor - LOOK_BACK, me, 1000).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "reading other nodes' events failed");
            return cursor;
        }
    };
    let next = recent.iter().map(|(seq, _)| *seq).max().unwrap_or(cursor).max(cursor);
    // Only the events not handed on yet are read whole and opened.
    let fresh: Vec<Uuid> = recent.into_iter().map(|(_, id)| id).filter(|id| seen.first_time(*id)).collect();
    let rows = match store::outbox::by_ids(&hub.db, &fresh).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "reading other nodes' events failed");
            return cursor;
        }
    };
    let mut events = Vec::new();
    for row in rows {
        match crate::events::outbox::from_row(&hub.db, &hub.keyring, &row).await {
            Ok(Some(mut event)) => {
                event.remote = true;
                events.push(event);
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(event_id = %row.id, error = %err, "an event of another node cannot be opened"),
        }
    }
    if !events.is_empty() {
        deliver(hub, &events).await;
        hub.bus.relay(events);
    }
    next
}

/// Pushes relayed replies to the web chat visitors whose widgets are connected here.
pub async fn deliver(hub: &AppState, events: &[Event]) {
    for event in events.iter().filter(|e| e.event_type == events::MESSAGE_SENT) {
        if let Err(err) = push(hub, event).await {
            tracing::debug!(event_id = %event.id, error = %err, "relaying a message to a local widget failed");
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

//! Writing events and fanning them out.
//!
//! State and its events commit together, through one type: a [`UnitOfWork`] owns the
//! transaction, the events appended in it (written to the outbox table, sealed under the
//! contact's data key when they are about a contact) and what to wake once it commits. Its
//! [`UnitOfWork::commit`] is the only place committed events are handed to in-process listeners
//! (operator websockets, the workers): nobody ever sees an event whose state was rolled back,
//! and no caller can forget to publish. Events read back from other processes' commits are
//! passed on with [`EventBus::relay`].

use std::sync::Arc;

use tokio::sync::broadcast;

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::events::{Event, Sequences};
use crate::privacy::{CryptoError, DataKey};
use crate::store::{self, Conn, NewEvent, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// What a sealed event payload is, as associated data.
const EVENT_PAYLOAD: &str = "event.payload";

/// The stored form of an event's payload: sealed under the contact's data key when it is about
/// a contact.
pub fn stored_payload(key: Option<&DataKey>, event: &Event) -> Result<Vec<u8>, CryptoError> {
    match key {
        Some(key) => key.seal_bytes(EVENT_PAYLOAD, event.id, event.payload.as_bytes()),
        None => Ok(event.payload.as_bytes().to_vec()),
    }
}

/// Appends `event` to the outbox and records its sequence number.
pub async fn append<'a>(conn: impl Into<Conn<'a>>, key: Option<&DataKey>, event: &mut Event) -> Result<(), AppendError> {
    let payload = stored_payload(key, event)?;
    let row = NewEvent {
        id: event.id,
        tenant_id: event.tenant_id,
        event_type: event.event_type,
        contact_id: key.map(|k| k.contact_id),
        payload: &payload,
        created_at: event.created_at,
    };
    event.seq = store::outbox::append(conn, &row).await?;
    Ok(())
}

/// Appends an event about no contact (stored in the clear: it carries no personal data).
pub async fn append_plain(tx: &mut Tx, event: &mut Event) -> Result<(), StoreError> {
    let payload = event.payload.as_bytes().to_vec();
    let row = NewEvent {
        id: event.id,
        tenant_id: event.tenant_id,
        event_type: event.event_type,
        contact_id: None,
        payload: &payload,
        created_at: event.created_at,
    };
    event.seq = store::outbox::append(&mut *tx, &row).await?;
    Ok(())
}

/// One transaction, the events appended in it, and what to wake once it commits.
pub struct UnitOfWork {
    tx: Tx,
    bus: EventBus,
    events: Vec<Event>,
    wake: Vec<Arc<tokio::sync::Notify>>,
}

impl UnitOfWork {
    pub async fn begin(db: &crate::store::Db, bus: &EventBus) -> Result<Self, StoreError> {
        Ok(Self { tx: db.begin().await?, bus: bus.clone(), events: Vec::new(), wake: Vec::new() })
    }

    /// The transaction, for the state changes.
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Appends an event to the outbox in this transaction (sealed under `key` when it is about
    /// a contact); it is published when the unit commits.
    pub async fn append(&mut self, key: Option<&DataKey>, mut event: Event) -> Result<(), AppendError> {
        append(&mut self.tx, key, &mut event).await?;
        self.events.push(event);
        Ok(())
    }

    /// Appends an event whose payload is stored as is (it carries no personal data).
    pub async fn append_plain(&mut self, mut event: Event) -> Result<(), StoreError> {
        append_plain(&mut self.tx, &mut event).await?;
        self.events.push(event);
        Ok(())
    }

    /// Events another module already appended in this transaction (the consent ledger's, an
    /// ingest batch's): published with the rest when the unit commits.
    pub fn appended(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
    }

    /// A worker to wake once the unit commits (a message was queued for sending).
    pub fn wake(&mut self, notify: &Arc<tokio::sync::Notify>) {
        if !self.wake.iter().any(|n| Arc::ptr_eq(n, notify)) {
            self.wake.push(notify.clone());
        }
    }

    /// Commits, then publishes the events and wakes the workers. On failure nothing is
    /// published: the state and its events are both gone.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.bus.publish(self.events);
        for notify in &self.wake {
            notify.notify_one();
        }
        Ok(())
    }
}

/// Reserves event sequence numbers: `counts[conversation]` for each conversation that the
/// transaction writes events about.
pub async fn reserve_sequences(tx: &mut Tx, counts: &HashMap<Uuid, i64>) -> Result<Sequences, StoreError> {
    let last = store::conversations::reserve_sequences(tx, counts).await?;
    Ok(Sequences::from_reserved(last, counts))
}

/// Reserves one sequence number for a conversation.
pub async fn next_sequence(tx: &mut Tx, conversation_id: Uuid) -> Result<i64, StoreError> {
    let mut sequences = reserve_sequences(tx, &HashMap::from([(conversation_id, 1)])).await?;
    Ok(sequences.next(conversation_id))
}

/// Calls `handle` with every committed event of `event_type` this process committed (not the
/// ones relayed from other processes: their work is done where they were committed), until
/// `stop`. Events missed because the listener fell behind are logged (the outbox still has
/// them); `what` names the listener in that log.
pub async fn each_event<F, Fut>(bus: &EventBus, event_type: &'static str, what: &'static str, stop: tokio_util::sync::CancellationToken, mut handle: F)
where
    F: FnMut(Arc<Event>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut events = bus.subscribe();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            event = events.recv() => event,
        };
        match event {
            Ok(event) if event.event_type == event_type && !event.remote => handle(event).await,
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(missed = n, listener = what, "fell behind the event bus"),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// In-process fan-out of committed events.
#[derive(Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Arc<Event>>,
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        Self { sender: broadcast::channel(capacity).0 }
    }

    /// Hands committed events to this process's listeners; only a unit of work calls it.
    fn publish(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            // No listener is not an error: the outbox keeps the event.
            let _ = self.sender.send(Arc::new(event));
        }
    }

    /// Passes on events another process committed (read back from the outbox), marked remote.
    pub fn relay(&self, events: impl IntoIterator<Item = Event>) {
        self.publish(events.into_iter().map(|mut e| {
            e.remote = true;
            e
        }));
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }
}

/// An event read back from the outbox (another process's), its payload opened when it is
/// sealed. `None` for a type this build does not know, or a contact erased since.
pub async fn from_row(db: &store::Db, keyring: &crate::privacy::Keyring, row: &store::outbox::OriginRow) -> Result<Option<Event>, super::WorkError> {
    let Some(event_type) = crate::domain::events::known(&row.event_type) else { return Ok(None) };
    let payload = match row.contact_id {
        Some(contact_id) => match keyring.data_key(db, row.tenant_id, contact_id).await {
            Ok(key) => key.open_bytes(EVENT_PAYLOAD, row.id, &row.payload)?,
            Err(_) => return Ok(None),
        },
        None => row.payload.clone(),
    };
    let payload = String::from_utf8(payload)?;
    let data: serde_json::Value = serde_json::from_str(&payload)?;
    let conversation_id = data["data"]["conversation_id"]
        .as_str()
        .or_else(|| if event_type.starts_with("conversation.") { data["data"]["id"].as_str() } else { None })
        .and_then(|id| id.parse().ok());
    Ok(Some(Event {
        id: row.id,
        seq: row.seq,
        tenant_id: row.tenant_id,
        event_type,
        contact_id: row.contact_id,
        conversation_id,
        created_at: row.created_at,
        payload: payload.into(),
        remote: true,
    }))
}

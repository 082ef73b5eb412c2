//! Writing events.
//!
//! State and its events commit together, through one type: a [`UnitOfWork`] owns the
//! transaction, the events appended in it (written to the outbox table, sealed under the
//! contact's data key when they are about a contact) and what to wake once it commits. The
//! outbox is the event log (see [`super::log`]): every consumer reads it after its own position,
//! so nobody ever sees an event whose state was rolled back and nothing that committed is
//! missed. [`UnitOfWork::commit`] hands the committed events to this process's log tail, which
//! then need not read them back.

use std::sync::Arc;

use std::collections::HashMap;

use uuid::Uuid;

use super::log::EventLog;
use crate::domain::events::{Event, Sequences};
use crate::privacy::{CryptoError, DataKey};
use crate::store::{self, NewEvent, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// What a sealed event payload is, as associated data.
pub const EVENT_PAYLOAD: &str = "event.payload";

/// The stored form of an event's payload: sealed under the contact's data key when it is about
/// a contact.
pub fn stored_payload(key: Option<&DataKey>, event: &Event) -> Result<Vec<u8>, CryptoError> {
    match key {
        Some(key) => key.seal_bytes(EVENT_PAYLOAD, event.id, event.payload.as_bytes()),
        None => Ok(event.payload.as_bytes().to_vec()),
    }
}

/// Appends `event` to the outbox and records its sequence number.
pub async fn append(tx: &mut Tx, key: Option<&DataKey>, event: &mut Event) -> Result<(), AppendError> {
    let payload = stored_payload(key, event)?;
    let row = NewEvent {
        id: event.id,
        tenant_id: event.tenant_id,
        event_type: event.event_type,
        contact_id: key.map(|k| k.contact_id),
        payload: &payload,
        created_at: event.created_at,
    };
    event.seq = store::outbox::append(tx, &row).await?;
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

/// An event waiting in a unit of work, its payload as it will be stored.
struct Pending {
    event: Event,
    contact_id: Option<Uuid>,
    stored: Vec<u8>,
}

/// One transaction, the events appended in it, and what to wake once it commits.
pub struct UnitOfWork {
    tx: Tx,
    bus: EventBus,
    /// Appended to the outbox at commit, in one statement, after every other change: the
    /// ordering lock appends take (PostgreSQL) is then held only for the commit itself.
    pending: Vec<Pending>,
    /// Already in the outbox (appended by another module in this transaction).
    events: Vec<Event>,
    wake: Vec<Arc<tokio::sync::Notify>>,
    then: Vec<Box<dyn FnOnce() + Send>>,
}

impl UnitOfWork {
    pub async fn begin(db: &crate::store::Db, bus: &EventBus) -> Result<Self, StoreError> {
        Ok(Self { tx: db.begin().await?, bus: bus.clone(), pending: Vec::new(), events: Vec::new(), wake: Vec::new(), then: Vec::new() })
    }

    /// The transaction, for the state changes.
    pub fn tx(&mut self) -> &mut Tx {
        &mut self.tx
    }

    /// Appends an event to the outbox in this transaction (sealed under `key` when it is about
    /// a contact).
    pub async fn append(&mut self, key: Option<&DataKey>, event: Event) -> Result<(), AppendError> {
        let stored = stored_payload(key, &event)?;
        self.pending.push(Pending { event, contact_id: key.map(|k| k.contact_id), stored });
        Ok(())
    }

    /// Appends an event whose payload is stored as is (it carries no personal data).
    pub async fn append_plain(&mut self, event: Event) -> Result<(), StoreError> {
        let stored = event.payload.as_bytes().to_vec();
        self.pending.push(Pending { event, contact_id: None, stored });
        Ok(())
    }

    /// Events another module already appended in this transaction (the consent ledger's, an
    /// ingest batch's): handed to the log with the rest when the unit commits.
    pub fn appended(&mut self, events: impl IntoIterator<Item = Event>) {
        self.events.extend(events);
    }

    /// A worker to wake once the unit commits (a message was queued for sending).
    pub fn wake(&mut self, notify: &Arc<tokio::sync::Notify>) {
        if !self.wake.iter().any(|n| Arc::ptr_eq(n, notify)) {
            self.wake.push(notify.clone());
        }
    }

    /// Something to do once the unit has committed (and never if it does not), such as showing
    /// a survey in a live widget.
    pub fn then(&mut self, after: impl FnOnce() + Send + 'static) {
        self.then.push(Box::new(after));
    }

    /// Appends the pending events, commits, then hands the events to the log and wakes the
    /// workers. On failure nothing is published: the state and its events are both gone.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        if !self.pending.is_empty() {
            let rows: Vec<NewEvent> = self
                .pending
                .iter()
                .map(|p| NewEvent {
                    id: p.event.id,
                    tenant_id: p.event.tenant_id,
                    event_type: p.event.event_type,
                    contact_id: p.contact_id,
                    payload: &p.stored,
                    created_at: p.event.created_at,
                })
                .collect();
            let seqs: HashMap<Uuid, i64> = store::outbox::append_many(&mut self.tx, &rows).await?.into_iter().collect();
            drop(rows);
            for p in self.pending.drain(..) {
                let mut event = p.event;
                event.seq = seqs.get(&event.id).copied().unwrap_or_default();
                self.events.push(event);
            }
        }
        self.tx.commit().await?;
        self.bus.publish(self.events);
        for notify in &self.wake {
            notify.notify_one();
        }
        for after in self.then {
            after();
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

/// The handle units of work hand committed events to: this cell's event log.
#[derive(Clone)]
pub struct EventBus {
    log: Arc<EventLog>,
}

impl EventBus {
    pub fn new(log: Arc<EventLog>) -> Self {
        Self { log }
    }

    /// Hands committed events to the log's tail; only a unit of work calls it.
    fn publish(&self, events: Vec<Event>) {
        if !events.is_empty() {
            self.log.committed(events);
        }
    }

    /// The log every consumer reads.
    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }
}

/// An event whose payload cannot be opened any more (its contact was erased): its place in the
/// log, its type and ids, and no data.
pub fn redacted(row: &store::outbox::OriginRow) -> Option<Event> {
    let event_type = crate::domain::events::known(&row.event_type)?;
    let payload = serde_json::json!({
        "type": event_type,
        "timestamp": crate::domain::rfc3339(row.created_at),
        "data": {"redacted": true, "contact_id": row.contact_id},
    })
    .to_string();
    Some(Event {
        id: row.id,
        seq: row.seq,
        tenant_id: row.tenant_id,
        event_type,
        contact_id: row.contact_id,
        conversation_id: None,
        created_at: row.created_at,
        payload: payload.into(),
        remote: false,
    })
}

/// A stored payload opened, or why it does not open.
pub type Opened = Result<Vec<u8>, super::WorkError>;

/// Opens stored payloads sealed under contacts' keys — `(event id, key, sealed)` — and puts
/// back the text of those stored by reference to their message, read from the messages'
/// rows in one query. A message gone since (retention, erasure) leaves the text `null`. The
/// text is the message's current one: an edited message's event reads back edited.
pub async fn open_stored<'a>(
    conn: impl Into<store::Conn<'a>>,
    sealed: Vec<(Uuid, &DataKey, &[u8])>,
) -> Result<Vec<(Uuid, Opened)>, StoreError> {
    // Each payload opened, with the message whose text it needs (if stored by reference).
    let opened: Vec<(Uuid, &DataKey, Opened, Option<Uuid>)> = sealed
        .into_iter()
        .map(|(id, key, bytes)| {
            let plain = key.open_bytes(EVENT_PAYLOAD, id, bytes).map_err(super::WorkError::from);
            let message = plain.as_ref().ok().and_then(|plain| referenced_message(plain));
            (id, key, plain, message)
        })
        .collect();
    let wanted: Vec<Uuid> = opened.iter().filter_map(|(.., message)| *message).collect();
    let texts: HashMap<Uuid, Vec<u8>> =
        if wanted.is_empty() { HashMap::new() } else { store::messages::sealed_texts(conn, &wanted).await?.into_iter().collect() };
    Ok(opened
        .into_iter()
        .map(|(id, key, plain, message)| match message {
            None => (id, plain),
            Some(message_id) => (id, plain.and_then(|plain| with_text(plain, key, message_id, texts.get(&message_id)))),
        })
        .collect())
}

/// The message whose text a payload stored by reference needs.
fn referenced_message(plain: &[u8]) -> Option<Uuid> {
    const MARKER: &[u8] = br#","text_ref":true}"#;
    if !plain.ends_with(MARKER) {
        return None;
    }
    // As `Event::stored_by_reference` writes it, the first `,"id":"` is `data.id`
    // (`"data":{"sequence":N,"id":"<uuid>"`): read without parsing the whole payload.
    const ID: &[u8] = br#","id":""#;
    if let Some(start) = plain.windows(ID.len()).position(|w| w == ID)
        && let Some(id) = plain.get(start + ID.len()..start + ID.len() + 36)
        && let Some(id) = std::str::from_utf8(id).ok().and_then(|text| text.parse::<Uuid>().ok())
    {
        return Some(id);
    }
    let value: serde_json::Value = serde_json::from_slice(plain).ok()?;
    if value["text_ref"] != true {
        return None;
    }
    value["data"]["id"].as_str()?.parse().ok()
}

/// The payload with the message's text in place of the empty one and without the marker:
/// byte for byte the payload the event was committed with (while the text is unchanged).
fn with_text(plain: Vec<u8>, key: &DataKey, message_id: Uuid, sealed_text: Option<&Vec<u8>>) -> Result<Vec<u8>, super::WorkError> {
    let text = match sealed_text {
        Some(sealed) => serde_json::Value::String(key.open(crate::events::present::fields::MESSAGE_TEXT, message_id, sealed)?),
        None => serde_json::Value::Null,
    };
    // As `Event::stored_by_reference` writes it: `data.text` is the first `"text":""` (the
    // fields before it are ids and words), the marker the last member of the envelope.
    const EMPTY: &[u8] = br#""text":"""#;
    const MARKER: &[u8] = br#","text_ref":true}"#;
    if plain.ends_with(MARKER)
        && let Some(at) = plain.windows(EMPTY.len()).position(|w| w == EMPTY)
    {
        let mut out = Vec::with_capacity(plain.len() + 64);
        out.extend_from_slice(&plain[..at]);
        out.extend_from_slice(br#""text":"#);
        serde_json::to_writer(&mut out, &text)?;
        out.extend_from_slice(&plain[at + EMPTY.len()..plain.len() - MARKER.len()]);
        out.push(b'}');
        return Ok(out);
    }
    let mut value: serde_json::Value = serde_json::from_slice(&plain)?;
    if let Some(envelope) = value.as_object_mut() {
        envelope.remove("text_ref");
    }
    value["data"]["text"] = text;
    Ok(serde_json::to_vec(&value)?)
}


/// An event read back from the outbox, its payload opened when it is sealed. `None` for a type
/// this build does not know, or a contact erased since.
pub async fn from_row(db: &store::Db, keyring: &crate::privacy::Keyring, row: &store::outbox::OriginRow) -> Result<Option<Event>, super::WorkError> {
    let Some(event_type) = crate::domain::events::known(&row.event_type) else { return Ok(None) };
    let payload = match row.contact_id {
        Some(contact_id) => match keyring.data_key(db, row.tenant_id, contact_id).await {
            Ok(key) => match open_stored(db, vec![(row.id, &key, &row.payload)]).await?.pop() {
                Some((_, plain)) => plain?,
                None => return Ok(None),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::{self as kinds, Event};

    #[derive(serde::Serialize, Clone)]
    struct View {
        id: Uuid,
        conversation_id: Uuid,
        text: String,
        attachments: Vec<serde_json::Value>,
    }

    #[test]
    fn a_payload_stored_by_reference_reads_back_byte_for_byte() {
        let key = DataKey::for_tests();
        let message_id = Uuid::now_v7();
        let mut view = View { id: message_id, conversation_id: Uuid::now_v7(), text: "Ünïcode \"quoted\" text\n".into(), attachments: vec![serde_json::json!({"text": ""})] };
        let event = Event::in_conversation(Uuid::now_v7(), kinds::MESSAGE_RECEIVED, Uuid::now_v7(), view.conversation_id, 7, &view);
        let text = std::mem::take(&mut view.text);
        let stored = event.stored_by_reference(7, &view);
        assert!(!stored.contains("Ünïcode"), "the text is not stored twice: {stored}");
        assert_eq!(referenced_message(stored.as_bytes()), Some(message_id));
        let sealed_text = key.seal(crate::events::present::fields::MESSAGE_TEXT, message_id, &text).expect("seal");
        let back = with_text(stored.clone().into_bytes(), &key, message_id, Some(&sealed_text)).expect("opens");
        assert_eq!(String::from_utf8(back).expect("utf-8"), &*event.payload);
        // The message is gone (retention, erasure): the event says so instead of inventing text.
        let gone: serde_json::Value = serde_json::from_slice(&with_text(stored.into_bytes(), &key, message_id, None).expect("opens")).expect("json");
        assert!(gone["data"]["text"].is_null() && gone.get("text_ref").is_none(), "{gone}");
    }

    #[test]
    fn other_payloads_are_left_alone() {
        let plain = br#"{"type":"message.received","data":{"id":"x","text":"text_ref"}}"#;
        assert_eq!(referenced_message(plain), None);
    }
}

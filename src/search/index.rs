//! Keeping the index: turning messages, subjects and contacts into documents of hashed terms.
//!
//! The index follows the event log as a durable consumer (`search`): a message received, sent,
//! edited or noted, a conversation opened (its subject), a contact created, changed, merged or
//! unmerged is (re)indexed from what the event carries or what the store holds now. Its position
//! moves in the transaction that writes the documents, so nothing is indexed twice or skipped;
//! indexing runs beside ingest instead of inside it, so receiving a message never waits for
//! its words to be hashed (a search finds a message a moment after it arrived).
//!
//! What was stored before the index existed is indexed by [`backfill`] (newest first, resumable),
//! which the hub runs in the background at start and `omnibridge search reindex` runs on demand.
//!
//! Hashing happens before the write transaction: the consumer prepares a batch's documents when
//! it selects the events and takes them up in the transaction, so the database's write turn is
//! spent writing.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use omnibridge_channel::AddressKind;
use serde_json::Value;
use uuid::Uuid;

use super::terms;
use crate::domain::events::{self as kinds, Event};
use crate::events::WorkError;
use crate::events::consumer::Consumer;
use crate::events::outbox::UnitOfWork;
use crate::events::present::{self, fields};
use crate::privacy::{KeyError, Keyring, TermHasher};
use crate::store::search::{self as index_store, DocOf, NewDoc};
use crate::store::{self, Db, StoreError, Tx};

/// A document ready to be written: its terms hashed under the tenant's search key.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub tenant_id: Uuid,
    pub of: DocOf,
    /// Milliseconds since the epoch of the indexed thing's creation (orders documents).
    pub at_ms: i64,
    pub fingerprint: i64,
    pub terms: Vec<i64>,
}

/// Numbers documents: time in the high bits, a counter in the low 16.
static COUNTER: AtomicU64 = AtomicU64::new(0);

fn doc_number(at_ms: i64) -> i64 {
    let low = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xFFFF;
    (at_ms.max(0) << 16) | low as i64
}

/// When a time-ordered id (UUIDv7) was made, in milliseconds; `fallback` for other ids.
pub fn id_time_ms(id: Uuid, fallback_micros: i64) -> i64 {
    match id.get_timestamp() {
        Some(ts) => {
            let (secs, nanos) = ts.to_unix();
            secs as i64 * 1000 + nanos as i64 / 1_000_000
        }
        None => fallback_micros / 1000,
    }
}

/// Hashers per tenant for one batch (deriving the key costs more than hashing a term).
#[derive(Default)]
pub struct Hashers(HashMap<Uuid, TermHasher>);

impl Hashers {
    fn of(&mut self, keyring: &Keyring, tenant_id: Uuid) -> &TermHasher {
        self.0.entry(tenant_id).or_insert_with(|| keyring.search_hasher(tenant_id))
    }
}

/// Prepares a document from its terms.
pub fn prepare(hashers: &mut Hashers, keyring: &Keyring, tenant_id: Uuid, of: DocOf, at_ms: i64, words: &BTreeSet<String>) -> Prepared {
    let hasher = hashers.of(keyring, tenant_id);
    let mut joined = String::new();
    for w in words {
        joined.push_str(w);
        joined.push('\n');
    }
    let contact = matches!(of, DocOf::Contact(_));
    let mut hashed: Vec<i64> = words.iter().map(|w| if contact { hasher.contact_term(w) } else { hasher.term(w) }).collect();
    hashed.sort_unstable();
    hashed.dedup();
    Prepared { tenant_id, of, at_ms, fingerprint: hasher.fingerprint(&joined), terms: hashed }
}

/// The terms of a message's text.
pub fn message_words(text: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    terms::index_terms(text, &mut words);
    words
}

/// The terms of a contact: name, email, phone and every address they are known by.
pub fn contact_words(view: &crate::domain::views::ContactView) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for text in [&view.name, &view.email, &view.phone].into_iter().flatten() {
        terms::index_terms(text, &mut words);
    }
    if let Some(phone) = &view.phone {
        terms::phone_terms(phone, &mut words);
    }
    for identity in &view.identities {
        terms::index_terms(&identity.address, &mut words);
        if matches!(AddressKind::parse(&identity.kind), Some(AddressKind::Phone | AddressKind::Whatsapp)) {
            terms::phone_terms(&identity.address, &mut words);
        }
    }
    words
}

/// Writes prepared documents: unchanged ones (same fingerprint) are left alone, changed ones
/// replaced, and things deleted meanwhile skipped. Returns how many were written.
pub async fn write(tx: &mut Tx, prepared: &[Prepared]) -> Result<usize, StoreError> {
    if prepared.is_empty() {
        return Ok(0);
    }
    // The last version of each thing wins.
    let mut latest: HashMap<DocOf, &Prepared> = HashMap::new();
    for p in prepared {
        latest.insert(p.of, p);
    }
    let of: Vec<DocOf> = latest.keys().copied().collect();
    let stored = index_store::docs_of(&mut *tx, &of).await?;
    let mut replaced = Vec::new();
    for row in &stored {
        let Some(doc_of) = row.of() else { continue };
        if let Some(p) = latest.get(&doc_of) {
            if p.fingerprint == row.fingerprint {
                latest.remove(&doc_of);
            } else {
                replaced.push(row.doc);
            }
        }
    }
    // Only what still exists (an erasure may have come first).
    let mut present: HashSet<Uuid> = HashSet::new();
    for (table, kind) in [("messages", "message"), ("conversations", "subject"), ("contacts", "contact")] {
        let ids: Vec<Uuid> = latest.keys().filter(|o| o.kind() == kind).map(|o| o.id()).collect();
        present.extend(index_store::still_there(&mut *tx, table, &ids).await?);
    }
    latest.retain(|of, _| present.contains(&of.id()));
    index_store::delete_docs(tx, &replaced).await?;

    let mut pending: Vec<&Prepared> = latest.into_values().collect();
    let mut written = 0;
    // A number already taken (same millisecond, counter wrapped) gets another on the next turn.
    for _ in 0..3 {
        if pending.is_empty() {
            break;
        }
        let docs: Vec<NewDoc> = pending.iter().map(|p| NewDoc { doc: doc_number(p.at_ms), tenant_id: p.tenant_id, of: p.of, fingerprint: p.fingerprint }).collect();
        let inserted: HashSet<i64> = index_store::insert_docs(tx, &docs).await?.into_iter().collect();
        let mut entries = Vec::new();
        let mut missed = Vec::new();
        for (doc, p) in docs.iter().zip(&pending) {
            if inserted.contains(&doc.doc) {
                entries.extend(p.terms.iter().map(|t| (*t, doc.doc)));
                written += 1;
            } else {
                missed.push(*p);
            }
        }
        index_store::insert_terms(tx, &entries).await?;
        // A thing indexed meanwhile by someone else is done; a taken number is tried again.
        let done: HashSet<DocOf> = index_store::docs_of(&mut *tx, &missed.iter().map(|p| p.of).collect::<Vec<_>>()).await?.iter().filter_map(|r| r.of()).collect();
        pending = missed.into_iter().filter(|p| !done.contains(&p.of)).collect();
    }
    Ok(written)
}

/// Says whether foreground work (messages coming in) is busy now.
pub type Busy = Arc<dyn Fn() -> bool + Send + Sync>;

/// How long the indexer gives way to a busy foreground before it takes one batch anyway, so
/// that the index keeps moving under a load that never stops.
const MAX_YIELD: std::time::Duration = std::time::Duration::from_secs(2);
const YIELD_STEP: std::time::Duration = std::time::Duration::from_millis(25);

/// The event-log consumer that keeps the index.
pub struct Indexer {
    db: Db,
    keyring: Arc<Keyring>,
    /// Documents prepared when the batch was selected, by event id, for `handle`.
    prepared: Mutex<HashMap<Uuid, Vec<Prepared>>>,
    busy: Busy,
}

impl Indexer {
    pub fn new(db: Db, keyring: Arc<Keyring>) -> Self {
        Self { db, keyring, prepared: Mutex::new(HashMap::new()), busy: Arc::new(|| false) }
    }

    /// Gives way while `busy` says so (at most [`MAX_YIELD`] per batch): the index shares the
    /// database's writer and the CPU with ingest, and search may lag a burst by seconds while
    /// receiving messages may not slow down for it.
    pub fn yielding_to(self, busy: Busy) -> Self {
        Self { busy, ..self }
    }

    /// The documents an event calls for, read from its payload (messages) or the store
    /// (subjects, contacts: what they are now).
    async fn documents(&self, event: &Event, hashers: &mut Hashers) -> Result<Vec<Prepared>, WorkError> {
        let payload: Value = serde_json::from_str(&event.payload).map_err(|e| WorkError::Payload(e.to_string()))?;
        let data = &payload["data"];
        let id = data["id"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        match event.event_type {
            kinds::MESSAGE_RECEIVED | kinds::MESSAGE_UPDATED => {
                let (Some(id), Some(text)) = (id, data["text"].as_str()) else { return Ok(Vec::new()) };
                let at = id_time_ms(id, event.created_at);
                Ok(vec![prepare(hashers, &self.keyring, event.tenant_id, DocOf::Message(id), at, &message_words(text))])
            }
            kinds::CONVERSATION_CREATED => {
                let Some(id) = id else { return Ok(Vec::new()) };
                self.subjects(&[id], hashers).await
            }
            _ => {
                let mut ids: Vec<Uuid> = event.contact_id.into_iter().collect();
                ids.extend(id.filter(|i| !ids.contains(i)));
                self.contacts(event.tenant_id, &ids, hashers).await
            }
        }
    }

    async fn subjects(&self, conversation_ids: &[Uuid], hashers: &mut Hashers) -> Result<Vec<Prepared>, WorkError> {
        let mut out = Vec::new();
        for row in index_store::subjects(&self.db, conversation_ids).await? {
            let Some(key) = usable_key(self.keyring.data_key(&self.db, row.tenant_id, row.contact_id).await)? else { continue };
            let subject = key.open(fields::CONVERSATION_SUBJECT, row.id, &row.subject)?;
            let at = id_time_ms(row.id, row.created_at);
            out.push(prepare(hashers, &self.keyring, row.tenant_id, DocOf::Subject(row.id), at, &message_words(&subject)));
        }
        Ok(out)
    }

    async fn contacts(&self, tenant_id: Uuid, ids: &[Uuid], hashers: &mut Hashers) -> Result<Vec<Prepared>, WorkError> {
        contact_documents(&self.db, &self.keyring, tenant_id, ids, hashers).await
    }
}

/// The documents of these contacts as they are stored now.
pub async fn contact_documents(db: &Db, keyring: &Keyring, tenant_id: Uuid, ids: &[Uuid], hashers: &mut Hashers) -> Result<Vec<Prepared>, WorkError> {
    let (contacts, identities) = store::contacts::with_identities(db, tenant_id, ids).await?;
    let mut out = Vec::new();
    for row in contacts {
        let Some(key) = usable_key(keyring.data_key(db, tenant_id, row.id).await)? else { continue };
        let own: Vec<_> = identities.iter().filter(|i| i.contact_id == row.id).cloned().collect();
        let view = present::contact(&row, &own, &key)?;
        let at = id_time_ms(row.id, row.created_at);
        out.push(prepare(hashers, keyring, tenant_id, DocOf::Contact(row.id), at, &contact_words(&view)));
    }
    Ok(out)
}

/// A data key, or `None` when the contact's key is gone (erased meanwhile: nothing to index).
fn usable_key(found: Result<crate::privacy::DataKey, KeyError>) -> Result<Option<crate::privacy::DataKey>, WorkError> {
    match found {
        Ok(key) => Ok(Some(key)),
        Err(KeyError::Crypto(crate::privacy::CryptoError::KeyDestroyed)) | Err(KeyError::Missing(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

const WANTED: &[&str] = &[
    kinds::MESSAGE_RECEIVED,
    kinds::MESSAGE_UPDATED,
    kinds::CONVERSATION_CREATED,
    kinds::CONTACT_CREATED,
    kinds::CONTACT_UPDATED,
    kinds::CONTACT_MERGED,
    kinds::CONTACT_UNMERGED,
];

impl Consumer for Indexer {
    fn name(&self) -> &'static str {
        "search"
    }

    fn wants(&self, event: &Event) -> bool {
        WANTED.contains(&event.event_type)
    }

    async fn select(&self, _db: &Db, events: Vec<Arc<Event>>) -> Result<Vec<Arc<Event>>, WorkError> {
        let waiting = std::time::Instant::now();
        while (self.busy)() && waiting.elapsed() < MAX_YIELD {
            tokio::time::sleep(YIELD_STEP).await;
        }
        let mut hashers = Hashers::default();
        let mut prepared = HashMap::with_capacity(events.len());
        for event in &events {
            prepared.insert(event.id, self.documents(event, &mut hashers).await?);
        }
        *self.prepared.lock().unwrap_or_else(|e| e.into_inner()) = prepared;
        Ok(events)
    }

    async fn handle(&self, work: &mut UnitOfWork, events: &[Arc<Event>]) -> Result<(), WorkError> {
        let mut ready = std::mem::take(&mut *self.prepared.lock().unwrap_or_else(|e| e.into_inner()));
        let mut hashers = Hashers::default();
        let mut docs = Vec::new();
        for event in events {
            match ready.remove(&event.id) {
                Some(prepared) => docs.extend(prepared),
                None => docs.extend(self.documents(event, &mut hashers).await?),
            }
        }
        write(work.tx(), &docs).await?;
        Ok(())
    }
}

/// How far a backfill came.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Backfilled {
    pub messages: u64,
    pub subjects: u64,
    pub contacts: u64,
}

/// Indexes what was stored before the index existed (or while it was not kept), newest first,
/// in batches of `batch`; resumes where it stopped. `progress` hears each batch.
pub async fn backfill(db: &Db, keyring: &Keyring, batch: usize, stop: &tokio_util::sync::CancellationToken, mut progress: impl FnMut(&Backfilled)) -> Result<Backfilled, WorkError> {
    let mut done = Backfilled::default();
    for kind in ["message", "subject", "contact"] {
        let (mut cursor, finished) = index_store::backfill_state(db, kind).await?;
        if finished {
            continue;
        }
        loop {
            if stop.is_cancelled() {
                return Ok(done);
            }
            let mut hashers = Hashers::default();
            let (prepared, next) = match kind {
                "message" => {
                    let (rows, next) = index_store::unindexed_messages(db, cursor, batch).await?;
                    let mut prepared = Vec::with_capacity(rows.len());
                    for row in rows {
                        let Some(key) = usable_key(keyring.data_key(db, row.tenant_id, row.contact_id).await)? else { continue };
                        let text = key.open(fields::MESSAGE_TEXT, row.id, &row.text)?;
                        let at = id_time_ms(row.id, row.created_at);
                        prepared.push(prepare(&mut hashers, keyring, row.tenant_id, DocOf::Message(row.id), at, &message_words(&text)));
                    }
                    (prepared, next)
                }
                _ => {
                    let table = if kind == "subject" { "conversations" } else { "contacts" };
                    let page = index_store::backfill_page(db, table, cursor, batch).await?;
                    let next = page.last().map(|(id, _)| *id);
                    let mut prepared = Vec::new();
                    if kind == "subject" {
                        let ids: Vec<Uuid> = page.iter().map(|(id, _)| *id).collect();
                        for row in index_store::subjects(db, &ids).await? {
                            let Some(key) = usable_key(keyring.data_key(db, row.tenant_id, row.contact_id).await)? else { continue };
                            let subject = key.open(fields::CONVERSATION_SUBJECT, row.id, &row.subject)?;
                            prepared.push(prepare(&mut hashers, keyring, row.tenant_id, DocOf::Subject(row.id), id_time_ms(row.id, row.created_at), &message_words(&subject)));
                        }
                    } else {
                        let mut by_tenant: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
                        for (id, tenant) in &page {
                            by_tenant.entry(*tenant).or_default().push(*id);
                        }
                        for (tenant, ids) in by_tenant {
                            prepared.extend(contact_documents(db, keyring, tenant, &ids, &mut hashers).await?);
                        }
                    }
                    (prepared, next)
                }
            };
            let mut tx = db.begin().await?;
            let written = write(&mut tx, &prepared).await? as u64;
            index_store::save_backfill(&mut tx, kind, next.or(cursor), next.is_none()).await?;
            tx.commit().await?;
            match kind {
                "message" => done.messages += written,
                "subject" => done.subjects += written,
                _ => done.contacts += written,
            }
            progress(&done);
            if next.is_none() {
                break;
            }
            cursor = next;
        }
    }
    if done.messages + done.subjects + done.contacts > 0 {
        db.refresh_statistics(&["search_docs", "search_terms"]).await?;
    }
    Ok(done)
}

/// Runs the backfill once in the background (at start), quietly when there is nothing to do.
pub async fn backfill_in_background(db: Db, keyring: Arc<Keyring>, stop: tokio_util::sync::CancellationToken) {
    let started = std::time::Instant::now();
    match backfill(&db, &keyring, 500, &stop, |_| {}).await {
        Ok(done) if done.messages + done.subjects + done.contacts > 0 => {
            tracing::info!(messages = done.messages, subjects = done.subjects, contacts = done.contacts, secs = started.elapsed().as_secs(), "indexed what was stored before for search");
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(error = %err, "indexing what was stored before for search failed; it resumes at the next start"),
    }
}

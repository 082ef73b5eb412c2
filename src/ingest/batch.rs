//! One batch of inbound messages inside the writer's transaction.
//!
//! The batch is processed in stages, each one statement for the whole batch rather than one per
//! message, so the cost of a round trip to the database (a thread hop on SQLite, a network trip
//! on PostgreSQL) is paid about ten times per batch instead of ten times per message:
//!
//! 1. validate against the cached channel; spot repeats within the batch;
//! 2. dedup against stored messages by (channel, external id);
//! 3. resolve identities by blind index; create contacts (key, contact, verified identity) for
//!    addresses seen for the first time;
//! 4. unwrap the contacts' data keys (cached ones need no query);
//! 5. find each (contact, channel)'s open conversation, open the missing ones, touch the rest;
//! 6. insert the messages, their technical data and all events.
//!
//! When another process wrote the same thing between a read and a write (possible on
//! PostgreSQL with several hub processes), the batch fails with [`IngestError::Race`] and the
//! writer runs it again: the reads then see the winner's rows.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use omnibridge_channel::{Accepted, ConsentAction, InboundMessage, SinkError};
use uuid::Uuid;

use super::writer::WriterContext;
use crate::channels::ChannelInfo;
use crate::domain::events::{self, Event, Sequences};
use crate::domain::views::{AttachmentView, ContactView, IdentityView};
use crate::store::attachments::AttachmentRow;
use crate::consent::{self, NewConsent};
use crate::domain::rfc3339;
use crate::events::outbox::{self, stored_payload};
use sha2::Digest;
use crate::events::present::{self, fields};
use crate::privacy::{CryptoError, DataKey, KeyError};
use crate::store::contacts::{IdentityStatus, NewInboundContact};
use crate::store::{self, ConversationRow, MessageRow, NewEvent, NewMessage, StoreError, Tx, now_micros};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("another process wrote the same rows concurrently; retry the batch")]
    Race,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<crate::inbox::participants::ParticipantError> for IngestError {
    fn from(err: crate::inbox::participants::ParticipantError) -> Self {
        match err {
            crate::inbox::participants::ParticipantError::Store(e) => Self::Store(e),
            crate::inbox::participants::ParticipantError::Crypto(e) => Self::Crypto(e),
        }
    }
}

/// The answer for each message (in order) and the events to publish after commit.
pub struct BatchOutcome {
    pub results: Vec<Result<Accepted, SinkError>>,
    pub events: Vec<Event>,
}

/// Where each message of the batch stands.
enum Slot {
    Done(Result<Accepted, SinkError>),
    /// Repeats message `i` of the same batch.
    SameAs(usize),
    New(Work),
}

struct Work {
    channel: Arc<ChannelInfo>,
    index: Vec<u8>,
    contact_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
}

pub async fn ingest_batch(tx: &mut Tx, ctx: &WriterContext, messages: &[&InboundMessage]) -> Result<BatchOutcome, IngestError> {
    let now = now_micros();
    let mut slots = validate(ctx, messages).await?;
    let mut events = Vec::new();
    let edits = dedup(tx, messages, &mut slots).await?;
    let mut keys = resolve_contacts(tx, ctx, messages, &mut slots, &mut events, now).await?;
    load_keys(tx, ctx, &mut slots, &mut keys).await?;
    apply_edits(tx, ctx, messages, &edits, &mut keys, &mut events).await?;
    let mut sequences = resolve_conversations(tx, ctx, messages, &mut slots, &keys, &mut events, now).await?;
    let by_reference = insert_messages(tx, ctx, messages, &slots, &keys, &mut sequences, &mut events, now).await?;
    add_participants(tx, ctx, messages, &slots, &keys).await?;

    let mut stored = Vec::with_capacity(events.len());
    for event in &events {
        let key = event.contact_id.and_then(|id| keys.get(&id));
        stored.push(match (key, by_reference.get(&event.id)) {
            (Some(key), Some(payload)) => key.seal_bytes(outbox::EVENT_PAYLOAD, event.id, payload.as_bytes())?,
            _ => stored_payload(key, event)?,
        });
    }
    let rows: Vec<NewEvent> = events
        .iter()
        .zip(&stored)
        .map(|(e, payload)| NewEvent {
            id: e.id,
            tenant_id: e.tenant_id,
            event_type: e.event_type,
            contact_id: e.contact_id,
            payload,
            created_at: e.created_at,
        })
        .collect();
    let seqs: HashMap<Uuid, i64> = store::outbox::append_many(&mut *tx, &rows).await?.into_iter().collect();
    for event in &mut events {
        event.seq = seqs.get(&event.id).copied().unwrap_or_default();
    }

    let created_at = rfc3339(now);
    let mut results: Vec<Result<Accepted, SinkError>> = Vec::with_capacity(slots.len());
    for slot in &slots {
        let result = match slot {
            Slot::Done(result) => result.clone(),
            Slot::SameAs(first) => results[*first].clone().map(|a| Accepted { duplicate: true, ..a }),
            Slot::New(w) => Ok(Accepted {
                message_id: w.message_id,
                conversation_id: w.conversation_id,
                contact_id: w.contact_id,
                duplicate: false,
                created_at: created_at.clone(),
            }),
        };
        results.push(result);
    }
    Ok(BatchOutcome { results, events })
}

/// Checks each message against its (cached) channel and marks repeats within the batch.
async fn validate(ctx: &WriterContext, messages: &[&InboundMessage]) -> Result<Vec<Slot>, IngestError> {
    let mut slots = Vec::with_capacity(messages.len());
    let mut first_seen: HashMap<(Uuid, &str), usize> = HashMap::new();
    for (i, msg) in messages.iter().enumerate() {
        let rejected = |why: String| Slot::Done(Err(SinkError::Rejected(why)));
        let Some(channel) = ctx.channels.get(msg.channel_id).await? else {
            slots.push(rejected("unknown channel".into()));
            continue;
        };
        if ctx.channels.kind_of(&channel).map(|k| k.address_kind()) != Some(msg.sender.address.kind) {
            slots.push(rejected(format!("a {} channel cannot receive from this address kind", channel.kind)));
            continue;
        }
        if let Some(first) = first_seen.get(&(msg.channel_id, msg.external_id.as_str())) {
            slots.push(Slot::SameAs(*first));
            continue;
        }
        first_seen.insert((msg.channel_id, msg.external_id.as_str()), i);
        let index = ctx.keyring.blind_index(channel.tenant_id, &msg.sender.address);
        slots.push(Slot::New(Work { channel, index, contact_id: Uuid::nil(), conversation_id: Uuid::nil(), message_id: Uuid::now_v7() }));
    }
    Ok(slots)
}

/// Answers messages stored before with the stored message. Returns the edits among them (a
/// new version of a stored inbound message): (index in the batch, the stored row).
async fn dedup(tx: &mut Tx, messages: &[&InboundMessage], slots: &mut [Slot]) -> Result<Vec<(usize, MessageRow)>, IngestError> {
    let mut edits = Vec::new();
    let keys: Vec<(Uuid, &str)> = slots
        .iter()
        .zip(messages)
        .filter(|(slot, _)| matches!(slot, Slot::New(_)))
        .map(|(_, m)| (m.channel_id, m.external_id.as_str()))
        .collect();
    let existing: HashMap<(Uuid, String), MessageRow> = store::messages::existing(&mut *tx, &keys)
        .await?
        .into_iter()
        .map(|row| ((row.channel_id, row.external_id.clone().unwrap_or_default()), row))
        .collect();
    for (i, (slot, msg)) in slots.iter_mut().zip(messages).enumerate() {
        if let Some(row) = existing.get(&(msg.channel_id, msg.external_id.clone()))
            && matches!(slot, Slot::New(_)) {
                if msg.extras.edited && row.direction == "in" {
                    edits.push((i, row.clone()));
                }
                *slot = Slot::Done(Ok(Accepted {
                    message_id: row.id,
                    conversation_id: row.conversation_id,
                    contact_id: row.contact_id,
                    duplicate: true,
                    created_at: rfc3339(row.created_at),
                }));
            }
    }
    Ok(edits)
}

/// Edits of stored messages: the new text replaces the old (sealed anew), with
/// `message.updated`. An edit that changes nothing (a repeated update) does nothing.
async fn apply_edits(
    tx: &mut Tx,
    ctx: &WriterContext,
    messages: &[&InboundMessage],
    edits: &[(usize, MessageRow)],
    keys: &mut HashMap<Uuid, DataKey>,
    events: &mut Vec<Event>,
) -> Result<(), IngestError> {
    for (i, row) in edits {
        let key = match keys.get(&row.contact_id) {
            Some(key) => key.clone(),
            None => {
                let key = ctx.keyring.data_key(&mut *tx, row.tenant_id, row.contact_id).await?;
                keys.insert(row.contact_id, key.clone());
                key
            }
        };
        let text = &messages[*i].text;
        if key.open(fields::MESSAGE_TEXT, row.id, &row.text)? == *text {
            continue;
        }
        let sealed = key.seal(fields::MESSAGE_TEXT, row.id, text)?;
        let Some(updated) = store::messages::update_text(&mut *tx, row.id, &sealed).await? else { continue };
        let view = present::message_with_text(&updated, text.clone());
        let sequence = outbox::next_sequence(&mut *tx, row.conversation_id).await?;
        events.push(Event::in_conversation(row.tenant_id, events::MESSAGE_UPDATED, row.contact_id, row.conversation_id, sequence, &view));
    }
    Ok(())
}

/// Finds each sender's contact by blind index, creating contacts for first-time addresses.
/// Returns the data keys of the contacts it created.
async fn resolve_contacts(
    tx: &mut Tx,
    ctx: &WriterContext,
    messages: &[&InboundMessage],
    slots: &mut [Slot],
    events: &mut Vec<Event>,
    now: i64,
) -> Result<HashMap<Uuid, DataKey>, IngestError> {
    let wanted: Vec<(Uuid, &str, &[u8])> = slots
        .iter()
        .zip(messages)
        .filter_map(|(slot, m)| match slot {
            Slot::New(w) => Some((w.channel.tenant_id, m.sender.address.kind.as_str(), w.index.as_slice())),
            _ => None,
        })
        .collect();
    let mut known: HashMap<(Uuid, Vec<u8>), Uuid> = store::contacts::identities_by_indexes(&mut *tx, &wanted, true)
        .await?
        .into_iter()
        .map(|row| ((row.tenant_id, row.address_index), row.contact_id))
        .collect();

    let mut created_keys = HashMap::new();
    let mut new_contacts = Vec::new();
    for (slot, msg) in slots.iter_mut().zip(messages) {
        let Slot::New(work) = slot else { continue };
        let lookup = (work.channel.tenant_id, work.index.clone());
        if let Some(contact_id) = known.get(&lookup) {
            work.contact_id = *contact_id;
            continue;
        }
        // First time this address writes, with a link token the hub minted for a known contact
        // (a deep link): the address joins that contact.
        if let Some(token) = &msg.extras.link_token {
            let hash = sha2::Sha256::digest(token.as_bytes()).to_vec();
            if let Some(contact_id) = store::links::redeem_link_token(&mut *tx, &hash, work.channel.id).await? {
                let tenant_id = work.channel.tenant_id;
                let key = ctx.keyring.data_key(&mut *tx, tenant_id, contact_id).await?;
                let address = &msg.sender.address;
                let sealed = key.seal(fields::IDENTITY_ADDRESS, contact_id, &address.value)?;
                if !store::contacts::insert_identity(&mut *tx, tenant_id, contact_id, address.kind.as_str(), &work.index, &sealed, IdentityStatus::Verified).await? {
                    return Err(IngestError::Race);
                }
                known.insert(lookup, contact_id);
                work.contact_id = contact_id;
                continue;
            }
        }
        // First time this address writes: a contact with a verified identity.
        let (tenant_id, contact_id, identity_id) = (work.channel.tenant_id, Uuid::now_v7(), Uuid::now_v7());
        let (key, wrapped_key, generation) = ctx.keyring.new_data_key(tenant_id, contact_id)?;
        let address = &msg.sender.address;
        new_contacts.push(NewInboundContact {
            id: contact_id,
            identity_id,
            tenant_id,
            wrapped_key,
            generation,
            name: key.seal_opt(fields::CONTACT_NAME, contact_id, msg.sender.display_name.as_deref())?,
            kind: address.kind.as_str(),
            address_index: work.index.clone(),
            address: key.seal(fields::IDENTITY_ADDRESS, contact_id, &address.value)?,
        });
        let view = ContactView {
            id: contact_id,
            name: msg.sender.display_name.clone(),
            email: None,
            phone: None,
            under_minimum_age: false,
            identities: vec![IdentityView {
                id: identity_id,
                kind: address.kind.as_str().into(),
                address: address.value.clone(),
                status: "verified".into(),
                created_at: rfc3339(now),
            }],
            created_at: rfc3339(now),
            updated_at: rfc3339(now),
            labels: None,
            custom_attributes: None,
        };
        events.push(Event::new(tenant_id, events::CONTACT_CREATED, Some(contact_id), &view));
        created_keys.insert(contact_id, key);
        known.insert(lookup, contact_id);
        work.contact_id = contact_id;
    }
    let inserted = store::contacts::insert_inbound_contacts(tx, &new_contacts, now).await?;
    if inserted.len() != new_contacts.len() {
        return Err(IngestError::Race);
    }
    // Contacts who only typed these addresses into a form keep them as claims: suggest merging
    // them with the address's real holder, who has just written for the first time.
    let first_time: Vec<(Uuid, &str, &[u8])> = new_contacts.iter().map(|c| (c.tenant_id, c.kind, c.address_index.as_slice())).collect();
    let claims = store::contacts::identities_by_indexes(&mut *tx, &first_time, false).await?;
    for claim in claims.iter().filter(|c| c.status == IdentityStatus::Claimed.as_str()) {
        if let Some(holder) = new_contacts.iter().find(|c| c.tenant_id == claim.tenant_id && c.kind == claim.kind && c.address_index == claim.address_index) {
            store::merges::suggest(tx, claim.tenant_id, claim.contact_id, holder.id, &claim.kind).await?;
        }
    }
    Ok(created_keys)
}

/// Adds the data keys of every other contact in the batch to `keys`.
async fn load_keys(tx: &mut Tx, ctx: &WriterContext, slots: &mut [Slot], keys: &mut HashMap<Uuid, DataKey>) -> Result<(), IngestError> {
    let mut missing = Vec::new();
    for slot in slots.iter() {
        let Slot::New(w) = slot else { continue };
        if keys.contains_key(&w.contact_id) {
            continue;
        }
        match ctx.keyring.cached(w.contact_id) {
            Some(key) => {
                keys.insert(w.contact_id, key);
            }
            None if !missing.contains(&w.contact_id) => missing.push(w.contact_id),
            None => {}
        }
    }
    let tenants: HashMap<Uuid, Uuid> =
        slots.iter().filter_map(|s| if let Slot::New(w) = s { Some((w.contact_id, w.channel.tenant_id)) } else { None }).collect();
    for (contact_id, wrapped) in store::contacts::wrapped_data_keys_for(&mut *tx, &missing).await? {
        if let (Some(wrapped), Some(tenant_id)) = (wrapped, tenants.get(&contact_id)) {
            keys.insert(contact_id, ctx.keyring.unwrap_data_key(*tenant_id, contact_id, &wrapped)?);
        }
    }
    for slot in slots.iter_mut() {
        if matches!(slot, Slot::New(w) if !keys.contains_key(&w.contact_id)) {
            *slot = Slot::Done(Err(SinkError::Rejected("the sender's contact has been erased".into())));
        }
    }
    Ok(())
}

/// Puts each message in a conversation: the one it continues when it names an earlier message
/// of the channel (email `In-Reply-To`/`References`); for email, a new one when it continues
/// none (every mail thread is a conversation); otherwise the contact's open conversation on the
/// channel, opening one where there is none.
async fn resolve_conversations(
    tx: &mut Tx,
    ctx: &WriterContext,
    messages: &[&InboundMessage],
    slots: &mut [Slot],
    keys: &HashMap<Uuid, DataKey>,
    events: &mut Vec<Event>,
    now: i64,
) -> Result<Sequences, IngestError> {
    let threaded = threaded_conversations(tx, ctx, messages, slots).await?;
    // A threading kind's mail that continues no thread starts a conversation of its own.
    let is_fresh = |i: usize, w: &Work| !threaded.contains_key(&i) && ctx.channels.kind_of(&w.channel).is_some_and(|k| k.capabilities().threading);

    let mut pairs: Vec<(Uuid, Uuid)> = Vec::new();
    for (i, slot) in slots.iter().enumerate() {
        if let Slot::New(w) = slot
            && !threaded.contains_key(&i)
            && !is_fresh(i, w)
            && !pairs.contains(&(w.contact_id, w.channel.id))
        {
            pairs.push((w.contact_id, w.channel.id));
        }
    }
    // Latest wins: rows come oldest first.
    let mut active: HashMap<(Uuid, Uuid), ConversationRow> = HashMap::new();
    for row in store::conversations::active_for_many(&mut *tx, &pairs).await? {
        active.insert((row.contact_id, row.channel_id), row);
    }
    let existing: Vec<Uuid> = active.values().map(|c| c.id).collect();
    let mut to_open = Vec::new();
    for (contact_id, channel_id) in &pairs {
        if !active.contains_key(&(*contact_id, *channel_id)) {
            let tenant_id = slots
                .iter()
                .find_map(|s| match s {
                    Slot::New(w) if w.contact_id == *contact_id => Some(w.channel.tenant_id),
                    _ => None,
                })
                .unwrap_or_default();
            to_open.push((Uuid::now_v7(), tenant_id, *contact_id, *channel_id));
        }
    }
    // A conversation of its own for each mail that starts a thread.
    let mut fresh: HashMap<usize, Uuid> = HashMap::new();
    for (i, slot) in slots.iter().enumerate() {
        if let Slot::New(w) = slot
            && is_fresh(i, w)
        {
            let id = Uuid::now_v7();
            fresh.insert(i, id);
            to_open.push((id, w.channel.tenant_id, w.contact_id, w.channel.id));
        }
    }
    let fresh_ids: Vec<Uuid> = fresh.values().copied().collect();
    // Conversation events are built once the batch's sequence numbers are reserved.
    let mut conversation_events: Vec<(&'static str, ConversationRow)> = Vec::new();
    for row in store::conversations::insert_many(&mut *tx, &to_open, now).await? {
        conversation_events.push((events::CONVERSATION_CREATED, row.clone()));
        if !fresh_ids.contains(&row.id) {
            active.insert((row.contact_id, row.channel_id), row);
        }
    }
    if store::conversations::touch_many(&mut *tx, &existing, now).await? != existing.len() as u64 {
        return Err(IngestError::Race); // one was resolved meanwhile
    }
    // A reply in a thread reopens its conversation, even a resolved one.
    let mut continued: HashSet<Uuid> = HashSet::new();
    let open = crate::domain::ConversationStatus::Open.as_str();
    for (i, conversation_id) in &threaded {
        let Slot::New(w) = &slots[*i] else { continue };
        if !continued.insert(*conversation_id) {
            continue;
        }
        let before = store::conversations::get(&mut *tx, w.channel.tenant_id, *conversation_id).await?;
        let row = store::conversations::touch(&mut *tx, *conversation_id, w.channel.id, open).await?;
        if before.is_some_and(|b| b.status != open) {
            conversation_events.push((events::CONVERSATION_UPDATED, row));
        }
    }
    let mut by_id = HashMap::new();
    for mut row in active.into_values() {
        if existing.contains(&row.id) {
            let woke = row.status != open;
            row.status = open.into();
            row.updated_at = now;
            row.last_message_at = now;
            if woke && keys.contains_key(&row.contact_id) {
                conversation_events.push((events::CONVERSATION_UPDATED, row.clone()));
            }
        }
        by_id.insert(row.id, row);
    }
    for (i, slot) in slots.iter_mut().enumerate() {
        if let Slot::New(w) = slot {
            w.conversation_id = if let Some(id) = threaded.get(&i).or_else(|| fresh.get(&i)) {
                *id
            } else {
                by_id.values().find(|c| c.contact_id == w.contact_id && c.channel_id == w.channel.id).map(|c| c.id).unwrap_or_default()
            };
        }
    }
    // The subject a mail thread started with, sealed under the contact's key.
    for (i, id) in &fresh {
        if let (Slot::New(w), Some(subject)) = (&slots[*i], messages[*i].extras.subject.as_deref())
            && let Some(key) = keys.get(&w.contact_id)
        {
            store::mailboxes::set_subject(&mut *tx, *id, &key.seal(fields::CONVERSATION_SUBJECT, *id, subject)?).await?;
        }
    }
    // One number per conversation event and per new message.
    let mut counts: HashMap<Uuid, i64> = HashMap::new();
    for (_, row) in &conversation_events {
        *counts.entry(row.id).or_default() += 1;
    }
    for slot in slots.iter() {
        if let Slot::New(w) = slot {
            *counts.entry(w.conversation_id).or_default() += 1;
        }
    }
    let mut sequences = outbox::reserve_sequences(tx, &counts).await?;
    for (event_type, row) in conversation_events {
        let sequence = sequences.next(row.id);
        events.push(Event::in_conversation(row.tenant_id, event_type, row.contact_id, row.id, sequence, &present::conversation(&row)));
    }
    Ok(sequences)
}

/// Messages that continue a thread: slot index → conversation. In order: a genuine reply token
/// in a recipient address (`local+TOKEN@reply_domain`), then the earliest-named earlier message
/// of the same channel (the message's thread hints, best first). Either must be the sender's own
/// conversation.
async fn threaded_conversations(
    tx: &mut Tx,
    ctx: &WriterContext,
    messages: &[&InboundMessage],
    slots: &[Slot],
) -> Result<HashMap<usize, Uuid>, IngestError> {
    let mut threaded = HashMap::new();
    for (i, (slot, message)) in slots.iter().zip(messages).enumerate() {
        let Slot::New(w) = slot else { continue };
        let Some(kind) = ctx.channels.kind_of(&w.channel) else { continue };
        let token = message.extras.recipients.iter().find_map(|r| kind.reply_tag(&w.channel.settings, r));
        let Some(conversation_id) = token.and_then(|t| ctx.keyring.verify_reply_token(w.channel.tenant_id, w.channel.id, &t)) else { continue };
        if store::conversations::get(&mut *tx, w.channel.tenant_id, conversation_id).await?.is_some_and(|c| c.contact_id == w.contact_id) {
            threaded.insert(i, conversation_id);
        }
    }
    let mut refs: Vec<(Uuid, &str)> = Vec::new();
    for (slot, message) in slots.iter().zip(messages) {
        if let Slot::New(w) = slot {
            for r in message.extras.thread_refs.iter().take(20) {
                if !refs.contains(&(w.channel.id, r.as_str())) {
                    refs.push((w.channel.id, r.as_str()));
                }
            }
        }
    }
    if refs.is_empty() {
        return Ok(threaded);
    }
    let found = store::messages::existing(&mut *tx, &refs).await?;
    for (i, (slot, message)) in slots.iter().zip(messages).enumerate() {
        let Slot::New(w) = slot else { continue };
        if threaded.contains_key(&i) {
            continue;
        }
        let hit = message.extras.thread_refs.iter().find_map(|r| {
            found.iter().find(|m| m.channel_id == w.channel.id && m.contact_id == w.contact_id && m.external_id.as_deref() == Some(r.as_str()))
        });
        if let Some(m) = hit {
            threaded.insert(i, m.conversation_id);
        }
    }
    Ok(threaded)
}

/// Everyone else a mail was sent to (its `To` and `Cc` beyond the channel's own addresses)
/// joins the conversation as a participant, so replies go to them too.
async fn add_participants(tx: &mut Tx, ctx: &WriterContext, messages: &[&InboundMessage], slots: &[Slot], keys: &HashMap<Uuid, DataKey>) -> Result<(), IngestError> {
    for (slot, message) in slots.iter().zip(messages) {
        let Slot::New(w) = slot else { continue };
        let Some(kind) = ctx.channels.kind_of(&w.channel).filter(|k| k.capabilities().carbon_copies) else { continue };
        let addresses = crate::inbox::participants::named_in_mail(kind, &w.channel.settings, &message.sender.address.value, &message.extras.recipients);
        if addresses.is_empty() {
            continue;
        }
        let key = &keys[&w.contact_id];
        crate::inbox::participants::add(tx, &ctx.keyring, key, w.channel.tenant_id, w.conversation_id, &addresses, "mail").await?;
    }
    Ok(())
}

/// The messages that answer a specific earlier one (a WhatsApp `context`, a Messenger
/// `reply_to`): new message id → the earlier message, found by the provider's id on the same
/// channel and contact. A quote of something the hub never stored is left unlinked.
async fn answered_messages(tx: &mut Tx, messages: &[&InboundMessage], slots: &[Slot]) -> Result<Vec<(Uuid, Uuid)>, IngestError> {
    let wanted: Vec<(&Work, &str)> = slots
        .iter()
        .zip(messages)
        .filter_map(|(slot, m)| match (slot, m.extras.quoted.as_deref()) {
            (Slot::New(w), Some(quoted)) if !quoted.is_empty() => Some((w, quoted)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<(Uuid, &str)> = wanted.iter().map(|(w, q)| (w.channel.id, *q)).collect();
    let found = store::messages::existing(&mut *tx, &keys).await?;
    Ok(wanted
        .iter()
        .filter_map(|(w, q)| {
            found
                .iter()
                .find(|m| m.channel_id == w.channel.id && m.contact_id == w.contact_id && m.external_id.as_deref() == Some(*q))
                .map(|m| (w.message_id, m.id))
        })
        .collect())
}

/// Opt-outs and opt-ins the senders expressed (an SMS STOP) go to the consent ledger in the
/// same transaction as their messages, with the message as evidence.
#[allow(clippy::too_many_arguments)]
async fn record_consent_signals(
    tx: &mut Tx,
    ctx: &WriterContext,
    messages: &[&InboundMessage],
    slots: &[Slot],
    rows: &[NewMessage<'_>],
    keys: &HashMap<Uuid, DataKey>,
    events: &mut Vec<Event>,
) -> Result<(), IngestError> {
    let mut signals = Vec::new();
    let new = slots.iter().zip(messages).filter_map(|(s, m)| match s {
        Slot::New(w) => Some((w, m)),
        _ => None,
    });
    for ((work, msg), row) in new.zip(rows) {
        if let Some(withdrawal) = mailto_unsubscribe(ctx, work, msg, row.id, keys)? {
            signals.push(withdrawal);
        }
        let Some(signal) = &msg.extras.consent else { continue };
        let (Some(medium), Some(method)) = (ctx.channels.kind_of(&work.channel).map(|k| k.medium().as_str()), consent::methods::known(&signal.method)) else {
            tracing::warn!(channel_id = %work.channel.id, method = %signal.method, "a consent signal of an unknown kind was ignored");
            continue;
        };
        let (purpose, action) = match signal.action {
            // Carriers block every message to a number that said STOP.
            ConsentAction::OptOut => (consent::purposes::ALL, consent::actions::WITHDRAW),
            // Opting back in reopens the conversation, not marketing.
            ConsentAction::OptIn => (consent::purposes::SERVICE, consent::actions::GRANT),
            // Messengers keep the conversation open; only promotions stop.
            ConsentAction::OptOutMarketing => (consent::purposes::MARKETING, consent::actions::WITHDRAW),
        };
        let id = Uuid::now_v7();
        signals.push(NewConsent {
            id,
            tenant_id: work.channel.tenant_id,
            contact_id: Some(work.contact_id),
            channel: medium,
            address_index: work.index.clone(),
            address: Some(keys[&work.contact_id].seal(fields::CONSENT_ADDRESS, id, &msg.sender.address.value)?),
            sender_scope: Some(format!("channel:{}", work.channel.id)),
            purpose: purpose.into(),
            action,
            legal_basis: consent::legal_bases::CONSENT,
            method,
            evidence: serde_json::json!({"message_id": row.id, "external_id": msg.external_id, "keyword": signal.keyword}),
            actor: "contact".into(),
            notice_url: None,
            notice_version: None,
        });
    }
    if !signals.is_empty() {
        for row in consent::append(tx, &signals).await? {
            let key = row.contact_id.and_then(|id| keys.get(&id));
            events.extend(consent::changed_events(std::slice::from_ref(&row), key));
        }
    }
    Ok(())
}

/// Mail to a `local+unsubscribe-TOKEN@reply_domain` address (the mailto of `List-Unsubscribe`)
/// from the contact the token names: withdraws marketing consent for their address.
fn mailto_unsubscribe(ctx: &WriterContext, work: &Work, msg: &InboundMessage, message_id: Uuid, keys: &HashMap<Uuid, DataKey>) -> Result<Option<NewConsent>, IngestError> {
    let Some(kind) = ctx.channels.kind_of(&work.channel).filter(|k| k.capabilities().unsubscribe_link) else { return Ok(None) };
    let named = msg.extras.recipients.iter().find_map(|r| {
        let tag = kind.reply_tag(&work.channel.settings, r)?;
        let token = tag.strip_prefix(crate::egress::worker::UNSUBSCRIBE_PREFIX)?;
        ctx.keyring.verify_link_token(crate::egress::worker::UNSUBSCRIBE, work.channel.tenant_id, work.channel.id, token)
    });
    if named != Some(work.contact_id) {
        return Ok(None);
    }
    let id = Uuid::now_v7();
    Ok(Some(NewConsent {
        id,
        tenant_id: work.channel.tenant_id,
        contact_id: Some(work.contact_id),
        channel: kind.medium().as_str(),
        address_index: work.index.clone(),
        address: Some(keys[&work.contact_id].seal(fields::CONSENT_ADDRESS, id, &msg.sender.address.value)?),
        sender_scope: Some(format!("channel:{}", work.channel.id)),
        purpose: consent::purposes::MARKETING.into(),
        action: consent::actions::WITHDRAW,
        legal_basis: consent::legal_bases::CONSENT,
        method: consent::methods::EMAIL_UNSUBSCRIBE,
        evidence: serde_json::json!({"message_id": message_id, "mechanism": "mailto"}),
        actor: "contact".into(),
        notice_url: None,
        notice_version: None,
    }))
}

/// Inserts the new messages and their technical data; adds `message.received` events.
#[allow(clippy::too_many_arguments)]
async fn insert_messages(
    tx: &mut Tx,
    ctx: &WriterContext,
    messages: &[&InboundMessage],
    slots: &[Slot],
    keys: &HashMap<Uuid, DataKey>,
    sequences: &mut Sequences,
    events: &mut Vec<Event>,
    now: i64,
) -> Result<HashMap<Uuid, String>, IngestError> {
    let mut sealed = Vec::new();
    let mut technical = Vec::new();
    for (slot, msg) in slots.iter().zip(messages) {
        let Slot::New(w) = slot else { continue };
        let key = &keys[&w.contact_id];
        let message_id = w.message_id;
        sealed.push((message_id, key.seal(fields::MESSAGE_TEXT, message_id, &msg.text)?));
        let t = &msg.technical;
        if t.ip.is_some() || t.user_agent.is_some() {
            technical.push((
                message_id,
                w.channel.tenant_id,
                key.seal_opt(fields::TECHNICAL_IP, message_id, t.ip.as_deref())?,
                key.seal_opt(fields::TECHNICAL_USER_AGENT, message_id, t.user_agent.as_deref())?,
            ));
        }
    }
    let mut rows = Vec::with_capacity(sealed.len());
    let mut sealed_iter = sealed.iter();
    for (slot, msg) in slots.iter().zip(messages) {
        let Slot::New(w) = slot else { continue };
        let Some((id, text)) = sealed_iter.next() else { break };
        rows.push(NewMessage {
            id: *id,
            tenant_id: w.channel.tenant_id,
            conversation_id: w.conversation_id,
            contact_id: w.contact_id,
            channel_id: w.channel.id,
            direction: "in",
            author_type: "contact",
            author_id: None,
            external_id: Some(&msg.external_id),
            text,
            private: false,
            purpose: "service",
            status: "received",
        });
    }
    let inserted = store::messages::insert_many(&mut *tx, &rows, now).await?;
    if inserted.len() != rows.len() {
        return Err(IngestError::Race);
    }
    store::messages::insert_technical_many(&mut *tx, &technical).await?;

    // Attachments (name and content sealed) and where quoted history starts.
    let new_messages = || rows.iter().zip(slots.iter().zip(messages).filter(|(s, _)| matches!(s, Slot::New(_))).map(|(_, m)| m));
    let mut attachments = Vec::new();
    let mut quotes = Vec::new();
    for (row, msg) in new_messages() {
        let key = &keys[&row.contact_id];
        for a in &msg.extras.attachments {
            let id = Uuid::now_v7();
            // Content that came with the message is kept; content left at the provider is
            // fetched when someone asks for it; too-large content is only described.
            let kept = !(a.data.is_empty() && (a.size > 0 || a.remote.is_some()));
            attachments.push(AttachmentRow {
                id,
                tenant_id: row.tenant_id,
                message_id: row.id,
                contact_id: row.contact_id,
                filename: key.seal_opt(fields::ATTACHMENT_FILENAME, id, a.filename.as_deref())?,
                content_type: a.content_type.clone(),
                size: a.size.max(a.data.len()) as i64,
                data: if kept { Some(key.seal_bytes(fields::ATTACHMENT_DATA, id, &a.data)?) } else { None },
                remote: if kept { None } else { a.remote.clone() },
                created_at: now,
            });
        }
        if let Some(start) = msg.extras.quote_start.filter(|s| *s > 0 && *s < msg.text.len()) {
            quotes.push((row.id, start as i64));
        }
    }
    store::attachments::insert_many(&mut *tx, &attachments).await?;
    store::attachments::insert_quotes(&mut *tx, &quotes).await?;
    let replies = answered_messages(tx, messages, slots).await?;
    store::messages::set_quoted_many(tx, &replies).await?;
    record_consent_signals(tx, ctx, messages, slots, &rows, keys, events).await?;

    let mut by_reference = HashMap::new();
    for (row, msg) in new_messages() {
        let stored = row.stored(now);
        let mut view = present::message_with_text(&stored, msg.text.clone());
        view.quote_start = quotes.iter().find(|(id, _)| *id == row.id).map(|(_, q)| *q as usize);
        view.reply_to = replies.iter().find(|(id, _)| *id == row.id).map(|(_, q)| *q);
        for (a, original) in attachments.iter().filter(|a| a.message_id == row.id).zip(&msg.extras.attachments) {
            view.attachments.push(AttachmentView {
                id: a.id,
                filename: original.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                stored: a.data.is_some() || a.remote.is_some(),
            });
        }
        let sequence = sequences.next(row.conversation_id);
        let event = Event::in_conversation(row.tenant_id, events::MESSAGE_RECEIVED, row.contact_id, row.conversation_id, sequence, &view);
        // The text is sealed in the message's row already: the stored event refers to it.
        view.text = String::new();
        by_reference.insert(event.id, event.stored_by_reference(sequence, &view));
        events.push(event);
    }
    Ok(by_reference)
}

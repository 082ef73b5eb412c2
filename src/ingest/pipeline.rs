//! One inbound message, inside the writer's transaction.

use omnibridge_channel::{Accepted, InboundMessage};

use super::writer::WriterContext;
use crate::domain::events::{self, Event};
use crate::domain::{STATUS_AFTER_INBOUND, address_kind_of_channel};
use crate::outbox::{self, AppendError};
use crate::present::{self, fields};
use crate::privacy::{CryptoError, DataKey, KeyError};
use crate::store::{self, NewContact, NewMessage, StoreError, Tx};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// This message cannot be accepted; others in the batch are unaffected.
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<AppendError> for IngestError {
    fn from(e: AppendError) -> Self {
        match e {
            AppendError::Store(e) => Self::Store(e),
            AppendError::Crypto(e) => Self::Crypto(e),
        }
    }
}

pub(super) async fn ingest_one(
    tx: &mut Tx,
    ctx: &WriterContext,
    msg: &InboundMessage,
    events: &mut Vec<Event>,
) -> Result<Accepted, IngestError> {
    let channel = ctx.channels.get(msg.channel_id).await?.ok_or_else(|| IngestError::Rejected("unknown channel".into()))?;
    if address_kind_of_channel(&channel.kind) != Some(msg.sender.address.kind) {
        return Err(IngestError::Rejected(format!("a {} channel cannot receive from this address kind", channel.kind)));
    }
    if let Some(existing) = store::messages::by_external_id(&mut *tx, msg.channel_id, &msg.external_id).await? {
        return Ok(Accepted {
            message_id: existing.id,
            conversation_id: existing.conversation_id,
            contact_id: existing.contact_id,
            duplicate: true,
        });
    }
    let tenant_id = channel.tenant_id;
    let (contact_id, key) = resolve_contact(tx, ctx, tenant_id, msg, events).await?;

    let conversation = match store::conversations::active_for(&mut *tx, tenant_id, contact_id, channel.id).await? {
        Some(existing) => {
            let updated = store::conversations::touch(&mut *tx, existing.id, channel.id, STATUS_AFTER_INBOUND).await?;
            if updated.status != existing.status {
                let mut event = Event::new(tenant_id, events::CONVERSATION_UPDATED, Some(contact_id), &present::conversation(&updated));
                outbox::append(&mut *tx, Some(&key), &mut event).await?;
                events.push(event);
            }
            updated
        }
        None => {
            let created = store::conversations::insert(&mut *tx, tenant_id, contact_id, channel.id).await?;
            let mut event = Event::new(tenant_id, events::CONVERSATION_CREATED, Some(contact_id), &present::conversation(&created));
            outbox::append(&mut *tx, Some(&key), &mut event).await?;
            events.push(event);
            created
        }
    };

    let message_id = uuid::Uuid::now_v7();
    let sealed_text = key.seal(fields::MESSAGE_TEXT, message_id, &msg.text)?;
    let new = NewMessage {
        id: message_id,
        tenant_id,
        conversation_id: conversation.id,
        contact_id,
        channel_id: channel.id,
        direction: "in",
        author_type: "contact",
        author_id: None,
        external_id: Some(&msg.external_id),
        text: &sealed_text,
        private: false,
        purpose: "service",
        status: "received",
    };
    let Some(row) = store::messages::insert(&mut *tx, &new).await? else {
        // Another process stored the same (channel, external id) between our check and insert.
        return Err(IngestError::Rejected("duplicate delivery raced; retry".into()));
    };
    let technical = &msg.technical;
    if technical.ip.is_some() || technical.user_agent.is_some() {
        let ip = key.seal_opt(fields::TECHNICAL_IP, message_id, technical.ip.as_deref())?;
        let ua = key.seal_opt(fields::TECHNICAL_USER_AGENT, message_id, technical.user_agent.as_deref())?;
        store::messages::insert_technical(&mut *tx, message_id, tenant_id, ip.as_deref(), ua.as_deref()).await?;
    }
    let view = present::message_with_text(&row, msg.text.clone());
    let mut event = Event::new(tenant_id, events::MESSAGE_RECEIVED, Some(contact_id), &view);
    outbox::append(&mut *tx, Some(&key), &mut event).await?;
    events.push(event);

    Ok(Accepted { message_id, conversation_id: conversation.id, contact_id, duplicate: false })
}

/// Finds the contact behind a verified sender address, creating contact and identity the first
/// time the address writes.
async fn resolve_contact(
    tx: &mut Tx,
    ctx: &WriterContext,
    tenant_id: uuid::Uuid,
    msg: &InboundMessage,
    events: &mut Vec<Event>,
) -> Result<(uuid::Uuid, DataKey), IngestError> {
    let address = &msg.sender.address;
    let index = ctx.keyring.blind_index(tenant_id, address);
    if let Some(identity) = store::contacts::identity_by_index(&mut *tx, tenant_id, address.kind.as_str(), &index).await? {
        let key = ctx.keyring.data_key(&mut *tx, tenant_id, identity.contact_id).await?;
        return Ok((identity.contact_id, key));
    }
    let contact_id = uuid::Uuid::now_v7();
    let key = ctx.keyring.create_data_key(&mut *tx, tenant_id, contact_id).await?;
    let name = key.seal_opt(fields::CONTACT_NAME, contact_id, msg.sender.display_name.as_deref())?;
    let contact = store::contacts::insert_contact(
        &mut *tx,
        &NewContact { id: contact_id, tenant_id, name: name.as_deref(), email: None, phone: None },
    )
    .await?;
    let sealed_address = key.seal(fields::IDENTITY_ADDRESS, contact_id, &address.value)?;
    store::contacts::insert_identity(&mut *tx, tenant_id, contact_id, address.kind.as_str(), &index, &sealed_address, "verified")
        .await?;
    let identities = store::contacts::identities_in_range(&mut *tx, tenant_id, contact_id, contact_id).await?;
    let view = present::contact(&contact, &identities, &key)?;
    let mut event = Event::new(tenant_id, events::CONTACT_CREATED, Some(contact_id), &view);
    outbox::append(&mut *tx, Some(&key), &mut event).await?;
    events.push(event);
    Ok((contact_id, key))
}

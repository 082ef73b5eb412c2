//! The access bundle (GDPR Art. 15 and 20): everything held about one contact, as one JSON
//! document with a documented, versioned shape (`schema: "omnibridge.access/1"`).
//!
//! - `contact`: the contact with its identities (every address, how it was established);
//! - `conversations`: each with all its messages (text, direction, channel, status, attachments'
//!   metadata); private notes are the operators' and are left out;
//! - `consent_history`: every consent event for the contact's addresses, with evidence;
//! - `recipients`: the transfer log for the contact — who received what, where, on what ground;
//! - `controller`, `generated_at`, `retention`.
//!
//! It is built when asked for, never stored, and leaves through the egress door like any other
//! transfer of personal data.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::rfc3339;
use crate::events::present;
use crate::privacy::{KeyError, Keyring};
use crate::store::conversations::ConversationFilter;
use crate::store::transfers::TransferFilter;
use crate::store::{self, Db, StoreError};

pub const SCHEMA: &str = "omnibridge.access/1";

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no such contact (erased, or never held)")]
    NoContact,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] crate::privacy::CryptoError),
    #[error("{0}")]
    Other(String),
}

/// Builds the bundle; `progress(done, total)` hears about each conversation (the CLI's bar).
pub async fn bundle(db: &Db, keyring: &Keyring, tenant_id: Uuid, contact_id: Uuid, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Value, ExportError> {
    let tenant = db.tenant(tenant_id).await?.ok_or(ExportError::NoContact)?;
    let row = store::contacts::contact(db, tenant_id, contact_id).await?.ok_or(ExportError::NoContact)?;
    let key = keyring.data_key(db, tenant_id, contact_id).await?;
    let identities = store::contacts::identities_in_range(db, tenant_id, contact_id, contact_id).await?;
    let contact = present::contact(&row, &identities, &key)?;

    let mut conversations = Vec::new();
    let mut cursor = None;
    loop {
        let filter = ConversationFilter { contact_id: Some(contact_id), ..Default::default() };
        let rows = store::conversations::list(db, tenant_id, &filter, cursor, 200).await?;
        let page = store::Page::from_rows(rows, 200, |r| r.id);
        conversations.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    conversations.reverse(); // oldest first
    let total = conversations.len() as u64;
    let mut out = Vec::with_capacity(conversations.len());
    for (i, c) in conversations.iter().enumerate() {
        let mut messages = Vec::new();
        let mut after = None;
        loop {
            let rows = store::messages::for_conversation(db, tenant_id, c.id, after, 500).await?;
            let page = store::Page::from_rows(rows, 500, |r| r.id);
            for m in page.items.iter().filter(|m| !m.private) {
                messages.push(present::message(m, &key)?);
            }
            after = page.next_cursor;
            if after.is_none() {
                break;
            }
        }
        present::with_details(db, &mut messages, &key).await.map_err(|e| ExportError::Other(e.to_string()))?;
        let mut view = serde_json::to_value(present::conversation(c)).unwrap_or_default();
        view["messages"] = serde_json::to_value(&messages).unwrap_or_default();
        out.push(view);
        progress(i as u64 + 1, total);
    }

    let consent: Vec<Value> = store::consent::for_contact(db, tenant_id, contact_id)
        .await?
        .iter()
        .map(|r| serde_json::to_value(crate::consent::view(r, Some(&key))).unwrap_or_default())
        .collect();

    let mut recipients = Vec::new();
    let mut cursor = None;
    loop {
        let filter = TransferFilter { contact_id: Some(contact_id), ..Default::default() };
        let page = store::transfers::list(db, tenant_id, &filter, cursor, 1000).await?;
        for t in &page.items {
            let list = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!([]));
            recipients.push(json!({
                "at": rfc3339(t.created_at),
                "destination": t.destination,
                "kind": t.destination_kind,
                "country": t.country,
                "mechanism": t.mechanism,
                "categories_sent": list(&t.data_categories),
                "categories_removed": list(&t.categories_removed),
                "decision": t.decision,
                "message_id": t.message_id,
            }));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let retention = store::privacy::retention(db, tenant_id).await?;
    Ok(json!({
        "schema": SCHEMA,
        "generated_at": rfc3339(store::now_micros()),
        "controller": {"tenant_id": tenant.id, "name": tenant.name, "region": tenant.region},
        "contact": contact,
        "conversations": out,
        "consent_history": consent,
        "recipients": recipients,
        "retention": retention.map(|r| json!({
            "messages_days": r.messages_days,
            "closed_conversations_days": r.closed_conversations_days,
            "technical_data_days": r.technical_data_days,
            "webhook_payload_days": r.webhook_payload_days,
        })),
    }))
}

//! What an inbox row shows, so an operator can tell conversations apart at a glance: who it
//! is (the contact's name, else their address), the last message (a short preview, opened for
//! the operator as the API opens it), since when the contact has been waiting for an answer,
//! and how many of the contact's messages this operator has not read.
//!
//! A page costs six queries at most whatever its size: contacts with identities, the keys the
//! keyring has not cached, the last messages, the waiting times and the unread counts.

use std::collections::HashMap;

use serde::Serialize;
use uuid::Uuid;

use crate::domain::rfc3339;
use crate::events::present::{self, PresentError, fields};
use crate::privacy::Keyring;
use crate::store::{self, ConversationRow, Db};

/// The longest preview of the last message, in characters.
const PREVIEW_CHARS: usize = 140;

/// One inbox row's summary.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[schema(as = ConversationSummary)]
pub struct Summary {
    /// The contact's name, else their first address.
    pub contact_name: Option<String>,
    pub contact_address: Option<String>,
    pub last_message: Option<LastMessage>,
    /// Since when the contact has been waiting for a reply (their first message since the team
    /// last wrote), if they are.
    #[schema(format = DateTime)]
    pub waiting_since: Option<String>,
    /// The contact's messages this operator has not read.
    pub unread: i64,
}

/// The latest message of a conversation, shortened.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LastMessage {
    /// At most 140 characters of its text.
    pub preview: String,
    /// `in` or `out`.
    pub direction: String,
    /// `contact`, `operator` or `system`.
    pub author: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// The summaries of these conversations, for `operator_id` (unread counts need an operator).
pub async fn summaries(db: &Db, keyring: &Keyring, tenant_id: Uuid, operator_id: Option<Uuid>, rows: &[ConversationRow]) -> Result<HashMap<Uuid, Summary>, PresentError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let mut contact_ids: Vec<Uuid> = rows.iter().map(|r| r.contact_id).collect();
    contact_ids.sort();
    contact_ids.dedup();
    let (contacts, identities) = store::contacts::with_identities(db, tenant_id, &contact_ids).await?;
    let latest = store::messages::latest_of(db, &ids).await?;
    let waiting: HashMap<Uuid, i64> = store::reads::waiting_since(db, &ids).await?.into_iter().collect();
    let unread: HashMap<Uuid, i64> = match operator_id {
        Some(operator) => store::reads::unread(db, operator, &ids).await?.into_iter().collect(),
        None => HashMap::new(),
    };
    // Keys the keyring has not cached are read in one query, not one per contact.
    let mut keys: HashMap<Uuid, crate::privacy::DataKey> = contact_ids.iter().filter_map(|id| keyring.cached(*id).map(|k| (*id, k))).collect();
    let missing: Vec<Uuid> = contact_ids.iter().filter(|id| !keys.contains_key(id)).copied().collect();
    for (contact_id, wrapped) in store::contacts::wrapped_data_keys_for(db, &missing).await? {
        // An erased contact's key is gone: its row shows no names.
        if let Some(key) = wrapped.and_then(|w| keyring.unwrap_data_key(tenant_id, contact_id, &w).ok()) {
            keys.insert(contact_id, key);
        }
    }
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let Some(key) = keys.get(&row.contact_id) else { continue };
        let contact = contacts.iter().find(|c| c.id == row.contact_id);
        let contact_name = match contact.and_then(|c| c.name.as_deref()) {
            Some(sealed) => Some(key.open(fields::CONTACT_NAME, row.contact_id, sealed)?),
            None => None,
        };
        let contact_address = match identities.iter().find(|i| i.contact_id == row.contact_id) {
            Some(identity) => Some(present::identity(identity, key)?.address),
            None => None,
        };
        let last_message = match latest.iter().filter(|m| m.conversation_id == row.id).max_by_key(|m| m.id) {
            Some(m) => {
                let text = key.open(fields::MESSAGE_TEXT, m.id, &m.text)?;
                Some(LastMessage { preview: preview(&text), direction: m.direction.clone(), author: m.author_type.clone(), created_at: rfc3339(m.created_at) })
            }
            None => None,
        };
        out.insert(
            row.id,
            Summary { contact_name, contact_address, last_message, waiting_since: waiting.get(&row.id).map(|at| rfc3339(*at)), unread: unread.get(&row.id).copied().unwrap_or(0) },
        );
    }
    Ok(out)
}

/// The first line-ish of a text, whitespace folded, cut at a character boundary.
fn preview(text: &str) -> String {
    let folded: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.chars().count() <= PREVIEW_CHARS {
        return folded;
    }
    let cut: String = folded.chars().take(PREVIEW_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    #[test]
    fn previews_fold_whitespace_and_cut_long_texts() {
        assert_eq!(super::preview("Hello\n\n  there"), "Hello there");
        let long = "ж".repeat(300);
        let p = super::preview(&long);
        assert_eq!(p.chars().count(), 140);
        assert!(p.ends_with('…'));
    }
}

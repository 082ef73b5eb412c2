//! Contact merge and unmerge.
//!
//! Merging `other` into `contact` moves other's identities, conversations (with their
//! messages, attachments, technical data and surveys) and web chat sessions to `contact`, in
//! one transaction with `contact.merged`. Each contact's data is sealed under its own data key,
//! so every moved sealed value is opened with other's key and sealed again under contact's —
//! the key an erasure of the merged person destroys.
//!
//! Other's row stays, hidden (`merged_into`), with its key, its consent history and its past
//! events; the merge records exactly which identities, conversations and sessions moved. An
//! unmerge moves exactly those back (messages and surveys follow their conversations, including
//! ones added since) and re-seals them under other's key again, so both contacts are as they
//! were. Erasing a contact erases the contacts merged into it.

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::events::outbox::UnitOfWork;
use crate::domain::events::{self, Event};
use crate::domain::rfc3339;
use crate::events::present::fields;
use crate::privacy::DataKey;
use crate::privacy::audit::Actor;
use crate::hub::AppState;
use crate::store::{self, StoreError, Tx, merges};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// An id in the request names nothing of the tenant; names the field.
    #[error("{field}: {detail}")]
    Unknown { field: &'static str, detail: String },
    #[error("{0}")]
    Conflict(String),
    #[error("restricted: the processing of {0} is restricted (GDPR Art. 18); lift the restriction first")]
    Restricted(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] crate::privacy::KeyError),
    #[error(transparent)]
    Crypto(#[from] crate::privacy::CryptoError),
    #[error(transparent)]
    Append(#[from] crate::events::outbox::AppendError),
}

/// What moved, as recorded with the merge.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Moved {
    pub identities: Vec<Uuid>,
    pub conversations: Vec<Uuid>,
    /// Hex SHA-256 of the web chat session tokens.
    pub visitor_sessions: Vec<String>,
    /// How many messages went with the conversations.
    #[serde(default)]
    pub messages: usize,
}

/// A merge as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ContactMerge)]
pub struct MergeView {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub other_id: Uuid,
    pub reason: String,
    pub merged_by: String,
    pub moved: Moved,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub undone_at: Option<String>,
    pub undone_by: Option<String>,
}

pub fn view(row: &merges::MergeRow) -> MergeView {
    MergeView {
        id: row.id,
        contact_id: row.contact_id,
        other_id: row.other_id,
        reason: row.reason.clone(),
        merged_by: row.merged_by.clone(),
        moved: serde_json::from_str(&row.moved).unwrap_or_default(),
        created_at: rfc3339(row.created_at),
        undone_at: row.undone_at.map(rfc3339),
        undone_by: row.undone_by.clone(),
    }
}

/// Who did it, as recorded: `operator:<id>`, else `key:<id>`.
pub fn actor_label(actor: &Actor) -> String {
    match (actor.operator_id, actor.key_id) {
        (Some(op), _) => format!("operator:{op}"),
        (None, Some(key)) => format!("key:{key}"),
        _ => "system".into(),
    }
}

/// A sealed column: (table, id column, column, what the value is).
type Column = (&'static str, &'static str, &'static str, &'static str);

/// Sealed columns of rows that move with a conversation. Their associated data is the row's
/// own id.
const BY_ROW: &[Column] = &[
    ("conversations", "id", "subject", fields::CONVERSATION_SUBJECT),
    ("messages", "id", "text", fields::MESSAGE_TEXT),
    ("message_technical", "message_id", "ip", fields::TECHNICAL_IP),
    ("message_technical", "message_id", "user_agent", fields::TECHNICAL_USER_AGENT),
    ("attachments", "id", "filename", fields::ATTACHMENT_FILENAME),
    ("attachments", "id", "data", fields::ATTACHMENT_DATA),
    ("csat_surveys", "id", "comment", "csat.comment"),
    ("conversation_participants", "id", "address", fields::PARTICIPANT_ADDRESS),
    ("message_recipients", "id", "address", fields::RECIPIENT_ADDRESS),
];

/// Opens each value of `column` in the rows `ids` with `from` and seals it again with `to`. The
/// associated data is the row id, or the contact's id when `aad_is_contact`.
async fn reseal(tx: &mut Tx, (from, to): (&DataKey, &DataKey), (table, id_column, column, what): Column, ids: &[Uuid], aad_is_contact: bool) -> Result<(), MergeError> {
    for (id, value) in merges::sealed(&mut *tx, table, id_column, column, ids).await? {
        let (from_row, to_row) = if aad_is_contact { (from.contact_id, to.contact_id) } else { (id, id) };
        let plain = from.open_bytes(what, from_row, &value)?;
        merges::set_sealed(tx, table, id_column, column, id, &to.seal_bytes(what, to_row, &plain)?).await?;
    }
    Ok(())
}

/// Moves identities, conversations (and what hangs off them) and sessions from `from`'s contact
/// to `to`'s, re-sealing every value. Returns how many messages moved.
async fn relocate(tx: &mut Tx, from: &DataKey, to: &DataKey, identities: &[Uuid], conversations: &[Uuid], sessions: &[Vec<u8>]) -> Result<usize, MergeError> {
    let messages = merges::ids_where(tx, "messages", "id", "conversation_id", conversations).await?;
    let attachments = merges::ids_where(tx, "attachments", "id", "message_id", &messages).await?;
    let surveys = merges::ids_where(tx, "csat_surveys", "id", "conversation_id", conversations).await?;
    let participants = merges::ids_where(tx, "conversation_participants", "id", "conversation_id", conversations).await?;
    let recipients = merges::ids_where(tx, "message_recipients", "id", "message_id", &messages).await?;
    reseal(tx, (from, to), ("identities", "id", "address", fields::IDENTITY_ADDRESS), identities, true).await?;
    for &column in BY_ROW {
        let ids = match column.0 {
            "conversations" => conversations,
            "messages" | "message_technical" => &messages,
            "attachments" => &attachments,
            "conversation_participants" => &participants,
            "message_recipients" => &recipients,
            _ => &surveys,
        };
        reseal(tx, (from, to), column, ids, false).await?;
    }
    merges::reassign(tx, "identities", "id", identities, to.contact_id).await?;
    merges::reassign(tx, "conversations", "id", conversations, to.contact_id).await?;
    merges::reassign(tx, "messages", "id", &messages, to.contact_id).await?;
    merges::reassign(tx, "attachments", "id", &attachments, to.contact_id).await?;
    merges::reassign(tx, "csat_surveys", "id", &surveys, to.contact_id).await?;
    for session in merges::visitor_sessions_by_hash(tx, sessions).await? {
        let ip = session.ip.as_deref().map(|v| from.open_bytes(fields::TECHNICAL_IP, from.contact_id, v)).transpose()?;
        let ua = session.user_agent.as_deref().map(|v| from.open_bytes(fields::TECHNICAL_USER_AGENT, from.contact_id, v)).transpose()?;
        let ip = ip.map(|v| to.seal_bytes(fields::TECHNICAL_IP, to.contact_id, &v)).transpose()?;
        let ua = ua.map(|v| to.seal_bytes(fields::TECHNICAL_USER_AGENT, to.contact_id, &v)).transpose()?;
        merges::move_visitor_session(tx, &session.token_hash, to.contact_id, ip.as_deref(), ua.as_deref()).await?;
    }
    merges::move_link_tokens(tx, from.contact_id, to.contact_id).await?;
    Ok(messages.len())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

/// A live (not merged away, not erased) contact of the tenant.
async fn live_contact(hub: &AppState, tenant_id: Uuid, id: Uuid, what: &'static str) -> Result<DataKey, MergeError> {
    if store::contacts::contact(&hub.db, tenant_id, id).await?.is_none() {
        return Err(MergeError::NotFound(what));
    }
    if let Some(into) = merges::merged_into(&hub.db, id).await? {
        return Err(MergeError::Conflict(format!("{what} {id} was merged into {into}")));
    }
    if store::privacy::is_restricted(&hub.db, id).await? {
        return Err(MergeError::Restricted(id));
    }
    hub.keyring.data_key(&hub.db, tenant_id, id).await.map_err(|_| MergeError::NotFound(what))
}

/// Merges `other_id` into `contact_id`.
pub async fn merge(hub: &AppState, tenant_id: Uuid, contact_id: Uuid, other_id: Uuid, reason: &str, actor: &Actor) -> Result<MergeView, MergeError> {
    let to = live_contact(hub, tenant_id, contact_id, "contact").await?;
    if contact_id == other_id {
        return Err(MergeError::Invalid { field: "other_id", detail: "a contact cannot be merged into itself".into() });
    }
    let from = live_contact(hub, tenant_id, other_id, "other contact").await.map_err(|e| match e {
        MergeError::NotFound(_) => MergeError::Unknown { field: "other_id", detail: "no such contact in this tenant".into() },
        e => e,
    })?;
    let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
    let identities = merges::ids_where(work.tx(), "identities", "id", "contact_id", &[other_id]).await?;
    let conversations = merges::ids_where(work.tx(), "conversations", "id", "contact_id", &[other_id]).await?;
    let sessions: Vec<Vec<u8>> = merges::visitor_sessions(work.tx(), other_id).await?.into_iter().map(|s| s.token_hash).collect();
    let messages = relocate(work.tx(), &from, &to, &identities, &conversations, &sessions).await?;
    merges::set_merged_into(work.tx(), tenant_id, other_id, Some(contact_id)).await?;
    let moved = Moved { identities, conversations, visitor_sessions: sessions.iter().map(|s| hex(s)).collect(), messages };
    let row = merges::MergeRow {
        id: Uuid::now_v7(),
        tenant_id,
        contact_id,
        other_id,
        reason: reason.to_owned(),
        merged_by: actor_label(actor),
        moved: serde_json::to_string(&moved).unwrap_or_default(),
        created_at: store::now_micros(),
        undone_at: None,
        undone_by: None,
    };
    merges::insert(work.tx(), &row).await?;
    let view = view(&row);
    let event = Event::new(tenant_id, events::CONTACT_MERGED, Some(contact_id), &view);
    work.append(Some(&to), event).await?;
    work.commit().await?;
    hub.contacts_changed(&[other_id]).await;
    Ok(view)
}

/// Undoes a merge: what moved goes back, re-sealed under the other contact's key again.
pub async fn unmerge(hub: &AppState, tenant_id: Uuid, contact_id: Uuid, merge_id: Uuid, actor: &Actor) -> Result<MergeView, MergeError> {
    let row = merges::get(&hub.db, tenant_id, merge_id).await?.filter(|m| m.contact_id == contact_id).ok_or(MergeError::Invalid {
        field: "merge_id",
        detail: "no merge into this contact with that id".into(),
    })?;
    if row.undone_at.is_some() {
        return Err(MergeError::Conflict(format!("merge {merge_id} was undone already")));
    }
    if let Some(into) = merges::merged_into(&hub.db, contact_id).await? {
        return Err(MergeError::Conflict(format!("contact {contact_id} was merged into {into} since; undo that merge first")));
    }
    let moved: Moved = serde_json::from_str(&row.moved).map_err(|e| MergeError::Conflict(format!("the merge record cannot be read: {e}")))?;
    let from = hub.keyring.data_key(&hub.db, tenant_id, contact_id).await?;
    let to = hub.keyring.data_key(&hub.db, tenant_id, row.other_id).await.map_err(|_| MergeError::Conflict("the merged contact was erased".into()))?;
    let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
    // Only what is still with this contact goes back (an erasure or another merge may have
    // taken some of it since).
    let identities: Vec<Uuid> = merges::ids_where(work.tx(), "identities", "id", "contact_id", &[contact_id]).await?.into_iter().filter(|i| moved.identities.contains(i)).collect();
    let conversations: Vec<Uuid> =
        merges::ids_where(work.tx(), "conversations", "id", "contact_id", &[contact_id]).await?.into_iter().filter(|c| moved.conversations.contains(c)).collect();
    let sessions: Vec<Vec<u8>> = moved.visitor_sessions.iter().filter_map(|h| unhex(h)).collect();
    let messages = relocate(work.tx(), &from, &to, &identities, &conversations, &sessions).await?;
    merges::set_merged_into(work.tx(), tenant_id, row.other_id, None).await?;
    let by = actor_label(actor);
    if !merges::mark_undone(work.tx(), merge_id, &by).await? {
        return Err(MergeError::Conflict(format!("merge {merge_id} was undone already")));
    }
    // The answer tells what went back (some of what moved may have gone elsewhere since).
    let mut view = view(&row);
    view.moved = Moved { identities, conversations, visitor_sessions: moved.visitor_sessions.clone(), messages };
    view.undone_at = Some(rfc3339(store::now_micros()));
    view.undone_by = Some(by);
    let data = json!({"id": merge_id, "contact_id": contact_id, "other_id": row.other_id, "undone_at": view.undone_at, "undone_by": view.undone_by, "moved": view.moved});
    let event = Event::new(tenant_id, events::CONTACT_UNMERGED, Some(contact_id), &data);
    work.append(Some(&from), event).await?;
    work.commit().await?;
    hub.contacts_changed(&[contact_id]).await;
    Ok(view)
}

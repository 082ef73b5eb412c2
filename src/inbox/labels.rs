//! Labels: a tenant's vocabulary for sorting conversations and contacts ("refund", "VIP"),
//! put on and taken off in bulk. A change is state with its events: every conversation or
//! contact whose labels changed gets `conversation.updated` / `contact.updated` with its labels,
//! in the transaction that changed them, so integrations see labels as operators do. Defining,
//! renaming and deleting a label emit `label.created`, `label.updated` and `label.deleted`.

use std::collections::HashMap;

use uuid::Uuid;

use crate::domain::events::{self, Event};
use crate::domain::views::LabelView;
use crate::events::outbox::{self, UnitOfWork};
use crate::events::present;
use crate::events::WorkError;
use crate::hub::AppState;
use crate::store::labels::{LabelRow, Labelled};
use crate::store::{self, Conn, StoreError};

/// At most this many things per bulk change.
pub const BULK_MAX: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// An id that names nothing of this tenant.
    #[error("{field}: {detail}")]
    Unknown { field: String, detail: String },
    #[error(transparent)]
    Work(#[from] WorkError),
}

impl From<StoreError> for LabelError {
    fn from(err: StoreError) -> Self {
        Self::Work(err.into())
    }
}

impl From<crate::events::outbox::AppendError> for LabelError {
    fn from(err: crate::events::outbox::AppendError) -> Self {
        Self::Work(err.into())
    }
}

impl From<crate::privacy::KeyError> for LabelError {
    fn from(err: crate::privacy::KeyError) -> Self {
        Self::Work(err.into())
    }
}

impl From<crate::privacy::CryptoError> for LabelError {
    fn from(err: crate::privacy::CryptoError) -> Self {
        Self::Work(err.into())
    }
}

pub fn view(row: &LabelRow) -> LabelView {
    LabelView { id: row.id, name: row.name.clone(), color: row.color.clone() }
}

/// A label's name: 1–50 characters, no control characters, trimmed.
/// A name as given (1 to 50 characters, not only spaces, no control characters), kept trimmed.
pub fn valid_name(name: &str) -> Result<String, LabelError> {
    if name.trim().is_empty() || name.chars().count() > 50 || name.chars().any(char::is_control) {
        return Err(LabelError::Invalid { field: "name", detail: "must be 1 to 50 characters, not only spaces, without control characters".into() });
    }
    Ok(name.trim().to_owned())
}

/// A colour as `#rrggbb` (lower case).
pub fn valid_color(color: &str) -> Result<String, LabelError> {
    let ok = color.len() == 7 && color.starts_with('#') && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if !ok {
        return Err(LabelError::Invalid { field: "color", detail: "must be a colour like #1f8a70".into() });
    }
    Ok(color.to_ascii_lowercase())
}

/// Creates or changes a label with its `label.created` / `label.updated` event; `None` when
/// another label of the tenant has the name (nothing is kept).
pub async fn save(state: &AppState, row: &LabelRow, created: bool) -> Result<Option<LabelRow>, LabelError> {
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let Some(saved) = store::labels::save(work.tx(), row).await? else { return Ok(None) };
    let event_type = if created { events::LABEL_CREATED } else { events::LABEL_UPDATED };
    work.append_plain(Event::new(saved.tenant_id, event_type, None, &view(&saved))).await?;
    work.commit().await?;
    Ok(Some(saved))
}

/// Deletes a label, which takes it off everything that had it, with `label.deleted`.
pub async fn delete(state: &AppState, row: &LabelRow) -> Result<(), LabelError> {
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    if store::labels::delete(work.tx(), row.tenant_id, row.id).await? {
        work.append_plain(Event::new(row.tenant_id, events::LABEL_DELETED, None, &view(row))).await?;
    }
    work.commit().await?;
    Ok(())
}

/// What a bulk change touched: the ids whose labels changed.
#[derive(Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Changed {
    pub conversations: Vec<Uuid>,
    pub contacts: Vec<Uuid>,
}

/// Puts `label` on (`on`) or takes it off these conversations and contacts of the tenant, with
/// their events. Ids of other tenants or that do not exist are refused, naming the field.
pub async fn apply(state: &AppState, tenant_id: Uuid, label: &LabelRow, conversations: &[Uuid], contacts: &[Uuid], on: bool) -> Result<Changed, LabelError> {
    for (ids, field) in [(conversations, "conversation_ids"), (contacts, "contact_ids")] {
        if ids.len() > BULK_MAX {
            return Err(LabelError::Invalid { field, detail: format!("at most {BULK_MAX} at once") });
        }
    }
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    for (what, ids, field) in [(Labelled::Conversations, conversations, "conversation_ids"), (Labelled::Contacts, contacts, "contact_ids")] {
        let owned = store::labels::owned(work.tx(), tenant_id, what, ids).await?;
        if let Some((i, missing)) = ids.iter().enumerate().find(|(_, id)| !owned.contains(id)) {
            let what = if field == "contact_ids" { "contact" } else { "conversation" };
            return Err(LabelError::Unknown { field: format!("{field}[{i}]"), detail: format!("no such {what}: {missing}") });
        }
    }
    let changed = Changed {
        conversations: store::labels::set(work.tx(), Labelled::Conversations, label.id, conversations, on).await?,
        contacts: store::labels::set(work.tx(), Labelled::Contacts, label.id, contacts, on).await?,
    };
    announce(state, &mut work, tenant_id, &changed).await?;
    work.commit().await?;
    Ok(changed)
}

/// `conversation.updated` and `contact.updated`, with their labels now, for what changed.
pub async fn announce(state: &AppState, work: &mut UnitOfWork, tenant_id: Uuid, changed: &Changed) -> Result<(), LabelError> {
    let mut labels = labels_by_owner(work.tx(), Labelled::Conversations, &changed.conversations).await?;
    for id in &changed.conversations {
        let Some(row) = store::conversations::get(work.tx(), tenant_id, *id).await? else { continue };
        let key = state.keyring.data_key(work.tx(), tenant_id, row.contact_id).await?;
        let mut view = present::conversation(&row);
        view.labels = Some(labels.remove(id).unwrap_or_default());
        let sequence = outbox::next_sequence(work.tx(), row.id).await?;
        let event = Event::in_conversation(tenant_id, events::CONVERSATION_UPDATED, row.contact_id, row.id, sequence, &view);
        work.append(Some(&key), event).await?;
    }
    let mut labels = labels_by_owner(work.tx(), Labelled::Contacts, &changed.contacts).await?;
    if !changed.contacts.is_empty() {
        let (rows, identities) = store::contacts::with_identities(&state.db, tenant_id, &changed.contacts).await?;
        for row in rows {
            let key = state.keyring.data_key(work.tx(), tenant_id, row.id).await?;
            let own: Vec<_> = identities.iter().filter(|i| i.contact_id == row.id).cloned().collect();
            let mut view = present::contact(&row, &own, &key)?;
            view.labels = Some(labels.remove(&row.id).unwrap_or_default());
            work.append(Some(&key), Event::new(tenant_id, events::CONTACT_UPDATED, Some(row.id), &view)).await?;
        }
    }
    Ok(())
}

/// The labels on each of these.
pub async fn labels_by_owner<'a>(conn: impl Into<Conn<'a>>, what: Labelled, ids: &[Uuid]) -> Result<HashMap<Uuid, Vec<LabelView>>, StoreError> {
    let mut out: HashMap<Uuid, Vec<LabelView>> = HashMap::new();
    for (owner, row) in store::labels::of(conn, what, ids).await? {
        out.entry(owner).or_default().push(view(&row));
    }
    Ok(out)
}

//! Editing a contact: the fields (name, email, phone; the minimum-age flag) checked and
//! normalized, sealed under the contact's key, typed-in addresses claimed as identities, and
//! `contact.created` / `contact.updated` committed with the change. A rectification (Art. 16)
//! is the same edit, carried out for a data subject's request, and tells every recipient
//! (Art. 19) through the same event.

use omnibridge_channel::{Address, AddressKind};
use serde::Deserialize;
use uuid::Uuid;

use crate::domain::events::{self, Event};
use crate::domain::patch::Patch;
use crate::domain::views::ContactView;
use crate::events::UnitOfWork;
use crate::events::outbox::AppendError;
use crate::events::present::{self, fields};
use crate::hub::Hub;
use crate::privacy::{CryptoError, DataKey, KeyError};
use crate::store::{self, NewContact, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    #[error("contact not found")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Attribute(#[from] super::attributes::AttributeError),
}

fn invalid(field: &'static str, detail: impl Into<String>) -> ContactError {
    ContactError::Invalid { field, detail: detail.into() }
}

/// A contact's fields to set; what is left out stays, null clears.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactFields {
    /// Under the minimum age for marketing (set by operators).
    #[serde(default)]
    pub under_minimum_age: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    /// An email address (unique in the tenant).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub email: Patch<String>,
    /// A phone number, with its country code (E.164 or as written).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone: Patch<String>,
    /// Custom attributes to set (`null` removes one); the others are kept.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Checked and normalized contact fields.
struct Clean {
    name: Option<String>,
    email: Option<Address>,
    phone: Option<Address>,
}

fn clean(name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> Result<Clean, ContactError> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 200) {
        return Err(invalid("name", "must be at most 200 characters"));
    }
    let email = email.map(|e| Address::new(AddressKind::Email, e));
    if let Some(e) = &email {
        let ok = e.value.len() <= 254 && e.value.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !ok || e.value.contains(char::is_whitespace) {
            return Err(invalid("email", "must look like name@example.com"));
        }
    }
    let phone = phone.map(|p| Address::new(AddressKind::Phone, p));
    if let Some(p) = &phone
        && !(8..=16).contains(&p.value.len()) {
            return Err(invalid("phone", "must be an international number such as +442079460958"));
        }
    Ok(Clean { name: name.map(str::to_owned), email, phone })
}

/// Seals the fields and adds claimed identities for the typed-in addresses.
async fn write_fields(tx: &mut store::Tx, state: &Hub, tenant_id: Uuid, id: Uuid, key: &DataKey, c: &Clean, insert: bool) -> Result<store::ContactRow, ContactError> {
    let name = key.seal_opt(fields::CONTACT_NAME, id, c.name.as_deref())?;
    let email = key.seal_opt(fields::CONTACT_EMAIL, id, c.email.as_ref().map(|a| a.value.as_str()))?;
    let phone = key.seal_opt(fields::CONTACT_PHONE, id, c.phone.as_ref().map(|a| a.value.as_str()))?;
    let new = NewContact { id, tenant_id, name: name.as_deref(), email: email.as_deref(), phone: phone.as_deref() };
    let row = if insert {
        store::contacts::insert_contact(&mut *tx, &new).await?
    } else {
        store::contacts::update_contact(&mut *tx, &new).await?.ok_or(ContactError::NotFound)?
    };
    for address in [&c.email, &c.phone].into_iter().flatten() {
        let index = state.keyring.blind_index(tenant_id, address);
        let sealed = key.seal(fields::IDENTITY_ADDRESS, id, &address.value)?;
        store::merges::claim_address(&mut *tx, tenant_id, id, address.kind.as_str(), &index, &sealed).await?;
    }
    Ok(row)
}

/// Creates a contact from typed-in fields.
pub async fn create(hub: &Hub, tenant_id: Uuid, body: ContactFields) -> Result<ContactView, ContactError> {
    let c = clean(body.name.value(), body.email.value(), body.phone.value())?;
    let id = Uuid::now_v7();
    let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
    let key = hub.keyring.create_data_key(work.tx(), tenant_id, id).await?;
    let row = write_fields(work.tx(), hub, tenant_id, id, &key, &c, true).await?;
    let view = view_in(work.tx(), &row, &key).await?;
    commit_with_event(work, &key, tenant_id, events::CONTACT_CREATED, &view).await?;
    Ok(view)
}

async fn view_in(tx: &mut store::Tx, row: &store::ContactRow, key: &DataKey) -> Result<ContactView, ContactError> {
    let identities = store::contacts::identities_in_range(&mut *tx, row.tenant_id, row.id, row.id).await?;
    Ok(present::contact(row, &identities, key)?)
}

async fn commit_with_event(mut work: UnitOfWork, key: &DataKey, tenant_id: Uuid, kind: &'static str, view: &ContactView) -> Result<(), ContactError> {
    work.append(Some(key), Event::new(tenant_id, kind, Some(key.contact_id), view)).await?;
    work.commit().await?;
    Ok(())
}

/// Writes changed fields and tells every recipient (`contact.updated`).
pub async fn apply(state: &Hub, row: store::ContactRow, key: &DataKey, body: ContactFields) -> Result<ContactView, ContactError> {
    let current = present::contact(&row, &[], key)?;
    let c = clean(
        body.name.apply(current.name.as_deref()),
        body.email.apply(current.email.as_deref()),
        body.phone.apply(current.phone.as_deref()),
    )?;
    let definitions = match &body.custom_attributes {
        Some(_) => super::attributes::definitions(&state.db, row.tenant_id).await?,
        None => Vec::new(),
    };
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let mut row = write_fields(work.tx(), state, row.tenant_id, row.id, key, &c, false).await?;
    if let Some(flag) = body.under_minimum_age {
        store::contacts::set_under_minimum_age(work.tx(), row.tenant_id, row.id, flag).await?;
        row.under_minimum_age = flag;
    }
    let mut view = view_in(work.tx(), &row, key).await?;
    if let Some(change) = &body.custom_attributes {
        super::attributes::write(work.tx(), &definitions, "contact", row.id, key, change).await?;
        let keys = std::collections::HashMap::from([(row.id, key.clone())]);
        view.custom_attributes = super::attributes::read(work.tx(), &definitions, "contact", &[row.id], &keys).await?.remove(&row.id);
    }
    commit_with_event(work, key, row.tenant_id, events::CONTACT_UPDATED, &view).await?;
    Ok(view)
}

/// Checks a rectification's corrected fields (`name`, `email`, `phone`) before it is accepted.
pub fn check_rectification(fields: &serde_json::Value) -> Result<(), ContactError> {
    let body = rectification(fields)?;
    clean(body.name.value(), body.email.value(), body.phone.value()).map(|_| ())
}

fn rectification(fields: &serde_json::Value) -> Result<ContactFields, ContactError> {
    let body: ContactFields = serde_json::from_value(fields.clone()).map_err(|e| invalid("fields", e.to_string()))?;
    if body.under_minimum_age.is_some() || body.custom_attributes.is_some() {
        return Err(invalid("fields", "a rectification corrects name, email or phone"));
    }
    Ok(body)
}

/// Art. 16: corrects a contact's fields, and Art. 19: tells the recipients (`contact.updated`).
pub async fn rectify(state: &Hub, tenant_id: Uuid, contact_id: Uuid, fields: &serde_json::Value) -> Result<ContactView, ContactError> {
    let body = rectification(fields)?;
    let row = store::contacts::contact(&state.db, tenant_id, contact_id).await?.ok_or(ContactError::NotFound)?;
    let key = state.keyring.data_key(&state.db, tenant_id, contact_id).await?;
    apply(state, row, &key, body).await
}

//! `/v1/contacts`: the people the tenant talks to, with their identities. Personal fields are
//! decrypted on the way out and sealed on the way in.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use omnibridge_channel::{Address, AddressKind};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::pagination::{ListParams, list_body};
use super::patch::Patch;
use crate::events::outbox::UnitOfWork;
use crate::domain::events::{self, Event};
use crate::domain::views::ContactView;
use crate::error::{ApiError, ApiResult};
use crate::events::present::{self, fields};
use crate::privacy::DataKey;
use crate::hub::AppState;
use crate::store::{self, NewContact, Page};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts", get(list).post(create))
        .route("/v1/contacts/{id}", get(show).patch(update))
        .route("/v1/contacts/{id}/merge", axum::routing::post(merge))
        .route("/v1/contacts/{id}/unmerge", axum::routing::post(unmerge))
        .route("/v1/contacts/{id}/merges", get(merges))
        .route("/v1/merge-suggestions", get(suggestions))
}

impl From<crate::contact_merge::MergeError> for ApiError {
    fn from(e: crate::contact_merge::MergeError) -> Self {
        use crate::contact_merge::MergeError as E;
        match e {
            E::NotFound(what) => ApiError::NotFound(what),
            E::Invalid { field, detail } => ApiError::invalid(field, detail),
            E::Conflict(why) => ApiError::Conflict(why),
            e @ E::Restricted(_) => ApiError::Restricted(e.to_string()),
            E::Store(e) => ApiError::Store(e),
            E::Key(e) => ApiError::Key(e),
            E::Crypto(e) => ApiError::Crypto(e),
            E::Append(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    /// The contact merged into this one (it disappears from lists; its identities and
    /// conversations move here).
    other_id: Uuid,
    /// Why, for the record (1 to 500 characters).
    reason: String,
}

async fn merge(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<MergeBody>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("contact"))?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let actor = auth.actor();
    let merged = crate::contact_merge::merge(&state, auth.tenant_id, id, body.other_id, reason, &actor).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &actor, "contact.merge", "contact", Some(id), Some(&format!("merged {} ({})", body.other_id, merged.id))).await;
    Ok(Json(merged))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnmergeBody {
    merge_id: Uuid,
}

async fn unmerge(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<UnmergeBody>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("contact"))?;
    if store::contacts::contact(&state.db, auth.tenant_id, id).await?.is_none() {
        return Err(ApiError::NotFound("contact"));
    }
    let actor = auth.actor();
    let undone = crate::contact_merge::unmerge(&state, auth.tenant_id, id, body.merge_id, &actor).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &actor, "contact.unmerge", "contact", Some(id), Some(&format!("restored {} ({})", undone.other_id, undone.id))).await;
    Ok(Json(undone))
}

/// The merges a contact took part in (into it, or of it into another), newest first.
async fn merges(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("contact"))?;
    if store::contacts::contact(&state.db, auth.tenant_id, id).await?.is_none() {
        return Err(ApiError::NotFound("contact"));
    }
    let rows = store::merges::of_contact(&state.db, auth.tenant_id, id).await?;
    let data: Vec<_> = rows.iter().map(crate::contact_merge::view).collect();
    Ok(Json(serde_json::json!({"data": data})))
}

/// Contacts that are probably one person: one typed in an address the other holds verified.
async fn suggestions(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let contact = match q.get("contact_id") {
        Some(v) => Some(Uuid::parse_str(v).map_err(|_| ApiError::invalid("contact_id", "must be a UUID"))?),
        None => None,
    };
    let rows = store::merges::suggestions(&state.db, auth.tenant_id, contact).await?;
    let hidden: std::collections::HashSet<Uuid> = if auth.role == crate::domain::Role::Admin {
        Default::default()
    } else {
        let ids: Vec<Uuid> = rows.iter().flat_map(|r| [r.contact_id, r.other_id]).collect();
        store::privacy::restricted_among(&state.db, &ids).await?.into_iter().collect()
    };
    let data: Vec<_> = rows
        .iter()
        .filter(|r| !hidden.contains(&r.contact_id) && !hidden.contains(&r.other_id))
        .map(|r| serde_json::json!({
            "contact_id": r.contact_id,
            "other_id": r.other_id,
            "reason": format!("the contact gave an {} address the other contact holds verified", r.kind),
            "kind": r.kind,
            "created_at": crate::domain::rfc3339(r.created_at),
        }))
        .collect();
    Ok(Json(serde_json::json!({"data": data})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ContactFields {
    /// Under the minimum age for marketing (set by operators).
    #[serde(default)]
    under_minimum_age: Option<bool>,
    #[serde(default)]
    name: Patch<String>,
    #[serde(default)]
    email: Patch<String>,
    #[serde(default)]
    phone: Patch<String>,
}

/// Checked and normalized contact fields.
struct Clean {
    name: Option<String>,
    email: Option<Address>,
    phone: Option<Address>,
}

fn clean(name: Option<&str>, email: Option<&str>, phone: Option<&str>) -> ApiResult<Clean> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    if name.is_some_and(|n| n.chars().count() > 200) {
        return Err(ApiError::invalid("name", "must be at most 200 characters"));
    }
    let email = email.map(|e| Address::new(AddressKind::Email, e));
    if let Some(e) = &email {
        let ok = e.value.len() <= 254 && e.value.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
        if !ok || e.value.contains(char::is_whitespace) {
            return Err(ApiError::invalid("email", "must look like name@example.com"));
        }
    }
    let phone = phone.map(|p| Address::new(AddressKind::Phone, p));
    if let Some(p) = &phone
        && !(8..=16).contains(&p.value.len()) {
            return Err(ApiError::invalid("phone", "must be an international number such as +442079460958"));
        }
    Ok(Clean { name: name.map(str::to_owned), email, phone })
}

/// Seals the fields and adds claimed identities for the typed-in addresses.
async fn write_fields(tx: &mut store::Tx, state: &AppState, tenant_id: Uuid, id: Uuid, key: &DataKey, c: &Clean, insert: bool) -> ApiResult<store::ContactRow> {
    let name = key.seal_opt(fields::CONTACT_NAME, id, c.name.as_deref())?;
    let email = key.seal_opt(fields::CONTACT_EMAIL, id, c.email.as_ref().map(|a| a.value.as_str()))?;
    let phone = key.seal_opt(fields::CONTACT_PHONE, id, c.phone.as_ref().map(|a| a.value.as_str()))?;
    let new = NewContact { id, tenant_id, name: name.as_deref(), email: email.as_deref(), phone: phone.as_deref() };
    let row = if insert {
        store::contacts::insert_contact(&mut *tx, &new).await?
    } else {
        store::contacts::update_contact(&mut *tx, &new).await?.ok_or(ApiError::NotFound("contact"))?
    };
    for address in [&c.email, &c.phone].into_iter().flatten() {
        let index = state.keyring.blind_index(tenant_id, address);
        let sealed = key.seal(fields::IDENTITY_ADDRESS, id, &address.value)?;
        store::merges::claim_address(&mut *tx, tenant_id, id, address.kind.as_str(), &index, &sealed).await?;
    }
    Ok(row)
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<ContactFields>) -> ApiResult<impl IntoResponse> {
    let c = clean(body.name.value(), body.email.value(), body.phone.value())?;
    let id = Uuid::now_v7();
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let key = state.keyring.create_data_key(work.tx(), auth.tenant_id, id).await?;
    let row = write_fields(work.tx(), &state, auth.tenant_id, id, &key, &c, true).await?;
    let view = view_in(work.tx(), &row, &key).await?;
    commit_with_event(work, &key, auth.tenant_id, events::CONTACT_CREATED, &view).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn view_in(tx: &mut store::Tx, row: &store::ContactRow, key: &DataKey) -> ApiResult<ContactView> {
    let identities = store::contacts::identities_in_range(&mut *tx, row.tenant_id, row.id, row.id).await?;
    Ok(present::contact(row, &identities, key)?)
}

async fn commit_with_event(mut work: UnitOfWork, key: &DataKey, tenant_id: Uuid, kind: &'static str, view: &ContactView) -> ApiResult<()> {
    work.append(Some(key), Event::new(tenant_id, kind, Some(key.contact_id), view)).await?;
    work.commit().await?;
    Ok(())
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::contacts::contacts(&state.db, auth.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let (Some(first), Some(last)) = (page.items.first(), page.items.last()) else {
        return Ok(Json(list_body(Vec::<ContactView>::new(), None)));
    };
    // Three queries per page, whatever its size: contacts, their identities, their keys.
    let identities = store::contacts::identities_in_range(&state.db, auth.tenant_id, first.id, last.id).await?;
    let keys: HashMap<Uuid, Option<Vec<u8>>> =
        store::contacts::wrapped_data_keys_in_range(&state.db, auth.tenant_id, first.id, last.id).await?.into_iter().collect();
    // Restricted contacts (Art. 18) are hidden from everyone but admins.
    let hidden: std::collections::HashSet<Uuid> = if auth.role == crate::domain::Role::Admin {
        Default::default()
    } else {
        store::privacy::restricted_among(&state.db, &page.items.iter().map(|r| r.id).collect::<Vec<_>>()).await?.into_iter().collect()
    };
    let mut data = Vec::with_capacity(page.items.len());
    for row in page.items.iter().filter(|r| !hidden.contains(&r.id)) {
        let Some(Some(wrapped)) = keys.get(&row.id) else { continue }; // erased: nothing to show
        let key = state.keyring.unwrap_data_key(auth.tenant_id, row.id, wrapped)?;
        let own: Vec<_> = identities.iter().filter(|i| i.contact_id == row.id).cloned().collect();
        data.push(present::contact(row, &own, &key)?);
    }
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.list", "contact", None, Some(&format!("{} contacts", data.len()))).await;
    Ok(Json(list_body(data, page.next_cursor)))
}

pub(super) async fn load(state: &AppState, auth: &Auth, id: &str) -> ApiResult<(store::ContactRow, DataKey)> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("contact"))?;
    let row = store::contacts::contact(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("contact"))?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, id).await?;
    Ok((row, key))
}

async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let (row, key) = load(&state, &auth, &id).await?;
    let identities = store::contacts::identities_in_range(&state.db, auth.tenant_id, row.id, row.id).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.read", "contact", Some(row.id), None).await;
    let mut view = serde_json::to_value(present::contact(&row, &identities, &key)?).unwrap_or_default();
    // A contact merged into another stays readable by id, saying where it went.
    if let Some(into) = store::merges::merged_into(&state.db, row.id).await? {
        view["merged_into"] = serde_json::json!(into);
    }
    Ok(Json(view))
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ContactFields>,
) -> ApiResult<impl IntoResponse> {
    let (row, key) = load(&state, &auth, &id).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.update", "contact", Some(row.id), None).await;
    Ok(Json(apply(&state, row, &key, body).await?))
}

/// Writes changed fields and tells every recipient (`contact.updated`).
async fn apply(state: &AppState, row: store::ContactRow, key: &DataKey, body: ContactFields) -> ApiResult<ContactView> {
    let current = present::contact(&row, &[], key)?;
    let c = clean(
        body.name.apply(current.name.as_deref()),
        body.email.apply(current.email.as_deref()),
        body.phone.apply(current.phone.as_deref()),
    )?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let mut row = write_fields(work.tx(), state, row.tenant_id, row.id, key, &c, false).await?;
    if let Some(flag) = body.under_minimum_age {
        store::contacts::set_under_minimum_age(work.tx(), row.tenant_id, row.id, flag).await?;
        row.under_minimum_age = flag;
    }
    let view = view_in(work.tx(), &row, key).await?;
    commit_with_event(work, key, row.tenant_id, events::CONTACT_UPDATED, &view).await?;
    Ok(view)
}

/// Checks a rectification's corrected fields (`name`, `email`, `phone`) before it is accepted.
pub(crate) fn check_rectification(fields: &serde_json::Value) -> ApiResult<()> {
    let body = rectification(fields)?;
    clean(body.name.value(), body.email.value(), body.phone.value()).map(|_| ())
}

fn rectification(fields: &serde_json::Value) -> ApiResult<ContactFields> {
    let body: ContactFields = serde_json::from_value(fields.clone()).map_err(|e| ApiError::invalid("fields", e.to_string()))?;
    if body.under_minimum_age.is_some() {
        return Err(ApiError::invalid("fields", "a rectification corrects name, email or phone"));
    }
    Ok(body)
}

/// Art. 16: corrects a contact's fields, and Art. 19: tells the recipients (`contact.updated`).
pub(crate) async fn rectify(state: &AppState, tenant_id: Uuid, contact_id: Uuid, fields: &serde_json::Value) -> ApiResult<ContactView> {
    let body = rectification(fields)?;
    let row = store::contacts::contact(&state.db, tenant_id, contact_id).await?.ok_or(ApiError::NotFound("contact"))?;
    let key = state.keyring.data_key(&state.db, tenant_id, contact_id).await?;
    apply(state, row, &key, body).await
}

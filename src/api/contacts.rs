//! `/v1/contacts`: the people the tenant talks to, with their identities. Personal fields are
//! decrypted on the way out and sealed on the way in.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use crate::contacts::edit::{self, ContactFields};
use super::pagination::{ListParams, list_body};
use crate::domain::views::ContactView;
use crate::api::error::{ApiError, ApiResult};
use crate::events::present::{self};
use crate::privacy::DataKey;
use crate::hub::AppState;
use crate::store::{self, Page};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts", get(list).post(create))
        .route("/v1/contacts/{id}", get(show).patch(update))
        .route("/v1/contacts/{id}/merge", axum::routing::post(merge))
        .route("/v1/contacts/{id}/unmerge", axum::routing::post(unmerge))
        .route("/v1/contacts/{id}/merges", get(merges))
        .route("/v1/merge-suggestions", get(suggestions))
}

impl From<crate::contacts::merge::MergeError> for ApiError {
    fn from(e: crate::contacts::merge::MergeError) -> Self {
        use crate::contacts::merge::MergeError as E;
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
    let merged = crate::contacts::merge::merge(&state, auth.tenant_id, id, body.other_id, reason, &actor).await?;
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
    let undone = crate::contacts::merge::unmerge(&state, auth.tenant_id, id, body.merge_id, &actor).await?;
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
    let data: Vec<_> = rows.iter().map(crate::contacts::merge::view).collect();
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

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<ContactFields>) -> ApiResult<impl IntoResponse> {
    let view = edit::create(&state, auth.tenant_id, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    // `q`: an email address, a phone number or part of a name.
    if let Some(query) = params.raw("q") {
        if query.trim().chars().count() < 2 {
            return Err(ApiError::invalid("q", "type at least 2 characters"));
        }
        let ids = crate::contacts::lookup::search(&state.db, &state.keyring, auth.tenant_id, query, limit).await?;
        let (rows, identities) = store::contacts::with_identities(&state.db, auth.tenant_id, &ids).await?;
        let hidden: std::collections::HashSet<Uuid> = if auth.role == crate::domain::Role::Admin {
            Default::default()
        } else {
            store::privacy::restricted_among(&state.db, &ids).await?.into_iter().collect()
        };
        let (mut data, mut keys) = (Vec::new(), HashMap::new());
        for id in ids.iter().filter(|id| !hidden.contains(id)) {
            let Some(row) = rows.iter().find(|r| r.id == *id) else { continue };
            let Ok(key) = state.keyring.data_key(&state.db, auth.tenant_id, row.id).await else { continue };
            let own: Vec<_> = identities.iter().filter(|i| i.contact_id == row.id).cloned().collect();
            data.push(present::contact(row, &own, &key)?);
            keys.insert(row.id, key);
        }
        with_labels_and_attributes(&state, &auth, &mut data, &keys).await?;
        crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.search", "contact", None, Some(&format!("{} contacts", data.len()))).await;
        return Ok(Json(list_body(data, None)));
    }
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
    let (mut data, mut opened) = (Vec::with_capacity(page.items.len()), HashMap::new());
    for row in page.items.iter().filter(|r| !hidden.contains(&r.id)) {
        let Some(Some(wrapped)) = keys.get(&row.id) else { continue }; // erased: nothing to show
        let key = state.keyring.unwrap_data_key(auth.tenant_id, row.id, wrapped)?;
        let own: Vec<_> = identities.iter().filter(|i| i.contact_id == row.id).cloned().collect();
        data.push(present::contact(row, &own, &key)?);
        opened.insert(row.id, key);
    }
    with_labels_and_attributes(&state, &auth, &mut data, &opened).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.list", "contact", None, Some(&format!("{} contacts", data.len()))).await;
    Ok(Json(list_body(data, page.next_cursor)))
}

/// Labels and custom attributes on contacts shown (a few queries whatever their number).
async fn with_labels_and_attributes(state: &AppState, auth: &Auth, contacts: &mut [ContactView], keys: &HashMap<Uuid, DataKey>) -> ApiResult<()> {
    let ids: Vec<Uuid> = contacts.iter().map(|c| c.id).collect();
    let mut labels = crate::inbox::labels::labels_by_owner(&state.db, store::labels::Labelled::Contacts, &ids).await?;
    let definitions = crate::contacts::attributes::definitions(&state.db, auth.tenant_id).await?;
    let mut custom = crate::contacts::attributes::read(&state.db, &definitions, "contact", &ids, keys).await?;
    for contact in contacts {
        contact.labels = Some(labels.remove(&contact.id).unwrap_or_default());
        contact.custom_attributes = custom.remove(&contact.id);
    }
    Ok(())
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
    let mut contact = [present::contact(&row, &identities, &key)?];
    with_labels_and_attributes(&state, &auth, &mut contact, &HashMap::from([(row.id, key.clone())])).await?;
    let [contact] = contact;
    let mut view = serde_json::to_value(contact).unwrap_or_default();
    // A contact merged into another stays readable by id, saying where it went.
    if let Some(into) = store::merges::merged_into(&state.db, row.id).await? {
        view["merged_into"] = serde_json::json!(into);
    }
    // Addresses that bounced, per channel; `marked_at` set: nothing more is sent there.
    let bounced: Vec<serde_json::Value> = store::undeliverable::for_contact(&state.db, row.id)
        .await?
        .iter()
        .map(|u| {
            serde_json::json!({
                "channel_id": u.channel_id, "identity_id": u.identity_id, "hard_bounces": u.hard_bounces,
                "code": u.last_code, "reason": u.last_reason, "marked_at": u.marked_at.map(crate::domain::rfc3339),
            })
        })
        .collect();
    view["undeliverable"] = serde_json::json!(bounced);
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
    Ok(Json(edit::apply(&state, row, &key, body).await?))
}


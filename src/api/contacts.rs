//! `/v1/contacts`: the people the tenant talks to, with their identities. Personal fields are
//! decrypted on the way out and sealed on the way in.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::contacts::edit::{self, ContactFields};
use crate::contacts::merge::MergeView;
use super::pagination::{ListParams, Params};
use crate::domain::views::ContactView;
use crate::api::error::{ApiError, ApiResult};
use crate::events::present::{self};
use crate::privacy::DataKey;
use crate::hub::AppState;
use crate::store::{self, Page};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update))
        .routes(routes!(merge))
        .routes(routes!(unmerge))
        .routes(routes!(merges))
        .routes(routes!(suggestions))
}

impl From<crate::contacts::merge::MergeError> for ApiError {
    fn from(e: crate::contacts::merge::MergeError) -> Self {
        use crate::contacts::merge::MergeError as E;
        match e {
            E::NotFound(what) => ApiError::NotFound(what),
            E::Invalid { field, detail } => ApiError::invalid(field, detail),
            E::Unknown { field, detail } => ApiError::unknown(field, detail),
            E::Conflict(why) => ApiError::Conflict(why),
            e @ E::Restricted(_) => ApiError::Restricted(e.to_string()),
            E::Store(e) => ApiError::Store(e),
            E::Key(e) => ApiError::Key(e),
            E::Crypto(e) => ApiError::Crypto(e),
            E::Append(e) => e.into(),
        }
    }
}

/// A merge of another contact into this one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    /// The contact merged into this one (it disappears from lists; its identities and
    /// conversations move here).
    other_id: Uuid,
    /// Why, for the record (1 to 500 characters, not only spaces).
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    reason: String,
}

/// Merge another contact into this one: its identities, conversations and consents move here.
/// Undo it with `unmerge`.
#[utoipa::path(post, path = "/v1/contacts/{id}/merge", tag = "contacts", operation_id = "mergeContacts", params(("id" = Uuid, Path)), request_body = MergeBody,
    responses((status = 200, description = "The merge", body = MergeView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn merge(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<MergeBody>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("contact"))?;
    if body.reason.trim().is_empty() || body.reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters, not only spaces"));
    }
    let reason = body.reason.trim();
    let actor = auth.actor();
    let merged = crate::contacts::merge::merge(&state, auth.tenant_id, id, body.other_id, reason, &actor).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &actor, "contact.merge", "contact", Some(id), Some(&format!("merged {} ({})", body.other_id, merged.id))).await;
    Ok(Json(merged))
}

/// The merge to undo.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UnmergeBody {
    merge_id: Uuid,
}

/// Undo a merge: what moved goes back to the other contact.
#[utoipa::path(post, path = "/v1/contacts/{id}/unmerge", tag = "contacts", operation_id = "unmergeContacts", params(("id" = Uuid, Path)), request_body = UnmergeBody,
    responses((status = 200, description = "The merge, undone", body = MergeView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
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

/// A contact's merges.
#[derive(Serialize, utoipa::ToSchema)]
struct MergeList {
    data: Vec<MergeView>,
}

/// The merges a contact took part in (into it, or of it into another), newest first.
#[utoipa::path(get, path = "/v1/contacts/{id}/merges", tag = "contacts", operation_id = "listContactMerges", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Merges", body = MergeList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn merges(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("contact"))?;
    if store::contacts::contact(&state.db, auth.tenant_id, id).await?.is_none() {
        return Err(ApiError::NotFound("contact"));
    }
    let rows = store::merges::of_contact(&state.db, auth.tenant_id, id).await?;
    Ok(Json(MergeList { data: rows.iter().map(crate::contacts::merge::view).collect() }))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SuggestionQuery {
    /// Only suggestions about this contact.
    #[param(value_type = Option<Uuid>)]
    contact_id: Option<String>,
}

/// Two contacts that are probably one person.
#[derive(Serialize, utoipa::ToSchema)]
struct MergeSuggestion {
    /// The contact that typed the address in.
    contact_id: Uuid,
    /// The contact that holds it verified.
    other_id: Uuid,
    reason: String,
    /// The kind of address: `email`, `phone`, …
    kind: String,
    #[schema(format = DateTime)]
    created_at: String,
}

/// Merge suggestions.
#[derive(Serialize, utoipa::ToSchema)]
struct SuggestionList {
    data: Vec<MergeSuggestion>,
}

/// Contacts that are probably one person: one typed in (claimed) an address the other holds
/// verified.
#[utoipa::path(get, path = "/v1/merge-suggestions", tag = "contacts", operation_id = "listMergeSuggestions", params(SuggestionQuery),
    responses((status = 200, description = "Suggestions", body = SuggestionList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn suggestions(State(state): State<AppState>, auth: Auth, Params(q): Params<SuggestionQuery>) -> ApiResult<Json<SuggestionList>> {
    let contact = ListParams::of(&q).uuid("contact_id")?;
    let rows = store::merges::suggestions(&state.db, auth.tenant_id, contact).await?;
    let hidden: std::collections::HashSet<Uuid> = if auth.role == crate::domain::Role::Admin {
        Default::default()
    } else {
        let ids: Vec<Uuid> = rows.iter().flat_map(|r| [r.contact_id, r.other_id]).collect();
        store::privacy::restricted_among(&state.db, &ids).await?.into_iter().collect()
    };
    let data = rows
        .iter()
        .filter(|r| !hidden.contains(&r.contact_id) && !hidden.contains(&r.other_id))
        .map(|r| MergeSuggestion {
            contact_id: r.contact_id,
            other_id: r.other_id,
            reason: format!("the contact gave an {} address the other contact holds verified", r.kind),
            kind: r.kind.clone(),
            created_at: crate::domain::rfc3339(r.created_at),
        })
        .collect();
    Ok(Json(SuggestionList { data }))
}

/// Add a contact.
#[utoipa::path(post, path = "/v1/contacts", tag = "contacts", operation_id = "createContact", request_body = ContactFields,
    responses(
        (status = 201, description = "Created", body = ContactView,
            links(("get" = (operation_id = "getContact", parameters(("id" = "$response.body#/id")))),
                  ("update" = (operation_id = "updateContact", parameters(("id" = "$response.body#/id")))),
                  ("consents" = (operation_id = "listConsents", parameters(("id" = "$response.body#/id")))),
                  ("merges" = (operation_id = "listContactMerges", parameters(("id" = "$response.body#/id")))),
                  ("link" = (operation_id = "createContactLink", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<ContactFields>) -> ApiResult<impl IntoResponse> {
    let view = edit::create(&state, auth.tenant_id, body).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ContactQuery {
    /// An email address, a phone number or part of a name (at least 2 characters): the
    /// matching contacts, on one page.
    #[param(min_length = 2, pattern = r"\S\s*\S")]
    q: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A page of contacts.
#[derive(Serialize, utoipa::ToSchema)]
struct ContactPage {
    data: Vec<ContactView>,
    next_cursor: Option<Uuid>,
}

/// Contacts, or those matching `q`. Restricted contacts (Art. 18) are left out except for
/// admins.
#[utoipa::path(get, path = "/v1/contacts", tag = "contacts", operation_id = "listContacts", params(ContactQuery),
    responses((status = 200, description = "A page of contacts", body = ContactPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(q): Params<ContactQuery>) -> ApiResult<Json<ContactPage>> {
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    // `q`: an email address, a phone number or part of a name.
    if let Some(query) = params.given("q") {
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
        return Ok(Json(ContactPage { data, next_cursor: None }));
    }
    let rows = store::contacts::contacts(&state.db, auth.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let (Some(first), Some(last)) = (page.items.first(), page.items.last()) else {
        return Ok(Json(ContactPage { data: Vec::new(), next_cursor: None }));
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
    Ok(Json(ContactPage { data, next_cursor: page.next_cursor }))
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

/// An address that bounced, per channel.
#[derive(Serialize, utoipa::ToSchema)]
struct Undeliverable {
    channel_id: Uuid,
    identity_id: Uuid,
    hard_bounces: i64,
    code: Option<String>,
    reason: Option<String>,
    /// Set: sends there fail at once (code `undeliverable`) until the person writes from the
    /// address again.
    #[schema(format = DateTime)]
    marked_at: Option<String>,
}

/// A contact as read by id.
#[derive(Serialize, utoipa::ToSchema)]
struct ContactRead {
    #[serde(flatten)]
    contact: ContactView,
    /// The contact this one was merged into, when it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    merged_into: Option<Uuid>,
    undeliverable: Vec<Undeliverable>,
}

/// A contact, with its identities, labels, attributes and bounced addresses.
#[utoipa::path(get, path = "/v1/contacts/{id}", tag = "contacts", operation_id = "getContact", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The contact", body = ContactRead), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ContactRead>> {
    let (row, key) = load(&state, &auth, &id).await?;
    let identities = store::contacts::identities_in_range(&state.db, auth.tenant_id, row.id, row.id).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.read", "contact", Some(row.id), None).await;
    let mut contact = [present::contact(&row, &identities, &key)?];
    with_labels_and_attributes(&state, &auth, &mut contact, &HashMap::from([(row.id, key.clone())])).await?;
    let [contact] = contact;
    // A contact merged into another stays readable by id, saying where it went.
    let merged_into = store::merges::merged_into(&state.db, row.id).await?;
    // Addresses that bounced, per channel; `marked_at` set: nothing more is sent there.
    let undeliverable = store::undeliverable::for_contact(&state.db, row.id)
        .await?
        .iter()
        .map(|u| Undeliverable {
            channel_id: u.channel_id,
            identity_id: u.identity_id,
            hard_bounces: u.hard_bounces,
            code: u.last_code.clone(),
            reason: u.last_reason.clone(),
            marked_at: u.marked_at.map(crate::domain::rfc3339),
        })
        .collect();
    Ok(Json(ContactRead { contact, merged_into, undeliverable }))
}

/// Change a contact's fields and custom attributes.
#[utoipa::path(patch, path = "/v1/contacts/{id}", tag = "contacts", operation_id = "updateContact", params(("id" = Uuid, Path)), request_body = ContactFields,
    responses((status = 200, description = "The contact", body = ContactView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
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


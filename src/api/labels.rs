//! `/v1/labels` (admins define them, everyone puts them on and takes them off, in bulk) and
//! `/v1/views` (saved inbox filters: an operator's own, or shared by an admin).

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::api::error::{ApiError, ApiResult};
use crate::domain::{CONVERSATION_STATUSES, rfc3339};
use crate::hub::AppState;
use crate::inbox::labels::{self, LabelError};
use crate::store::{self, labels::ViewRow, now_micros};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, remove))
        .routes(routes!(apply))
        .routes(routes!(take_off))
        .routes(routes!(views, create_view))
        .routes(routes!(update_view, remove_view))
}

impl From<LabelError> for ApiError {
    fn from(err: LabelError) -> Self {
        match err {
            LabelError::Invalid { field, detail } => ApiError::invalid(field, detail),
            LabelError::Unknown { field, detail } => ApiError::Unknown { field, detail },
            LabelError::Work(e) => e.into(),
        }
    }
}

/// Colours given to labels created without one, in turn.
const PALETTE: &[&str] = &["#1f8a70", "#3b6fd8", "#c2410c", "#a21caf", "#b45309", "#0e7490", "#be123c", "#4d7c0f"];

/// A label, put on conversations and contacts.
#[derive(Serialize, utoipa::ToSchema)]
struct Label {
    id: Uuid,
    name: String,
    /// `#rrggbb`.
    color: String,
    /// How many conversations carry it (in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    conversations: Option<i64>,
    /// How many contacts carry it (in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    contacts: Option<i64>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

fn label_view(r: &store::labels::LabelRow) -> Label {
    Label { id: r.id, name: r.name.clone(), color: r.color.clone(), conversations: None, contacts: None, created_at: rfc3339(r.created_at), updated_at: rfc3339(r.updated_at) }
}

/// Every label of the tenant (one page).
#[derive(Serialize, utoipa::ToSchema)]
struct LabelList {
    data: Vec<Label>,
    /// Always null: every label is on the one page.
    next_cursor: Option<Uuid>,
}

/// List labels, with how often each is used.
#[utoipa::path(get, path = "/v1/labels", tag = "labels", operation_id = "listLabels",
    responses((status = 200, description = "Labels", body = LabelList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<LabelList>> {
    let rows = store::labels::list(&state.db, auth.tenant_id).await?;
    let usage: HashMap<Uuid, (i64, i64)> = store::labels::usage(&state.db, auth.tenant_id).await?.into_iter().map(|(id, a, b)| (id, (a, b))).collect();
    let data = rows
        .iter()
        .map(|r| {
            let (conversations, contacts) = usage.get(&r.id).copied().unwrap_or_default();
            Label { conversations: Some(conversations), contacts: Some(contacts), ..label_view(r) }
        })
        .collect();
    Ok(Json(LabelList { data, next_cursor: None }))
}

/// A new label.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLabel {
    /// 1 to 50 characters, not only spaces; unique in the tenant.
    #[schema(min_length = 1, max_length = 50, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$")]
    name: String,
    /// `#rrggbb`; one is chosen when left out.
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: Option<String>,
}

/// Create a label (admins).
#[utoipa::path(post, path = "/v1/labels", tag = "labels", operation_id = "createLabel", request_body = NewLabel,
    responses(
        (status = 201, description = "Created", body = Label,
            links(("update" = (operation_id = "updateLabel", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteLabel", parameters(("id" = "$response.body#/id")))),
                  ("apply" = (operation_id = "applyLabel", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewLabel>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let name = labels::valid_name(&body.name)?;
    let color = match body.color {
        Some(c) => labels::valid_color(&c)?,
        None => {
            let count = store::labels::list(&state.db, auth.tenant_id).await?.len();
            PALETTE[count % PALETTE.len()].to_owned()
        }
    };
    let row = store::labels::new_label(auth.tenant_id, name, color);
    let saved = labels::save(&state, &row, true).await?.ok_or_else(name_taken)?;
    Ok((StatusCode::CREATED, Json(label_view(&saved))))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<store::labels::LabelRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("label"))?;
    store::labels::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("label"))
}

/// Another label of the tenant has the name: 409, naming `name`.
fn name_taken() -> ApiError {
    ApiError::Taken { field: "name", detail: "a label with this name exists".into() }
}

/// What changes on a label; what is left out stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LabelChange {
    #[schema(min_length = 1, max_length = 50, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$")]
    name: Option<String>,
    #[schema(pattern = "^#[0-9A-Fa-f]{6}$")]
    color: Option<String>,
}

/// Rename or recolour a label (admins).
#[utoipa::path(patch, path = "/v1/labels/{id}", tag = "labels", operation_id = "updateLabel", params(("id" = Uuid, Path)), request_body = LabelChange,
    responses((status = 200, description = "Updated", body = Label), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn update(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<LabelChange>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let mut row = find(&state, &auth, &id).await?;
    if let Some(name) = body.name {
        row.name = labels::valid_name(&name)?;
    }
    if let Some(color) = body.color {
        row.color = labels::valid_color(&color)?;
    }
    row.updated_at = now_micros();
    let saved = labels::save(&state, &row, false).await?.ok_or_else(name_taken)?;
    Ok(Json(label_view(&saved)))
}

/// Delete a label, taking it off everything (admins).
#[utoipa::path(delete, path = "/v1/labels/{id}", tag = "labels", operation_id = "deleteLabel", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let row = find(&state, &auth, &id).await?;
    labels::delete(&state, &row).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a label goes on or comes off: conversations and contacts of this tenant, at most 500
/// together (none: nothing changes).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LabelTargets {
    #[serde(default)]
    #[schema(max_items = 500)]
    conversation_ids: Vec<Uuid>,
    #[serde(default)]
    #[schema(max_items = 500)]
    contact_ids: Vec<Uuid>,
}

/// What a bulk change did: the ids whose labels changed.
#[derive(Serialize, utoipa::ToSchema)]
struct LabelChanged {
    label: Label,
    changed: labels::Changed,
}

/// Put a label on conversations and contacts (in bulk).
///
/// Each conversation or contact whose labels changed gets `conversation.updated` /
/// `contact.updated` with its labels. Ids not of this tenant are skipped.
#[utoipa::path(post, path = "/v1/labels/{id}/apply", tag = "labels", operation_id = "applyLabel", params(("id" = Uuid, Path)), request_body = LabelTargets,
    responses((status = 200, description = "What changed", body = LabelChanged), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn apply(state: State<AppState>, auth: Auth, id: Path<String>, body: JsonBody<LabelTargets>) -> ApiResult<Json<LabelChanged>> {
    change(state, auth, id, body, true).await
}

/// Take a label off conversations and contacts (in bulk).
#[utoipa::path(post, path = "/v1/labels/{id}/remove", tag = "labels", operation_id = "removeLabel", params(("id" = Uuid, Path)), request_body = LabelTargets,
    responses((status = 200, description = "What changed", body = LabelChanged), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn take_off(state: State<AppState>, auth: Auth, id: Path<String>, body: JsonBody<LabelTargets>) -> ApiResult<Json<LabelChanged>> {
    change(state, auth, id, body, false).await
}

async fn change(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<LabelTargets>, on: bool) -> ApiResult<Json<LabelChanged>> {
    let label = find(&state, &auth, &id).await?;
    let changed = labels::apply(&state, auth.tenant_id, &label, &body.conversation_ids, &body.contact_ids, on).await?;
    Ok(Json(LabelChanged { label: label_view(&label), changed }))
}

/// The filters a view may hold, each checked as the list and search check them.
const VIEW_FILTERS: &[&str] = &["q", "status", "channel_id", "assignee", "team", "label", "sort", "since", "until"];

fn valid_filters(filters: &Value) -> Result<String, ApiError> {
    let map = filters.as_object().ok_or_else(|| ApiError::invalid("filters", "must be an object"))?;
    for (key, value) in map {
        let attribute = key.strip_prefix("attr.").is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        if !VIEW_FILTERS.contains(&key.as_str()) && !attribute {
            return Err(ApiError::invalid("filters", format!("unknown filter {key:?}; known: {} and attr.KEY", VIEW_FILTERS.join(", "))));
        }
        let Some(text) = value.as_str() else {
            return Err(ApiError::invalid("filters", format!("{key} must be a string")));
        };
        let field = format!("filters.{key}");
        match key.as_str() {
            "status" if !CONVERSATION_STATUSES.contains(&text) => return Err(ApiError::invalid(&field, format!("must be one of {}", CONVERSATION_STATUSES.join(", ")))),
            "channel_id" | "team" if Uuid::parse_str(text).is_err() => return Err(ApiError::invalid(&field, "must be a UUID")),
            "since" | "until" if super::pagination::parse_time(text).is_none() => return Err(ApiError::invalid(&field, super::pagination::TIME_FORMATS)),
            "sort" if !["latest", "waiting"].contains(&text) => return Err(ApiError::invalid(&field, "must be latest or waiting")),
            "assignee" if !["me", "none"].contains(&text) && Uuid::parse_str(text).is_err() => return Err(ApiError::invalid(&field, "must be an operator id, me or none")),
            _ => {}
        }
    }
    Ok(filters.to_string())
}

/// The filters of a saved view, as the inbox's query parameters: `q`, `status`, `channel_id`,
/// `assignee` (an operator id, `me` or `none`), `team`, `label` (id or name), `sort` (`latest`
/// or `waiting`), `since`, `until`, and `attr.KEY` for custom attributes. Its description is
/// written out here because it has pattern-named members (`attr.KEY`).
struct ViewFilters;

impl utoipa::PartialSchema for ViewFilters {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let text = || ObjectBuilder::new().schema_type(Type::String);
        let formatted = |format| text().format(Some(SchemaFormat::KnownFormat(format)));
        let time = || AnyOfBuilder::new().item(formatted(KnownFormat::DateTime)).item(formatted(KnownFormat::Date));
        let names = text().pattern(Some("^(q|status|channel_id|assignee|team|label|sort|since|until|attr\\.[a-z0-9_]+)$"));
        ObjectBuilder::new()
            .description(Some("Inbox filters as query values; attr.KEY filters on a custom attribute."))
            .property_names(Some(names))
            .property("q", text())
            .property("status", text().enum_values(Some(CONVERSATION_STATUSES.iter().copied())))
            .property("channel_id", formatted(KnownFormat::Uuid))
            .property("assignee", AnyOfBuilder::new().item(formatted(KnownFormat::Uuid)).item(text().enum_values(Some(["me", "none"]))))
            .property("team", formatted(KnownFormat::Uuid))
            .property("label", text())
            .property("sort", text().enum_values(Some(["latest", "waiting"])))
            .property("since", time())
            .property("until", time())
            .additional_properties(Some(text()))
            .into()
    }
}

impl utoipa::ToSchema for ViewFilters {}

/// A saved inbox filter: the operator's own, or shared with everyone (made by an admin).
#[derive(Serialize, utoipa::ToSchema)]
struct SavedView {
    id: Uuid,
    name: String,
    shared: bool,
    /// The owner; null for a shared view.
    operator_id: Option<Uuid>,
    #[schema(value_type = ViewFilters)]
    filters: BTreeMap<String, String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

fn saved_view(r: &ViewRow) -> SavedView {
    SavedView {
        id: r.id,
        name: r.name.clone(),
        shared: r.operator_id.is_none(),
        operator_id: r.operator_id,
        filters: serde_json::from_str(&r.filters).unwrap_or_default(),
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
    }
}

/// The views the caller sees (one page).
#[derive(Serialize, utoipa::ToSchema)]
struct SavedViewList {
    data: Vec<SavedView>,
    /// Always null: every view is on the one page.
    next_cursor: Option<Uuid>,
}

/// List saved views: the operator's own and the shared ones.
#[utoipa::path(get, path = "/v1/views", tag = "labels", operation_id = "listViews",
    responses((status = 200, description = "Views", body = SavedViewList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn views(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<SavedViewList>> {
    let rows = store::labels::views(&state.db, auth.tenant_id, auth.operator_id).await?;
    Ok(Json(SavedViewList { data: rows.iter().map(saved_view).collect(), next_cursor: None }))
}

/// A view to save.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewView {
    /// 1 to 80 characters, not only spaces.
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    name: String,
    /// Shared with every operator (admins only); otherwise the caller's own.
    #[serde(default)]
    shared: bool,
    #[schema(value_type = ViewFilters)]
    filters: Value,
}

/// Who owns a view: nobody (shared, admins only) or the calling operator.
fn owner(auth: &Auth, shared: bool) -> ApiResult<Option<Uuid>> {
    if shared {
        auth.require_admin()?;
        return Ok(None);
    }
    auth.operator_id.map(Some).ok_or_else(|| ApiError::invalid("shared", "this key belongs to no operator: only shared views (admins) can be saved with it"))
}

fn valid_view_name(name: &str) -> ApiResult<String> {
    if name.trim().is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid("name", "must be 1 to 80 characters, not only spaces"));
    }
    Ok(name.trim().to_owned())
}

/// Save a view (shared ones: admins).
///
/// Apply it with `GET /v1/conversations?view=ID`; parameters of the request win over the view's.
#[utoipa::path(post, path = "/v1/views", tag = "labels", operation_id = "createView", request_body = NewView,
    responses(
        (status = 201, description = "Created", body = SavedView,
            links(("update" = (operation_id = "updateView", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteView", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem),
    ))]
async fn create_view(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewView>) -> ApiResult<impl IntoResponse> {
    let now = now_micros();
    let row = ViewRow {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        operator_id: owner(&auth, body.shared)?,
        name: valid_view_name(&body.name)?,
        filters: valid_filters(&body.filters)?,
        created_at: now,
        updated_at: now,
    };
    let saved = store::labels::save_view(&state.db, &row).await?;
    Ok((StatusCode::CREATED, Json(saved_view(&saved))))
}

/// A view the caller may change: their own, or (admins) a shared one.
async fn find_view(state: &AppState, auth: &Auth, id: &str) -> ApiResult<ViewRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("view"))?;
    let row = store::labels::view(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("view"))?;
    match row.operator_id {
        None => auth.require_admin()?,
        Some(owner) if Some(owner) != auth.operator_id => return Err(ApiError::NotFound("view")),
        Some(_) => {}
    }
    Ok(row)
}

/// What changes on a view; what is left out stays.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ViewChange {
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    name: Option<String>,
    shared: Option<bool>,
    #[schema(value_type = Option<ViewFilters>)]
    filters: Option<Value>,
}

/// Change a saved view.
#[utoipa::path(patch, path = "/v1/views/{id}", tag = "labels", operation_id = "updateView", params(("id" = Uuid, Path)), request_body = ViewChange,
    responses((status = 200, description = "Updated", body = SavedView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn update_view(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<ViewChange>) -> ApiResult<Json<SavedView>> {
    let mut row = find_view(&state, &auth, &id).await?;
    if let Some(name) = body.name {
        row.name = valid_view_name(&name)?;
    }
    if let Some(filters) = body.filters {
        row.filters = valid_filters(&filters)?;
    }
    if let Some(shared) = body.shared {
        row.operator_id = owner(&auth, shared)?;
    }
    row.updated_at = now_micros();
    Ok(Json(saved_view(&store::labels::save_view(&state.db, &row).await?)))
}

/// Delete a saved view.
#[utoipa::path(delete, path = "/v1/views/{id}", tag = "labels", operation_id = "deleteView", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn remove_view(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let row = find_view(&state, &auth, &id).await?;
    store::labels::delete_view(&state.db, auth.tenant_id, row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

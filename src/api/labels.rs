//! `/v1/labels` (admins define them, everyone puts them on and takes them off, in bulk) and
//! `/v1/views` (saved inbox filters: an operator's own, or shared by an admin).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Auth;
use crate::api::error::{ApiError, ApiResult};
use crate::domain::{CONVERSATION_STATUSES, rfc3339};
use crate::hub::AppState;
use crate::inbox::labels::{self, LabelError};
use crate::store::{self, labels::ViewRow, now_micros};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/labels", get(list).post(create))
        .route("/v1/labels/{id}", patch(update).delete(remove))
        .route("/v1/labels/{id}/apply", post(apply))
        .route("/v1/labels/{id}/remove", post(take_off))
        .route("/v1/views", get(views).post(create_view))
        .route("/v1/views/{id}", patch(update_view).delete(remove_view))
}

impl From<LabelError> for ApiError {
    fn from(err: LabelError) -> Self {
        match err {
            LabelError::Invalid { field, detail } => ApiError::invalid(field, detail),
            LabelError::Work(e) => e.into(),
        }
    }
}

/// Colours given to labels created without one, in turn.
const PALETTE: &[&str] = &["#1f8a70", "#3b6fd8", "#c2410c", "#a21caf", "#b45309", "#0e7490", "#be123c", "#4d7c0f"];

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let rows = store::labels::list(&state.db, auth.tenant_id).await?;
    let usage: HashMap<Uuid, (i64, i64)> = store::labels::usage(&state.db, auth.tenant_id).await?.into_iter().map(|(id, a, b)| (id, (a, b))).collect();
    let data: Vec<Value> = rows
        .iter()
        .map(|r| {
            let (conversations, contacts) = usage.get(&r.id).copied().unwrap_or_default();
            json!({"id": r.id, "name": r.name, "color": r.color, "conversations": conversations, "contacts": contacts,
                   "created_at": rfc3339(r.created_at), "updated_at": rfc3339(r.updated_at)})
        })
        .collect();
    Ok(Json(json!({"data": data, "next_cursor": null})))
}

fn label_json(r: &store::labels::LabelRow) -> Value {
    json!({"id": r.id, "name": r.name, "color": r.color, "created_at": rfc3339(r.created_at), "updated_at": rfc3339(r.updated_at)})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLabel {
    name: String,
    color: Option<String>,
}

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
    let saved = labels::save(&state, &row, true).await?.ok_or_else(|| ApiError::invalid("name", "a label with this name exists"))?;
    Ok((StatusCode::CREATED, Json(label_json(&saved))))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<store::labels::LabelRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("label"))?;
    store::labels::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("label"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelChange {
    name: Option<String>,
    color: Option<String>,
}

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
    let saved = labels::save(&state, &row, false).await?.ok_or_else(|| ApiError::invalid("name", "a label with this name exists"))?;
    Ok(Json(label_json(&saved)))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let row = find(&state, &auth, &id).await?;
    labels::delete(&state, &row).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Targets {
    #[serde(default)]
    conversation_ids: Vec<Uuid>,
    #[serde(default)]
    contact_ids: Vec<Uuid>,
}

async fn apply(state: State<AppState>, auth: Auth, id: Path<String>, body: JsonBody<Targets>) -> ApiResult<impl IntoResponse> {
    change(state, auth, id, body, true).await
}

async fn take_off(state: State<AppState>, auth: Auth, id: Path<String>, body: JsonBody<Targets>) -> ApiResult<impl IntoResponse> {
    change(state, auth, id, body, false).await
}

async fn change(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<Targets>, on: bool) -> ApiResult<Json<Value>> {
    let label = find(&state, &auth, &id).await?;
    if body.conversation_ids.is_empty() && body.contact_ids.is_empty() {
        return Err(ApiError::invalid("conversation_ids", "name at least one conversation or contact (conversation_ids, contact_ids)"));
    }
    let changed = labels::apply(&state, auth.tenant_id, &label, &body.conversation_ids, &body.contact_ids, on).await?;
    Ok(Json(json!({"label": label_json(&label), "changed": changed})))
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

fn view_json(r: &ViewRow) -> Value {
    json!({"id": r.id, "name": r.name, "shared": r.operator_id.is_none(), "operator_id": r.operator_id,
           "filters": serde_json::from_str::<Value>(&r.filters).unwrap_or_default(),
           "created_at": rfc3339(r.created_at), "updated_at": rfc3339(r.updated_at)})
}

async fn views(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let rows = store::labels::views(&state.db, auth.tenant_id, auth.operator_id).await?;
    Ok(Json(json!({"data": rows.iter().map(view_json).collect::<Vec<_>>(), "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewView {
    name: String,
    #[serde(default)]
    shared: bool,
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
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid("name", "must be 1 to 80 characters"));
    }
    Ok(name.to_owned())
}

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
    Ok((StatusCode::CREATED, Json(view_json(&saved))))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewChange {
    name: Option<String>,
    shared: Option<bool>,
    filters: Option<Value>,
}

async fn update_view(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<ViewChange>) -> ApiResult<impl IntoResponse> {
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
    Ok(Json(view_json(&store::labels::save_view(&state.db, &row).await?)))
}

async fn remove_view(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let row = find_view(&state, &auth, &id).await?;
    store::labels::delete_view(&state.db, auth.tenant_id, row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

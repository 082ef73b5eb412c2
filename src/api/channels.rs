//! `/v1/channels`: tenants create, change and delete channels at run time.

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
use super::pagination::{ListParams, list_body};
use crate::channels::{ChannelInfo, settings};
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::domain::rfc3339;
use crate::store::{self, Page};
use serde_json::json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", get(list).post(create))
        .route("/v1/channels/{id}", get(show).patch(update).delete(remove))
        .route("/v1/channels/{id}/quarantine", get(quarantine))
        .route("/v1/channels/{id}/templates", get(templates))
        .route("/v1/channels/{id}/templates/sync", axum::routing::post(sync_templates))
}

fn template_view(row: &store::templates::TemplateRow) -> serde_json::Value {
    let template = row.template();
    json!({
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "status": template.status,
        "components": template.components,
        "parameters": template.body_parameters(),
        "synced_at": rfc3339(row.synced_at),
    })
}

/// The channel's message templates as last synced (WhatsApp), for the template picker.
async fn templates(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let info = ChannelInfo::from_row(find(&state, &auth, &id).await?);
    if !state.channels.kind_of(&info).is_some_and(|k| k.capabilities().templates) {
        return Err(ApiError::NotFound("templates of this channel (its kind has none)"));
    }
    let rows = store::templates::list(&state.db, info.id).await?;
    Ok(Json(json!({"data": rows.iter().map(template_view).collect::<Vec<_>>()})))
}

/// Lists the templates at the provider again and keeps them.
async fn sync_templates(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let info = ChannelInfo::from_row(find(&state, &auth, &id).await?);
    if !state.channels.kind_of(&info).is_some_and(|k| k.capabilities().templates) {
        return Err(ApiError::NotFound("templates of this channel (its kind has none)"));
    }
    let rows = crate::channels::templates::sync(&state.channels, &state.db, &info).await?;
    Ok(Json(json!({"data": rows.iter().map(template_view).collect::<Vec<_>>()})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateChannel {
    kind: String,
    name: String,
    settings: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateChannel {
    name: Option<String>,
    settings: Option<serde_json::Value>,
}

fn valid_name(name: &str) -> ApiResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(name)
}

fn seal_secrets(state: &AppState, tenant_id: Uuid, channel_id: Uuid, secrets: Option<serde_json::Value>) -> ApiResult<Option<Vec<u8>>> {
    secrets
        .map(|s| state.keyring.seal_secrets(tenant_id, channel_id, s.to_string().as_bytes()))
        .transpose()
        .map_err(ApiError::from)
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateChannel>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let name = valid_name(&body.name)?;
    let kind = settings::kind(state.channels.kinds(), &body.kind)?;
    let validated = settings::validate(kind, body.settings)?;
    settings::vet_destinations(kind, &validated.public, &state.outbound_policy).await?;
    let id = Uuid::now_v7();
    let secrets = seal_secrets(&state, auth.tenant_id, id, validated.secrets)?;
    let row = state.db.insert_channel(id, auth.tenant_id, &body.kind, name, &validated.public.to_string(), secrets.as_deref()).await?;
    state.runners.restart(row.id).await;
    let info = ChannelInfo::from_row(row);
    crate::channels::checkup::spawn(&state.channels, &state.db, &info);
    Ok((StatusCode::CREATED, Json(info.view())))
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = state.db.channels(auth.tenant_id, cursor, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page.items.into_iter().map(|r| ChannelInfo::from_row(r).view()).collect();
    Ok(Json(list_body(data, page.next_cursor)))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<crate::store::ChannelRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("channel"))?;
    state.db.channel_by_id(id).await?.filter(|c| c.tenant_id == auth.tenant_id).ok_or(ApiError::NotFound("channel"))
}

/// A channel with its background health (for channels that pull messages in): `ok` once the
/// importer works, `error` with the last error, `starting` before the first report.
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let info = ChannelInfo::from_row(find(&state, &auth, &id).await?);
    let mut view = serde_json::to_value(info.view()).unwrap_or_default();
    let health = store::mailboxes::health(&state.db, info.id).await?;
    if state.channels.kind_of(&info).is_some_and(|k| k.capabilities().pulls) || health.is_some() {
        view["health"] = match health {
            None => json!({"status": "starting", "last_error": null, "checked_at": null}),
            Some((None, at)) => json!({"status": "ok", "last_error": null, "checked_at": rfc3339(at)}),
            Some((Some(error), at)) => json!({"status": "error", "last_error": error, "checked_at": rfc3339(at)}),
        };
    }
    Ok(Json(view))
}

/// Mail the channel could not import, newest first (the raw mail stays sealed in the store).
async fn quarantine(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let channel = find(&state, &auth, &id).await?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::mailboxes::quarantined(&state.db, channel.id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page
        .items
        .iter()
        .map(|r| json!({"id": r.id, "uid": r.uid, "error": r.error, "size": r.raw.len().saturating_sub(40), "created_at": rfc3339(r.created_at)}))
        .collect();
    Ok(Json(list_body(data, page.next_cursor)))
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateChannel>,
) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    let name = match &body.name {
        Some(name) => valid_name(name)?.to_owned(),
        None => current.name.clone(),
    };
    let (settings, secrets) = match body.settings {
        Some(mut settings) => {
            let kind = settings::kind(state.channels.kinds(), &current.kind)?;
            // Secrets left out of a change keep their stored values: nobody has to send a
            // password again to change a port.
            if let Some(sealed) = &current.secrets {
                let opened = state.keyring.open_for_tenant(auth.tenant_id, crate::privacy::tenant_sealed::CHANNEL_SECRETS, current.id, sealed)?;
                if let Ok(serde_json::Value::Object(stored)) = serde_json::from_slice::<serde_json::Value>(&opened) {
                    let public: serde_json::Value = serde_json::from_str(&current.settings).unwrap_or_default();
                    settings::keep_stored_secrets(kind, &public, &stored, &mut settings)?;
                }
            }
            let validated = settings::validate(kind, Some(settings))?;
            settings::vet_destinations(kind, &validated.public, &state.outbound_policy).await?;
            (validated.public.to_string(), seal_secrets(&state, auth.tenant_id, current.id, validated.secrets)?)
        }
        None => (current.settings.clone(), current.secrets.clone()),
    };
    let row = state
        .db
        .update_channel(auth.tenant_id, current.id, &name, &settings, secrets.as_deref())
        .await?
        .ok_or(ApiError::NotFound("channel"))?;
    state.channels.invalidate(row.id);
    state.runners.restart(row.id).await;
    state.cluster.announce(crate::cluster::Change::Channel(row.id)).await;
    let info = ChannelInfo::from_row(row);
    crate::channels::checkup::spawn(&state.channels, &state.db, &info);
    Ok(Json(info.view()))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    // Built before the row goes: the adapter needs the settings to undo its registration.
    let adapter = state.channels.get(current.id).await?.and_then(|info| state.channels.adapter(&info));
    if !state.db.delete_channel(auth.tenant_id, current.id).await? {
        return Err(ApiError::NotFound("channel"));
    }
    if let Some(adapter) = adapter {
        crate::channels::retire(current.id, adapter.as_ref()).await;
    }
    state.channels.invalidate(current.id);
    state.runners.stop(current.id).await;
    state.cluster.announce(crate::cluster::Change::Channel(current.id)).await;
    Ok(StatusCode::NO_CONTENT)
}

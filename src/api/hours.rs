//! `GET|PUT /v1/channels/{id}/business-hours`: when a channel is staffed, and what a contact
//! who writes outside those hours is told (once per conversation).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use uuid::Uuid;

use super::auth::Auth;
use crate::api::error::{ApiError, ApiResult};
use crate::inbox::hours::BusinessHours;
use crate::hub::AppState;
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/channels/{id}/business-hours", get(show).put(replace))
}

async fn channel(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Uuid> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("channel"))?;
    let channel = state.channels.get(id).await?.filter(|c| c.tenant_id == auth.tenant_id).ok_or(ApiError::NotFound("channel"))?;
    Ok(channel.id)
}

async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id = channel(&state, &auth, &id).await?;
    let stored = store::hours::get(&state.db, id).await?.ok_or(ApiError::NotFound("business hours"))?;
    let hours: BusinessHours = serde_json::from_str(&stored).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let open_now = hours.is_open(store::now_micros());
    let mut body = serde_json::to_value(&hours).unwrap_or_default();
    body["open_now"] = open_now.into();
    Ok(Json(body))
}

async fn replace(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(hours): JsonBody<BusinessHours>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = channel(&state, &auth, &id).await?;
    hours.validate().map_err(|(field, detail)| ApiError::invalid(&field, detail))?;
    store::hours::save(&state.db, auth.tenant_id, id, &serde_json::to_string(&hours).unwrap_or_default()).await?;
    Ok(Json(hours))
}

//! `GET|PUT /v1/channels/{id}/business-hours`: when a channel is staffed, and what a contact
//! who writes outside those hours is told (once per conversation).

use axum::extract::{Path, State};
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::api::error::{ApiError, ApiResult};
use crate::inbox::hours::BusinessHours;
use crate::hub::AppState;
use crate::store;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, replace))
}

/// A channel's hours, and whether it is open now. (The stored hours refuse unknown members
/// when given, so this answer spells its members out rather than extending them.)
#[derive(Serialize, utoipa::ToSchema)]
struct HoursNow {
    time_zone: String,
    #[schema(value_type = crate::inbox::hours::Weekly)]
    weekly: std::collections::BTreeMap<String, Vec<[String; 2]>>,
    #[schema(value_type = Vec<String>, format = Date)]
    holidays: Vec<String>,
    away_message: String,
    open_now: bool,
}

async fn channel(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Uuid> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("channel"))?;
    let channel = state.channels.get(id).await?.filter(|c| c.tenant_id == auth.tenant_id).ok_or(ApiError::NotFound("channel"))?;
    Ok(channel.id)
}

/// A channel's business hours (404 until they are set).
#[utoipa::path(get, path = "/v1/channels/{id}/business-hours", tag = "channels", operation_id = "getBusinessHours", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The hours and open_now", body = HoursNow), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<HoursNow>> {
    let id = channel(&state, &auth, &id).await?;
    let stored = store::hours::get(&state.db, id).await?.ok_or(ApiError::NotFound("business hours"))?;
    let hours: BusinessHours = serde_json::from_str(&stored).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let open_now = hours.is_open(store::now_micros());
    Ok(Json(HoursNow { time_zone: hours.time_zone, weekly: hours.weekly, holidays: hours.holidays, away_message: hours.away_message, open_now }))
}

/// Set a channel's business hours and away message (admins).
///
/// A contact who writes while closed gets the away message once per conversation (purpose
/// service, `Auto-Submitted` on email).
#[utoipa::path(put, path = "/v1/channels/{id}/business-hours", tag = "channels", operation_id = "putBusinessHours", params(("id" = Uuid, Path)), request_body = BusinessHours,
    responses((status = 200, description = "Stored", body = BusinessHours), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn replace(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(hours): JsonBody<BusinessHours>) -> ApiResult<Json<BusinessHours>> {
    auth.require_admin()?;
    let id = channel(&state, &auth, &id).await?;
    hours.validate().map_err(|(field, detail)| ApiError::invalid(&field, detail))?;
    store::hours::save(&state.db, auth.tenant_id, id, &serde_json::to_string(&hours).unwrap_or_default()).await?;
    Ok(Json(hours))
}

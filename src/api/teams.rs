//! `/v1/teams`: operators grouped by what they answer. A team has members and channels; new
//! conversations on a team's channel are assigned among its online members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Auth;
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::team::{self, Team};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/teams", get(list).post(create)).route("/v1/teams/{id}", get(show).put(replace).delete(remove))
}

fn view(t: &Team) -> Value {
    json!({"id": t.row.id, "name": t.row.name, "operator_ids": t.operator_ids, "channel_ids": t.channel_ids, "created_at": rfc3339(t.row.created_at)})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    name: String,
    #[serde(default)]
    operator_ids: Vec<Uuid>,
    /// Channels whose new conversations go to this team (a channel belongs to one team).
    #[serde(default)]
    channel_ids: Vec<Uuid>,
}

/// Checks the body against the tenant: a unique name, its own operators and channels.
async fn checked(state: &AppState, auth: &Auth, id: Uuid, body: &TeamBody) -> ApiResult<String> {
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters"));
    }
    let teams = team::teams(&state.db, auth.tenant_id).await?;
    if teams.iter().any(|t| t.row.id != id && t.row.name == name) {
        return Err(ApiError::invalid("name", "another team has this name"));
    }
    for (i, operator) in body.operator_ids.iter().enumerate() {
        if state.db.operator(auth.tenant_id, *operator).await?.is_none() {
            return Err(ApiError::invalid(&format!("operator_ids[{i}]"), "no such operator in this tenant"));
        }
    }
    for (i, channel) in body.channel_ids.iter().enumerate() {
        if state.channels.get(*channel).await?.is_none_or(|c| c.tenant_id != auth.tenant_id) {
            return Err(ApiError::invalid(&format!("channel_ids[{i}]"), "no such channel in this tenant"));
        }
    }
    Ok(name.to_owned())
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Team> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("team"))?;
    team::teams(&state.db, auth.tenant_id).await?.into_iter().find(|t| t.row.id == id).ok_or(ApiError::NotFound("team"))
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let teams = team::teams(&state.db, auth.tenant_id).await?;
    Ok(Json(json!({"data": teams.iter().map(view).collect::<Vec<_>>()})))
}

async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(view(&find(&state, &auth, &id).await?)))
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<TeamBody>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = Uuid::now_v7();
    let name = checked(&state, &auth, id, &body).await?;
    team::save(&state.db, auth.tenant_id, id, &name, &body.operator_ids, &body.channel_ids).await?;
    Ok((StatusCode::CREATED, Json(view(&find(&state, &auth, &id.to_string()).await?))))
}

async fn replace(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<TeamBody>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    let name = checked(&state, &auth, current.row.id, &body).await?;
    team::save(&state.db, auth.tenant_id, current.row.id, &name, &body.operator_ids, &body.channel_ids).await?;
    Ok(Json(view(&find(&state, &auth, &id).await?)))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    team::delete(&state.db, auth.tenant_id, current.row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

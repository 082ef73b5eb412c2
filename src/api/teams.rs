//! `/v1/teams`: operators grouped by what they answer. A team has members and channels; new
//! conversations on a team's channel are assigned among its online members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::team::{self, Team};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(show, replace, remove))
}

/// A team: operators who answer the conversations of its channels.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TeamView {
    id: Uuid,
    name: String,
    operator_ids: Vec<Uuid>,
    channel_ids: Vec<Uuid>,
    #[schema(format = DateTime)]
    created_at: String,
}

fn view(t: &Team) -> TeamView {
    TeamView { id: t.row.id, name: t.row.name.clone(), operator_ids: t.operator_ids.clone(), channel_ids: t.channel_ids.clone(), created_at: rfc3339(t.row.created_at) }
}

/// Every team of the tenant (one page).
#[derive(serde::Serialize, utoipa::ToSchema)]
struct TeamList {
    data: Vec<TeamView>,
}

/// A team as created or replaced.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    /// 1 to 100 characters, not only spaces; unique in the tenant.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    #[serde(default)]
    operator_ids: Vec<Uuid>,
    /// Channels whose new conversations go to this team (a channel belongs to one team).
    #[serde(default)]
    channel_ids: Vec<Uuid>,
}

/// Checks the body against the tenant: a unique name, its own operators and channels.
async fn checked(state: &AppState, auth: &Auth, id: Uuid, body: &TeamBody) -> ApiResult<String> {
    if body.name.trim().is_empty() || body.name.chars().count() > 100 {
        return Err(ApiError::invalid("name", "must be 1 to 100 characters, not only spaces"));
    }
    let name = body.name.trim();
    let teams = team::teams(&state.db, auth.tenant_id).await?;
    if teams.iter().any(|t| t.row.id != id && t.row.name == name) {
        return Err(ApiError::Taken { field: "name", detail: "another team has this name".into() });
    }
    for (i, operator) in body.operator_ids.iter().enumerate() {
        if state.db.operator(auth.tenant_id, *operator).await?.is_none() {
            return Err(ApiError::unknown(&format!("operator_ids[{i}]"), "no such operator in this tenant"));
        }
    }
    for (i, channel) in body.channel_ids.iter().enumerate() {
        if state.channels.get(*channel).await?.is_none_or(|c| c.tenant_id != auth.tenant_id) {
            return Err(ApiError::unknown(&format!("channel_ids[{i}]"), "no such channel in this tenant"));
        }
    }
    Ok(name.to_owned())
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<Team> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("team"))?;
    team::teams(&state.db, auth.tenant_id).await?.into_iter().find(|t| t.row.id == id).ok_or(ApiError::NotFound("team"))
}

/// List teams.
#[utoipa::path(get, path = "/v1/teams", tag = "operators", operation_id = "listTeams",
    responses((status = 200, description = "Teams", body = TeamList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<TeamList>> {
    let teams = team::teams(&state.db, auth.tenant_id).await?;
    Ok(Json(TeamList { data: teams.iter().map(view).collect() }))
}

/// One team.
#[utoipa::path(get, path = "/v1/teams/{id}", tag = "operators", operation_id = "getTeam", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The team", body = TeamView), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    Ok(Json(view(&find(&state, &auth, &id).await?)))
}

/// Create a team (admins).
#[utoipa::path(post, path = "/v1/teams", tag = "operators", operation_id = "createTeam", request_body = TeamBody,
    responses(
        (status = 201, description = "The team", body = TeamView,
            links(("get" = (operation_id = "getTeam", parameters(("id" = "$response.body#/id")))),
                  ("replace" = (operation_id = "replaceTeam", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteTeam", parameters(("id" = "$response.body#/id")))))),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<TeamBody>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = Uuid::now_v7();
    let name = checked(&state, &auth, id, &body).await?;
    team::save(&state.db, auth.tenant_id, id, &name, &body.operator_ids, &body.channel_ids).await?;
    Ok((StatusCode::CREATED, Json(view(&find(&state, &auth, &id.to_string()).await?))))
}

/// Replace a team's name, members and channels (admins).
#[utoipa::path(put, path = "/v1/teams/{id}", tag = "operators", operation_id = "replaceTeam", params(("id" = Uuid, Path)), request_body = TeamBody,
    responses(
        (status = 200, description = "The team", body = TeamView),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem),
    ))]
async fn replace(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<TeamBody>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    let name = checked(&state, &auth, current.row.id, &body).await?;
    team::save(&state.db, auth.tenant_id, current.row.id, &name, &body.operator_ids, &body.channel_ids).await?;
    Ok(Json(view(&find(&state, &auth, &id).await?)))
}

/// Delete a team (admins).
#[utoipa::path(delete, path = "/v1/teams/{id}", tag = "operators", operation_id = "deleteTeam", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let current = find(&state, &auth, &id).await?;
    team::delete(&state.db, auth.tenant_id, current.row.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

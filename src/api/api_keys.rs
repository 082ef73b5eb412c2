//! `/v1/api-keys` (admins): a tenant's API keys — issued with a name, a role and an optional
//! expiry and shown once, listed with when they were last used, revoked (on every hub process
//! within a second). Business rules live in [`crate::team::operators`].

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
use crate::team::operators::{self, Ended, NewKey};
use crate::domain::{Role, rfc3339};
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::keys::ApiKeyInfo;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        // The first name this had; kept for existing integrations.
        .routes(routes!(create_under_old_name))
}

/// A key to issue.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    /// 1 to 100 characters, not only spaces.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    name: Option<String>,
    #[schema(value_type = KeyRole)]
    role: String,
    /// The operator the key acts as (an active one of this tenant).
    operator_id: Option<Uuid>,
    /// A time in the future; absent: the key does not expire.
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// What a key may do.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as the strings of `domain::Role`
enum KeyRole {
    Admin,
    Agent,
    Integration,
}

/// Whether a key is still accepted.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

/// An API key as listed: never its secret.
#[derive(Serialize, utoipa::ToSchema)]
struct KeyView {
    id: Uuid,
    name: Option<String>,
    #[schema(value_type = KeyRole)]
    role: String,
    operator_id: Option<Uuid>,
    /// The first characters, to tell keys apart (`obk_AbCdEf`).
    prefix: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
    status: KeyStatus,
}

/// A tenant's keys (one page).
#[derive(Serialize, utoipa::ToSchema)]
struct KeyList {
    data: Vec<KeyView>,
    /// Always null: every key is on the one page.
    next_cursor: Option<Uuid>,
}

/// A key just issued: its secret is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
struct IssuedKey {
    key_id: Uuid,
    api_key: String,
}

fn view(k: ApiKeyInfo) -> KeyView {
    let now = crate::store::now_micros();
    let status = match (k.revoked_at, k.expires_at) {
        (Some(_), _) => KeyStatus::Revoked,
        (None, Some(at)) if at <= now => KeyStatus::Expired,
        _ => KeyStatus::Active,
    };
    KeyView {
        id: k.id,
        name: k.name,
        role: k.role,
        operator_id: k.operator_id,
        prefix: k.prefix,
        created_at: rfc3339(k.created_at),
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: k.last_used_at.map(rfc3339),
        revoked_at: k.revoked_at.map(rfc3339),
        status,
    }
}

/// A tenant's API keys (admins): name, role, prefix, created, last used, expiry, revoked; never
/// the secret.
#[utoipa::path(get, path = "/v1/api-keys", tag = "operators", operation_id = "listApiKeys",
    responses((status = 200, description = "Keys", body = KeyList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<KeyList>> {
    auth.require_admin()?;
    let keys = operators::list_keys(&state.db, auth.tenant_id).await?;
    Ok(Json(KeyList { data: keys.into_iter().map(view).collect(), next_cursor: None }))
}

/// Create an API key (admins); the secret is shown once and stored hashed.
#[utoipa::path(post, path = "/v1/api-keys", tag = "operators", operation_id = "createApiKey", request_body = CreateKey,
    responses(
        (status = 201, description = "Issued", body = IssuedKey,
            links(("revoke" = (operation_id = "revokeApiKey", parameters(("id" = "$response.body#/key_id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(state: State<AppState>, auth: Auth, body: JsonBody<CreateKey>) -> ApiResult<impl IntoResponse> {
    issue(state, auth, body).await
}

/// Create an API key: the same as `POST /v1/api-keys`, under the name it had first.
#[utoipa::path(post, path = "/v1/keys", tag = "operators", operation_id = "createKey", request_body = CreateKey,
    responses((status = 201, description = "Issued", body = IssuedKey), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn create_under_old_name(state: State<AppState>, auth: Auth, body: JsonBody<CreateKey>) -> ApiResult<impl IntoResponse> {
    issue(state, auth, body).await
}

async fn issue(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateKey>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let role = Role::parse(&body.role).ok_or_else(|| ApiError::invalid("role", "must be admin, agent or integration"))?;
    let expires_at = match body.expires_at.as_deref() {
        Some(text) => Some(crate::domain::parse_rfc3339(text).ok_or_else(|| ApiError::invalid("expires_at", "must be an RFC 3339 time such as 2027-01-31T00:00:00Z"))?),
        None => None,
    };
    let new = NewKey { name: body.name.as_deref(), role, operator_id: body.operator_id, expires_at };
    let created = operators::create_key(&state.db, auth.tenant_id, &new, &auth.actor()).await?;
    Ok((StatusCode::CREATED, Json(IssuedKey { key_id: created.key_id, api_key: created.api_key })))
}

/// Revoke an API key (admins): refused by every hub process within a second; open realtime
/// sockets with it close. The key making the request cannot revoke itself (409): an admin
/// does not lock themselves out by cleaning up a list of keys.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "operators", operation_id = "revokeApiKey", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem),
        (status = 409, response = Problem)))]
async fn revoke(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("api key"))?;
    if id == auth.key_id {
        return Err(ApiError::Conflict("this is the key making the request: revoke it with another admin key".into()));
    }
    operators::revoke_key(&state.db, auth.tenant_id, id, &auth.actor()).await?;
    Ended::now(&state, auth.tenant_id).await;
    Ok(StatusCode::NO_CONTENT)
}

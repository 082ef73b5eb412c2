//! `/v1/api-keys` (admins): a tenant's API keys — issued with a name, a role and an optional
//! expiry and shown once, listed with when they were last used, revoked (on every hub process
//! within a second). Business rules live in [`crate::team::operators`].

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Auth;
use crate::team::operators::{self, Ended, NewKey};
use crate::domain::{Role, rfc3339};
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::keys::ApiKeyInfo;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/api-keys", get(list).post(create))
        .route("/v1/api-keys/{id}", delete(revoke))
        // The first name this had; kept for existing integrations.
        .route("/v1/keys", axum::routing::post(create))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: Option<String>,
    role: String,
    operator_id: Option<Uuid>,
    /// RFC 3339; absent: the key does not expire.
    expires_at: Option<String>,
}

#[derive(Serialize)]
struct KeyView {
    id: Uuid,
    name: Option<String>,
    role: String,
    operator_id: Option<Uuid>,
    /// The first characters, to tell keys apart (`obk_AbCdEf`).
    prefix: String,
    created_at: String,
    expires_at: Option<String>,
    last_used_at: Option<String>,
    revoked_at: Option<String>,
    /// `active`, `expired` or `revoked`.
    status: &'static str,
}

fn view(k: ApiKeyInfo) -> KeyView {
    let now = crate::store::now_micros();
    let status = match (k.revoked_at, k.expires_at) {
        (Some(_), _) => "revoked",
        (None, Some(at)) if at <= now => "expired",
        _ => "active",
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

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let keys = operators::list_keys(&state.db, auth.tenant_id).await?;
    Ok(Json(serde_json::json!({"data": keys.into_iter().map(view).collect::<Vec<_>>(), "next_cursor": null})))
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateKey>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let role = Role::parse(&body.role).ok_or_else(|| ApiError::invalid("role", "must be admin, agent or integration"))?;
    let expires_at = match body.expires_at.as_deref() {
        Some(text) => Some(crate::domain::parse_rfc3339(text).ok_or_else(|| ApiError::invalid("expires_at", "must be an RFC 3339 time such as 2027-01-31T00:00:00Z"))?),
        None => None,
    };
    let new = NewKey { name: body.name.as_deref(), role, operator_id: body.operator_id, expires_at };
    let created = operators::create_key(&state.db, auth.tenant_id, &new, &auth.actor()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn revoke(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("api key"))?;
    operators::revoke_key(&state.db, auth.tenant_id, id, &auth.actor()).await?;
    Ended::now(&state, auth.tenant_id).await;
    Ok(StatusCode::NO_CONTENT)
}

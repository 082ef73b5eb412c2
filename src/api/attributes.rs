//! `/v1/attributes`: the custom attributes a tenant defines for contacts and conversations
//! (admins define and delete; everyone reads). Values are set with `custom_attributes` on
//! `PATCH /v1/contacts/{id}` and `PATCH /v1/conversations/{id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::auth::Auth;
use crate::api::error::{ApiError, ApiResult};
use crate::contacts::attributes::{self, AttributeError};
use crate::hub::AppState;
use crate::store::{self, attributes::DefinitionRow, now_micros};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/attributes", get(list).post(create)).route("/v1/attributes/{id}", delete(remove))
}

impl From<AttributeError> for ApiError {
    fn from(err: AttributeError) -> Self {
        match err {
            AttributeError::Invalid { field, detail } => ApiError::invalid(&field, detail),
            AttributeError::Store(e) => ApiError::Store(e),
            AttributeError::Crypto(e) => ApiError::Crypto(e),
        }
    }
}

async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let rows = attributes::definitions(&state.db, auth.tenant_id).await?;
    Ok(Json(json!({"data": rows.iter().map(attributes::view).collect::<Vec<_>>(), "next_cursor": null})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDefinition {
    applies_to: String,
    key: String,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    options: Option<Vec<String>>,
    #[serde(default)]
    personal: bool,
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewDefinition>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    attributes::check_definition(&body.applies_to, &body.key, &body.kind, body.options.as_deref())?;
    let name = body.name.unwrap_or_else(|| body.key.replace('_', " "));
    if name.trim().is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid("name", "must be 1 to 80 characters"));
    }
    let row = DefinitionRow {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        applies_to: body.applies_to,
        key: body.key,
        name,
        kind: body.kind,
        options: body.options.map(|o| serde_json::to_string(&o).unwrap_or_default()),
        personal: body.personal,
        created_at: now_micros(),
    };
    if !store::attributes::insert(&state.db, &row).await? {
        return Err(ApiError::invalid("key", format!("a {} attribute with this key exists", row.applies_to)));
    }
    Ok((StatusCode::CREATED, Json(attributes::view(&row))))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("attribute"))?;
    if store::attributes::delete(&state.db, auth.tenant_id, id).await? { Ok(StatusCode::NO_CONTENT) } else { Err(ApiError::NotFound("attribute")) }
}

//! `/v1/operators`: the people answering, who conversations are assigned to.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::auth::Auth;
use super::pagination::{ListParams, list_body};
use crate::domain::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{OperatorRow, Page};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/operators", get(list).post(create))
}

#[derive(Serialize)]
struct OperatorView {
    id: Uuid,
    name: String,
    email: Option<String>,
    role: String,
    created_at: String,
}

fn view(row: OperatorRow) -> OperatorView {
    OperatorView { id: row.id, name: row.name, email: row.email, role: row.role, created_at: rfc3339(row.created_at) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOperator {
    name: String,
    email: Option<String>,
    role: String,
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateOperator>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
    }
    if !["admin", "agent"].contains(&body.role.as_str()) {
        return Err(ApiError::invalid("role", "must be admin or agent"));
    }
    let email = body.email.as_deref().map(|e| e.trim().to_lowercase());
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(ApiError::invalid("email", "must look like name@example.com"));
    }
    let row = state.db.insert_operator(auth.tenant_id, name, email.as_deref(), &body.role).await?;
    Ok((StatusCode::CREATED, Json(view(row))))
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = state.db.operators(auth.tenant_id, cursor, limit + 1).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(list_body(page.items.into_iter().map(view).collect(), page.next_cursor)))
}

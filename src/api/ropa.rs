//! `GET /v1/ropa?format=json|md|csv`: the tenant's record of processing activities, generated
//! from the live configuration.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::Auth;
use super::pagination::ListParams;
use crate::api::error::{ApiError, ApiResult};
use crate::policy::ropa;
use crate::hub::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/ropa", get(show))
}

async fn show(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    auth.require_admin()?;
    let format = ListParams(q).one_of("format", &["json", "md", "csv"])?.unwrap_or_else(|| "json".into());
    let record = ropa::build(&state.db, &state.policies, &state.config, auth.tenant_id, &|_| {}).await?.ok_or(ApiError::NotFound("tenant"))?;
    Ok(match format.as_str() {
        "md" => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], record.to_markdown()).into_response(),
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], record.to_csv()).into_response(),
        _ => Json(record.to_json()).into_response(),
    })
}

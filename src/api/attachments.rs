//! `GET /v1/attachments/{id}`: the content of a file that came with a message.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use omnibridge_channel::problem::Problem;
use uuid::Uuid;

use super::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::present::fields;
use crate::state::AppState;
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/attachments/{id}", get(download))
}

async fn download(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("attachment"))?;
    let row = store::attachments::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("attachment"))?;
    let Some(sealed) = &row.data else {
        return Ok(Problem::new(StatusCode::GONE, "not_stored", "this attachment was larger than the limit; only its description was kept")
            .into_response());
    };
    let key = state.keyring.data_key(&state.db, row.tenant_id, row.contact_id).await?;
    let data = key.open_bytes(fields::ATTACHMENT_DATA, row.id, sealed)?;
    let filename = key.open_opt(fields::ATTACHMENT_FILENAME, row.id, row.filename.as_deref())?;
    // The name as given, reduced to characters safe in a header; never interpreted by the browser.
    let safe: String = filename
        .unwrap_or_else(|| "attachment".into())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._- ".contains(c) { c } else { '_' })
        .collect();
    let mut response = (StatusCode::OK, data).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&row.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

//! `GET /v1/attachments/{id}`: the content of a file that came with a message. Files a provider
//! keeps (MMS media) are fetched through the channel on first download and then kept, sealed.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use omnibridge_channel::problem::Problem;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem as ProblemResponse;
use crate::api::error::{ApiError, ApiResult};
use crate::events::present::fields;
use crate::privacy::DataKey;
use crate::hub::AppState;
use crate::store;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(download))
}

/// Download an attachment, as received (its own content type).
///
/// 410 when it was over the size limit and only its description was kept; 502 when the
/// provider that keeps it (MMS media) does not answer.
#[utoipa::path(get, path = "/v1/attachments/{id}", tag = "messages", operation_id = "getAttachment", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>), (status = 401, response = ProblemResponse),
        (status = 403, response = ProblemResponse), (status = 404, response = ProblemResponse), (status = 410, response = ProblemResponse),
        (status = 502, response = ProblemResponse)))]
async fn download(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Response> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("attachment"))?;
    let row = store::attachments::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("attachment"))?;
    let key = state.keyring.data_key(&state.db, row.tenant_id, row.contact_id).await?;
    let (data, content_type) = match (&row.data, &row.remote) {
        (Some(sealed), _) => (key.open_bytes(fields::ATTACHMENT_DATA, row.id, sealed)?, row.content_type.clone()),
        (None, Some(remote)) => match fetch_remote(&state, &row, remote, &key).await {
            Ok(fetched) => fetched,
            Err(problem) => return Ok(problem.into_response()),
        },
        (None, None) => {
            return Ok(Problem::new(StatusCode::GONE, "not_stored", "this attachment was larger than the limit; only its description was kept")
                .into_response());
        }
    };
    let filename = key.open_opt(fields::ATTACHMENT_FILENAME, row.id, row.filename.as_deref())?;
    // The name as given, reduced to characters safe in a header; never interpreted by the browser.
    let safe: String = filename
        .unwrap_or_else(|| "attachment".into())
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._- ".contains(c) { c } else { '_' })
        .collect();
    let mut response = (StatusCode::OK, data).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// Fetches an attachment's content from the provider that keeps it, and keeps it (sealed).
async fn fetch_remote(state: &AppState, row: &store::attachments::AttachmentRow, remote: &str, key: &DataKey) -> Result<(Vec<u8>, String), Problem> {
    let file = crate::channels::media::fetch_and_keep(&state.db, &state.channels, row, remote, key)
        .await
        .map_err(|err| Problem::new(StatusCode::BAD_GATEWAY, "provider_unavailable", err.to_string()))?;
    Ok((file.data, file.content_type))
}

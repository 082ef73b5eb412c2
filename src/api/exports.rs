//! `/v1/tenant/exports` (admins): the tenant's whole data as one sealed file, made in the
//! background; and `/downloads/exports/{id}?token=…`, where the finished file is fetched with
//! the link the export shows (no API key: the link is the credential, and it expires).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::{JsonBody, Problem};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::pagination::{ListParams, list_body};
use crate::api::error::{ApiError, ApiResult};
use crate::backup::exports::{self, DownloadError};
use crate::hub::AppState;
use crate::store::{self, Page};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/tenant/exports", get(list).post(create))
        .route("/v1/tenant/exports/{id}", get(show))
        .route("/downloads/exports/{id}", get(download))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewExport {
    /// The transport key the file is sealed under: 32 bytes as 64 hex characters or base64.
    key: String,
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewExport>) -> ApiResult<Response> {
    auth.require_admin()?;
    let key = crate::privacy::parse_master_key(&body.key).map_err(|_| ApiError::invalid("key", "must be 32 bytes as 64 hex characters or base64"))?;
    let row = exports::start(&state, auth.tenant_id, auth.operator_id, key).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "tenant.export", "tenant", Some(auth.tenant_id), None).await;
    let location = format!("/v1/tenant/exports/{}", row.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(exports::view(&state.config, &state.keyring, &row))).into_response())
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<serde_json::Value>> {
    auth.require_admin()?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::exports::list(&state.db, auth.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page.items.iter().map(|r| exports::view(&state.config, &state.keyring, r)).collect();
    Ok(Json(list_body(data, page.next_cursor)))
}

async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<exports::ExportView>> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("export"))?;
    let row = store::exports::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("export"))?;
    Ok(Json(exports::view(&state.config, &state.keyring, &row)))
}

async fn download(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Ok(id), Some(token)) = (Uuid::parse_str(&id), q.get("token")) else {
        return Problem::new(StatusCode::NOT_FOUND, "not_found", DownloadError::NotFound.to_string()).into_response();
    };
    let (row, path) = match exports::open(&state.db, &state.keyring, &state.config, id, token).await {
        Ok(found) => found,
        Err(err @ DownloadError::Expired) => return Problem::new(StatusCode::GONE, "expired", err.to_string()).into_response(),
        Err(err @ DownloadError::NotReady(_)) => return Problem::new(StatusCode::CONFLICT, "not_ready", err.to_string()).into_response(),
        Err(DownloadError::Store(err)) => return ApiError::from(err).into_response(),
        Err(err @ DownloadError::NotFound) => return Problem::new(StatusCode::NOT_FOUND, "not_found", err.to_string()).into_response(),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => return Problem::new(StatusCode::NOT_FOUND, "not_found", DownloadError::NotFound.to_string()).into_response(),
    };
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 256 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(axum::body::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let name = format!("attachment; filename=\"tenant-{}-{}.export\"", row.tenant_id, row.id);
    let mut headers = vec![(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_DISPOSITION, name)];
    if let Some(bytes) = row.bytes {
        headers.push((header::CONTENT_LENGTH, bytes.to_string()));
    }
    let mut response = Body::from_stream(stream).into_response();
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

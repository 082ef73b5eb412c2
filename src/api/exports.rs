//! `/v1/tenant/exports` (admins): the tenant's whole data as one sealed file, made in the
//! background; and `/downloads/exports/{id}?token=…`, where the finished file is fetched with
//! the link the export shows (no API key: the link is the credential, and it expires).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use omnibridge_channel::problem::JsonBody;
use omnibridge_channel::problem::Problem as ProblemBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::ListParams;
use crate::api::error::{ApiError, ApiResult};
use crate::backup::exports::{self, DownloadError};
use crate::hub::AppState;
use crate::store::{self, Page};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(show)).routes(routes!(download))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewExport {
    /// The transport key the file is sealed under: 32 bytes as 64 hex characters or base64.
    #[schema(pattern = "^([0-9A-Fa-f]{64}|[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=)$")]
    key: String,
}

/// Export all of the tenant's data into one file sealed under a transport key you supply
/// (admins). Written in the background: poll the export until it is ready, then fetch
/// `download_url`. `omnibridge tenant import` recreates the tenant from the file.
#[utoipa::path(post, path = "/v1/tenant/exports", tag = "backup", operation_id = "createTenantExport",
    request_body = NewExport,
    responses(
        (status = 202, description = "Accepted; Location names the export", body = exports::ExportView),
        (status = 400, response = Problem), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 413, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewExport>) -> ApiResult<Response> {
    auth.require_admin()?;
    let malformed = || ApiError::invalid("key", "must be 32 bytes as 64 hex characters or base64");
    if body.key.trim() != body.key {
        return Err(malformed());
    }
    let key = crate::privacy::parse_master_key(&body.key).map_err(|_| malformed())?;
    let row = exports::start(&state, auth.tenant_id, auth.operator_id, key).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "tenant.export", "tenant", Some(auth.tenant_id), None).await;
    let location = format!("/v1/tenant/exports/{}", row.id);
    Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(exports::view(&state.config, &state.keyring, &row))).into_response())
}

/// A page of exports.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct ExportList {
    data: Vec<exports::ExportView>,
    next_cursor: Option<Uuid>,
}

/// The tenant's exports, newest first (admins).
#[utoipa::path(get, path = "/v1/tenant/exports", tag = "backup", operation_id = "listTenantExports",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Page size (default 50)"),
        ("cursor" = Option<uuid::Uuid>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Exports", body = ExportList),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem),
    ))]
async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<Json<ExportList>> {
    auth.require_admin()?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::exports::list(&state.db, auth.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page.items.iter().map(|r| exports::view(&state.config, &state.keyring, r)).collect();
    Ok(Json(ExportList { data, next_cursor: page.next_cursor }))
}

/// One export: its status, and its download link while ready (admins).
#[utoipa::path(get, path = "/v1/tenant/exports/{id}", tag = "backup", operation_id = "getTenantExport",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, description = "The export", body = exports::ExportView),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem),
    ))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<exports::ExportView>> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("export"))?;
    let row = store::exports::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("export"))?;
    Ok(Json(exports::view(&state.config, &state.keyring, &row)))
}

/// Download a finished tenant export: the link from `download_url`, no API key.
#[utoipa::path(get, path = "/downloads/exports/{id}", tag = "backup", operation_id = "downloadTenantExport", security(()),
    params(("id" = uuid::Uuid, Path), ("token" = String, Query, description = "From download_url")),
    responses(
        (status = 200, description = "The sealed export file", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem),
    ))]
async fn download(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Ok(id), Some(token)) = (Uuid::parse_str(&id), q.get("token")) else {
        return ProblemBody::new(StatusCode::NOT_FOUND, "not_found", DownloadError::NotFound.to_string()).into_response();
    };
    let (row, path) = match exports::open(&state.db, &state.keyring, &state.config, id, token).await {
        Ok(found) => found,
        Err(err @ DownloadError::Expired) => return ProblemBody::new(StatusCode::GONE, "expired", err.to_string()).into_response(),
        Err(err @ DownloadError::NotReady(_)) => return ProblemBody::new(StatusCode::CONFLICT, "not_ready", err.to_string()).into_response(),
        Err(DownloadError::Store(err)) => return ApiError::from(err).into_response(),
        Err(err @ DownloadError::NotFound) => return ProblemBody::new(StatusCode::NOT_FOUND, "not_found", err.to_string()).into_response(),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(_) => return ProblemBody::new(StatusCode::NOT_FOUND, "not_found", DownloadError::NotFound.to_string()).into_response(),
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

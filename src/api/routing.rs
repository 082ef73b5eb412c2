//! The routing policy over HTTP: the tenant's rules (`GET|PUT /v1/policy`), its subprocessors
//! and its answer to each (`GET /v1/subprocessors`, `PUT /v1/subprocessors/{id}/authorization`),
//! and the transfer log (`GET /v1/transfers`, JSON pages or the whole selection as CSV).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Auth;
use super::pagination::{ListParams, list_body};
use crate::domain::rfc3339;
use crate::events::present::csv_field;
use crate::api::error::{ApiError, ApiResult};
use crate::policy::{recipients, rules};
use crate::hub::AppState;
use crate::store::transfers::{TransferFilter, TransferRow};
use crate::store::{self};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/policy", get(get_policy).put(put_policy))
        .route("/v1/subprocessors", get(list_subprocessors))
        .route("/v1/subprocessors/{id}/authorization", put(authorize))
        .route("/v1/transfers", get(list_transfers))
}

async fn get_policy(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    Ok(Json(crate::policy::document(&state.db, auth.tenant_id).await?))
}

async fn put_policy(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<Value>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let doc = rules::parse(&body, &state.policies.registry()).map_err(|e| ApiError::invalid(&e.field, e.detail))?;
    let mut tx = state.db.begin().await?;
    store::policies::save_document(&mut tx, auth.tenant_id, &doc).await?;
    tx.commit().await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "policy.update", "tenant", Some(auth.tenant_id), None).await;
    state.policies.invalidate(auth.tenant_id);
    state.cluster.announce(crate::cluster::Change::Tenant(auth.tenant_id)).await;
    Ok(Json(doc))
}

async fn list_subprocessors(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let list = recipients::list(&state.db, &state.policies, auth.tenant_id).await?;
    Ok(Json(json!({ "data": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizationBody {
    /// `approved` or `objected`.
    decision: String,
    reason: Option<String>,
}

async fn authorize(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<AuthorizationBody>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    if state.policies.registry().get(&id).is_none() {
        return Err(ApiError::NotFound("subprocessor"));
    }
    if !["approved", "objected"].contains(&body.decision.as_str()) {
        return Err(ApiError::invalid("decision", "must be \"approved\" or \"objected\""));
    }
    if body.reason.as_ref().is_some_and(|r| r.chars().count() > 1000) {
        return Err(ApiError::invalid("reason", "must be at most 1000 characters"));
    }
    let mut tx = state.db.begin().await?;
    store::policies::authorize(&mut tx, auth.tenant_id, &id, &body.decision, body.reason.as_deref(), auth.operator_id).await?;
    tx.commit().await?;
    let detail = format!("{id}: {}", body.decision);
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "subprocessor.authorization", "tenant", Some(auth.tenant_id), Some(&detail)).await;
    state.policies.invalidate(auth.tenant_id);
    state.cluster.announce(crate::cluster::Change::Tenant(auth.tenant_id)).await;
    let list = recipients::list(&state.db, &state.policies, auth.tenant_id).await?;
    let view = list.into_iter().find(|r| r.id == id).ok_or(ApiError::NotFound("subprocessor"))?;
    Ok(Json(view))
}

fn transfer_view(r: &TransferRow) -> Value {
    let list = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!([]));
    json!({
        "id": r.id,
        "created_at": rfc3339(r.created_at),
        "contact_id": r.contact_id,
        "message_id": r.message_id,
        "destination_kind": r.destination_kind,
        "destination": r.destination,
        "country": r.country,
        "mechanism": r.mechanism,
        "categories_sent": list(&r.data_categories),
        "categories_removed": list(&r.categories_removed),
        "categories_pseudonymized": list(&r.categories_pseudonymized),
        "decision": r.decision,
        "rule": r.rule,
        "reason": r.reason,
    })
}

/// Rows a CSV export holds at most; narrow it with `since`, `contact_id` or `destination`.
const CSV_MAX_ROWS: usize = 100_000;

async fn list_transfers(State(state): State<AppState>, auth: Auth, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> ApiResult<Response> {
    auth.require_admin()?;
    let params = ListParams(q);
    let since = match params.raw("since") {
        None => None,
        Some(text) => {
            let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::invalid("since", "must be an RFC 3339 time such as 2026-01-31T00:00:00Z"))?;
            Some((t.unix_timestamp_nanos() / 1_000) as i64)
        }
    };
    let filter = TransferFilter { contact_id: params.uuid("contact_id")?, destination: params.raw("destination").map(str::to_owned), since };
    let wants_csv = params.one_of("format", &["json", "csv"])?.as_deref() == Some("csv")
        || headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/csv"));
    if !wants_csv {
        let (limit, cursor) = (params.limit()?, params.cursor()?);
        let page = store::transfers::list(&state.db, auth.tenant_id, &filter, cursor, limit).await?;
        return Ok(Json(list_body(page.items.iter().map(transfer_view).collect(), page.next_cursor)).into_response());
    }
    let mut out = String::from(
        "id,created_at,contact_id,message_id,destination_kind,destination,country,mechanism,categories_sent,categories_removed,categories_pseudonymized,decision,rule,reason\r\n",
    );
    let (mut cursor, mut rows) = (params.cursor()?, 0usize);
    loop {
        let page = store::transfers::list(&state.db, auth.tenant_id, &filter, cursor, 1000).await?;
        for r in &page.items {
            let opt = |v: Option<uuid::Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
            let fields = [
                r.id.to_string(),
                rfc3339(r.created_at),
                opt(r.contact_id),
                opt(r.message_id),
                r.destination_kind.clone(),
                r.destination.clone(),
                r.country.clone().unwrap_or_default(),
                r.mechanism.clone().unwrap_or_default(),
                categories_cell(&r.data_categories),
                categories_cell(&r.categories_removed),
                categories_cell(&r.categories_pseudonymized),
                r.decision.clone(),
                r.rule.clone().unwrap_or_default(),
                r.reason.clone().unwrap_or_default(),
            ];
            out.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
            out.push_str("\r\n");
        }
        rows += page.items.len();
        cursor = page.next_cursor;
        if cursor.is_none() || rows >= CSV_MAX_ROWS {
            break;
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"transfers.csv\"")], out).into_response())
}

/// A JSON list of categories as one cell: `contact.email;message.content`.
fn categories_cell(json_list: &str) -> String {
    serde_json::from_str::<Vec<String>>(json_list).unwrap_or_default().join(";")
}

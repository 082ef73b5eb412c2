//! Data-subject rights over HTTP: privacy requests and their export, the retention settings,
//! and the audit log.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use omnibridge_channel::{Address, AddressKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Auth;
use super::pagination::{ListParams, list_body};
use crate::domain::rfc3339;
use crate::egress::EgressError;
use crate::api::error::{ApiError, ApiResult};
use crate::privacy::audit;
use crate::rights::{export, requests};
use crate::hub::AppState;
use crate::store::privacy::{RequestRow, RetentionRow};
use crate::store::{self, Page};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/privacy/requests", get(list).post(create))
        .route("/v1/privacy/requests/{id}", get(show))
        .route("/v1/privacy/requests/{id}/export", get(download))
        .route("/v1/retention", get(get_retention).put(put_retention))
        .route("/v1/audit", get(list_audit))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    #[serde(rename = "type")]
    kind: String,
    contact_id: Option<Uuid>,
    address: Option<AddressBody>,
    /// Rectification: the corrected fields.
    fields: Option<Value>,
    /// Restriction: lift it instead.
    #[serde(default)]
    lift: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    kind: String,
    value: String,
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewRequest>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    if !requests::KINDS.contains(&body.kind.as_str()) {
        return Err(ApiError::invalid("type", format!("must be one of {}", requests::KINDS.join(", "))));
    }
    let contact_id = match (body.contact_id, &body.address) {
        (Some(_), Some(_)) | (None, None) => return Err(ApiError::invalid("contact_id", "name the person by contact_id or by address, one of them")),
        (Some(id), None) => {
            store::contacts::contact(&state.db, auth.tenant_id, id).await?.ok_or_else(|| ApiError::invalid("contact_id", "no such contact"))?;
            Some(id)
        }
        (None, Some(a)) => {
            let kind = AddressKind::parse(&a.kind).ok_or_else(|| ApiError::invalid("address.kind", "must be email, phone, telegram or webchat"))?;
            let address = Address::new(kind, &a.value);
            let index = state.keyring.blind_index(auth.tenant_id, &address);
            let found = store::contacts::identities_by_indexes(&state.db, &[(auth.tenant_id, kind.as_str(), index.as_slice())], false).await?;
            // No one by that address: the request is still recorded, and answered "nothing held".
            found.first().map(|i| i.contact_id)
        }
    };
    if body.kind == "rectification" {
        let fields = body.fields.as_ref().ok_or_else(|| ApiError::invalid("fields", "a rectification names the corrected fields"))?;
        crate::contacts::edit::check_rectification(fields)?;
    } else if body.fields.is_some() {
        return Err(ApiError::invalid("fields", "only a rectification has fields"));
    }
    if body.lift && body.kind != "restriction" {
        return Err(ApiError::invalid("lift", "only a restriction can be lifted"));
    }
    let now = store::now_micros();
    let request_id = Uuid::now_v7();
    let row = RequestRow {
        id: request_id,
        tenant_id: auth.tenant_id,
        kind: body.kind.clone(),
        contact_id,
        status: "pending".into(),
        detail: requests::stored_detail(&state, auth.tenant_id, contact_id, request_id, body.fields.as_ref(), body.lift).await?,
        result: None,
        requested_by: Some(auth.key_id),
        created_at: now,
        due_at: now + requests::DUE_DAYS * 86_400 * 1_000_000,
        completed_at: None,
    };
    store::privacy::insert_request(&state.db, &row).await?;
    audit::record(&state.db, auth.tenant_id, &auth.actor(), &format!("privacy_request.{}", row.kind), "contact", contact_id, Some(&row.id.to_string())).await;
    state.privacy_wake.notify_one();
    Ok((StatusCode::ACCEPTED, Json(requests::view(&row))))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<RequestRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("privacy request"))?;
    store::privacy::request(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("privacy request"))
}

async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    Ok(Json(requests::view(&find(&state, &auth, &id).await?)))
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let status = params.one_of("status", &["pending", "completed", "failed"])?;
    let overdue = params.one_of("overdue", &["true", "false"])?.is_some_and(|v| v == "true").then(store::now_micros);
    let rows = store::privacy::requests(&state.db, auth.tenant_id, status.as_deref(), overdue, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(list_body(page.items.iter().map(requests::view).collect(), page.next_cursor)))
}

/// The access bundle of a completed access request, through the egress door.
async fn download(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let request = find(&state, &auth, &id).await?;
    if request.kind != "access" {
        return Err(ApiError::NotFound("export"));
    }
    if request.status != "completed" {
        return Err(ApiError::Conflict(format!("the request is {}; the export is ready when it is completed", request.status)));
    }
    let Some(contact_id) = request.contact_id else {
        return Ok(([(header::CONTENT_TYPE, "application/json")], json!({"schema": export::SCHEMA, "contact": null}).to_string().into_bytes()).into_response());
    };
    let bundle = export::bundle(&state.db, &state.keyring, auth.tenant_id, contact_id, &|_, _| {}).await.map_err(|e| match e {
        export::ExportError::NoContact => ApiError::Conflict("the contact no longer exists (erased)".into()),
        other => ApiError::Unavailable(other.to_string()),
    })?;
    let door = crate::egress::Door::new(state.db.clone(), state.policies.clone(), state.keyring.clone());
    let body = door.export(auth.tenant_id, contact_id, request.id, serde_json::to_vec(&bundle).unwrap_or_default()).await.map_err(|e| match e {
        EgressError::PolicyBlocked { rule, reason } => ApiError::PolicyBlocked { rule, reason },
        other => ApiError::Unavailable(other.to_string()),
    })?;
    audit::record(&state.db, auth.tenant_id, &auth.actor(), "contact.export", "contact", Some(contact_id), Some(&request.id.to_string())).await;
    let disposition = format!("attachment; filename=\"access-{contact_id}.json\"");
    Ok(([(header::CONTENT_TYPE, "application/json".to_owned()), (header::CONTENT_DISPOSITION, disposition)], body).into_response())
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Retention {
    messages_days: Option<i64>,
    closed_conversations_days: Option<i64>,
    technical_data_days: Option<i64>,
    webhook_payload_days: Option<i64>,
    audit_days: Option<i64>,
}

async fn get_retention(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let r = store::privacy::retention(&state.db, auth.tenant_id).await?;
    Ok(Json(r.map(|r| Retention {
        messages_days: r.messages_days,
        closed_conversations_days: r.closed_conversations_days,
        technical_data_days: r.technical_data_days,
        webhook_payload_days: r.webhook_payload_days,
        audit_days: r.audit_days,
    })
    .unwrap_or_default()))
}

async fn put_retention(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<Retention>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    for (field, value) in [
        ("messages_days", body.messages_days),
        ("closed_conversations_days", body.closed_conversations_days),
        ("technical_data_days", body.technical_data_days),
        ("webhook_payload_days", body.webhook_payload_days),
        ("audit_days", body.audit_days),
    ] {
        if value.is_some_and(|d| !(1..=36_500).contains(&d)) {
            return Err(ApiError::invalid(field, "days from 1 to 36500, or null to keep"));
        }
    }
    let row = RetentionRow {
        messages_days: body.messages_days,
        closed_conversations_days: body.closed_conversations_days,
        technical_data_days: body.technical_data_days,
        webhook_payload_days: body.webhook_payload_days,
        audit_days: body.audit_days,
    };
    let mut tx = state.db.begin().await?;
    store::privacy::save_retention(&mut tx, auth.tenant_id, &row).await?;
    tx.commit().await?;
    audit::record(&state.db, auth.tenant_id, &auth.actor(), "retention.update", "tenant", Some(auth.tenant_id), None).await;
    Ok(Json(body))
}

async fn list_audit(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::privacy::audit(&state.db, auth.tenant_id, params.uuid("target_id")?, params.raw("action"), cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data: Vec<Value> = page
        .items
        .iter()
        .map(|a| {
            json!({
                "id": a.id, "at": rfc3339(a.created_at), "key_id": a.key_id, "operator_id": a.operator_id, "ip": a.ip,
                "action": a.action, "target_kind": a.target_kind, "target_id": a.target_id, "detail": a.detail,
            })
        })
        .collect();
    Ok(Json(list_body(data, page.next_cursor)))
}


//! Data-subject rights over HTTP: privacy requests and their export, the retention settings,
//! and the audit log.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use omnibridge_channel::{Address, AddressKind};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, Params};
use crate::domain::rfc3339;
use crate::egress::EgressError;
use crate::api::error::{ApiError, ApiResult};
use crate::privacy::audit;
use crate::rights::{export, requests};
use crate::rights::requests::RequestView;
use crate::hub::AppState;
use crate::store::privacy::{RequestRow, RetentionRow};
use crate::store::{self, Page};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(download))
        .routes(routes!(get_retention, put_retention))
        .routes(routes!(list_audit))
}

/// A data-subject request to file: the person by `contact_id` or by `address`, one of them.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    #[serde(rename = "type")]
    #[schema(value_type = RequestKind)]
    kind: String,
    contact_id: Option<Uuid>,
    address: Option<AddressBody>,
    /// Rectification only: the corrected `name`, `email`, `phone`.
    #[schema(value_type = Option<Object>)]
    fields: Option<Value>,
    /// Restriction only: lift it instead.
    #[serde(default)]
    lift: bool,
}

/// What a data subject asks for (Art. 15–21).
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as the strings of requests::KINDS
enum RequestKind {
    Access,
    Erasure,
    Rectification,
    Restriction,
    Objection,
}

/// An address the person is known by.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AddressBody {
    #[schema(value_type = AddressKindName)]
    kind: String,
    value: String,
}

/// A kind of address.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as strings
enum AddressKindName {
    Email,
    Phone,
    Telegram,
    Webchat,
}

/// File a data-subject request (Art. 15–21; admins).
///
/// Carried out in the background; due 30 days after receipt. Emits
/// `privacy_request.completed`. A person named by an address no one is held under is still
/// recorded, and answered "nothing held".
#[utoipa::path(post, path = "/v1/privacy/requests", tag = "privacy", operation_id = "createPrivacyRequest", request_body = NewRequest,
    responses(
        (status = 202, description = "Filed", body = RequestView,
            links(("get" = (operation_id = "getPrivacyRequest", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 422, response = Problem),
    ))]
async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewRequest>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    if !requests::KINDS.contains(&body.kind.as_str()) {
        return Err(ApiError::invalid("type", format!("must be one of {}", requests::KINDS.join(", "))));
    }
    let contact_id = match (body.contact_id, &body.address) {
        (Some(_), Some(_)) | (None, None) => return Err(ApiError::invalid("contact_id", "name the person by contact_id or by address, one of them")),
        (Some(id), None) => {
            store::contacts::contact(&state.db, auth.tenant_id, id).await?.ok_or_else(|| ApiError::unknown("contact_id", "no such contact"))?;
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

/// A data-subject request (admins).
#[utoipa::path(get, path = "/v1/privacy/requests/{id}", tag = "privacy", operation_id = "getPrivacyRequest", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The request", body = RequestView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<RequestView>> {
    auth.require_admin()?;
    Ok(Json(requests::view(&find(&state, &auth, &id).await?)))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RequestQuery {
    /// `pending`, `completed` or `failed`.
    #[param(value_type = Option<String>, pattern = "^(pending|completed|failed)$")]
    status: Option<String>,
    /// `true`: only pending requests past their due date.
    #[param(value_type = Option<String>, pattern = "^(true|false)$")]
    overdue: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A page of data-subject requests.
#[derive(Serialize, utoipa::ToSchema)]
struct RequestPage {
    data: Vec<RequestView>,
    next_cursor: Option<Uuid>,
}

/// Data-subject requests, newest first (admins).
#[utoipa::path(get, path = "/v1/privacy/requests", tag = "privacy", operation_id = "listPrivacyRequests", params(RequestQuery),
    responses((status = 200, description = "A page of requests", body = RequestPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(q): Params<RequestQuery>) -> ApiResult<Json<RequestPage>> {
    auth.require_admin()?;
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let status = params.one_of("status", &["pending", "completed", "failed"])?;
    let overdue = params.one_of("overdue", &["true", "false"])?.is_some_and(|v| v == "true").then(store::now_micros);
    let rows = store::privacy::requests(&state.db, auth.tenant_id, status.as_deref(), overdue, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(RequestPage { data: page.items.iter().map(requests::view).collect(), next_cursor: page.next_cursor }))
}

/// The access bundle of a completed access request (schema `omnibridge.access/1`; admins).
///
/// The contact, identities, conversations with messages and attachments' metadata, consent
/// history, recipients from the transfer log. Built on demand; passes the egress door.
#[utoipa::path(get, path = "/v1/privacy/requests/{id}/export", tag = "privacy", operation_id = "getPrivacyExport", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The bundle", body = Object), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
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

/// How long the tenant's data is kept, in days (1 to 36500); null keeps it.
#[derive(Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Retention {
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 1, maximum = 36500)]
    messages_days: Option<i64>,
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 1, maximum = 36500)]
    closed_conversations_days: Option<i64>,
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 1, maximum = 36500)]
    technical_data_days: Option<i64>,
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 1, maximum = 36500)]
    webhook_payload_days: Option<i64>,
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 1, maximum = 36500)]
    audit_days: Option<i64>,
}

/// The tenant's retention settings (admins).
#[utoipa::path(get, path = "/v1/retention", tag = "privacy", operation_id = "getRetention",
    responses((status = 200, description = "Settings", body = Retention), (status = 401, response = Problem), (status = 403, response = Problem)))]
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

/// Set retention (admins); the hourly purge applies it.
#[utoipa::path(put, path = "/v1/retention", tag = "privacy", operation_id = "putRetention", request_body = Retention,
    responses((status = 200, description = "Settings", body = Retention), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
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

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only entries about this contact, conversation, message or other record.
    #[param(value_type = Option<Uuid>)]
    target_id: Option<String>,
    /// Only this action, e.g. `contact.read`.
    action: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// One entry of the audit log: who did what, when, from where.
#[derive(Serialize, utoipa::ToSchema)]
struct AuditEntry {
    id: Uuid,
    #[schema(format = DateTime)]
    at: String,
    key_id: Option<Uuid>,
    operator_id: Option<Uuid>,
    ip: Option<String>,
    action: String,
    target_kind: String,
    target_id: Option<Uuid>,
    detail: Option<String>,
}

/// A page of the audit log.
#[derive(Serialize, utoipa::ToSchema)]
struct AuditPage {
    data: Vec<AuditEntry>,
    next_cursor: Option<Uuid>,
}

/// The audit log (admins).
///
/// Reads of contacts, conversations and messages, exports, erasures, rectifications, consent,
/// policy and retention changes, key creation: who, when, from where.
#[utoipa::path(get, path = "/v1/audit", tag = "privacy", operation_id = "listAudit", params(AuditQuery),
    responses((status = 200, description = "A page of entries", body = AuditPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list_audit(State(state): State<AppState>, auth: Auth, Params(q): Params<AuditQuery>) -> ApiResult<Json<AuditPage>> {
    auth.require_admin()?;
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::privacy::audit(&state.db, auth.tenant_id, params.uuid("target_id")?, params.raw("action"), cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let data = page
        .items
        .iter()
        .map(|a| AuditEntry {
            id: a.id,
            at: rfc3339(a.created_at),
            key_id: a.key_id,
            operator_id: a.operator_id,
            ip: a.ip.clone(),
            action: a.action.clone(),
            target_kind: a.target_kind.clone(),
            target_id: a.target_id,
            detail: a.detail.clone(),
        })
        .collect();
    Ok(Json(AuditPage { data, next_cursor: page.next_cursor }))
}


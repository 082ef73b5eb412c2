//! `/v1/webhooks`: endpoints, secret rotation, the delivery log, and replay.
//!
//! Admin and integration keys manage webhooks (integrations are who consume them); agents may
//! not. A secret is shown in full only when created and when rotated.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::auth::Auth;
use super::pagination::{ListParams, list_body};
use crate::domain::patch::Patch;
use crate::domain::{Role, events, rfc3339};
use crate::api::error::{ApiError, ApiResult};
use crate::privacy::tenant_sealed;
use crate::hub::AppState;
use crate::store::webhooks::{AttemptRow, DeliveryRow, EndpointRow};
use crate::store::{self, Page, now_micros};
use crate::webhooks::signature::{SigningKey, message_id};
use crate::net::ssrf::{self, UrlError};

/// Old secrets that may still be signing at once (as Svix allows).
const MAX_OLD_SECRETS: i64 = 10;
use crate::policy::registry::TRANSFER_MECHANISMS;
const DELIVERY_STATUSES: &[&str] = &["pending", "delivered", "failed"];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/webhooks/event-types", get(event_types))
        .route("/v1/webhooks/endpoints", get(list).post(create))
        .route("/v1/webhooks/endpoints/{id}", get(show).patch(update).delete(remove))
        .route("/v1/webhooks/endpoints/{id}/rotate-secret", post(rotate_secret))
        .route("/v1/webhooks/endpoints/{id}/deliveries", get(deliveries))
        .route("/v1/webhooks/endpoints/{id}/recover", post(recover))
        .route("/v1/webhooks/endpoints/{id}/test", post(send_test))
        .route("/v1/webhooks/deliveries/{id}", get(show_delivery))
        .route("/v1/webhooks/deliveries/{id}/attempts", get(attempts))
        .route("/v1/webhooks/deliveries/{id}/retry", post(retry))
}

fn require_webhook_role(auth: &Auth) -> ApiResult<()> {
    match auth.role {
        Role::Admin | Role::Integration => Ok(()),
        Role::Agent => Err(ApiError::Forbidden),
    }
}

// --- views -----------------------------------------------------------------------------------

#[derive(Serialize)]
struct EndpointView {
    id: Uuid,
    url: String,
    description: String,
    /// `null`: every event type.
    event_types: Option<Vec<String>>,
    thin_payload: bool,
    country: Option<String>,
    transfer_mechanism: Option<String>,
    disabled: bool,
    disabled_reason: Option<String>,
    failing_since: Option<String>,
    last_success_at: Option<String>,
    created_at: String,
    updated_at: String,
}

fn endpoint_view(row: &EndpointRow) -> EndpointView {
    EndpointView {
        id: row.id,
        url: row.url.clone(),
        description: row.description.clone(),
        event_types: row.event_types.as_deref().and_then(|j| serde_json::from_str(j).ok()),
        thin_payload: row.thin_payload,
        country: row.country.clone(),
        transfer_mechanism: row.transfer_mechanism.clone(),
        disabled: row.disabled,
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.first_failure_at.map(rfc3339),
        last_success_at: row.last_success_at.map(rfc3339),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

fn delivery_view(row: &DeliveryRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "endpoint_id": row.endpoint_id,
        "msg_id": message_id(row.event_id),
        "event_id": row.event_id,
        "event_type": row.event_type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at.map(rfc3339),
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "created_at": rfc3339(row.created_at),
        "updated_at": rfc3339(row.updated_at),
        "delivered_at": row.delivered_at.map(rfc3339),
    })
}

fn attempt_view(row: &AttemptRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "delivery_id": row.delivery_id,
        "attempt": row.attempt,
        "webhook_timestamp": row.signed_at,
        "status_code": row.status_code,
        "latency_ms": row.latency_micros as f64 / 1000.0,
        "response_body": row.response_body,
        "error": row.error,
        "created_at": rfc3339(row.created_at),
    })
}

// --- validation ------------------------------------------------------------------------------

async fn valid_url(state: &AppState, url: &str) -> ApiResult<String> {
    let parsed = ssrf::parse_url(url, state.config.webhooks.https_only).map_err(|e| ApiError::invalid("url", e.to_string()))?;
    ssrf::check_url(&parsed, state.webhooks.policy()).await.map_err(|e| match e {
        UrlError::Private(..) => ApiError::invalid("url", format!("{e}; allow it with webhooks.allow_private_cidrs if intended")),
        other => ApiError::invalid("url", other.to_string()),
    })?;
    Ok(parsed.to_string())
}

fn valid_event_types(types: &[String]) -> ApiResult<String> {
    if types.is_empty() {
        return Err(ApiError::invalid("event_types", "must name at least one type; omit it (or send null) for every type"));
    }
    if let Some(unknown) = types.iter().find(|t| !events::ALL.contains(&t.as_str())) {
        return Err(ApiError::invalid("event_types", format!("unknown event type {unknown:?}; see GET /v1/webhooks/event-types")));
    }
    Ok(serde_json::to_string(types).unwrap_or_else(|_| "[]".into()))
}

fn valid_description(text: &str) -> ApiResult<String> {
    if text.chars().count() > 500 {
        return Err(ApiError::invalid("description", "must be at most 500 characters"));
    }
    Ok(text.trim().to_owned())
}

fn valid_country(code: &str) -> ApiResult<String> {
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(ApiError::invalid("country", "must be an ISO 3166-1 alpha-2 code such as \"DE\" or \"US\""))
    }
}

fn valid_mechanism(m: &str) -> ApiResult<String> {
    if TRANSFER_MECHANISMS.contains(&m) {
        Ok(m.to_owned())
    } else {
        Err(ApiError::invalid("transfer_mechanism", format!("must be one of {}", TRANSFER_MECHANISMS.join(", "))))
    }
}

fn parse_secret(text: Option<&str>) -> ApiResult<SigningKey> {
    match text {
        Some(text) => SigningKey::parse(text).map_err(|e| ApiError::invalid("secret", e.to_string())),
        None => SigningKey::generate().map_err(|e| ApiError::Unavailable(format!("no randomness: {e}"))),
    }
}

fn parse_time(field: &str, text: &str) -> ApiResult<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1000) as i64)
        .map_err(|_| ApiError::invalid(field, "must be an RFC 3339 time such as 2026-11-23T10:00:00Z"))
}

async fn find(state: &AppState, auth: &Auth, id: &str) -> ApiResult<EndpointRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("endpoint"))?;
    store::webhooks::endpoint(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("endpoint"))
}

async fn find_delivery(state: &AppState, auth: &Auth, id: &str) -> ApiResult<DeliveryRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("delivery"))?;
    store::webhooks::delivery(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("delivery"))
}

// --- endpoints -------------------------------------------------------------------------------

async fn event_types(auth: Auth) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    Ok(Json(json!({ "data": events::ALL })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEndpoint {
    url: String,
    description: Option<String>,
    event_types: Option<Vec<String>>,
    secret: Option<String>,
    #[serde(default)]
    thin_payload: bool,
    country: Option<String>,
    transfer_mechanism: Option<String>,
    #[serde(default)]
    disabled: bool,
}

async fn create(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<CreateEndpoint>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let url = valid_url(&state, &body.url).await?;
    let event_types = body.event_types.as_deref().map(valid_event_types).transpose()?;
    let description = body.description.as_deref().map(valid_description).transpose()?.unwrap_or_default();
    let country = body.country.as_deref().map(valid_country).transpose()?;
    let transfer_mechanism = body.transfer_mechanism.as_deref().map(valid_mechanism).transpose()?;
    let key = parse_secret(body.secret.as_deref())?;
    let region = state.db.tenant(auth.tenant_id).await?.map(|t| t.region).unwrap_or_default();
    if country.is_none() && state.config.region_is_gdpr(&region) {
        return Err(ApiError::invalid(
            "country",
            format!("required: the tenant's home region ({region}) lets personal data leave the EEA only on a legal ground, so say where the receiver processes it (and its transfer_mechanism when outside the EEA)"),
        ));
    }
    let now = now_micros();
    let row = EndpointRow {
        id: Uuid::now_v7(),
        tenant_id: auth.tenant_id,
        url,
        description,
        event_types,
        thin_payload: body.thin_payload,
        country,
        transfer_mechanism,
        disabled: body.disabled,
        disabled_reason: body.disabled.then(|| "disabled on creation".to_owned()),
        first_failure_at: None,
        last_success_at: None,
        created_at: now,
        updated_at: now,
    };
    let secret_id = Uuid::now_v7();
    let sealed = state.keyring.seal_for_tenant(auth.tenant_id, tenant_sealed::WEBHOOK_SECRET, secret_id, key.as_bytes())?;
    let mut tx = state.db.begin().await?;
    store::webhooks::insert_endpoint(&mut tx, &row).await?;
    store::webhooks::insert_secret(&mut tx, secret_id, row.id, &sealed, now).await?;
    tx.commit().await?;
    let mut view = serde_json::to_value(endpoint_view(&row)).unwrap_or_default();
    view["secret"] = json!(key.to_secret_string());
    Ok((StatusCode::CREATED, Json(view)))
}

async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::webhooks::endpoints(&state.db, auth.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(list_body(page.items.iter().map(endpoint_view).collect(), page.next_cursor)))
}

async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    Ok(Json(endpoint_view(&find(&state, &auth, &id).await?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateEndpoint {
    url: Option<String>,
    description: Option<String>,
    #[serde(default)]
    event_types: Patch<Vec<String>>,
    thin_payload: Option<bool>,
    #[serde(default)]
    country: Patch<String>,
    #[serde(default)]
    transfer_mechanism: Patch<String>,
    disabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateEndpoint>,
) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let mut row = find(&state, &auth, &id).await?;
    if let Some(url) = &body.url {
        row.url = valid_url(&state, url).await?;
    }
    if let Some(description) = &body.description {
        row.description = valid_description(description)?;
    }
    match &body.event_types {
        Patch::Keep => {}
        Patch::Clear => row.event_types = None,
        Patch::Set(types) => row.event_types = Some(valid_event_types(types)?),
    }
    if let Some(thin) = body.thin_payload {
        row.thin_payload = thin;
    }
    match &body.country {
        Patch::Keep => {}
        Patch::Clear => row.country = None,
        Patch::Set(c) => row.country = Some(valid_country(c)?),
    }
    match &body.transfer_mechanism {
        Patch::Keep => {}
        Patch::Clear => row.transfer_mechanism = None,
        Patch::Set(m) => row.transfer_mechanism = Some(valid_mechanism(m)?),
    }
    match body.disabled {
        Some(true) if !row.disabled => {
            row.disabled = true;
            row.disabled_reason = Some("disabled through the API".into());
        }
        Some(false) if row.disabled => {
            // A fresh start: the failure clock begins again.
            row.disabled = false;
            row.disabled_reason = None;
            row.first_failure_at = None;
        }
        _ => {}
    }
    row.updated_at = now_micros();
    store::webhooks::update_endpoint(&state.db, &row).await?;
    Ok(Json(endpoint_view(&row)))
}

async fn remove(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let row = find(&state, &auth, &id).await?;
    let mut tx = state.db.begin().await?;
    if !store::webhooks::delete_endpoint(&mut tx, auth.tenant_id, row.id).await? {
        return Err(ApiError::NotFound("endpoint"));
    }
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RotateSecret {
    secret: Option<String>,
    /// Seconds the old secret keeps signing (0 to 604800); the configured default if absent.
    grace_period_secs: Option<u64>,
}

async fn rotate_secret(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<axum::response::Response, omnibridge_channel::problem::Problem> {
    // The body is optional: no body rotates to a generated secret.
    let body: RotateSecret =
        if raw.iter().all(u8::is_ascii_whitespace) { RotateSecret::default() } else { omnibridge_channel::problem::parse_json(&raw)? };
    Ok(rotate(state, auth, id, body).await.into_response())
}

async fn rotate(state: AppState, auth: Auth, id: String, body: RotateSecret) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let endpoint = find(&state, &auth, &id).await?;
    let grace = body.grace_period_secs.unwrap_or(state.config.webhooks.rotation_grace_secs);
    if grace > 7 * 86_400 {
        return Err(ApiError::invalid("grace_period_secs", "must be from 0 to 604800 (7 days)"));
    }
    let key = parse_secret(body.secret.as_deref())?;
    let now = now_micros();
    if grace > 0 && store::webhooks::old_secret_count(&state.db, endpoint.id, now).await? >= MAX_OLD_SECRETS {
        return Err(ApiError::Conflict(format!(
            "this endpoint already has {MAX_OLD_SECRETS} old secrets in their grace period; wait for one to expire or rotate with grace_period_secs 0"
        )));
    }
    let secret_id = Uuid::now_v7();
    let sealed = state.keyring.seal_for_tenant(auth.tenant_id, tenant_sealed::WEBHOOK_SECRET, secret_id, key.as_bytes())?;
    let mut tx = state.db.begin().await?;
    store::webhooks::retire_current_secret(&mut tx, endpoint.id, now, now + grace as i64 * 1_000_000).await?;
    store::webhooks::insert_secret(&mut tx, secret_id, endpoint.id, &sealed, now).await?;
    tx.commit().await?;
    Ok(Json(json!({ "secret": key.to_secret_string(), "old_secret_expires_at": rfc3339(now + grace as i64 * 1_000_000) })))
}

// --- deliveries and replay -------------------------------------------------------------------

async fn deliveries(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let endpoint = find(&state, &auth, &id).await?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let status = params.one_of("status", DELIVERY_STATUSES)?;
    let rows = store::webhooks::deliveries(&state.db, endpoint.id, status.as_deref(), cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(list_body(page.items.iter().map(delivery_view).collect(), page.next_cursor)))
}

async fn show_delivery(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    Ok(Json(delivery_view(&find_delivery(&state, &auth, &id).await?)))
}

async fn attempts(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let delivery = find_delivery(&state, &auth, &id).await?;
    let rows = store::webhooks::attempts(&state.db, delivery.id).await?;
    Ok(Json(json!({ "data": rows.iter().map(attempt_view).collect::<Vec<_>>() })))
}

async fn usable_endpoint(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<EndpointRow> {
    let endpoint = store::webhooks::endpoint(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    if endpoint.disabled {
        return Err(ApiError::Conflict("the endpoint is disabled; enable it (PATCH {\"disabled\": false}) first".into()));
    }
    Ok(endpoint)
}

/// Sends a `webhook.test` event to the endpoint now; answers with the delivery to follow.
async fn send_test(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let endpoint = find(&state, &auth, &id).await?;
    let endpoint = usable_endpoint(&state, &auth, endpoint.id).await?;
    let delivery_id = crate::webhooks::test_event::enqueue(&state.db, &endpoint).await?;
    state.webhook_ready.notify_one();
    let delivery = find_delivery(&state, &auth, &delivery_id.to_string()).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&delivery))))
}

async fn retry(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let delivery = find_delivery(&state, &auth, &id).await?;
    usable_endpoint(&state, &auth, delivery.endpoint_id).await?;
    if delivery.status == "pending" && delivery.next_attempt_at.is_some_and(|t| t <= now_micros()) {
        return Ok((StatusCode::ACCEPTED, Json(delivery_view(&delivery))));
    }
    store::webhooks::requeue(&state.db, delivery.id, now_micros()).await?;
    state.webhook_ready.notify_one();
    let delivery = find_delivery(&state, &auth, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&delivery))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Recover {
    since: String,
    until: Option<String>,
}

async fn recover(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Recover>,
) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let endpoint = find(&state, &auth, &id).await?;
    let endpoint = usable_endpoint(&state, &auth, endpoint.id).await?;
    let now = now_micros();
    let since = parse_time("since", &body.since)?;
    let until = body.until.as_deref().map(|u| parse_time("until", u)).transpose()?.unwrap_or(now + 1);
    if until <= since {
        return Err(ApiError::invalid("until", "must be after since"));
    }
    let requeued = store::webhooks::recover(&state.db, endpoint.id, since, until, now).await?;
    state.webhook_ready.notify_one();
    Ok((StatusCode::ACCEPTED, Json(json!({ "requeued": requeued, "since": rfc3339(since), "until": rfc3339(until) }))))
}

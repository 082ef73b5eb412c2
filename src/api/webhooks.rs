//! `/v1/webhooks`: endpoints, secret rotation, the delivery log, and replay.
//!
//! Admin and integration keys manage webhooks (integrations are who consume them); agents may
//! not. A secret is shown in full only when created and when rotated.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{PageQuery, ListParams, Params};
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

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(event_types))
        .routes(routes!(list, create))
        .routes(routes!(show, update, remove))
        .routes(routes!(rotate_secret))
        .routes(routes!(deliveries))
        .routes(routes!(recover))
        .routes(routes!(send_test))
        .routes(routes!(show_delivery))
        .routes(routes!(attempts))
        .routes(routes!(retry))
}

fn require_webhook_role(auth: &Auth) -> ApiResult<()> {
    match auth.role {
        Role::Admin | Role::Integration => Ok(()),
        Role::Agent => Err(ApiError::Forbidden),
    }
}

// --- views -----------------------------------------------------------------------------------

/// A webhook endpoint: where events are delivered, signed (Standard Webhooks).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpoint)]
struct EndpointView {
    id: Uuid,
    url: String,
    description: String,
    /// The event types delivered; `null`: every type.
    event_types: Option<Vec<String>>,
    /// Deliver ids and types only, no resource data.
    thin_payload: bool,
    /// Where the receiver processes the data (ISO 3166-1 alpha-2).
    country: Option<String>,
    transfer_mechanism: Option<String>,
    disabled: bool,
    disabled_reason: Option<String>,
    /// Failing without a success since then (disabled after the configured period).
    #[schema(format = DateTime)]
    failing_since: Option<String>,
    #[schema(format = DateTime)]
    last_success_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// An endpoint just created, with its signing secret (shown only now and when rotated).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEndpointWithSecret)]
struct CreatedEndpoint {
    #[serde(flatten)]
    endpoint: EndpointView,
    /// `whsec_` and base64.
    secret: String,
}

/// One event's delivery to one endpoint.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookDelivery)]
struct DeliveryView {
    id: Uuid,
    endpoint_id: Uuid,
    /// The `webhook-id` header.
    msg_id: String,
    event_id: Uuid,
    event_type: String,
    /// `pending`, `delivered` or `failed`.
    status: String,
    attempts: i64,
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime)]
    delivered_at: Option<String>,
}

/// One attempt at a delivery.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = WebhookAttempt)]
struct AttemptView {
    id: Uuid,
    delivery_id: Uuid,
    attempt: i64,
    /// The unix seconds this attempt was signed with (`webhook-timestamp`).
    webhook_timestamp: i64,
    status_code: Option<i64>,
    latency_ms: f64,
    /// Truncated; purged with the payload.
    response_body: Option<String>,
    error: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
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

fn delivery_view(row: &DeliveryRow) -> DeliveryView {
    DeliveryView {
        id: row.id,
        endpoint_id: row.endpoint_id,
        msg_id: message_id(row.event_id),
        event_id: row.event_id,
        event_type: row.event_type.clone(),
        status: row.status.clone(),
        attempts: row.attempts,
        next_attempt_at: row.next_attempt_at.map(rfc3339),
        last_status_code: row.last_status_code,
        last_error: row.last_error.clone(),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        delivered_at: row.delivered_at.map(rfc3339),
    }
}

fn attempt_view(row: &AttemptRow) -> AttemptView {
    AttemptView {
        id: row.id,
        delivery_id: row.delivery_id,
        attempt: row.attempt,
        webhook_timestamp: row.signed_at,
        status_code: row.status_code,
        latency_ms: row.latency_micros as f64 / 1000.0,
        response_body: row.response_body.clone(),
        error: row.error.clone(),
        created_at: rfc3339(row.created_at),
    }
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

/// The event types an endpoint can subscribe to.
#[derive(Serialize, utoipa::ToSchema)]
struct EventTypeList {
    data: Vec<&'static str>,
}

/// The event types an endpoint can subscribe to.
#[utoipa::path(get, path = "/v1/webhooks/event-types", tag = "webhooks", operation_id = "listEventTypes",
    responses((status = 200, description = "Event types", body = EventTypeList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn event_types(auth: Auth) -> ApiResult<Json<EventTypeList>> {
    require_webhook_role(&auth)?;
    Ok(Json(EventTypeList { data: events::ALL.to_vec() }))
}

/// A new webhook endpoint.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointCreate)]
struct CreateEndpoint {
    /// `https://` (or `http://` unless `webhooks.https_only`); private and reserved addresses are
    /// refused.
    url: String,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// The event types to deliver (see `GET /v1/webhooks/event-types`); absent or null: every type.
    #[schema(min_items = 1)]
    event_types: Option<Vec<String>>,
    /// `whsec_` and base64 of 24 to 75 bytes; generated when absent.
    #[schema(pattern = "^(whsec_)?[A-Za-z0-9+/=]{32,100}$")]
    secret: Option<String>,
    #[serde(default)]
    thin_payload: bool,
    /// Where the receiver processes the data (ISO 3166-1 alpha-2); required for tenants in a
    /// `gdpr` region.
    #[schema(pattern = "^[A-Za-z]{2}$")]
    country: Option<String>,
    #[schema(value_type = Option<Mechanism>)]
    transfer_mechanism: Option<String>,
    #[serde(default)]
    disabled: bool,
}

/// The legal ground of a transfer out of the EEA.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as the strings of TRANSFER_MECHANISMS
enum Mechanism {
    Adequacy,
    Dpf,
    Scc,
    Bcr,
    None,
}

/// Create a webhook endpoint (admins and integrations).
///
/// The signing secret is in the answer, and shown again only when rotated.
#[utoipa::path(post, path = "/v1/webhooks/endpoints", tag = "webhooks", operation_id = "createWebhookEndpoint", request_body = CreateEndpoint,
    responses(
        (status = 201, description = "Created, with its secret", body = CreatedEndpoint,
            links(("get" = (operation_id = "getWebhookEndpoint", parameters(("id" = "$response.body#/id")))),
                  ("update" = (operation_id = "updateWebhookEndpoint", parameters(("id" = "$response.body#/id")))),
                  ("rotate" = (operation_id = "rotateWebhookSecret", parameters(("id" = "$response.body#/id")))),
                  ("deliveries" = (operation_id = "listWebhookDeliveries", parameters(("id" = "$response.body#/id")))),
                  ("test" = (operation_id = "sendWebhookTest", parameters(("id" = "$response.body#/id")))),
                  ("delete" = (operation_id = "deleteWebhookEndpoint", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem),
    ))]
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
    Ok((StatusCode::CREATED, Json(CreatedEndpoint { endpoint: endpoint_view(&row), secret: key.to_secret_string() })))
}

/// A page of endpoints.
#[derive(Serialize, utoipa::ToSchema)]
struct EndpointPage {
    data: Vec<EndpointView>,
    next_cursor: Option<Uuid>,
}

/// Webhook endpoints (admins and integrations).
#[utoipa::path(get, path = "/v1/webhooks/endpoints", tag = "webhooks", operation_id = "listWebhookEndpoints", params(PageQuery),
    responses((status = 200, description = "A page of endpoints", body = EndpointPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Params(q): Params<PageQuery>) -> ApiResult<Json<EndpointPage>> {
    require_webhook_role(&auth)?;
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::webhooks::endpoints(&state.db, auth.tenant_id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(EndpointPage { data: page.items.iter().map(endpoint_view).collect(), next_cursor: page.next_cursor }))
}

/// A webhook endpoint.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "getWebhookEndpoint", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The endpoint", body = EndpointView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    Ok(Json(endpoint_view(&find(&state, &auth, &id).await?)))
}

/// What changes on an endpoint; what is left out stays, null clears.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WebhookEndpointUpdate)]
struct UpdateEndpoint {
    url: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Null: every type from now on.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, min_items = 1)]
    event_types: Patch<Vec<String>>,
    thin_payload: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>, pattern = "^[A-Za-z]{2}$")]
    country: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<Mechanism>)]
    transfer_mechanism: Patch<String>,
    /// False re-enables a disabled endpoint (its failure clock starts again).
    disabled: Option<bool>,
}

/// Change a webhook endpoint.
#[utoipa::path(patch, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "updateWebhookEndpoint", params(("id" = Uuid, Path)),
    request_body = UpdateEndpoint,
    responses((status = 200, description = "The endpoint", body = EndpointView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
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

/// Delete a webhook endpoint and its delivery log.
#[utoipa::path(delete, path = "/v1/webhooks/endpoints/{id}", tag = "webhooks", operation_id = "deleteWebhookEndpoint", params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem)))]
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

/// A secret rotation; the body is optional.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateSecret {
    /// `whsec_` and base64 of 24 to 75 bytes; generated when absent.
    #[schema(pattern = "^(whsec_)?[A-Za-z0-9+/=]{32,100}$")]
    secret: Option<String>,
    /// Seconds the old secret keeps signing too; the configured default if absent.
    #[serde(default, deserialize_with = "crate::domain::whole_number")]
    #[schema(minimum = 0, maximum = 604800)]
    grace_period_secs: Option<i64>,
}

/// The new secret.
#[derive(Serialize, utoipa::ToSchema)]
struct RotatedSecret {
    secret: String,
    /// Until then deliveries carry a signature with the old secret too.
    #[schema(format = DateTime)]
    old_secret_expires_at: String,
}

/// Rotate an endpoint's signing secret.
///
/// During the grace period every delivery carries signatures with both secrets, so receivers
/// switch without losing a delivery. At most 10 old secrets may be in their grace period (409).
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/rotate-secret", tag = "webhooks", operation_id = "rotateWebhookSecret", params(("id" = Uuid, Path)),
    request_body(content = Option<RotateSecret>, description = "Optional"),
    responses((status = 200, description = "The new secret", body = RotatedSecret), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
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
    let grace = match body.grace_period_secs {
        None => state.config.webhooks.rotation_grace_secs,
        Some(secs) => u64::try_from(secs).map_err(|_| ApiError::invalid("grace_period_secs", "must be from 0 to 604800 (7 days)"))?,
    };
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
    Ok(Json(RotatedSecret { secret: key.to_secret_string(), old_secret_expires_at: rfc3339(now + grace as i64 * 1_000_000) }))
}

// --- deliveries and replay -------------------------------------------------------------------

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeliveryQuery {
    /// `pending`, `delivered` or `failed`.
    #[param(value_type = Option<String>, pattern = "^(pending|delivered|failed)$")]
    status: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A page of deliveries.
#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryPage {
    data: Vec<DeliveryView>,
    next_cursor: Option<Uuid>,
}

/// An endpoint's deliveries, newest first.
#[utoipa::path(get, path = "/v1/webhooks/endpoints/{id}/deliveries", tag = "webhooks", operation_id = "listWebhookDeliveries", params(("id" = Uuid, Path), DeliveryQuery),
    responses((status = 200, description = "A page of deliveries", body = DeliveryPage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn deliveries(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Params(q): Params<DeliveryQuery>) -> ApiResult<Json<DeliveryPage>> {
    require_webhook_role(&auth)?;
    let endpoint = find(&state, &auth, &id).await?;
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let status = params.one_of("status", DELIVERY_STATUSES)?;
    let rows = store::webhooks::deliveries(&state.db, endpoint.id, status.as_deref(), cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    Ok(Json(DeliveryPage { data: page.items.iter().map(delivery_view).collect(), next_cursor: page.next_cursor }))
}

/// A delivery.
#[utoipa::path(get, path = "/v1/webhooks/deliveries/{id}", tag = "webhooks", operation_id = "getWebhookDelivery", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The delivery", body = DeliveryView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn show_delivery(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    Ok(Json(delivery_view(&find_delivery(&state, &auth, &id).await?)))
}

/// Every attempt at a delivery.
#[derive(Serialize, utoipa::ToSchema)]
struct AttemptList {
    data: Vec<AttemptView>,
}

/// A delivery's attempts, in order: status code, latency, the receiver's answer.
#[utoipa::path(get, path = "/v1/webhooks/deliveries/{id}/attempts", tag = "webhooks", operation_id = "listWebhookAttempts", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Attempts", body = AttemptList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn attempts(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<AttemptList>> {
    require_webhook_role(&auth)?;
    let delivery = find_delivery(&state, &auth, &id).await?;
    let rows = store::webhooks::attempts(&state.db, delivery.id).await?;
    Ok(Json(AttemptList { data: rows.iter().map(attempt_view).collect() }))
}

async fn usable_endpoint(state: &AppState, auth: &Auth, id: Uuid) -> ApiResult<EndpointRow> {
    let endpoint = store::webhooks::endpoint(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("endpoint"))?;
    if endpoint.disabled {
        return Err(ApiError::Conflict("the endpoint is disabled; enable it (PATCH {\"disabled\": false}) first".into()));
    }
    Ok(endpoint)
}

/// Send a test event (`webhook.test`, no personal data) to the endpoint now, whatever types it
/// subscribed to; answers with the delivery to follow.
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/test", tag = "webhooks", operation_id = "sendWebhookTest", params(("id" = Uuid, Path)),
    responses(
        (status = 202, description = "Queued", body = DeliveryView,
            links(("delivery" = (operation_id = "getWebhookDelivery", parameters(("id" = "$response.body#/id")))),
                  ("attempts" = (operation_id = "listWebhookAttempts", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem),
    ))]
async fn send_test(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    require_webhook_role(&auth)?;
    let endpoint = find(&state, &auth, &id).await?;
    let endpoint = usable_endpoint(&state, &auth, endpoint.id).await?;
    let delivery_id = crate::webhooks::test_event::enqueue(&state.db, &endpoint).await?;
    state.webhook_ready.notify_one();
    let delivery = find_delivery(&state, &auth, &delivery_id.to_string()).await?;
    Ok((StatusCode::ACCEPTED, Json(delivery_view(&delivery))))
}

/// Deliver again now (a failed or pending delivery).
#[utoipa::path(post, path = "/v1/webhooks/deliveries/{id}/retry", tag = "webhooks", operation_id = "retryWebhookDelivery", params(("id" = Uuid, Path)),
    responses((status = 202, description = "Queued", body = DeliveryView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
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

/// A period whose failed deliveries are sent again.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Recover {
    #[schema(format = DateTime)]
    since: String,
    /// After `since`; default: now.
    #[schema(format = DateTime)]
    until: Option<String>,
}

/// How many deliveries were queued again.
#[derive(Serialize, utoipa::ToSchema)]
struct Recovered {
    requeued: u64,
    #[schema(format = DateTime)]
    since: String,
    #[schema(format = DateTime)]
    until: String,
}

/// Send again every failed delivery of a period (as Svix's recover).
#[utoipa::path(post, path = "/v1/webhooks/endpoints/{id}/recover", tag = "webhooks", operation_id = "recoverWebhookEndpoint", params(("id" = Uuid, Path)),
    request_body = Recover,
    responses((status = 202, description = "Queued", body = Recovered), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
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
    Ok((StatusCode::ACCEPTED, Json(Recovered { requeued: requeued as u64, since: rfc3339(since), until: rfc3339(until) })))
}

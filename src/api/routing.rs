//! The routing policy over HTTP: the tenant's rules (`GET|PUT /v1/policy`), its subprocessors
//! and its answer to each (`GET /v1/subprocessors`, `PUT /v1/subprocessors/{id}/authorization`),
//! and the transfer log (`GET /v1/transfers`, JSON pages or the whole selection as CSV).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, Params};
use crate::domain::rfc3339;
use crate::events::present::csv_field;
use crate::api::error::{ApiError, ApiResult};
use crate::policy::recipients::RecipientView;
use crate::policy::rules::{self, PolicyDocument};
use crate::policy::recipients;
use crate::hub::AppState;
use crate::store::transfers::{TransferFilter, TransferRow};
use crate::store::{self};

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(list_subprocessors))
        .routes(routes!(authorize))
        .routes(routes!(list_transfers))
}

/// The tenant's routing rules (admins).
#[utoipa::path(get, path = "/v1/policy", tag = "routing", operation_id = "getPolicy",
    responses((status = 200, description = "The rules document", body = PolicyDocument), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn get_policy(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<PolicyDocument>> {
    auth.require_admin()?;
    Ok(Json(crate::policy::document(&state.db, auth.tenant_id).await?))
}

/// Replace the tenant's routing rules (admins).
///
/// For each data category of a transfer the first matching rule decides; categories no rule
/// matches fall to the region's defaults (for gdpr regions: EEA, adequacy, SCC/BCR, DPF for US;
/// no mechanism → block). Errors name the rule and field, e.g. `rules[2].destination`.
#[utoipa::path(put, path = "/v1/policy", tag = "routing", operation_id = "putPolicy", request_body = PolicyDocument,
    responses((status = 200, description = "The stored rules", body = PolicyDocument), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn put_policy(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<Value>) -> ApiResult<Json<PolicyDocument>> {
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

/// Every recipient of the tenant's data.
#[derive(Serialize, utoipa::ToSchema)]
struct SubprocessorList {
    data: Vec<RecipientView>,
}

/// Subprocessors and recipients of the tenant's data.
///
/// Registry entries (with the tenant's authorization), each email channel's SMTP relay and each
/// webhook endpoint.
#[utoipa::path(get, path = "/v1/subprocessors", tag = "routing", operation_id = "listSubprocessors",
    responses((status = 200, description = "Recipients", body = SubprocessorList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn list_subprocessors(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<SubprocessorList>> {
    let list = recipients::list(&state.db, &state.policies, auth.tenant_id).await?;
    Ok(Json(SubprocessorList { data: list }))
}

/// The tenant's decision on a subprocessor.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct AuthorizationBody {
    #[schema(value_type = Decision)]
    decision: String,
    /// At most 1000 characters.
    #[schema(max_length = 1000)]
    reason: Option<String>,
}

/// A decision on a subprocessor.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as strings
enum Decision {
    Approved,
    Objected,
}

/// Approve or object to a subprocessor (Art. 28(2); admins).
#[utoipa::path(put, path = "/v1/subprocessors/{id}/authorization", tag = "routing", operation_id = "authorizeSubprocessor",
    params(("id" = String, Path, description = "Registry id, e.g. twilio")), request_body = AuthorizationBody,
    responses((status = 200, description = "The subprocessor with its new authorization", body = RecipientView), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn authorize(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<AuthorizationBody>) -> ApiResult<impl IntoResponse> {    auth.require_admin()?;
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

/// One egress decision of the transfer log.
#[derive(Serialize, utoipa::ToSchema)]
struct Transfer {
    id: Uuid,
    #[schema(format = DateTime)]
    created_at: String,
    contact_id: Option<Uuid>,
    message_id: Option<Uuid>,
    /// `channel`, `webhook` or `export`.
    destination_kind: String,
    /// e.g. `webhook:<id>` or `subprocessor:twilio`.
    destination: String,
    /// Comma-separated when the recipient processes in several countries.
    country: Option<String>,
    mechanism: Option<String>,
    categories_sent: Vec<String>,
    categories_removed: Vec<String>,
    categories_pseudonymized: Vec<String>,
    /// `allow`, `transform` or `block`.
    decision: String,
    rule: Option<String>,
    reason: Option<String>,
}

fn transfer_view(r: &TransferRow) -> Transfer {
    let list = |text: &str| serde_json::from_str::<Vec<String>>(text).unwrap_or_default();
    Transfer {
        id: r.id,
        created_at: rfc3339(r.created_at),
        contact_id: r.contact_id,
        message_id: r.message_id,
        destination_kind: r.destination_kind.clone(),
        destination: r.destination.clone(),
        country: r.country.clone(),
        mechanism: r.mechanism.clone(),
        categories_sent: list(&r.data_categories),
        categories_removed: list(&r.categories_removed),
        categories_pseudonymized: list(&r.categories_pseudonymized),
        decision: r.decision.clone(),
        rule: r.rule.clone(),
        reason: r.reason.clone(),
    }
}

/// A page of the transfer log.
#[derive(Serialize, utoipa::ToSchema)]
struct TransferPage {
    data: Vec<Transfer>,
    /// Pass as `cursor` for the next page; null on the last.
    next_cursor: Option<Uuid>,
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TransferQuery {
    /// Only transfers of this contact's data.
    #[param(value_type = Option<Uuid>)]
    contact_id: Option<String>,
    /// e.g. `webhook:<id>` or `subprocessor:twilio`.
    destination: Option<String>,
    /// Only transfers at or after this time.
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// `csv` returns the whole selection as CSV (as does `Accept: text/csv`).
    #[param(value_type = Option<TransferFormat>, inline)]
    format: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// How the transfer log comes.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as strings
enum TransferFormat {
    Json,
    Csv,
}

/// Rows a CSV export holds at most; narrow it with `since`, `contact_id` or `destination`.
const CSV_MAX_ROWS: usize = 100_000;

/// The transfer log (admins).
///
/// Every egress decision: destination, country, mechanism, categories sent, removed and
/// pseudonymized, decision, rule. `format=csv` (or `Accept: text/csv`) returns the whole
/// selection as CSV.
#[utoipa::path(get, path = "/v1/transfers", tag = "routing", operation_id = "listTransfers", params(TransferQuery),
    responses((status = 200, description = "A page of transfers, or the selection as CSV", content((TransferPage = "application/json"), (String = "text/csv"))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn list_transfers(State(state): State<AppState>, auth: Auth, headers: HeaderMap, Params(q): Params<TransferQuery>) -> ApiResult<Response> {
    auth.require_admin()?;
    let params = ListParams::of(&q);
    let since = match params.given("since") {
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
    // A page size is checked even where the CSV, which holds the whole selection, ignores it.
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    if !wants_csv {
        let page = store::transfers::list(&state.db, auth.tenant_id, &filter, cursor, limit).await?;
        return Ok(Json(TransferPage { data: page.items.iter().map(transfer_view).collect(), next_cursor: page.next_cursor }).into_response());
    }
    let mut out = String::from(
        "id,created_at,contact_id,message_id,destination_kind,destination,country,mechanism,categories_sent,categories_removed,categories_pseudonymized,decision,rule,reason\r\n",
    );
    let (mut cursor, mut rows) = (cursor, 0usize);
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

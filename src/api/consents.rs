//! The consent ledger over HTTP: a contact's current consents and their history with evidence,
//! recording a grant or withdrawal, and verifying a tenant's chain.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use omnibridge_channel::{Address, Medium};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, Params};
use super::contacts::load;
use crate::events::outbox::UnitOfWork;
use crate::consent::{self, NewConsent, actions, legal_bases, methods};
use crate::api::error::{ApiError, ApiResult};
use crate::events::present::fields;
use crate::hub::AppState;
use crate::store;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, record)).routes(routes!(receipt)).routes(routes!(verify))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `true`: every event of the ledger about the contact, oldest first, with its evidence.
    #[param(value_type = Option<String>, pattern = "^(true|false)$")]
    history: Option<String>,
}

/// The current state of one consent: the newest event per medium, address and purpose.
#[derive(Serialize, utoipa::ToSchema)]
struct CurrentConsent {
    channel: String,
    address: Option<String>,
    purpose: String,
    /// The newest event's action: `grant`, `withdraw`, `object` or `restrict`.
    state: String,
    legal_basis: String,
    method: String,
    event_id: Uuid,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// A consent as listed: its current state, or (with `history=true`) an event of the ledger.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(untagged)]
enum ConsentItem {
    Current(CurrentConsent),
    Event(consent::ConsentView),
}

/// A contact's consents.
#[derive(Serialize, utoipa::ToSchema)]
struct ConsentList {
    data: Vec<ConsentItem>,
}

/// A contact's consents: the current state per medium, address and purpose, or the whole
/// history with `history=true`.
#[utoipa::path(get, path = "/v1/contacts/{id}/consents", tag = "consent", operation_id = "listConsents", params(("id" = Uuid, Path), ListQuery),
    responses((status = 200, description = "Consents", body = ConsentList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Params(q): Params<ListQuery>) -> ApiResult<Json<ConsentList>> {
    let history = ListParams::of(&q).one_of("history", &["true", "false"])?.is_some_and(|v| v == "true");
    let (contact, key) = load(&state, &auth, &id).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "consent.read", "contact", Some(contact.id), None).await;
    let rows = store::consent::for_contact(&state.db, auth.tenant_id, contact.id).await?;
    let views: Vec<consent::ConsentView> = rows.iter().map(|r| consent::view(r, Some(&key))).collect();
    if history {
        return Ok(Json(ConsentList { data: views.into_iter().map(ConsentItem::Event).collect() }));
    }
    // The current state: the newest event per (medium, address, purpose).
    let mut current: BTreeMap<(String, Vec<u8>, String), consent::ConsentView> = BTreeMap::new();
    for (row, view) in rows.iter().zip(views) {
        current.insert((row.channel.clone(), row.address_index.clone(), row.purpose.clone()), view);
    }
    let data = current
        .into_values()
        .map(|v| {
            ConsentItem::Current(CurrentConsent {
                channel: v.channel,
                address: v.address,
                purpose: v.purpose,
                state: v.action,
                legal_basis: v.legal_basis,
                method: v.method,
                event_id: v.id,
                updated_at: v.created_at,
            })
        })
        .collect();
    Ok(Json(ConsentList { data }))
}

/// A consent event to record about one of the contact's own addresses.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewEvent {
    /// The medium: `email`, `sms`, `telegram`, `webchat`, `whatsapp`, `messenger`, `instagram`.
    channel: String,
    /// One of the contact's addresses on that medium.
    address: String,
    /// A configured purpose (`service`, `marketing`, `transcripts`, …) or `*` for every one.
    purpose: String,
    /// `grant`, `withdraw`, `object` or `restrict`.
    #[schema(pattern = "^(grant|withdraw|object|restrict)$")]
    action: String,
    /// `consent` (the default), `contract`, `legitimate_interest` or `legal_obligation`.
    #[schema(pattern = "^(consent|contract|legitimate_interest|legal_obligation)$")]
    legal_basis: Option<String>,
    /// What proves it (at most 4 KiB of JSON).
    #[schema(value_type = Option<Object>)]
    evidence: Option<serde_json::Map<String, Value>>,
    #[schema(min_length = 1, max_length = 500)]
    notice_url: Option<String>,
    #[schema(min_length = 1, max_length = 500)]
    notice_version: Option<String>,
}

fn one_of(field: &str, value: &str, allowed: &[&'static str]) -> ApiResult<&'static str> {
    allowed.iter().copied().find(|a| *a == value).ok_or_else(|| ApiError::invalid(field, format!("must be one of {}", allowed.join(", "))))
}

/// Record a consent event (grant, withdrawal, objection, restriction) with its evidence.
///
/// Appended to the tenant's hash-chained ledger; emits `consent.changed`.
#[utoipa::path(post, path = "/v1/contacts/{id}/consents", tag = "consent", operation_id = "recordConsent", params(("id" = Uuid, Path)), request_body = NewEvent,
    responses((status = 201, description = "Recorded", body = consent::ConsentView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 422, response = Problem)))]
async fn record(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<NewEvent>) -> ApiResult<impl IntoResponse> {
    let (contact, key) = load(&state, &auth, &id).await?;
    let medium = Medium::parse(&body.channel).ok_or_else(|| {
        let media: Vec<&str> = Medium::ALL.iter().map(|m| m.as_str()).collect();
        ApiError::invalid("channel", format!("must be one of {}", media.join(", ")))
    })?;
    let (medium, kind) = (medium.as_str(), medium.address_kind());
    let mut purposes = state.config.consent.purposes();
    purposes.push(consent::purposes::ALL.into());
    if !purposes.contains(&body.purpose) {
        return Err(ApiError::invalid("purpose", format!("must be one of {}", purposes.join(", "))));
    }
    let purpose = body.purpose.clone();
    let action = one_of("action", &body.action, &[actions::GRANT, actions::WITHDRAW, actions::OBJECT, actions::RESTRICT])?;
    let legal_basis = one_of(
        "legal_basis",
        body.legal_basis.as_deref().unwrap_or(legal_bases::CONSENT),
        &[legal_bases::CONSENT, legal_bases::CONTRACT, legal_bases::LEGITIMATE_INTEREST, legal_bases::LEGAL_OBLIGATION],
    )?;
    for (field, value) in [("notice_url", &body.notice_url), ("notice_version", &body.notice_version)] {
        if value.as_deref().is_some_and(|v| v.is_empty() || v.len() > 500) {
            return Err(ApiError::invalid(field, "must be 1 to 500 characters"));
        }
    }
    let evidence = Value::Object(body.evidence.unwrap_or_default());
    if evidence.to_string().len() > 4096 {
        return Err(ApiError::invalid("evidence", "must be at most 4 KiB of JSON"));
    }
    // The address must be one of the contact's: consent is about a person's own address.
    let address = Address::new(kind, &body.address);
    let index = state.keyring.blind_index(auth.tenant_id, &address);
    let owner = store::contacts::identities_by_indexes(&state.db, &[(auth.tenant_id, kind.as_str(), index.as_slice())], false).await?;
    if !owner.iter().any(|o| o.contact_id == contact.id) {
        return Err(ApiError::invalid("address", format!("the contact has no {} address {:?}", kind.as_str(), address.value)));
    }
    let event_id = Uuid::now_v7();
    let actor = match auth.operator_id {
        Some(operator) => format!("operator:{operator}"),
        None => format!("api_key:{}", auth.key_id),
    };
    let new = NewConsent {
        id: event_id,
        tenant_id: auth.tenant_id,
        contact_id: Some(contact.id),
        channel: medium,
        address_index: index,
        address: Some(key.seal(fields::CONSENT_ADDRESS, event_id, &address.value)?),
        sender_scope: None,
        purpose,
        action,
        legal_basis,
        method: if auth.operator_id.is_some() { methods::OPERATOR } else { methods::API },
        evidence,
        actor,
        notice_url: body.notice_url,
        notice_version: body.notice_version,
    };
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let (rows, events) = consent::record(work.tx(), &key, &[new]).await?;
    let entry = store::privacy::NewAudit {
        tenant_id: auth.tenant_id,
        key_id: Some(auth.key_id),
        operator_id: auth.operator_id,
        ip: None,
        action: "consent.record",
        target_kind: "contact",
        target_id: Some(contact.id),
        detail: None,
    };
    store::privacy::insert_audit(work.tx(), &entry).await?;
    work.appended(events);
    work.commit().await?;
    let view = rows.first().map(|r| consent::view(r, Some(&key))).ok_or_else(|| ApiError::Internal("the ledger returned no event".into()))?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Whether the tenant's consent ledger is intact.
#[derive(Serialize, utoipa::ToSchema)]
struct Verification {
    ok: bool,
    /// How many events the chain holds (when intact).
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<i64>,
    /// The first event that does not chain (when broken).
    #[serde(skip_serializing_if = "Option::is_none")]
    broken_at: Option<BrokenLink>,
}

/// Where the chain breaks.
#[derive(Serialize, utoipa::ToSchema)]
struct BrokenLink {
    seq: i64,
    id: Option<Uuid>,
    reason: String,
}

/// Verify the tenant's consent ledger: every event's hash chains to the one before.
#[utoipa::path(get, path = "/v1/consents/verify", tag = "consent", operation_id = "verifyConsents",
    responses((status = 200, description = "The verdict", body = Verification), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn verify(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Verification>> {
    Ok(Json(match consent::verify(&state.db, auth.tenant_id).await? {
        Ok(events) => Verification { ok: true, events: Some(events as i64), broken_at: None },
        Err(b) => Verification { ok: false, events: None, broken_at: Some(BrokenLink { seq: b.seq, id: b.id, reason: b.reason.to_string() }) },
    }))
}

/// A consent receipt shaped after the Kantara Initiative Consent Receipt Specification v1.1:
/// what the contact currently consents to, per medium and purpose, under which notice, from whom.
#[utoipa::path(get, path = "/v1/contacts/{id}/consents/receipt", tag = "consent", operation_id = "consentReceipt", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The receipt (Kantara Consent Receipt v1.1 members)", body = Object), (status = 401, response = Problem),
        (status = 403, response = Problem), (status = 404, response = Problem)))]
async fn receipt(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let (contact, _) = load(&state, &auth, &id).await?;
    let tenant = state.db.tenant(auth.tenant_id).await?.ok_or(ApiError::NotFound("tenant"))?;
    let rows = store::consent::for_contact(&state.db, auth.tenant_id, contact.id).await?;
    let mut current: BTreeMap<(String, String), &store::consent::ConsentRow> = BTreeMap::new();
    for row in &rows {
        current.insert((row.channel.clone(), row.purpose.clone()), row);
    }
    let granted: Vec<&&store::consent::ConsentRow> = current.values().filter(|r| r.action == actions::GRANT).collect();
    let mut services: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for row in &granted {
        services.entry(row.channel.as_str()).or_default().push(json!({
            "purpose": row.purpose,
            "purposeCategory": [row.purpose],
            "consentType": if row.legal_basis == legal_bases::CONSENT { "EXPLICIT" } else { "NOT_CONSENT" },
            "piiCategory": ["contact handle", "message content"],
            "primaryPurpose": row.purpose == consent::purposes::SERVICE,
            "termination": "until withdrawn",
            "thirdPartyDisclosure": false,
            "legalBasis": row.legal_basis,
            "consentEventId": row.id,
        }));
    }
    let latest = rows.last();
    Ok(Json(json!({
        "version": "KI-CR-v1.1.0",
        "jurisdiction": tenant.region,
        "consentTimestamp": latest.map(|r| r.created_at / 1_000_000),
        "collectionMethod": latest.map(|r| r.method.clone()),
        "consentReceiptID": Uuid::now_v7(),
        "language": "en",
        "piiPrincipalId": contact.id,
        "piiControllers": [{"piiController": tenant.name, "onBehalf": false}],
        "policyUrl": granted.iter().rev().find_map(|r| r.notice_url.clone()),
        "noticeVersion": granted.iter().rev().find_map(|r| r.notice_version.clone()),
        "services": services.into_iter().map(|(medium, purposes)| json!({"service": medium, "purposes": purposes})).collect::<Vec<_>>(),
        "sensitive": false,
        "spiCat": [],
    })))
}

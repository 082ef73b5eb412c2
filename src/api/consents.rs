//! The consent ledger over HTTP: a contact's current consents and their history with evidence,
//! recording a grant or withdrawal, and verifying a tenant's chain.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use omnibridge_channel::{Address, Medium};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Auth;
use super::contacts::load;
use crate::events::outbox::UnitOfWork;
use crate::consent::{self, NewConsent, actions, legal_bases, methods};
use crate::api::error::{ApiError, ApiResult};
use crate::events::present::fields;
use crate::hub::AppState;
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/contacts/{id}/consents", get(list).post(record))
        .route("/v1/contacts/{id}/consents/receipt", get(receipt))
        .route("/v1/consents/verify", get(verify))
}


#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    history: bool,
}

async fn list(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Query(q): Query<ListQuery>) -> ApiResult<impl IntoResponse> {
    let (contact, key) = load(&state, &auth, &id).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "consent.read", "contact", Some(contact.id), None).await;
    let rows = store::consent::for_contact(&state.db, auth.tenant_id, contact.id).await?;
    let views: Vec<consent::ConsentView> = rows.iter().map(|r| consent::view(r, Some(&key))).collect();
    if q.history {
        return Ok(Json(json!({"data": views})));
    }
    // The current state: the newest event per (medium, address, purpose).
    let mut current: BTreeMap<(String, Vec<u8>, String), consent::ConsentView> = BTreeMap::new();
    for (row, view) in rows.iter().zip(views) {
        current.insert((row.channel.clone(), row.address_index.clone(), row.purpose.clone()), view);
    }
    let data: Vec<Value> = current
        .into_values()
        .map(|v| {
            json!({"channel": v.channel, "address": v.address, "purpose": v.purpose, "state": v.action, "legal_basis": v.legal_basis,
                   "method": v.method, "event_id": v.id, "updated_at": v.created_at})
        })
        .collect();
    Ok(Json(json!({"data": data})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEvent {
    channel: String,
    address: String,
    purpose: String,
    action: String,
    legal_basis: Option<String>,
    evidence: Option<serde_json::Map<String, Value>>,
    notice_url: Option<String>,
    notice_version: Option<String>,
}

fn one_of(field: &str, value: &str, allowed: &[&'static str]) -> ApiResult<&'static str> {
    allowed.iter().copied().find(|a| *a == value).ok_or_else(|| ApiError::invalid(field, format!("must be one of {}", allowed.join(", "))))
}

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
    let view = rows.first().map(|r| consent::view(r, Some(&key)));
    Ok((StatusCode::CREATED, Json(view)))
}

async fn verify(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    Ok(Json(match consent::verify(&state.db, auth.tenant_id).await? {
        Ok(events) => json!({"ok": true, "events": events}),
        Err(b) => json!({"ok": false, "broken_at": {"seq": b.seq, "id": b.id, "reason": b.reason}}),
    }))
}

/// A consent receipt shaped after the Kantara Initiative Consent Receipt Specification v1.1:
/// what the contact currently consents to, per medium and purpose, under which notice, from whom.
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

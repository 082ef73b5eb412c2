//! Data-subject requests (GDPR Art. 15–21), tracked from receipt to completion.
//!
//! `POST /v1/privacy/requests` records a request (`pending`, due in 30 days, Art. 12(3)) and
//! wakes the [`Worker`], which carries it out and marks it `completed` or `failed` in the same
//! transaction as its effects, with a `privacy_request.completed` event:
//!
//! - `access`: nothing to change; the bundle is built when downloaded ([`super::export`]).
//! - `erasure`: [`super::erasure`].
//! - `rectification`: the corrected fields are written and `contact.updated` tells every
//!   recipient (Art. 19).
//! - `restriction`: the contact is flagged (or the flag lifted); while flagged nothing is sent to
//!   them, no webhook carries their data (only `contact.restricted` itself) and agents' lists
//!   leave them out.
//! - `objection`: marketing is objected to on every address of the contact (Art. 21(3)).

use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::{Address, AddressKind};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::erasure::ErasureError;
use crate::events::WorkError;
use crate::privacy::tombstones::Journal;
use crate::events::outbox::UnitOfWork;
use crate::consent::{self, NewConsent};
use crate::domain::events::{self, Event};
use crate::domain::rfc3339;
use crate::events::present::fields;
use crate::hub::AppState;
use crate::store::privacy::RequestRow;
use crate::store::{self, StoreError};

pub const KINDS: &[&str] = &["access", "erasure", "rectification", "restriction", "objection"];

/// What a rectification's corrected values are sealed as (under the contact's key).
pub const SEALED_FIELDS: &str = "privacy_request.fields";

/// Art. 12(3): one month.
pub const DUE_DAYS: i64 = 30;

/// The JSON view of a request.
/// A data-subject request as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = PrivacyRequest)]
pub struct RequestView {
    pub id: Uuid,
    /// `access`, `erasure`, `rectification`, `restriction` or `objection`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Null when no one is held under the address the request named.
    pub contact_id: Option<Uuid>,
    /// `pending`, `completed` or `failed`.
    pub status: String,
    /// A restriction request that lifts the restriction.
    pub lift: Option<bool>,
    /// What was done, once completed.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// 30 days after receipt.
    #[schema(format = DateTime)]
    pub due_at: String,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// Pending past its due date.
    pub overdue: bool,
}

pub fn view(r: &RequestRow) -> RequestView {
    let detail: Value = serde_json::from_str(&r.detail).unwrap_or_else(|_| json!({}));
    RequestView {
        id: r.id,
        kind: r.kind.clone(),
        contact_id: r.contact_id,
        status: r.status.clone(),
        lift: detail.get("lift").and_then(Value::as_bool),
        result: r.result.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
        created_at: rfc3339(r.created_at),
        due_at: rfc3339(r.due_at),
        completed_at: r.completed_at.map(rfc3339),
        overdue: r.status == "pending" && r.due_at < store::now_micros(),
    }
}

/// Carries out pending requests as they come.
pub struct Worker {
    pub hub: AppState,
    pub wake: Arc<Notify>,
}

impl Worker {
    pub async fn run(self, stop: CancellationToken) {
        loop {
            match store::privacy::pending_requests(&self.hub.db, 32).await {
                Ok(pending) => {
                    for request in pending {
                        if let Err(err) = self.carry_out(&request).await {
                            // Left pending: tried again next round.
                            tracing::error!(request_id = %request.id, error = %err, "carrying out a privacy request failed");
                        }
                    }
                }
                Err(err) => tracing::error!(error = %err, "reading privacy requests failed"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }

    async fn carry_out(&self, r: &RequestRow) -> Result<(), StoreError> {
        let hub = &self.hub;
        let detail: Value = serde_json::from_str(&r.detail).unwrap_or_else(|_| json!({}));
        // A rectification is written (and told to recipients) in its own transaction, like an
        // operator's edit, before the request's own.
        let rectified = match (r.contact_id, r.kind.as_str()) {
            (Some(contact_id), "rectification") => {
                let fields = match detail.get("fields_sealed").and_then(Value::as_str) {
                    Some(sealed) => open_fields(hub, r.tenant_id, contact_id, r.id, sealed).await.unwrap_or_else(|| json!({})),
                    // Requests filed before the values were sealed.
                    None => detail.get("fields").cloned().unwrap_or_else(|| json!({})),
                };
                Some(match crate::contacts::edit::rectify(hub, r.tenant_id, contact_id, &fields).await {
                    Ok(_) => Ok(json!({"rectified": fields.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()})),
                    Err(err) => Err(err.to_string()),
                })
            }
            _ => None,
        };
        let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
        let outcome: Result<Value, String> = match (r.contact_id, r.kind.as_str()) {
            (None, _) => Ok(json!({"contact_found": false})),
            (Some(_), "access") => Ok(json!({"export": format!("/v1/privacy/requests/{}/export", r.id)})),
            (Some(contact_id), "erasure") => match super::erasure::erase_in(work.tx(), &hub.keyring, &Journal::new(hub.config.tombstones_path()), r.tenant_id, contact_id, Some(r.id)).await {
                Ok((erased, event)) => {
                    work.appended([event]);
                    Ok(serde_json::to_value(erased).unwrap_or_default())
                }
                Err(ErasureError::Store(err)) => return Err(err),
                // The journal could not be written: nothing is erased; the request stays pending
                // and the worker tries again.
                Err(ErasureError::Journal(err)) => return Err(crate::store::StoreError::Sqlx(sqlx::Error::Io(std::io::Error::other(err.to_string())))),
            },
            (Some(contact_id), "restriction") => {
                let restricted = !detail.get("lift").and_then(Value::as_bool).unwrap_or(false);
                if store::privacy::set_restricted(work.tx(), r.tenant_id, contact_id, restricted).await? {
                    let event = Event::new(r.tenant_id, events::CONTACT_RESTRICTED, None, &json!({"contact_id": contact_id, "restricted": restricted}));
                    work.append_plain(event).await?;
                    Ok(json!({"restricted": restricted}))
                } else {
                    Err("the contact no longer exists".into())
                }
            }
            (Some(contact_id), "objection") => match self.object(work.tx(), r, contact_id).await {
                Ok(events) => {
                    let n = events.len();
                    work.appended(events);
                    Ok(json!({"marketing_objected_on": n}))
                }
                Err(why) => Err(why.to_string()),
            },
            (Some(_), "rectification") => rectified.unwrap_or_else(|| Err("nothing to rectify".into())),
            (Some(_), other) => Err(format!("unknown request type {other}")),
        };
        let (status, result) = match outcome {
            Ok(v) => ("completed", v),
            Err(why) => ("failed", json!({"error": why})),
        };
        if !store::privacy::finish_request(work.tx(), r.id, status, &result.to_string()).await? {
            return Ok(()); // another process finished it
        }
        let data = json!({"id": r.id, "type": r.kind, "status": status, "contact_id": r.contact_id, "completed_at": rfc3339(store::now_micros())});
        let done = Event::new(r.tenant_id, events::PRIVACY_REQUEST_COMPLETED, None, &data);
        work.append_plain(done).await?;
        work.commit().await?;
        if r.kind == "erasure"
            && let Some(contact_id) = r.contact_id
        {
            let mut erased = vec![contact_id];
            erased.extend(result["merged_contacts"].as_array().into_iter().flatten().filter_map(|v| v.as_str()?.parse::<uuid::Uuid>().ok()));
            hub.contacts_changed(&erased).await;
            if !hub.db.wipe_log().await? {
                tracing::warn!(request_id = %r.id, "the write-ahead log could not be emptied after an erasure; it will be at the next checkpoint");
            }
        }
        Ok(())
    }

    /// Objects to marketing on every address the contact has, in `tx`.
    async fn object(&self, tx: &mut store::Tx, r: &RequestRow, contact_id: Uuid) -> Result<Vec<Event>, WorkError> {
        let hub = &self.hub;
        let key = hub.keyring.data_key(&mut *tx, r.tenant_id, contact_id).await?;
        let identities = store::contacts::identities_in_range(&mut *tx, r.tenant_id, contact_id, contact_id).await?;
        let mut new = Vec::new();
        for identity in identities {
            let Some(kind) = AddressKind::parse(&identity.kind) else { continue };
            let value = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address)?;
            let address = Address { kind, value };
            // An objection holds on every medium the address reaches the person on.
            for medium in omnibridge_channel::Medium::of_address(kind) {
                let medium = medium.as_str();
                let id = Uuid::now_v7();
                new.push(NewConsent {
                    id,
                    tenant_id: r.tenant_id,
                    contact_id: Some(contact_id),
                    channel: medium,
                    address_index: hub.keyring.blind_index(r.tenant_id, &address),
                    address: Some(key.seal(fields::CONSENT_ADDRESS, id, &address.value)?),
                    sender_scope: None,
                    purpose: consent::purposes::MARKETING.into(),
                    action: consent::actions::OBJECT,
                    legal_basis: consent::legal_bases::CONSENT,
                    method: consent::methods::PRIVACY_REQUEST,
                    evidence: json!({"privacy_request": r.id}),
                    actor: "privacy_request".into(),
                    notice_url: None,
                    notice_version: None,
                });
            }
        }
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let (_, events) = consent::record(tx, &key, &new).await?;
        Ok(events)
    }
}

/// A request's detail as stored: a rectification's corrected values sealed under the contact's
/// key (so an erasure shreds them with everything else), never in the clear; opened again by
/// [`open_fields`] when the request is carried out.
pub async fn stored_detail(
    hub: &AppState,
    tenant_id: uuid::Uuid,
    contact_id: Option<uuid::Uuid>,
    request_id: uuid::Uuid,
    fields: Option<&Value>,
    lift: bool,
) -> Result<String, crate::privacy::KeyError> {
    let fields = match (fields, contact_id) {
        (Some(fields), Some(contact_id)) => {
            let key = hub.keyring.data_key(&hub.db, tenant_id, contact_id).await?;
            let sealed = key.seal(SEALED_FIELDS, request_id, &fields.to_string())?;
            Some(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sealed))
        }
        // Nobody by that address: nothing to correct, nothing to keep.
        _ => None,
    };
    Ok(json!({"fields_sealed": fields, "lift": lift}).to_string())
}

/// A rectification's corrected values, opened with the contact's key.
async fn open_fields(hub: &AppState, tenant_id: uuid::Uuid, contact_id: uuid::Uuid, request_id: uuid::Uuid, sealed: &str) -> Option<Value> {
    let bytes = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, sealed).ok()?;
    let key = hub.keyring.data_key(&hub.db, tenant_id, contact_id).await.ok()?;
    serde_json::from_str(&key.open(SEALED_FIELDS, request_id, &bytes).ok()?).ok()
}

//! `/hooks/email/{channel_id}/unsubscribe/{token}`: one-click unsubscribe from marketing mail
//! (RFC 8058). Mail clients POST `List-Unsubscribe=One-Click` (form-urlencoded or multipart);
//! the answer is final (no redirect). A GET (someone following the link in a browser) only
//! shows a button: link scanners must not unsubscribe anyone.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use omnibridge_channel::problem::Problem;
use uuid::Uuid;

use omnibridge_channel::{Address, AddressKind};

use crate::consent::{self, NewConsent};
use crate::egress::worker::UNSUBSCRIBE;
use crate::present::fields;
use crate::state::AppState;
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new().route("/hooks/email/{channel_id}/unsubscribe/{token}", get(page).post(unsubscribe))
}

/// The contact the link names, if the link is genuine.
async fn resolve(state: &AppState, channel_id: &str, token: &str) -> Result<(Uuid, Uuid, Uuid), Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "this unsubscribe link is not valid");
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| not_found())?;
    let channel = state
        .channels
        .get(channel_id)
        .await
        .map_err(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly"))?
        .filter(|c| c.kind == omnibridge_email::KIND)
        .ok_or_else(not_found)?;
    let contact_id = state.keyring.verify_link_token(UNSUBSCRIBE, channel.tenant_id, channel.id, token).ok_or_else(not_found)?;
    Ok((channel.tenant_id, channel.id, contact_id))
}

async fn page(State(state): State<AppState>, Path((channel_id, token)): Path<(String, String)>) -> Result<Response, Problem> {
    resolve(&state, &channel_id, &token).await?;
    Ok(Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <p>Stop receiving marketing mail from us?</p><button type=\"submit\">Unsubscribe</button></form></body></html>",
    )
    .into_response())
}

async fn unsubscribe(
    State(state): State<AppState>,
    Path((channel_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let (tenant_id, channel_id, contact_id) = resolve(&state, &channel_id, &token).await?;
    if !is_one_click(&headers, &body) {
        return Err(Problem::invalid("List-Unsubscribe", "the body must carry List-Unsubscribe=One-Click (RFC 8058)"));
    }
    withdraw_marketing(&state, tenant_id, channel_id, contact_id)
        .await
        .map_err(|err| {
            tracing::error!(%channel_id, error = %err, "recording an unsubscribe failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
        })?;
    tracing::info!(%channel_id, %contact_id, "unsubscribed from marketing mail (one-click)");
    Ok(Html("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head>\
             <body><p>You are unsubscribed. You will receive no more marketing mail from us.</p></body></html>")
        .into_response())
}

/// Records the withdrawal of marketing consent for the contact's email address in the consent
/// ledger (once: a repeated click changes nothing), with `consent.changed`.
async fn withdraw_marketing(state: &AppState, tenant_id: Uuid, channel_id: Uuid, contact_id: Uuid) -> Result<(), String> {
    let key = state.keyring.data_key(&state.db, tenant_id, contact_id).await.map_err(|e| e.to_string())?;
    let identity = store::contacts::identity_for_kind(&state.db, tenant_id, contact_id, "email").await.map_err(|e| e.to_string())?;
    let Some(identity) = identity else { return Ok(()) };
    let address = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address).map_err(|e| e.to_string())?;
    let index = state.keyring.blind_index(tenant_id, &Address::new(AddressKind::Email, &address));
    if consent::refusal(&state.db, tenant_id, "email", &index, consent::purposes::MARKETING).await.map_err(|e| e.to_string())?.is_some() {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let withdrawal = NewConsent {
        id,
        tenant_id,
        contact_id: Some(contact_id),
        channel: "email",
        address_index: index,
        address: Some(key.seal(fields::CONSENT_ADDRESS, id, &address).map_err(|e| e.to_string())?),
        sender_scope: Some(format!("channel:{channel_id}")),
        purpose: consent::purposes::MARKETING.into(),
        action: consent::actions::WITHDRAW,
        legal_basis: consent::legal_bases::CONSENT,
        method: consent::methods::EMAIL_UNSUBSCRIBE,
        evidence: serde_json::json!({"channel_id": channel_id, "mechanism": "RFC 8058 one-click"}),
        actor: "contact".into(),
        notice_url: None,
        notice_version: None,
    };
    let mut tx = state.db.begin().await.map_err(|e| e.to_string())?;
    let (_, events) = consent::record(&mut tx, &key, &[withdrawal]).await.map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    state.bus.publish(events);
    Ok(())
}

/// `List-Unsubscribe=One-Click` in a form-urlencoded or a multipart/form-data body.
pub(super) fn is_one_click(headers: &HeaderMap, body: &[u8]) -> bool {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let text = String::from_utf8_lossy(body);
    if content_type.starts_with("multipart/form-data") {
        // A part named List-Unsubscribe whose value is One-Click.
        return text.split("Content-Disposition").any(|part| {
            part.contains("name=\"List-Unsubscribe\"") && part.split("\r\n\r\n").nth(1).is_some_and(|v| v.trim_start().starts_with("One-Click"))
        });
    }
    text.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        k.trim() == "List-Unsubscribe" && v.trim() == "One-Click"
    })
}

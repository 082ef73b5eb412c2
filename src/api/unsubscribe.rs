//! `/hooks/{hook name}/{channel_id}/unsubscribe/{token}`, for kinds whose marketing messages
//! carry a one-click unsubscribe link (mail): one-click unsubscribe (RFC 8058). Mail clients POST `List-Unsubscribe=One-Click` (form-urlencoded or multipart);
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

use omnibridge_channel::Address;

use crate::events::WorkError;
use crate::events::outbox::UnitOfWork;
use crate::consent::{self, NewConsent};
use crate::egress::worker::UNSUBSCRIBE;
use crate::events::present::fields;
use crate::hub::AppState;
use crate::store;

/// The unsubscribe routes of every kind that offers them, each knowing its kind.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for kind in state.channels.kinds().all().filter(|k| k.capabilities().unsubscribe_link) {
        let path = format!("/hooks/{}/{{channel_id}}/unsubscribe/{{token}}", kind.hook_name());
        router = router.route(&path, get(page).post(unsubscribe).with_state(Unsubscribing { hub: state.clone(), kind: kind.name() }));
    }
    router
}

#[derive(Clone)]
struct Unsubscribing {
    hub: AppState,
    kind: &'static str,
}

/// The contact the link names, if the link is genuine.
async fn resolve(state: &AppState, kind: &str, channel_id: &str, token: &str) -> Result<(Uuid, Uuid, Uuid), Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "this unsubscribe link is not valid");
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| not_found())?;
    let channel = state
        .channels
        .get(channel_id)
        .await
        .map_err(|_| Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly"))?
        .filter(|c| c.kind == kind)
        .ok_or_else(not_found)?;
    let contact_id = state.keyring.verify_link_token(UNSUBSCRIBE, channel.tenant_id, channel.id, token).ok_or_else(not_found)?;
    Ok((channel.tenant_id, channel.id, contact_id))
}

async fn page(State(u): State<Unsubscribing>, Path((channel_id, token)): Path<(String, String)>) -> Result<Response, Problem> {
    resolve(&u.hub, u.kind, &channel_id, &token).await?;
    Ok(Html(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>\
         <form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
         <p>Stop receiving marketing mail from us?</p><button type=\"submit\">Unsubscribe</button></form></body></html>",
    )
    .into_response())
}

async fn unsubscribe(
    State(u): State<Unsubscribing>,
    Path((channel_id, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let state = &u.hub;
    let (tenant_id, channel_id, contact_id) = resolve(state, u.kind, &channel_id, &token).await?;
    if !is_one_click(&headers, &body) {
        return Err(Problem::invalid("List-Unsubscribe", "the body must carry List-Unsubscribe=One-Click (RFC 8058)"));
    }
    withdraw_marketing(state, tenant_id, channel_id, contact_id)
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

/// Records the withdrawal of marketing consent for the contact's address on the channel's
/// medium in the consent ledger (once: a repeated click changes nothing), with `consent.changed`.
async fn withdraw_marketing(state: &AppState, tenant_id: Uuid, channel_id: Uuid, contact_id: Uuid) -> Result<(), WorkError> {
    let channel = state.channels.get(channel_id).await?.ok_or(WorkError::Vanished("the channel"))?;
    let kind = state.channels.kind_of(&channel).ok_or(WorkError::Refused("the channel's kind is unknown".into()))?;
    let (medium, address_kind) = (kind.medium(), kind.address_kind());
    let key = state.keyring.data_key(&state.db, tenant_id, contact_id).await?;
    let identity = store::contacts::identity_for_kind(&state.db, tenant_id, contact_id, address_kind.as_str()).await?;
    let Some(identity) = identity else { return Ok(()) };
    let address = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address)?;
    let index = state.keyring.blind_index(tenant_id, &Address::new(address_kind, &address));
    if consent::refusal(&state.db, tenant_id, medium.as_str(), &index, consent::purposes::MARKETING).await?.is_some() {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let withdrawal = NewConsent {
        id,
        tenant_id,
        contact_id: Some(contact_id),
        channel: medium.as_str(),
        address_index: index,
        address: Some(key.seal(fields::CONSENT_ADDRESS, id, &address)?),
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
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let (_, events) = consent::record(work.tx(), &key, &[withdrawal]).await?;
    work.appended(events);
    work.commit().await?;
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

//! `/hooks/twilio/{channel_id}/sms` and `/hooks/twilio/{channel_id}/status`: what Twilio posts
//! to an SMS channel. Every request is checked against `X-Twilio-Signature` first (the URL is
//! the channel's public base URL, or the hub's, plus the path and query as received); a bad
//! signature answers 403 and nothing is stored.
//!
//! An inbound message is stored once per `MessageSid` and answered with empty TwiML as soon as
//! it is durable. STOP-like keywords withdraw consent in the same transaction (see the ingest
//! batch); HELP/INFO queue the channel's help reply through the send worker, so it passes the
//! egress door like any other message.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use omnibridge_channel::problem::Problem;
use omnibridge_channel::{DeliveryStatus, SinkError};
use omnibridge_twilio_sms::keywords::Keyword;
use omnibridge_twilio_sms::webhook::{self, Progress};
use omnibridge_twilio_sms::{TwilioSmsSettings, signature};
use uuid::Uuid;

use super::ProviderHooks;
use crate::channels::{ChannelInfo, twilio};
use crate::egress::reports::{self, Report};
use crate::present::fields;
use crate::state::AppState;
use crate::store::{self, NewMessage};

pub fn router(state: ProviderHooks) -> Router {
    Router::new()
        .route("/hooks/twilio/{channel_id}/sms", post(inbound_message))
        .route("/hooks/twilio/{channel_id}/status", post(status_callback))
        .with_state(state)
}

fn unavailable() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
}

/// The channel the path names, its settings and the form's parameters, if the signature holds.
async fn verified(state: &AppState, channel_id: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(Arc<ChannelInfo>, TwilioSmsSettings, Vec<(String, String)>), Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "no SMS channel with this id");
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| not_found())?;
    let channel = state.channels.get(channel_id).await.map_err(|_| unavailable())?.filter(|c| c.kind == omnibridge_twilio_sms::KIND).ok_or_else(not_found)?;
    let settings = twilio::settings_of(&state.keyring, &channel).map_err(|err| {
        tracing::error!(%channel_id, error = %err, "SMS channel settings do not load");
        unavailable()
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Twilio posts application/x-www-form-urlencoded"));
    }
    let url = format!("{}{}", twilio::public_base(&settings, &state.config.public_base_url()), uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let params = webhook::parse_form(body);
    // Twilio never repeats a parameter. A repeated one would be read once by the signature (its
    // algorithm folds identical pairs) and maybe otherwise by the parser: refused, not guessed.
    let mut names: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Problem::invalid(twice[0], format!("{} appears more than once; Twilio sends each parameter once", twice[0])));
    }
    let given = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !signature::is_valid_form(&settings.auth_tokens(), &url, &params, given) {
        tracing::warn!(%channel_id, "a Twilio request with a wrong signature was refused");
        metrics::counter!("omnibridge_provider_signature_failures_total", "provider" => "twilio").increment(1);
        return Err(Problem::new(StatusCode::FORBIDDEN, "invalid_signature", "X-Twilio-Signature does not match this request"));
    }
    Ok((channel, settings, params))
}

fn empty_twiml() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/xml")], "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>").into_response()
}

fn form_problem(err: webhook::FormError) -> Problem {
    Problem::invalid(&err.field, err.detail)
}

async fn inbound_message(
    State(s): State<ProviderHooks>,
    Path(channel_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let (channel, settings, params) = verified(&s.hub, &channel_id, &uri, &headers, &body).await?;
    let sms = webhook::inbound(&params).map_err(form_problem)?;
    if sms.account_sid != settings.account_sid {
        return Err(Problem::invalid("AccountSid", "the message belongs to another Twilio account"));
    }
    if !sms.is_for(&settings) {
        return Err(Problem::invalid("To", "the message was sent neither to this channel's number nor through its Messaging Service"));
    }
    let accepted = s.inbound.accept(sms.to_inbound(channel.id)).await.map_err(|err| match err {
        SinkError::Rejected(why) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", why),
        SinkError::Unavailable(_) => unavailable(),
    })?;
    if sms.keyword() == Some(Keyword::Help)
        && !accepted.duplicate
        && let Some(help) = &settings.help_reply
        && let Err(err) = queue_automatic_reply(&s.hub, &channel, accepted.conversation_id, accepted.contact_id, help).await
    {
        // The message is stored; the help reply is a courtesy Twilio also gives on its own.
        tracing::error!(channel_id = %channel.id, error = %err, "queueing the HELP reply failed");
    }
    Ok(empty_twiml())
}

/// Queues an automatic reply (the hub's, not an operator's) in the conversation.
async fn queue_automatic_reply(state: &AppState, channel: &ChannelInfo, conversation_id: Uuid, contact_id: Uuid, text: &str) -> Result<(), String> {
    let key = state.keyring.data_key(&state.db, channel.tenant_id, contact_id).await.map_err(|e| e.to_string())?;
    let id = Uuid::now_v7();
    let sealed = key.seal(fields::MESSAGE_TEXT, id, text).map_err(|e| e.to_string())?;
    let new = NewMessage::automatic(id, channel.tenant_id, conversation_id, contact_id, channel.id, &sealed, crate::consent::purposes::SERVICE);
    let mut tx = state.db.begin().await.map_err(|e| e.to_string())?;
    store::messages::insert(&mut tx, &new).await.map_err(|e| e.to_string())?;
    tx.commit().await.map_err(|e| e.to_string())?;
    state.send_wake.notify_one();
    Ok(())
}

async fn status_callback(
    State(s): State<ProviderHooks>,
    Path(channel_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let state = &s.hub;
    let (channel, settings, params) = verified(state, &channel_id, &uri, &headers, &body).await?;
    let callback = webhook::status(&params).map_err(form_problem)?;
    if callback.account_sid != settings.account_sid {
        return Err(Problem::invalid("AccountSid", "the callback belongs to another Twilio account"));
    }
    // Our id rides in the callback URL (signed with it), so a callback that overtakes the
    // send's own answer still finds its message; Twilio's id is the fallback.
    let ours = uri.query().and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "message_id")).and_then(|(_, v)| Uuid::parse_str(&v).ok());
    let message = match ours {
        Some(id) => store::messages::get(&state.db, channel.tenant_id, id).await.map_err(|_| unavailable())?,
        None => store::messages::existing(&state.db, &[(channel.id, callback.message_sid.as_str())])
            .await
            .map_err(|_| unavailable())?
            .into_iter()
            .find(|m| m.direction == "out"),
    };
    let Some(message) = message.filter(|m| m.channel_id == channel.id && m.direction == "out") else {
        // Nothing of ours (a message sent outside the hub with this callback URL): acknowledge.
        tracing::info!(channel_id = %channel.id, "a status callback for a message this channel did not send; ignored");
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let error = |what: &str| Some(format!("Twilio reports {what}{}", callback.error_code.as_deref().map(|c| format!(" (error {c})")).unwrap_or_default()));
    let report = match callback.progress {
        Progress::Pending | Progress::Sent => None,
        Progress::Delivered => Some(Report { status: DeliveryStatus::Delivered, external_id: None, error: None }),
        Progress::Read => Some(Report { status: DeliveryStatus::Read, external_id: None, error: None }),
        Progress::Failed => Some(Report { status: DeliveryStatus::Failed, external_id: None, error: error(&callback.status) }),
        Progress::Canceled => Some(Report { status: DeliveryStatus::Failed, external_id: None, error: error("canceled") }),
    };
    if let Some(mut report) = report {
        report.external_id = Some(callback.message_sid.clone());
        reports::record(&state.db, &state.keyring, &state.bus, &message, report).await.map_err(|err| {
            tracing::error!(message_id = %message.id, error = %err, "recording a Twilio status failed");
            unavailable()
        })?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

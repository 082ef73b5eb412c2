//! `/hooks/twilio/{channel_id}/sms` and `/hooks/twilio/{channel_id}/status`: what Twilio posts
//! to an SMS channel. Every request is checked against `X-Twilio-Signature` first (the URL is
//! the channel's public base URL, or the hub's, plus the path and query as received); a bad
//! signature answers 403 and nothing is stored.
//!
//! An inbound message is stored once per `MessageSid` and answered with empty TwiML as soon as
//! it is durable. STOP-like keywords withdraw consent in the same transaction (the hub reads the
//! message's consent signal); HELP/INFO queue the channel's help reply through the hub, so it
//! passes the egress door like any other message.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use omnibridge_channel::problem::Problem;
use omnibridge_channel::{AdapterError, DeliveryReport, DeliveryStatus, HookContext, HostedChannel, SinkError};
use uuid::Uuid;

use crate::keywords::Keyword;
use crate::webhook::{self, Progress};
use crate::{TwilioSmsConfig, TwilioSmsSettings, signature};

pub fn routes() -> Router<HookContext> {
    Router::new().route("/{channel_id}/sms", post(inbound_message)).route("/{channel_id}/status", post(status_callback))
}

/// The base URL Twilio reaches a channel at: the channel's own setting, else the hub's.
pub fn public_base(settings: &TwilioSmsSettings, hub_public_url: &str) -> String {
    settings.public_base_url.clone().unwrap_or_else(|| hub_public_url.trim_end_matches('/').to_owned())
}

fn unavailable() -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
}

/// The channel the path names, its settings and the form's parameters, if the signature holds.
async fn verified(cx: &HookContext, channel_id: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(HostedChannel, TwilioSmsSettings, Vec<(String, String)>), Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "no SMS channel with this id");
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| not_found())?;
    let channel = cx.host.channel(crate::KIND, channel_id).await.map_err(|_| unavailable())?.ok_or_else(not_found)?;
    let settings = serde_json::from_value::<TwilioSmsConfig>(channel.settings.clone()).ok().and_then(|c| c.validate().ok()).ok_or_else(|| {
        tracing::error!(%channel_id, "SMS channel settings do not load");
        unavailable()
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !content_type.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded") {
        return Err(Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "Twilio posts application/x-www-form-urlencoded"));
    }
    // The hub mounts these routes under the kind's prefix; `uri` is the part below it.
    let prefix = omnibridge_channel::kind::hook_prefix(&crate::TwilioSmsKind);
    let url = format!("{}{prefix}{}", public_base(&settings, &cx.public_url), uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
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
        cx.host.signature_refused(crate::KIND, channel_id);
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

async fn inbound_message(State(cx): State<HookContext>, Path(channel_id): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let (channel, settings, params) = verified(&cx, &channel_id, &uri, &headers, &body).await?;
    let sms = webhook::inbound(&params).map_err(form_problem)?;
    if sms.account_sid != settings.account_sid {
        return Err(Problem::invalid("AccountSid", "the message belongs to another Twilio account"));
    }
    if !sms.is_for(&settings) {
        return Err(Problem::invalid("To", "the message was sent neither to this channel's number nor through its Messaging Service"));
    }
    let accepted = cx.inbound.accept(sms.to_inbound(channel.id)).await.map_err(|err| match err {
        SinkError::Rejected(why) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", why),
        SinkError::Unavailable(_) => unavailable(),
    })?;
    if sms.keyword() == Some(Keyword::Help)
        && !accepted.duplicate
        && let Some(help) = &settings.help_reply
        && let Err(err) = cx.host.auto_reply(channel.id, &accepted, help).await
    {
        // The message is stored; the help reply is a courtesy Twilio also gives on its own.
        tracing::error!(channel_id = %channel.id, error = %err, "queueing the HELP reply failed");
    }
    Ok(empty_twiml())
}

async fn status_callback(State(cx): State<HookContext>, Path(channel_id): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let (channel, settings, params) = verified(&cx, &channel_id, &uri, &headers, &body).await?;
    let callback = webhook::status(&params).map_err(form_problem)?;
    if callback.account_sid != settings.account_sid {
        return Err(Problem::invalid("AccountSid", "the callback belongs to another Twilio account"));
    }
    // Our id rides in the callback URL (signed with it), so a callback that overtakes the
    // send's own answer still finds its message; Twilio's id is the fallback.
    let ours = uri.query().and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "message_id")).and_then(|(_, v)| Uuid::parse_str(&v).ok());
    // The code first, as the hub reads it ("30003 Twilio reports undelivered").
    let error = |what: &str| Some(match callback.error_code.as_deref() {
        Some(code) => format!("{code} Twilio reports {what}"),
        None => format!("Twilio reports {what}"),
    });
    let status = match callback.progress {
        // Kept in the message's history; a late one moves nothing.
        Progress::Pending => Some((DeliveryStatus::Queued, None)),
        Progress::Sent => Some((DeliveryStatus::Sent, None)),
        Progress::Delivered => Some((DeliveryStatus::Delivered, None)),
        Progress::Read => Some((DeliveryStatus::Read, None)),
        Progress::Failed => Some((DeliveryStatus::Failed, error(&callback.status))),
        Progress::Canceled => Some((DeliveryStatus::Failed, error("canceled"))),
    };
    if let Some((status, error)) = status {
        let failure = error.map(AdapterError::Permanent);
        let report = DeliveryReport { message_id: ours, provider_id: Some(callback.message_sid.clone()), status, failure, gave_up: false };
        cx.host.report(channel.id, report).await.map_err(|err| {
            tracing::error!(channel_id = %channel.id, error = %err, "recording a Twilio status failed");
            unavailable()
        })?;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

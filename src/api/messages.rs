//! `/v1/conversations/{id}/messages`: reading a conversation and answering it — on its channel,
//! on another channel the contact has an identity on, or as a private note.
//!
//! A reply is stored `queued` and the send worker takes it through the egress door; the answer
//! to the POST is the queued message.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::conversations::find;
use super::pagination::{ListParams, list_body};
use crate::inbox::participants::{self, Copies};
use crate::inbox::signatures;
use crate::outgoing::{self, Author, Draft};
use crate::egress::preflight::Outgoing;
use crate::events::outbox::UnitOfWork;
use crate::channels::ChannelInfo;
use crate::domain::events::{self, Event};
use crate::api::error::{ApiError, ApiResult};
use crate::events::outbox;
use crate::events::present;
use crate::hub::AppState;
use crate::domain::delivery::Status;
use crate::store::{self, Page};

/// Purposes an outbound message may be sent for.
const MAX_TEXT_CHARS: usize = 20_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/conversations/{id}/messages", get(list).post(reply))
        .route("/v1/messages", get(by_status))
        .route("/v1/messages/{id}", get(one).patch(change))
        .route("/v1/messages/{id}/retry", post(retry))
        .route("/v1/messages/{id}/cancel", post(cancel))
        .route("/v1/messages/{id}/deliveries", get(deliveries))
}

pub fn valid_text(text: &str) -> ApiResult<&str> {
    let text = text.trim();
    if text.is_empty() {
        return Err(ApiError::invalid("text", "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::invalid("text", format!("must be at most {MAX_TEXT_CHARS} characters")));
    }
    Ok(text)
}

/// A purpose of the configured list (`consent.purposes`); `service` when none is given.
pub fn valid_purpose(state: &AppState, purpose: Option<&str>) -> ApiResult<String> {
    let purpose = purpose.unwrap_or("service");
    let known = state.config.consent.purposes();
    known.iter().find(|p| *p == purpose).cloned().ok_or_else(|| ApiError::invalid("purpose", format!("must be one of {}", known.join(", "))))
}

/// A channel of the tenant on which the contact can be reached.
pub async fn reachable_channel(state: &AppState, auth: &Auth, contact_id: Uuid, channel_id: Uuid) -> ApiResult<Arc<ChannelInfo>> {
    let channel = state
        .channels
        .get(channel_id)
        .await?
        .filter(|c| c.tenant_id == auth.tenant_id)
        .ok_or_else(|| ApiError::invalid("channel_id", "no channel with this id"))?;
    let kind = state.channels.kind_of(&channel).map(|k| k.address_kind()).ok_or_else(|| ApiError::invalid("channel_id", "this channel cannot send"))?;
    if store::contacts::identity_for_kind(&state.db, auth.tenant_id, contact_id, kind.as_str()).await?.is_none() {
        return Err(ApiError::invalid("channel_id", format!("the contact has no {} address to reach on this channel", kind.as_str())));
    }
    Ok(channel)
}

async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<impl IntoResponse> {
    let conversation = find(&state, &auth, &id).await?;
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::messages::for_conversation(&state.db, auth.tenant_id, conversation.id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let mut data = page.items.iter().map(|row| present::message(row, &key)).collect::<Result<Vec<_>, _>>()?;
    present::with_details(&state.db, &mut data, &key).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "messages.read", "conversation", Some(conversation.id), None).await;
    Ok(Json(list_body(data, page.next_cursor)))
}

/// A sent message's delivery history: every report its provider made, in the order received,
/// and whether it moved the status (a late "sent" after "read" is kept, not applied).
async fn deliveries(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("message"))?;
    let message = store::messages::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("message"))?;
    // The conversation's access rules decide who may see its messages.
    find(&state, &auth, &message.conversation_id.to_string()).await?;
    let reports = store::deliveries::for_message(&state.db, message.id).await?;
    let data: Vec<serde_json::Value> = reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "status": r.status,
                "error": r.error,
                "applied": r.applied,
                "external_id": r.external_id,
                "received_at": crate::domain::rfc3339(r.received_at),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({"message_id": message.id, "status": message.status, "error": message.error, "data": data})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    /// The text; or, on channels with templates, `template` instead.
    text: Option<String>,
    /// An approved template to send instead of text (outside the reply window the only way).
    template: Option<omnibridge_channel::TemplateSend>,
    /// A message of the conversation this one answers, quoted where the channel can.
    reply_to: Option<Uuid>,
    channel_id: Option<Uuid>,
    #[serde(default)]
    private: bool,
    purpose: Option<String>,
    /// Files to send with the reply (channels that carry files: email).
    #[serde(default)]
    attachments: Vec<NewAttachment>,
    /// Send later, at this RFC 3339 time (checked against consent, policy and the channel's
    /// window when it goes).
    send_at: Option<String>,
    /// Mail: the copies of this reply. Left out, the reply goes to every participant of the
    /// conversation (reply-all); addresses named here join the conversation.
    cc: Option<Vec<String>>,
    /// Mail: blind copies of this reply only.
    #[serde(default)]
    bcc: Vec<String>,
    /// Mail: end with the operator's and the mailbox's signatures (the default).
    signature: Option<bool>,
}

/// Checks typed addresses; the error names the entry.
fn valid_copies(field: &str, list: &[String]) -> ApiResult<Vec<String>> {
    participants::valid_addresses(field, list).map_err(|(field, detail)| ApiError::invalid(&field, detail))
}

/// How far ahead a message may be scheduled.
const MAX_SCHEDULE_AHEAD_MICROS: i64 = 366 * 24 * 3600 * 1_000_000;

/// A `send_at` in the future, within a year; microseconds.
fn valid_send_at(raw: &str) -> ApiResult<i64> {
    let at = crate::domain::parse_rfc3339(raw).ok_or_else(|| ApiError::invalid("send_at", "must be an RFC 3339 time such as 2027-01-31T09:00:00Z"))?;
    let now = store::now_micros();
    if at <= now {
        return Err(ApiError::invalid("send_at", "must be in the future"));
    }
    if at - now > MAX_SCHEDULE_AHEAD_MICROS {
        return Err(ApiError::invalid("send_at", "must be within a year"));
    }
    Ok(at)
}

/// Preflight for a message that goes later (scheduled, or retried): consent, policy and
/// restriction now; the channel's window is asked when it goes, since the person may write
/// again before then.
async fn preflight_later(state: &AppState, outgoing: &Outgoing<'_>) -> ApiResult<()> {
    match state.door.preflight(outgoing).await {
        Ok(()) | Err(crate::egress::EgressError::WindowClosed { .. }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAttachment {
    filename: String,
    content_type: Option<String>,
    /// The content, standard base64.
    data: String,
}

const MAX_OUTBOUND_ATTACHMENTS: usize = 10;

use omnibridge_channel::files::is_executable;

/// Decodes and checks the attachments of a reply.
fn valid_attachments(list: &[NewAttachment], channel_kind: &str, carries_files: bool) -> ApiResult<Vec<(String, String, Vec<u8>)>> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    if !carries_files {
        return Err(ApiError::invalid("attachments", format!("a {channel_kind} channel cannot send files")));
    }
    if list.len() > MAX_OUTBOUND_ATTACHMENTS {
        return Err(ApiError::invalid("attachments", format!("at most {MAX_OUTBOUND_ATTACHMENTS} files")));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, a) in list.iter().enumerate() {
        let name = a.filename.trim();
        if name.is_empty() || name.chars().count() > 200 || name.contains(['/', '\\', '\0']) {
            return Err(ApiError::invalid(&format!("attachments[{i}].filename"), "must be 1 to 200 characters, without path separators"));
        }
        let content_type = a.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        if !content_type.contains('/') || content_type.len() > 100 || content_type.contains(char::is_whitespace) {
            return Err(ApiError::invalid(&format!("attachments[{i}].content_type"), "must be a MIME type such as application/pdf"));
        }
        if is_executable(name, &content_type) {
            return Err(ApiError::invalid(&format!("attachments[{i}]"), "programs and scripts are not sent as attachments"));
        }
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.data.trim())
            .map_err(|_| ApiError::invalid(&format!("attachments[{i}].data"), "must be standard base64"))?;
        out.push((name.to_owned(), content_type, data));
    }
    Ok(out)
}

async fn reply(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Reply>,
) -> ApiResult<impl IntoResponse> {
    let conversation = find(&state, &auth, &id).await?;
    let text = match (&body.text, &body.template) {
        (Some(text), None) => Some(valid_text(text)?),
        (None, Some(_)) if body.private => return Err(ApiError::invalid("template", "a private note has text, not a template")),
        (None, Some(_)) if !body.attachments.is_empty() => return Err(ApiError::invalid("attachments", "a template is sent without files")),
        (None, Some(_)) => None,
        (Some(_), Some(_)) => return Err(ApiError::invalid("template", "give either text or a template, not both")),
        (None, None) => return Err(ApiError::invalid("text", "required (or a template, on channels that have them)")),
    };
    let requested_purpose = valid_purpose(&state, body.purpose.as_deref())?;
    let send_at = match body.send_at.as_deref() {
        Some(_) if body.private => return Err(ApiError::invalid("send_at", "a private note is not sent")),
        Some(raw) => Some(valid_send_at(raw)?),
        None => None,
    };
    let channel_id = match (body.private, body.channel_id) {
        (true, _) => conversation.channel_id,
        (false, Some(other)) => reachable_channel(&state, &auth, conversation.contact_id, other).await?.id,
        (false, None) => reachable_channel(&state, &auth, conversation.contact_id, conversation.channel_id).await?.id,
    };
    let channel = state.channels.get(channel_id).await?.ok_or_else(|| ApiError::invalid("channel_id", "no channel with this id"))?;
    let kind = state.channels.kind_of(&channel);
    let files = valid_attachments(&body.attachments, &channel.kind, kind.is_some_and(|k| k.capabilities().attachments))?;
    let cc = body.cc.as_deref().map(|list| valid_copies("cc", list)).transpose()?;
    let bcc = valid_copies("bcc", &body.bcc)?;
    let carbon_copies = kind.is_some_and(|k| k.capabilities().carbon_copies);
    if cc.as_ref().is_some_and(|c| !c.is_empty()) || !bcc.is_empty() {
        let field = if cc.as_ref().is_some_and(|c| !c.is_empty()) { "cc" } else { "bcc" };
        if body.private {
            return Err(ApiError::invalid(field, "a private note is not sent"));
        }
        if !carbon_copies {
            return Err(ApiError::invalid(field, format!("a {} channel sends to one person; copies are for mail", channel.kind)));
        }
    }
    let copies = (carbon_copies && !body.private).then_some(Copies { cc, bcc, to: None });
    // A template brings its own text, and its category says the purpose.
    let prepared = match body.template.clone() {
        Some(spec) => Some(crate::channels::templates::prepare(&state.channels, &state.db, &channel, spec).await?),
        None => None,
    };
    let purpose = match &prepared {
        Some(p) if p.purpose == crate::consent::purposes::MARKETING => p.purpose,
        _ => requested_purpose.as_str(),
    };
    let text: &str = match (&prepared, text) {
        (Some(p), _) => p.text.as_str(),
        (None, Some(text)) => text,
        (None, None) => return Err(ApiError::invalid("text", "required")),
    };
    let signature = match kind {
        Some(kind) if !body.private && prepared.is_none() && body.signature.unwrap_or(true) => {
            signatures::for_reply(&state.db, kind, &channel, auth.operator_id).await?
        }
        _ => None,
    };
    let signed = signatures::signed(text, signature.as_deref());
    let text = signed.as_str();
    let quoted = match body.reply_to {
        Some(quoted) => {
            let found = store::messages::get(&state.db, auth.tenant_id, quoted).await?.filter(|m| m.conversation_id == conversation.id);
            Some(found.ok_or_else(|| ApiError::invalid("reply_to", "no message with this id in the conversation"))?.id)
        }
        None => None,
    };
    if !body.private {
        let outgoing = Outgoing {
            tenant_id: auth.tenant_id,
            contact_id: conversation.contact_id,
            channel: &channel,
            purpose,
            attachments: !files.is_empty(),
            to: None,
            template: prepared.is_some(),
            human: true,
        };
        if send_at.is_some() {
            preflight_later(&state, &outgoing).await?;
        } else {
            state.door.preflight(&outgoing).await?;
        }
        // Copies the operator named must be allowed too; participants the door refuses later
        // are left out of that one message and said so.
        if let Some(copies) = &copies {
            for address in copies.cc.iter().flatten().chain(&copies.bcc) {
                let to = omnibridge_channel::Address::new(omnibridge_channel::AddressKind::Email, address);
                preflight_later(&state, &Outgoing { to: Some(&to), ..outgoing }).await?;
            }
        }
    }
    if !body.private
        && prepared.is_none()
        && let Some(kind) = kind
    {
        kind.check_text(text).map_err(|e| ApiError::invalid("text", e.detail))?;
    }
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let draft = Draft {
        author: Author::Operator(auth.operator_id),
        private: body.private,
        template: prepared.as_ref().map(|p| &p.spec),
        quoted,
        send_at,
        ..Draft::automatic(auth.tenant_id, conversation.id, channel_id, &key, text, purpose)
    };
    let mut message = outgoing::queue(&mut work, &state.send_wake, draft).await?;
    if let Some(copies) = &copies {
        message.recipients = participants::address_message(work.tx(), &state.keyring, &key, auth.tenant_id, conversation.id, message.id, copies).await?;
    }
    let files = files.into_iter().map(|(filename, content_type, data)| outgoing::NewFile { filename: Some(filename), content_type, data }).collect();
    message.attachments = outgoing::attach(&mut work, &key, auth.tenant_id, message.id, files).await?;
    if !body.private {
        // The conversation now travels on the channel of the reply (a channel switch, if any).
        // An operator's reply leaves the status as it is (a resolved conversation stays resolved).
        let touched = store::conversations::touch(work.tx(), conversation.id, channel_id, &conversation.status).await?;
        if touched.channel_id != conversation.channel_id {
            let sequence = outbox::next_sequence(work.tx(), touched.id).await?;
            let view = present::conversation(&touched);
            let event =
                Event::in_conversation(auth.tenant_id, events::CONVERSATION_UPDATED, touched.contact_id, touched.id, sequence, &view);
            work.append(Some(&key), event).await?;
        }
    }
    work.commit().await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// An outbound message of the tenant the caller may see (restricted contacts only for admins).
async fn find_message(state: &AppState, auth: &Auth, id: &str) -> ApiResult<store::MessageRow> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound("message"))?;
    let message = store::messages::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("message"))?;
    if auth.role != crate::domain::Role::Admin && !store::privacy::restricted_among(&state.db, &[message.contact_id]).await?.is_empty() {
        return Err(ApiError::NotFound("message"));
    }
    Ok(message)
}

async fn one(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let message = find_message(&state, &auth, &id).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, message.contact_id).await?;
    let mut views = vec![present::message(&message, &key)?];
    present::with_details(&state.db, &mut views, &key).await?;
    Ok(Json(views.remove(0)))
}

/// `GET /v1/messages?status=failed,unknown`: the tenant's outbound messages in those statuses
/// (the dead-letter view; or the scheduled ones), newest first, of one channel or conversation
/// if asked.
async fn by_status(State(state): State<AppState>, auth: Auth, Query(q): Query<HashMap<String, String>>) -> ApiResult<impl IntoResponse> {
    let params = ListParams(q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    // The dead-letter view unless asked otherwise.
    let raw = params.raw("status").unwrap_or("failed,unknown");
    let mut statuses = Vec::new();
    for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let status = Status::parse(word).ok_or_else(|| ApiError::invalid("status", format!("unknown status {word:?}")))?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    let rows = store::messages::by_status(&state.db, auth.tenant_id, &statuses, params.uuid("channel_id")?, params.uuid("conversation_id")?, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let hidden: std::collections::HashSet<Uuid> = if auth.role == crate::domain::Role::Admin {
        Default::default()
    } else {
        store::privacy::restricted_among(&state.db, &page.items.iter().map(|r| r.contact_id).collect::<Vec<_>>()).await?.into_iter().collect()
    };
    let mut data = Vec::with_capacity(page.items.len());
    for row in page.items.iter().filter(|r| !hidden.contains(&r.contact_id)) {
        let key = state.keyring.data_key(&state.db, auth.tenant_id, row.contact_id).await?;
        let mut views = vec![present::message(row, &key)?];
        present::with_details(&state.db, &mut views, &key).await?;
        data.extend(views);
    }
    Ok(Json(list_body(data, page.next_cursor)))
}

/// What a lifecycle request came to, as the API answers it.
fn answer(change: outgoing::Change, what: &str) -> ApiResult<Json<crate::domain::views::MessageView>> {
    match change {
        outgoing::Change::Done(view) => Ok(Json(*view)),
        outgoing::Change::Refused(status) => Err(ApiError::Conflict(format!("the message is {status}; {what}"))),
        outgoing::Change::NotFound => Err(ApiError::NotFound("message")),
    }
}

/// `POST /v1/messages/{id}/retry`: a failed, unknown or canceled message goes again — a new
/// attempt of the same message, through the door (consent and policy checked again).
async fn retry(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let message = find_message(&state, &auth, &id).await?;
    let status = Status::parse(&message.status);
    if !status.is_some_and(Status::may_retry) {
        return Err(ApiError::Conflict(format!("the message is {}; only failed, unknown or canceled messages are retried", message.status)));
    }
    let channel = state.channels.get(message.channel_id).await?.ok_or_else(|| ApiError::Conflict("the message's channel was deleted".into()))?;
    let outgoing = Outgoing {
        tenant_id: auth.tenant_id,
        contact_id: message.contact_id,
        channel: &channel,
        purpose: &message.purpose,
        attachments: false,
        to: None,
        template: false,
        human: message.author_type == "operator",
    };
    preflight_later(&state, &outgoing).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, message.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let change = outgoing::retry(&mut work, &state.send_wake, &key, auth.tenant_id, message.id).await?;
    work.commit().await?;
    answer(change, "only failed, unknown or canceled messages are retried")
}

/// `POST /v1/messages/{id}/cancel`: a scheduled (or still queued) message never goes.
async fn cancel(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    let message = find_message(&state, &auth, &id).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, message.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let change = outgoing::cancel(&mut work, &key, auth.tenant_id, message.id).await?;
    work.commit().await?;
    answer(change, "only a message that has not gone yet can be canceled")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageChange {
    text: Option<String>,
    send_at: Option<String>,
}

/// `PATCH /v1/messages/{id}`: a scheduled message's text or time, until it goes.
async fn change(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<MessageChange>) -> ApiResult<impl IntoResponse> {
    let message = find_message(&state, &auth, &id).await?;
    let text = body.text.as_deref().map(valid_text).transpose()?;
    let send_at = body.send_at.as_deref().map(valid_send_at).transpose()?;
    if text.is_none() && send_at.is_none() {
        return Err(ApiError::invalid("text", "give the new text, send_at, or both"));
    }
    if let (Some(text), Some(channel)) = (text, state.channels.get(message.channel_id).await?)
        && let Some(kind) = state.channels.kind_of(&channel)
    {
        kind.check_text(text).map_err(|e| ApiError::invalid("text", e.detail))?;
    }
    let key = state.keyring.data_key(&state.db, auth.tenant_id, message.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let change = outgoing::reschedule(&mut work, &key, auth.tenant_id, message.id, text, send_at).await?;
    work.commit().await?;
    answer(change, "only a scheduled message can be changed")
}

#[cfg(test)]
mod attachment_tests {
    use super::*;

    fn file(name: &str, content_type: &str) -> NewAttachment {
        serde_json::from_value(serde_json::json!({"filename": name, "content_type": content_type, "data": "aGVsbG8="})).expect("attachment")
    }

    #[test]
    fn programs_are_not_sent_and_documents_are() {
        for (name, kind) in [("invoice.exe", "application/pdf"), ("setup.pdf", "application/x-msdownload"), ("run.PS1", "text/plain")] {
            let err = valid_attachments(&[file(name, kind)], "email", true).unwrap_err();
            assert!(matches!(err, ApiError::Invalid { ref field, .. } if field == "attachments[0]"), "{name}: {err}");
        }
        assert_eq!(valid_attachments(&[file("invoice.pdf", "application/pdf")], "email", true).expect("fine").len(), 1);
        let many: Vec<NewAttachment> = (0..=MAX_OUTBOUND_ATTACHMENTS).map(|i| file(&format!("f{i}.txt"), "text/plain")).collect();
        assert!(valid_attachments(&many, "email", true).is_err(), "at most {MAX_OUTBOUND_ATTACHMENTS} files");
    }
}

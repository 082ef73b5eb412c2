//! `/v1/conversations/{id}/messages`: reading a conversation and answering it — on its channel,
//! on another channel the contact has an identity on, or as a private note.
//!
//! A reply is stored `queued` and the send worker takes it through the egress door; the answer
//! to the POST is the queued message.

use std::sync::Arc;

use base64::Engine;
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
use super::conversations::find;
use super::openapi::Problem;
use super::pagination::{ListParams, PageQuery, Params};
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
use crate::domain::views::MessageView;
use crate::store::{self, Page};

/// Purposes an outbound message may be sent for.
const MAX_TEXT_CHARS: usize = 20_000;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, reply))
        .routes(routes!(by_status))
        .routes(routes!(one, change))
        .routes(routes!(retry))
        .routes(routes!(cancel))
        .routes(routes!(deliveries))
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
        .ok_or_else(|| ApiError::unknown("channel_id", "no channel with this id"))?;
    let kind = state.channels.kind_of(&channel).map(|k| k.address_kind()).ok_or_else(|| ApiError::invalid("channel_id", "this channel cannot send"))?;
    if store::contacts::identity_for_kind(&state.db, auth.tenant_id, contact_id, kind.as_str()).await?.is_none() {
        return Err(ApiError::invalid("channel_id", format!("the contact has no {} address to reach on this channel", kind.as_str())));
    }
    Ok(channel)
}

/// A page of messages.
#[derive(Serialize, utoipa::ToSchema)]
struct MessagePage {
    data: Vec<MessageView>,
    next_cursor: Option<Uuid>,
}

/// A conversation's messages, oldest first.
#[utoipa::path(get, path = "/v1/conversations/{id}/messages", tag = "messages", operation_id = "listMessages", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, description = "A page of messages", body = MessagePage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn list(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, Params(q): Params<PageQuery>) -> ApiResult<Json<MessagePage>> {
    let conversation = find(&state, &auth, &id).await?;
    let params = ListParams::of(&q);
    let (limit, cursor) = (params.limit()?, params.cursor()?);
    let rows = store::messages::for_conversation(&state.db, auth.tenant_id, conversation.id, cursor, limit).await?;
    let page = Page::from_rows(rows, limit, |r| r.id);
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let mut data = page.items.iter().map(|row| present::message(row, &key)).collect::<Result<Vec<_>, _>>()?;
    present::with_details(&state.db, &mut data, &key).await?;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "messages.read", "conversation", Some(conversation.id), None).await;
    Ok(Json(MessagePage { data, next_cursor: page.next_cursor }))
}

/// One report of a message's provider.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = DeliveryReport)]
struct DeliveryReportView {
    /// What the provider said: `queued`, `sent`, `delivered`, `read` or `failed`.
    status: String,
    error: Option<String>,
    /// Whether it moved the message's status (a late `sent` after `read` is kept, not applied).
    applied: bool,
    external_id: Option<String>,
    #[schema(format = DateTime)]
    received_at: String,
}

/// A message's delivery history.
#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryHistory {
    message_id: Uuid,
    /// The message's status now.
    status: String,
    error: Option<String>,
    data: Vec<DeliveryReportView>,
}

/// A sent message's delivery history: every report its provider made, in the order received,
/// and whether it moved the status (a late "sent" after "read" is kept, not applied).
#[utoipa::path(get, path = "/v1/messages/{id}/deliveries", tag = "messages", operation_id = "listMessageDeliveries", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The history", body = DeliveryHistory), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem)))]
async fn deliveries(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<DeliveryHistory>> {
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("message"))?;
    let message = store::messages::get(&state.db, auth.tenant_id, id).await?.ok_or(ApiError::NotFound("message"))?;
    // The conversation's access rules decide who may see its messages.
    find(&state, &auth, &message.conversation_id.to_string()).await?;
    let reports = store::deliveries::for_message(&state.db, message.id).await?;
    let data = reports
        .iter()
        .map(|r| DeliveryReportView {
            status: r.status.clone(),
            error: r.error.clone(),
            applied: r.applied,
            external_id: r.external_id.clone(),
            received_at: crate::domain::rfc3339(r.received_at),
        })
        .collect();
    Ok(Json(DeliveryHistory { message_id: message.id, status: message.status, error: message.error, data }))
}

/// A reply or a private note: text, or on channels with message templates (WhatsApp) an
/// approved template instead.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MessageCreate)]
struct Reply {
    /// The text; or, on channels with templates, `template` instead.
    #[schema(max_length = 20000)]
    text: Option<String>,
    /// An approved template of the channel (`GET /v1/channels/{id}/templates`) to send instead
    /// of text: outside the reply window the only message that may be sent. A MARKETING
    /// template is sent for the marketing purpose.
    template: Option<omnibridge_channel::TemplateSend>,
    /// A message of the conversation this one answers, quoted where the channel can.
    reply_to: Option<Uuid>,
    /// Answer on another channel the contact has an address on.
    channel_id: Option<Uuid>,
    /// A note for the team only: never sent.
    #[serde(default)]
    private: bool,
    /// A configured purpose (default `service`): consent is asked for it.
    purpose: Option<String>,
    /// Files to send with the reply (channels that carry files: email, WhatsApp, Messenger,
    /// Instagram); the request body limit applies.
    #[serde(default)]
    #[schema(max_items = 10)]
    attachments: Vec<NewAttachment>,
    /// Send later, at this RFC 3339 time within a year (checked against consent, policy and the
    /// channel's window when it goes).
    #[schema(format = DateTime)]
    send_at: Option<String>,
    /// Mail: the copies of this reply. Left out, the reply goes to every participant of the
    /// conversation (reply-all); addresses named here join the conversation.
    cc: Option<Vec<String>>,
    /// Mail: blind copies of this reply only (in the envelope, never in the headers).
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

/// A file to send.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAttachment {
    /// 1 to 200 characters, without path separators.
    #[schema(min_length = 1, max_length = 200)]
    filename: String,
    /// A MIME type (default `application/octet-stream`).
    content_type: Option<String>,
    /// The content, standard base64.
    #[schema(content_encoding = "base64")]
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

/// Reply (on the conversation's channel or another of the contact's), or add a private note.
/// A reply is stored queued (or scheduled) and leaves through the consent and policy checks.
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "messages", operation_id = "createMessage", params(("id" = Uuid, Path)),
    request_body = Reply,
    responses((status = 201, description = "Stored; queued for sending unless private", body = MessageView,
            links(("get" = (operation_id = "getMessage", parameters(("id" = "$response.body#/id")))),
                  ("deliveries" = (operation_id = "listMessageDeliveries", parameters(("id" = "$response.body#/id")))))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 404, response = Problem), (status = 409, response = Problem),
        (status = 410, response = Problem), (status = 422, response = Problem), (status = 503, response = Problem)))]
async fn reply(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<Reply>) -> ApiResult<impl IntoResponse> {
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
    let channel = state.channels.get(channel_id).await?.ok_or_else(|| ApiError::unknown("channel_id", "no channel with this id"))?;
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

/// One message, with its attachments, recipients and failure.
#[utoipa::path(get, path = "/v1/messages/{id}", tag = "messages", operation_id = "getMessage", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The message", body = MessageView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 410, response = Problem)))]
async fn one(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<MessageView>> {
    let message = find_message(&state, &auth, &id).await?;
    Ok(Json(view_of(&state, &auth, &message).await?))
}

/// A message as the API shows it, with its recipients, failure and quote.
async fn view_of(state: &AppState, auth: &Auth, message: &store::MessageRow) -> ApiResult<MessageView> {
    let key = state.keyring.data_key(&state.db, auth.tenant_id, message.contact_id).await?;
    let mut views = vec![present::message(message, &key)?];
    present::with_details(&state.db, &mut views, &key).await?;
    Ok(views.remove(0))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// Comma-separated: `scheduled`, `queued`, `sending`, `sent`, `delivered`, `read`,
    /// `failed`, `canceled`, `unknown`; default `failed,unknown`.
    #[param(schema_with = status_list)]
    status: Option<String>,
    #[param(value_type = Option<Uuid>)]
    channel_id: Option<String>,
    #[param(value_type = Option<Uuid>)]
    conversation_id: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<Uuid>)]
    cursor: Option<String>,
    /// Per page (default 50).
    #[param(value_type = Option<usize>, minimum = 1, maximum = 200)]
    limit: Option<String>,
}

/// A comma-separated list of outbound statuses.
fn status_list() -> utoipa::openapi::schema::Object {
    super::pagination::comma_list(Status::ALL.iter().map(|s| s.as_str()))
}

/// Outbound messages by status, tenant-wide, newest first: the dead-letter view (failed and
/// unknown, the default) or the scheduled ones, of one channel or conversation if asked.
#[utoipa::path(get, path = "/v1/messages", tag = "messages", operation_id = "listMessagesByStatus", params(StatusQuery),
    responses((status = 200, description = "A page of messages", body = MessagePage), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn by_status(State(state): State<AppState>, auth: Auth, Params(q): Params<StatusQuery>) -> ApiResult<Json<MessagePage>> {
    let params = ListParams::of(&q);
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
    Ok(Json(MessagePage { data, next_cursor: page.next_cursor }))
}

/// What a lifecycle request came to, as the API answers it.
fn answer(change: outgoing::Change, what: &str) -> ApiResult<Json<MessageView>> {
    match change {
        outgoing::Change::Done(view) => Ok(Json(*view)),
        outgoing::Change::Refused(status) => Err(ApiError::Conflict(format!("the message is {status}; {what}"))),
        outgoing::Change::NotFound => Err(ApiError::NotFound("message")),
    }
}

/// Send a failed, unknown or canceled message again: a new attempt of the same message,
/// through consent and policy again.
#[utoipa::path(post, path = "/v1/messages/{id}/retry", tag = "messages", operation_id = "retryMessage", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Queued again", body = MessageView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem), (status = 503, response = Problem)))]
async fn retry(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<MessageView>> {
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

/// Cancel a scheduled (or still queued) message: it never goes.
#[utoipa::path(post, path = "/v1/messages/{id}/cancel", tag = "messages", operation_id = "cancelMessage", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Canceled", body = MessageView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem)))]
async fn cancel(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<MessageView>> {
    let message = find_message(&state, &auth, &id).await?;
    let key = state.keyring.data_key(&state.db, auth.tenant_id, message.contact_id).await?;
    let mut work = UnitOfWork::begin(&state.db, &state.bus).await?;
    let change = outgoing::cancel(&mut work, &key, auth.tenant_id, message.id).await?;
    work.commit().await?;
    answer(change, "only a message that has not gone yet can be canceled")
}

/// A scheduled message's new text, time, or both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = MessageUpdate)]
struct MessageChange {
    #[schema(max_length = 20000)]
    text: Option<String>,
    /// An RFC 3339 time in the future, within a year.
    #[schema(format = DateTime)]
    send_at: Option<String>,
}

/// Change a scheduled message's text or time before it goes. An update that gives neither
/// changes nothing and answers the message as it is.
#[utoipa::path(patch, path = "/v1/messages/{id}", tag = "messages", operation_id = "updateScheduledMessage", params(("id" = Uuid, Path)),
    request_body = MessageChange,
    responses((status = 200, description = "Changed", body = MessageView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 410, response = Problem), (status = 422, response = Problem)))]
async fn change(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<MessageChange>) -> ApiResult<Json<MessageView>> {
    let message = find_message(&state, &auth, &id).await?;
    let text = body.text.as_deref().map(valid_text).transpose()?;
    let send_at = body.send_at.as_deref().map(valid_send_at).transpose()?;
    if text.is_none() && send_at.is_none() {
        // Nothing to change: the message as it is, as an empty update of any resource answers.
        return Ok(Json(view_of(&state, &auth, &message).await?));
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

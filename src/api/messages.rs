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
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::conversations::find;
use super::pagination::{ListParams, list_body};
use crate::channels::ChannelInfo;
use crate::domain::address_kind_of_channel;
use crate::domain::events::{self, Event};
use crate::domain::views::MessageView;
use crate::error::{ApiError, ApiResult};
use crate::outbox;
use crate::present::{self, fields};
use crate::privacy::DataKey;
use crate::state::AppState;
use crate::store::{self, ConversationRow, NewMessage, Page, Tx};

/// Purposes an outbound message may be sent for.
const MAX_TEXT_CHARS: usize = 20_000;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/conversations/{id}/messages", get(list).post(reply))
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
    let kind = address_kind_of_channel(&channel.kind).ok_or_else(|| ApiError::invalid("channel_id", "this channel cannot send"))?;
    if store::contacts::identity_for_kind(&state.db, auth.tenant_id, contact_id, kind.as_str()).await?.is_none() {
        return Err(ApiError::invalid("channel_id", format!("the contact has no {} address to reach on this channel", kind.as_str())));
    }
    Ok(channel)
}

/// Refuses (409 `consent_missing`) a message the recipient's consent does not allow, before it
/// is queued; the egress door checks again when it is sent.
pub async fn require_consent(state: &AppState, tenant_id: Uuid, contact_id: Uuid, channel: &ChannelInfo, purpose: &str) -> ApiResult<()> {
    if store::privacy::is_restricted(&state.db, contact_id).await? {
        return Err(ApiError::Restricted(crate::egress::RESTRICTED.into()));
    }
    let (Some(medium), Some(kind)) = (crate::domain::medium_of_channel(&channel.kind), address_kind_of_channel(&channel.kind)) else { return Ok(()) };
    let Some(identity) = store::contacts::identity_for_kind(&state.db, tenant_id, contact_id, kind.as_str()).await? else { return Ok(()) };
    let key = state.keyring.data_key(&state.db, tenant_id, contact_id).await?;
    let address = key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address)?;
    let index = state.keyring.blind_index(tenant_id, &omnibridge_channel::Address { kind, value: address });
    if let Some(reason) = crate::consent::refusal(&state.db, tenant_id, medium, &index, purpose).await? {
        return Err(ApiError::ConsentMissing(reason));
    }
    match crate::consent::age_refusal(&state.db, contact_id, purpose, state.config.consent.minimum_age).await? {
        Some(reason) => Err(ApiError::ConsentMissing(reason)),
        None => Ok(()),
    }
}

/// Refuses (409 `policy_blocked`, naming the rule) a message the tenant's routing policy would
/// not let through to the channel's subprocessor, before it is queued; the door checks again.
pub async fn require_route(state: &AppState, tenant_id: Uuid, channel: &ChannelInfo, attachments: bool) -> ApiResult<()> {
    let destination = crate::policy::Destination::channel(&state.policies.registry(), &channel.kind, channel.id, &channel.settings);
    let categories = crate::policy::channel_categories(&channel.kind, attachments);
    let verdict = state.policies.decide(&state.db, tenant_id, &destination, &categories, true).await?;
    match verdict.decision {
        crate::policy::Decision::Block => Err(ApiError::PolicyBlocked { rule: verdict.rule, reason: verdict.reason.unwrap_or_default() }),
        _ => Ok(()),
    }
}

/// Stores an operator's message in `tx`: queued for sending, or a private note.
#[allow(clippy::too_many_arguments)]
pub async fn queue_outbound(
    tx: &mut Tx,
    auth: &Auth,
    key: &DataKey,
    conversation: &ConversationRow,
    channel_id: Uuid,
    text: &str,
    purpose: &str,
    private: bool,
) -> ApiResult<MessageView> {
    let id = Uuid::now_v7();
    let sealed = key.seal(fields::MESSAGE_TEXT, id, text)?;
    let new = NewMessage {
        id,
        tenant_id: auth.tenant_id,
        conversation_id: conversation.id,
        contact_id: conversation.contact_id,
        channel_id,
        direction: "out",
        author_type: "operator",
        author_id: auth.operator_id,
        external_id: None,
        text: &sealed,
        private,
        purpose,
        status: if private { "note" } else { "queued" },
    };
    let row = store::messages::insert(&mut *tx, &new).await?.ok_or_else(|| ApiError::Conflict("message id taken".into()))?;
    Ok(present::message_with_text(&row, text.to_owned()))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    text: String,
    channel_id: Option<Uuid>,
    #[serde(default)]
    private: bool,
    purpose: Option<String>,
    /// Files to send with the reply (channels that carry files: email).
    #[serde(default)]
    attachments: Vec<NewAttachment>,
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

/// Programs and scripts, by type or by name: mail filters reject them and a customer should
/// never be sent one from a support inbox.
fn is_executable(filename: &str, content_type: &str) -> bool {
    const TYPES: &[&str] = &[
        "application/x-msdownload", "application/x-msdos-program", "application/x-executable", "application/x-sh",
        "application/x-bat", "application/java-archive", "application/x-ms-installer", "application/vnd.microsoft.portable-executable",
    ];
    const EXTENSIONS: &[&str] = &["exe", "com", "bat", "cmd", "scr", "pif", "msi", "vbs", "js", "jse", "wsf", "ps1", "jar", "sh", "apk", "dll", "lnk"];
    let ext = filename.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    TYPES.contains(&content_type.to_ascii_lowercase().as_str()) || EXTENSIONS.contains(&ext.as_str())
}

/// Decodes and checks the attachments of a reply.
fn valid_attachments(list: &[NewAttachment], channel_kind: &str) -> ApiResult<Vec<(String, String, Vec<u8>)>> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    if channel_kind != omnibridge_email::KIND && channel_kind != omnibridge_telegram::KIND {
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
    let text = valid_text(&body.text)?;
    let purpose = valid_purpose(&state, body.purpose.as_deref())?;
    let purpose = purpose.as_str();
    let channel_id = match (body.private, body.channel_id) {
        (true, _) => conversation.channel_id,
        (false, Some(other)) => reachable_channel(&state, &auth, conversation.contact_id, other).await?.id,
        (false, None) => reachable_channel(&state, &auth, conversation.contact_id, conversation.channel_id).await?.id,
    };
    let channel = state.channels.get(channel_id).await?.ok_or_else(|| ApiError::invalid("channel_id", "no channel with this id"))?;
    let kind = channel.kind.clone();
    let files = valid_attachments(&body.attachments, &kind)?;
    if !body.private {
        require_consent(&state, auth.tenant_id, conversation.contact_id, &channel, purpose).await?;
        require_route(&state, auth.tenant_id, &channel, !files.is_empty()).await?;
    }
    if kind == omnibridge_twilio_sms::KIND && !body.private {
        omnibridge_twilio_sms::channel::check_body(text).map_err(|why| ApiError::invalid("text", why))?;
    }
    let key = state.keyring.data_key(&state.db, auth.tenant_id, conversation.contact_id).await?;
    let mut tx = state.db.begin().await?;
    let mut message = queue_outbound(&mut tx, &auth, &key, &conversation, channel_id, text, purpose, body.private).await?;
    let now = store::now_micros();
    let mut rows = Vec::new();
    for (filename, content_type, data) in files {
        let id = Uuid::now_v7();
        message.attachments.push(crate::domain::views::AttachmentView {
            id,
            filename: Some(filename.clone()),
            content_type: content_type.clone(),
            size: data.len() as i64,
            stored: true,
        });
        rows.push(store::attachments::AttachmentRow {
            id,
            tenant_id: auth.tenant_id,
            message_id: message.id,
            contact_id: conversation.contact_id,
            filename: Some(key.seal(fields::ATTACHMENT_FILENAME, id, &filename)?),
            content_type,
            size: data.len() as i64,
            data: Some(key.seal_bytes(fields::ATTACHMENT_DATA, id, &data)?),
            remote: None,
            created_at: now,
        });
    }
    store::attachments::insert_many(&mut tx, &rows).await?;
    let mut published = Vec::new();
    if !body.private {
        // The conversation now travels on the channel of the reply (a channel switch, if any).
        // An operator's reply leaves the status as it is (a resolved conversation stays resolved).
        let touched = store::conversations::touch(&mut tx, conversation.id, channel_id, &conversation.status).await?;
        if touched.channel_id != conversation.channel_id {
            let sequence = outbox::next_sequence(&mut tx, touched.id).await?;
            let view = present::conversation(&touched);
            let mut event =
                Event::in_conversation(auth.tenant_id, events::CONVERSATION_UPDATED, touched.contact_id, touched.id, sequence, &view);
            outbox::append(&mut tx, Some(&key), &mut event).await?;
            published.push(event);
        }
    }
    tx.commit().await?;
    state.bus.publish(published);
    if !body.private {
        state.send_wake.notify_one();
    }
    Ok((StatusCode::CREATED, Json(message)))
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
            let err = valid_attachments(&[file(name, kind)], omnibridge_email::KIND).unwrap_err();
            assert!(matches!(err, ApiError::Invalid { ref field, .. } if field == "attachments[0]"), "{name}: {err}");
        }
        assert_eq!(valid_attachments(&[file("invoice.pdf", "application/pdf")], omnibridge_email::KIND).expect("fine").len(), 1);
        let many: Vec<NewAttachment> = (0..=MAX_OUTBOUND_ATTACHMENTS).map(|i| file(&format!("f{i}.txt"), "text/plain")).collect();
        assert!(valid_attachments(&many, omnibridge_email::KIND).is_err(), "at most {MAX_OUTBOUND_ATTACHMENTS} files");
    }
}

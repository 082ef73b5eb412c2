//! Queueing messages for the door, in one place: operators' replies (or private notes) and the
//! hub's own messages (away notices, HELP answers, transcripts and their confirmations, survey
//! links). The text is sealed under the contact's key and the queued row written in the
//! caller's unit of work, which wakes the send worker once it commits. Whether the message may
//! leave is [`crate::egress::Door::preflight`]'s question, asked before; the door asks again at send
//! time.

use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::views::{AttachmentView, MessageView};
use crate::events::outbox::UnitOfWork;
use crate::events::present::{self, fields};
use crate::privacy::{CryptoError, DataKey};
use crate::domain::delivery::Status;
use crate::domain::events::{self, Event};
use crate::store::{self, MessageRow, NewMessage, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A message with this id exists already.
    #[error("message id taken")]
    Taken,
}

impl From<crate::events::outbox::AppendError> for OutboundError {
    fn from(err: crate::events::outbox::AppendError) -> Self {
        match err {
            crate::events::outbox::AppendError::Store(e) => Self::Store(e),
            crate::events::outbox::AppendError::Crypto(e) => Self::Crypto(e),
        }
    }
}

impl From<OutboundError> for crate::events::WorkError {
    fn from(err: OutboundError) -> Self {
        match err {
            OutboundError::Store(e) => Self::Store(e),
            OutboundError::Crypto(e) => Self::Crypto(e),
            OutboundError::Taken => Self::Refused(err.to_string()),
        }
    }
}

/// Who wrote a message the hub sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Author {
    /// An operator (or an integration's key, without an operator).
    Operator(Option<Uuid>),
    /// The hub on its own.
    System,
}

/// A message to queue in a conversation.
pub struct Draft<'a> {
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    /// The contact's data key (the message is about them).
    pub key: &'a DataKey,
    pub author: Author,
    pub text: &'a str,
    /// Why it is sent (`service`, `marketing`, `transcripts`): the consent it needs.
    pub purpose: &'a str,
    /// A private note: stored, never sent.
    pub private: bool,
    /// For one of the contact's identities only (a transcript to a confirmed address).
    pub identity: Option<Uuid>,
    /// The hub's own subject (a transcript, a confirmation).
    pub subject: Option<&'a str>,
    /// Sent as this approved template (the text is the template rendered).
    pub template: Option<&'a omnibridge_channel::TemplateSend>,
    /// The message this one answers, quoted where the channel can.
    pub quoted: Option<Uuid>,
    /// Held until then (microseconds): a scheduled message, checked when it goes.
    pub send_at: Option<i64>,
}

impl<'a> Draft<'a> {
    /// The hub's own message for the contact of `key`, for `purpose`.
    pub fn automatic(tenant_id: Uuid, conversation_id: Uuid, channel_id: Uuid, key: &'a DataKey, text: &'a str, purpose: &'a str) -> Self {
        Self { tenant_id, conversation_id, channel_id, key, author: Author::System, text, purpose, private: false, identity: None, subject: None, template: None, quoted: None, send_at: None }
    }
}

/// Queues `draft` in `work` (a private note is only stored) and wakes the send worker when the
/// unit commits. Returns the message as the API shows it.
pub async fn queue(work: &mut UnitOfWork, send_wake: &Arc<Notify>, draft: Draft<'_>) -> Result<MessageView, OutboundError> {
    let id = Uuid::now_v7();
    let sealed = draft.key.seal(fields::MESSAGE_TEXT, id, draft.text)?;
    let (author_type, author_id) = match draft.author {
        Author::Operator(id) => ("operator", id),
        Author::System => ("system", None),
    };
    let new = NewMessage {
        id,
        tenant_id: draft.tenant_id,
        conversation_id: draft.conversation_id,
        contact_id: draft.key.contact_id,
        channel_id: draft.channel_id,
        direction: crate::domain::Direction::Out.as_str(),
        author_type,
        author_id,
        external_id: None,
        text: &sealed,
        private: draft.private,
        purpose: draft.purpose,
        status: if draft.private { "note" } else { "queued" },
    };
    let row = store::messages::insert(work.tx(), &new).await?.ok_or(OutboundError::Taken)?;
    if draft.identity.is_some() || draft.subject.is_some() {
        store::messages::set_envelope(work.tx(), id, draft.identity, draft.subject).await?;
    }
    if draft.template.is_some() || draft.quoted.is_some() {
        let sealed = match draft.template {
            Some(template) => Some(draft.key.seal(fields::MESSAGE_TEMPLATE, id, &serde_json::to_string(template).unwrap_or_default())?),
            None => None,
        };
        store::messages::set_template(work.tx(), id, sealed.as_deref(), draft.quoted).await?;
    }
    let row = match draft.send_at {
        Some(at) if !draft.private => {
            store::messages::set_schedule(work.tx(), id, at).await?;
            MessageRow { status: Status::Scheduled.as_str().into(), send_at: Some(at), ..row }
        }
        _ => row,
    };
    if !draft.private {
        work.wake(send_wake);
    }
    let mut view = present::message_with_text(&row, draft.text.to_owned());
    view.reply_to = draft.quoted;
    Ok(view)
}

/// A file to send with a queued message: its name, type and content.
pub struct NewFile {
    pub filename: Option<String>,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Stores files with a queued message, sealed under the contact's key (the door sends them
/// with it). Returns them as the message view lists them.
pub async fn attach(work: &mut UnitOfWork, key: &DataKey, tenant_id: Uuid, message_id: Uuid, files: Vec<NewFile>) -> Result<Vec<AttachmentView>, OutboundError> {
    let now = store::now_micros();
    let mut rows = Vec::with_capacity(files.len());
    let mut views = Vec::with_capacity(files.len());
    for file in files {
        let id = Uuid::now_v7();
        views.push(AttachmentView { id, filename: file.filename.clone(), content_type: file.content_type.clone(), size: file.data.len() as i64, stored: true });
        rows.push(store::attachments::AttachmentRow {
            id,
            tenant_id,
            message_id,
            contact_id: key.contact_id,
            filename: key.seal_opt(fields::ATTACHMENT_FILENAME, id, file.filename.as_deref())?,
            content_type: file.content_type,
            size: file.data.len() as i64,
            data: Some(key.seal_bytes(fields::ATTACHMENT_DATA, id, &file.data)?),
            remote: None,
            created_at: now,
        });
    }
    store::attachments::insert_many(work.tx(), &rows).await?;
    Ok(views)
}

/// What became of a request to change a message's course.
pub enum Change {
    Done(Box<MessageView>),
    /// The message is not in a state that allows it (its status now).
    Refused(String),
    NotFound,
}

/// Sends a failed, unknown or canceled message again: a new attempt of the same message (not a
/// copy), due now, through the door as any send. The caller checked it may go.
pub async fn retry(work: &mut UnitOfWork, send_wake: &Arc<Notify>, key: &DataKey, tenant_id: Uuid, id: Uuid) -> Result<Change, OutboundError> {
    let changed = store::messages::retry(work.tx(), tenant_id, id).await?;
    let change = announce(work, key, tenant_id, id, changed).await?;
    if matches!(change, Change::Done(_)) {
        work.wake(send_wake);
    }
    Ok(change)
}

/// Cancels a message that has not gone yet.
pub async fn cancel(work: &mut UnitOfWork, key: &DataKey, tenant_id: Uuid, id: Uuid) -> Result<Change, OutboundError> {
    let changed = store::messages::cancel(work.tx(), tenant_id, id).await?;
    announce(work, key, tenant_id, id, changed).await
}

/// Changes a scheduled message's text or time before it goes.
pub async fn reschedule(work: &mut UnitOfWork, key: &DataKey, tenant_id: Uuid, id: Uuid, text: Option<&str>, send_at: Option<i64>) -> Result<Change, OutboundError> {
    let sealed = match text {
        Some(text) => Some(key.seal(fields::MESSAGE_TEXT, id, text)?),
        None => None,
    };
    let changed = store::messages::reschedule(work.tx(), tenant_id, id, sealed.as_deref(), send_at).await?;
    announce(work, key, tenant_id, id, changed).await
}

/// `message.updated` for a changed message; or why nothing changed.
async fn announce(work: &mut UnitOfWork, key: &DataKey, tenant_id: Uuid, id: Uuid, changed: Option<MessageRow>) -> Result<Change, OutboundError> {
    let Some(row) = changed else {
        return Ok(match store::messages::get(work.tx(), tenant_id, id).await? {
            Some(row) => Change::Refused(row.status),
            None => Change::NotFound,
        });
    };
    let view = present::message(&row, key)?;
    let sequence = crate::events::outbox::next_sequence(work.tx(), row.conversation_id).await?;
    let event = Event::in_conversation(tenant_id, events::MESSAGE_UPDATED, row.contact_id, row.conversation_id, sequence, &view);
    work.append(Some(key), event).await?;
    Ok(Change::Done(Box::new(view)))
}

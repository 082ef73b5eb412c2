//! Queueing messages for the door, in one place: operators' replies (or private notes) and the
//! hub's own messages (away notices, HELP answers, transcripts and their confirmations, survey
//! links). The text is sealed under the contact's key and the queued row written in the
//! caller's unit of work, which wakes the send worker once it commits. Whether the message may
//! leave is [`crate::egress::Door::preflight`]'s question, asked before; the door asks again at send
//! time.

use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::views::MessageView;
use crate::events::outbox::UnitOfWork;
use crate::events::present::{self, fields};
use crate::privacy::{CryptoError, DataKey};
use crate::store::{self, NewMessage, StoreError};

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
}

impl<'a> Draft<'a> {
    /// The hub's own message for the contact of `key`, for `purpose`.
    pub fn automatic(tenant_id: Uuid, conversation_id: Uuid, channel_id: Uuid, key: &'a DataKey, text: &'a str, purpose: &'a str) -> Self {
        Self { tenant_id, conversation_id, channel_id, key, author: Author::System, text, purpose, private: false, identity: None, subject: None, template: None, quoted: None }
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
    if !draft.private {
        work.wake(send_wake);
    }
    let mut view = present::message_with_text(&row, draft.text.to_owned());
    view.reply_to = draft.quoted;
    Ok(view)
}

//! Forwarding a message, or a whole conversation, to someone by mail — a colleague in another
//! team, a supplier — as mail clients do: an optional note, then each forwarded message under
//! a "Forwarded message" header with who wrote it, when, and the subject; a forwarded message's
//! files go with it.
//!
//! A forward is an outbound message of the conversation like any reply: it is queued, and the
//! door decides when it leaves (the contact's restriction, the addressee's consent, the routing
//! policy for the mail relay) and records the transfer. It goes to its addressee instead of the
//! contact, in a thread of its own; the contact never sees it.

use std::sync::Arc;

use omnibridge_channel::{Address, AddressKind, Medium};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::channels::{ChannelInfo, Channels};
use crate::domain::views::MessageView;
use crate::egress::preflight::Outgoing;
use crate::egress::{Door, EgressError};
use crate::events::outbox::UnitOfWork;
use crate::events::present::fields;
use crate::inbox::participants::{self, Copies, ParticipantError};
use crate::outgoing::{self, Author, Draft, NewFile, OutboundError};
use crate::privacy::{CryptoError, DataKey, Keyring};
use crate::store::{self, ConversationRow, Db, MessageRow, StoreError};

/// The most messages one forwarded conversation carries (the latest ones).
const MAX_FORWARDED_MESSAGES: usize = 200;
/// The longest forward text, in characters.
const MAX_FORWARD_CHARS: usize = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The request cannot be done as asked; names the field.
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// An id in the request names nothing of the tenant; names the field.
    #[error("{field}: {detail}")]
    Unknown { field: &'static str, detail: String },
    #[error(transparent)]
    Refused(#[from] EgressError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the contact's keys are unavailable: {0}")]
    Keys(String),
}

impl From<OutboundError> for ForwardError {
    fn from(err: OutboundError) -> Self {
        match err {
            OutboundError::Store(e) => Self::Store(e),
            OutboundError::Crypto(e) => Self::Crypto(e),
            OutboundError::Taken => Self::Store(StoreError::Sqlx(sqlx::Error::RowNotFound)),
        }
    }
}

impl From<ParticipantError> for ForwardError {
    fn from(err: ParticipantError) -> Self {
        match err {
            ParticipantError::Store(e) => Self::Store(e),
            ParticipantError::Crypto(e) => Self::Crypto(e),
        }
    }
}

/// What is forwarded.
pub enum Forwarded<'a> {
    Message(&'a MessageRow),
    Conversation,
}

/// A forward as an operator asks for it.
pub struct Forward<'a> {
    pub tenant_id: Uuid,
    pub operator_id: Option<Uuid>,
    pub conversation: &'a ConversationRow,
    pub what: Forwarded<'a>,
    /// Where it goes (a mail address, checked and normalized).
    pub to: &'a str,
    /// A note above the forwarded messages.
    pub note: Option<&'a str>,
    /// The mail channel it leaves by; the conversation's own when that is a mail channel.
    pub channel_id: Option<Uuid>,
}

/// What the hub lends a forward.
pub struct Forwarder<'a> {
    pub db: &'a Db,
    pub keyring: &'a Keyring,
    pub channels: &'a Channels,
    pub door: &'a Door,
    pub bus: &'a crate::events::outbox::EventBus,
    pub send_wake: &'a Arc<Notify>,
}

impl Forwarder<'_> {
    /// Composes the forward, asks the door, and queues it. Returns the queued message.
    pub async fn forward(&self, f: Forward<'_>) -> Result<MessageView, ForwardError> {
        let channel = self.mail_channel(f.tenant_id, f.conversation, f.channel_id).await?;
        let key = self.keyring.data_key(self.db, f.tenant_id, f.conversation.contact_id).await.map_err(|e| ForwardError::Keys(e.to_string()))?;
        let messages: Vec<MessageRow> = match f.what {
            Forwarded::Message(message) => vec![message.clone()],
            Forwarded::Conversation => self.conversation_messages(f.tenant_id, f.conversation.id).await?,
        };
        if messages.is_empty() {
            return Err(ForwardError::Invalid { field: "conversation", detail: "there is nothing to forward yet".into() });
        }
        let subject = match store::mailboxes::subject(self.db, f.conversation.id).await? {
            Some(sealed) => Some(key.open(fields::CONVERSATION_SUBJECT, f.conversation.id, &sealed)?),
            None => None,
        };
        let text = self.compose(f.tenant_id, &key, f.note, subject.as_deref(), &messages).await?;
        if text.chars().count() > MAX_FORWARD_CHARS {
            return Err(ForwardError::Invalid { field: "conversation", detail: format!("too long to forward as one mail (more than {MAX_FORWARD_CHARS} characters)") });
        }
        // The files of a forwarded message go with it.
        let files = match f.what {
            Forwarded::Message(message) => store::attachments::full_for_message(self.db, message.id).await?,
            Forwarded::Conversation => Vec::new(),
        };
        let to = Address::new(AddressKind::Email, f.to);
        let outgoing = Outgoing {
            tenant_id: f.tenant_id,
            contact_id: f.conversation.contact_id,
            channel: &channel,
            purpose: crate::consent::purposes::SERVICE,
            attachments: files.iter().any(|a| a.data.is_some()),
            to: Some(&to),
            template: false,
            human: true,
        };
        self.door.preflight(&outgoing).await?;
        let subject = format!("Fwd: {}", subject.as_deref().unwrap_or("Your conversation"));
        let mut work = UnitOfWork::begin(self.db, self.bus).await?;
        let draft = Draft {
            author: Author::Operator(f.operator_id),
            subject: Some(&subject),
            ..Draft::automatic(f.tenant_id, f.conversation.id, channel.id, &key, &text, crate::consent::purposes::SERVICE)
        };
        let mut view = outgoing::queue(&mut work, self.send_wake, draft).await?;
        let copies = Copies { to: Some(to.value.clone()), ..Copies::default() };
        view.recipients = participants::address_message(work.tx(), self.keyring, &key, f.tenant_id, f.conversation.id, view.id, &copies).await?;
        let mut copies = Vec::new();
        for file in files {
            let Some(sealed) = &file.data else { continue };
            copies.push(NewFile {
                filename: key.open_opt(fields::ATTACHMENT_FILENAME, file.id, file.filename.as_deref())?,
                content_type: file.content_type.clone(),
                data: key.open_bytes(fields::ATTACHMENT_DATA, file.id, sealed)?,
            });
        }
        view.attachments = outgoing::attach(&mut work, &key, f.tenant_id, view.id, copies).await?;
        work.commit().await?;
        Ok(view)
    }

    /// The mail channel a forward leaves by: the one named, else the conversation's own.
    async fn mail_channel(&self, tenant_id: Uuid, conversation: &ConversationRow, named: Option<Uuid>) -> Result<Arc<ChannelInfo>, ForwardError> {
        let field = "channel_id";
        let channel = self.channels.get(named.unwrap_or(conversation.channel_id)).await?.filter(|c| c.tenant_id == tenant_id);
        let is_mail = |c: &ChannelInfo| self.channels.kind_of(c).is_some_and(|k| k.medium() == Medium::Email && k.capabilities().carbon_copies);
        match channel {
            Some(channel) if is_mail(&channel) => Ok(channel),
            Some(_) if named.is_none() => Err(ForwardError::Invalid { field, detail: "the conversation is not on a mail channel: name the mail channel the forward leaves by".into() }),
            Some(_) => Err(ForwardError::Invalid { field, detail: "forwards leave by mail: name a mail channel".into() }),
            None => Err(ForwardError::Unknown { field, detail: "no channel with this id".into() }),
        }
    }

    /// The conversation's messages people can see (not private notes), the latest ones.
    async fn conversation_messages(&self, tenant_id: Uuid, conversation_id: Uuid) -> Result<Vec<MessageRow>, ForwardError> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let rows = store::messages::for_conversation(self.db, tenant_id, conversation_id, after, 500).await?;
            let page = store::Page::from_rows(rows, 500, |r| r.id);
            all.extend(page.items.into_iter().filter(|m| !m.private && m.status != "canceled"));
            after = page.next_cursor;
            if after.is_none() {
                break;
            }
        }
        let skip = all.len().saturating_sub(MAX_FORWARDED_MESSAGES);
        Ok(all.split_off(skip))
    }

    /// The note, then each message under a "Forwarded message" header (RFC 2822-style lines,
    /// as mail clients write them).
    async fn compose(&self, tenant_id: Uuid, key: &DataKey, note: Option<&str>, subject: Option<&str>, messages: &[MessageRow]) -> Result<String, ForwardError> {
        let contact = store::contacts::contact(self.db, tenant_id, key.contact_id).await?;
        let contact_name = match contact.as_ref().and_then(|c| c.name.as_deref()) {
            Some(sealed) => Some(key.open(fields::CONTACT_NAME, key.contact_id, sealed)?),
            None => None,
        };
        let contact_email = match store::contacts::identity_for_kind(self.db, tenant_id, key.contact_id, AddressKind::Email.as_str()).await? {
            Some(identity) => Some(key.open(fields::IDENTITY_ADDRESS, key.contact_id, &identity.address)?),
            None => None,
        };
        let customer = match (&contact_name, &contact_email) {
            (Some(name), Some(email)) => format!("{name} <{email}>"),
            (Some(name), None) => name.clone(),
            (None, Some(email)) => email.clone(),
            (None, None) => "The customer".into(),
        };
        let mut text = String::new();
        if let Some(note) = note.map(str::trim).filter(|n| !n.is_empty()) {
            text.push_str(note);
            text.push_str("\n\n");
        }
        for message in messages {
            let from = match (message.direction.as_str(), message.author_id) {
                ("in", _) => customer.clone(),
                (_, Some(operator)) => self.db.operator(tenant_id, operator).await?.map(|o| o.name).unwrap_or_else(|| "Support".into()),
                _ => "Support".into(),
            };
            let body = key.open(fields::MESSAGE_TEXT, message.id, &message.text)?;
            text.push_str("---------- Forwarded message ----------\n");
            text.push_str(&format!("From: {from}\nDate: {}\n", rfc2822(message.created_at)));
            if let Some(subject) = subject {
                text.push_str(&format!("Subject: {subject}\n"));
            }
            text.push('\n');
            text.push_str(body.trim_end());
            text.push_str("\n\n");
        }
        Ok(text.trim_end().to_owned())
    }
}

/// A time as mail headers write it: `Sat, 05 Dec 2026 16:13:14 +0000`.
fn rfc2822(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros).map(|t| t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_written_as_mail_headers_write_them() {
        assert_eq!(super::rfc2822(1_796_487_194_000_000), "Sat, 05 Dec 2026 16:13:14 +0000");
    }
}

//! The JSON shapes of the public API, shared by REST answers, realtime frames and events.

use serde::Serialize;
use uuid::Uuid;

/// A message of a conversation: from the contact, to them, or a private note.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Message)]
pub struct MessageView {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    pub channel_id: Uuid,
    /// `in` (from the contact) or `out` (to the contact).
    pub direction: String,
    /// `contact`, `operator` or `system`.
    pub author: String,
    pub author_id: Option<Uuid>,
    pub text: String,
    pub private: bool,
    pub purpose: String,
    /// Inbound: `received`. Outbound: `scheduled` → `queued` → `sending` → `sent` → `delivered` →
    /// `read`, or `failed`, `canceled`, `unknown` (the provider's answer was lost). Notes: `note`.
    pub status: String,
    pub external_id: Option<String>,
    /// Why it failed (or why the last attempt did), in words; `failure` has the details.
    pub error: Option<String>,
    pub failure: Option<FailureView>,
    /// When a scheduled message goes.
    #[schema(format = DateTime)]
    pub send_at: Option<String>,
    /// Files that came with the message (content at `GET /v1/attachments/{id}`).
    pub attachments: Vec<AttachmentView>,
    /// Byte offset in `text` where quoted history starts (a reply quoting what it answers).
    pub quote_start: Option<usize>,
    /// The earlier message of the conversation this one answers (a reply to a specific
    /// message, on channels that have them).
    pub reply_to: Option<Uuid>,
    /// Mail only: who else the message goes (or went) to — copies, blind copies, the address
    /// of a forward — and whether the door let each of them have it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<RecipientView>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// One further recipient of an outbound message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Recipient)]
pub struct RecipientView {
    /// `to` (a forward's addressee, instead of the contact), `cc` or `bcc`.
    pub role: String,
    /// The kind of address (`email`).
    pub kind: &'static str,
    pub address: String,
    /// `pending` until the message leaves; then `sent`, or `refused` with the reason (the
    /// person's consent, a restriction, an undeliverable address, the routing policy).
    pub status: String,
    pub reason: Option<String>,
}

/// Someone else in a mail conversation: named in the contact's mail or copied in by an
/// operator. Replies go to the contact with every participant in copy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Participant)]
pub struct ParticipantView {
    pub id: Uuid,
    pub kind: &'static str,
    pub address: String,
    /// `mail` (in the `To` or `Cc` of the contact's mail) or `operator`.
    pub source: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// Why a message failed: `permanent` (stops) or `transient` (retried on its own while
/// attempts remain), the provider's or the hub's code, the reason, and who said so.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Failure)]
pub struct FailureView {
    /// `permanent` or `transient`.
    pub class: &'static str,
    pub code: Option<String>,
    pub reason: String,
    pub provider: String,
}

impl From<crate::domain::delivery::Failure> for FailureView {
    fn from(f: crate::domain::delivery::Failure) -> Self {
        Self { class: f.class.as_str(), code: f.code, reason: f.reason, provider: f.provider }
    }
}

/// A file that came (or goes) with a message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Attachment)]
pub struct AttachmentView {
    pub id: Uuid,
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
    /// Whether the content can be downloaded: false when the file was larger than the limit and
    /// only its description was kept. (Content left at the provider is fetched on download.)
    pub stored: bool,
}

/// A thread with one contact, on the channel it currently travels on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Conversation)]
pub struct ConversationView {
    pub id: Uuid,
    pub contact_id: Uuid,
    /// The channel the conversation currently travels on.
    pub channel_id: Uuid,
    /// `open`, `pending`, `resolved` or `snoozed`.
    pub status: String,
    pub assignee_id: Option<Uuid>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    #[schema(format = DateTime)]
    pub last_message_at: String,
    /// The conversation's labels (in reads, lists and label changes; absent from other events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<LabelView>>,
    /// Custom attributes by key, typed as defined (in reads, lists and attribute changes;
    /// absent from other events).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A label as it is shown on what carries it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[schema(as = LabelRef)]
pub struct LabelView {
    pub id: Uuid,
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

/// An address a contact is known by.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Identity)]
pub struct IdentityView {
    pub id: Uuid,
    /// `email`, `phone`, `telegram` or `webchat`.
    pub kind: String,
    pub address: String,
    /// `verified`: the address itself wrote to us; `claimed`: typed into a form.
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// A person the tenant talks to (personal fields opened with the contact's key).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Contact)]
pub struct ContactView {
    pub id: Uuid,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Flagged by an operator as under the minimum age for marketing: gets none.
    pub under_minimum_age: bool,
    pub identities: Vec<IdentityView>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// The contact's labels (in reads and label changes; absent from other events).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<LabelView>>,
    /// Custom attributes by key, typed as defined (in reads and changes; absent from other
    /// events).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub custom_attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A channel: one mailbox, number, bot, page or web chat of the tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Channel)]
pub struct ChannelView {
    pub id: Uuid,
    /// The channel's kind (`webchat`, `email`, `twilio_sms`, `telegram`, `whatsapp`,
    /// `messenger`, `instagram`).
    pub kind: String,
    pub name: String,
    /// The kind's settings, without its secrets (those are sealed and never returned).
    #[schema(value_type = Object)]
    pub settings: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

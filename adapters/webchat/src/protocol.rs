//! The widget's wire format: what the browser sends and receives.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /widget/v1/channels/{channel_id}/sessions`: optional pre-chat fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub name: Option<String>,
    pub email: Option<String>,
    /// What the visitor ticked in the pre-chat form, under which notice.
    #[serde(default)]
    pub consent: Option<SessionConsent>,
}

/// The pre-chat consent checkbox: the purposes the visitor agreed to and the privacy notice
/// they were shown (recorded as consent evidence).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConsent {
    pub purposes: Vec<String>,
    pub notice_version: String,
    #[serde(default)]
    pub notice_url: Option<String>,
    /// The page the form was on.
    #[serde(default)]
    pub form_url: Option<String>,
}

/// The new session: the token is shown only here.
#[derive(Debug, Serialize)]
pub struct SessionResponse {
    pub visitor_token: String,
    pub visitor_id: Uuid,
}

/// `POST /widget/v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostMessage {
    pub text: String,
    /// A client-chosen id; posting the same id twice stores the message once. The
    /// `Idempotency-Key` header does the same.
    pub external_id: Option<String>,
}

/// One message as the visitor sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WidgetMessage {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `in` for the visitor's own messages, `out` for replies.
    pub direction: String,
    pub text: String,
    /// `contact`, `operator` or `system`.
    pub author: String,
    pub author_name: Option<String>,
    pub created_at: String,
}

/// What the visitor's websocket receives.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Sent once after connecting.
    Ready { visitor_id: Uuid },
    /// A reply (or any message) in the visitor's conversation.
    Message { message: WidgetMessage },
    /// An operator is (or stopped) typing a reply.
    Typing { typing: bool },
    /// The conversation was resolved: how did we do (1–5)? Answer at `POST /widget/v1/csat`.
    Csat { survey_id: Uuid },
}

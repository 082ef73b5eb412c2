//! The widget's wire format: what the browser sends and receives.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /widget/v1/channels/{channel_id}/sessions`: optional pre-chat fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub name: Option<String>,
    pub email: Option<String>,
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
}

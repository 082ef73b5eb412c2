//! The port through which the widget reaches the hub's storage.

use async_trait::async_trait;
use omnibridge_channel::Technical;
use uuid::Uuid;

use crate::protocol::{SessionRequest, WidgetMessage};
use crate::token::TokenHash;

/// An authenticated visitor.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub visitor_id: Uuid,
    pub channel_id: Uuid,
    /// The hub's ids for the visitor's tenant and contact; opaque to the widget.
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
}

#[derive(Debug, thiserror::Error)]
pub enum WidgetError {
    #[error("unknown or expired visitor token")]
    Unauthorized,
    #[error("no web chat channel with this id")]
    UnknownChannel,
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// An id in the body names nothing of the visitor's (404, naming the field).
    #[error("{field}: {detail}")]
    Unknown { field: &'static str, detail: String },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Too many requests of this kind; try again after the wait.
    #[error("too many requests; try again in {} s", .retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    /// The hub will not do it, for a reason the visitor may read (`code` as in the API).
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
}

/// What "email me this transcript" did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TranscriptSent {
    /// On its way to an address the visitor proved is theirs.
    Queued,
    /// A link to confirm the address went to it first; the transcript follows the confirmation.
    ConfirmationSent,
}

impl TranscriptSent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::ConfirmationSent => "confirmation_sent",
        }
    }
}

/// Whether someone is there to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// A channel's widget settings and who is there.
#[derive(Debug, Clone)]
pub struct WidgetSetup {
    pub settings: crate::kind::WebchatSettings,
    pub presence: Presence,
    pub away_message: Option<String>,
}

/// Implemented by the hub: visitor sessions and the visitor's view of their conversation.
#[async_trait]
pub trait WidgetBackend: Send + Sync + 'static {
    /// Creates a visitor (a contact with a verified web chat identity and, when given, claimed
    /// name and email) and stores the session's token hash.
    async fn open_session(
        &self,
        channel_id: Uuid,
        request: SessionRequest,
        technical: Technical,
        token: TokenHash,
    ) -> Result<Visitor, WidgetError>;

    /// Resolves a presented token to its visitor.
    async fn authenticate(&self, token: TokenHash) -> Result<Visitor, WidgetError>;

    /// The channel's widget settings, and whether an operator is there (availability and
    /// business hours).
    async fn setup(&self, channel_id: Uuid) -> Result<WidgetSetup, WidgetError>;

    /// The web origins allowed to use the channel's widget (`https://shop.example`); empty:
    /// any. Unknown channel: empty (the request then fails on its own).
    async fn allowed_origins(&self, channel_id: Uuid) -> Result<Vec<String>, WidgetError>;

    /// The visitor's latest `limit` messages on this channel before the message `before` (all
    /// of them when None), oldest first, private notes excluded.
    async fn history(&self, visitor: &Visitor, before: Option<Uuid>, limit: usize) -> Result<Vec<WidgetMessage>, WidgetError>;

    /// The visitor's messages on this channel created after `after` (a message's `seq`),
    /// oldest first, private notes excluded: what a reconnecting widget missed.
    async fn history_after(&self, visitor: &Visitor, after: i64) -> Result<Vec<WidgetMessage>, WidgetError>;

    /// One message of the visitor's, if it belongs to them.
    async fn message(&self, visitor: &Visitor, message_id: Uuid) -> Result<Option<WidgetMessage>, WidgetError>;

    /// Emails the visitor the transcript of their conversation (to `email`, or the address
    /// they gave before) — at once to an address they proved, else after they confirm it.
    async fn send_transcript(&self, visitor: &Visitor, email: Option<String>) -> Result<TranscriptSent, WidgetError>;

    /// Records the visitor's answer to a satisfaction survey of theirs (1–5, optional comment).
    async fn answer_csat(&self, visitor: &Visitor, survey_id: Uuid, score: u8, comment: Option<String>) -> Result<(), WidgetError>;
}

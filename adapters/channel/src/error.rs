//! Errors that tell the caller what to do next.

use std::time::Duration;

/// A failed provider operation, classified so the delivery worker can decide about retries
/// without knowing the provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The provider asked us to slow down; retry after the given delay.
    #[error("rate limited by the provider, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// A temporary failure (network, 5xx); retry with backoff.
    #[error("transient failure: {0}")]
    Transient(String),
    /// The provider refused this message for good (bad address, blocked recipient).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The recipient opted out at the provider (an SMS STOP the carrier enforces, a bot the user
    /// blocked): nothing can reach them on this channel until they opt in again. The hub records
    /// it as a consent withdrawal.
    #[error("the recipient opted out: {0}")]
    RecipientOptedOut(String),
    /// The recipient stopped marketing messages at the provider (WhatsApp's "Stop promotions"):
    /// service messages still reach them. The hub records a marketing withdrawal.
    #[error("the recipient stopped marketing messages: {0}")]
    MarketingOptedOut(String),
    /// The channel is misconfigured (bad credentials, missing setting); nothing succeeds until
    /// a tenant fixes it.
    #[error("channel configuration error: {0}")]
    Config(String),
}

impl AdapterError {
    /// Whether sending the same message again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transient(_))
    }

    /// The provider's words for the failure, without the classification.
    pub fn reason(&self) -> &str {
        match self {
            Self::RateLimited { .. } => "rate limited by the provider",
            Self::Transient(words) | Self::Permanent(words) | Self::RecipientOptedOut(words) | Self::MarketingOptedOut(words) | Self::Config(words) => words,
        }
    }
}

/// Why the hub did not accept an inbound message.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    /// The message itself is unacceptable (empty, too large, unknown channel).
    #[error("rejected: {0}")]
    Rejected(String),
    /// The hub could not store it now; the provider should retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A channel setting a tenant gave that cannot work, named so the API can point at the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct SettingsError {
    pub field: String,
    pub detail: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { field: field.into(), detail: detail.into() }
    }
}

/// Why a channel's background intake (a mailbox import, a long poll) stopped; the channel
/// reports it as its health and starts again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IntakeError(pub String);

impl IntakeError {
    pub fn new(err: impl std::fmt::Display) -> Self {
        Self(err.to_string())
    }
}

impl From<String> for IntakeError {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for IntakeError {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl From<crate::HostError> for IntakeError {
    fn from(err: crate::HostError) -> Self {
        Self(err.to_string())
    }
}

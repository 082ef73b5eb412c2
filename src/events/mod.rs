//! Events: how a state change and its events commit together ([`outbox::UnitOfWork`]), the
//! log every consumer reads by position ([`log`]), the durable consumers that follow it
//! ([`consumer`]), and the presenters that turn stored rows into the views events and the API
//! carry ([`present`]).

pub mod consumer;
pub mod log;
pub mod retention;
pub mod outbox;
pub mod present;

pub use outbox::{EventBus, UnitOfWork};

/// Why a piece of the hub's own work (a worker, an event listener, a provider report) failed.
/// It is logged where it happens; what triggered the work tries again or the lease expires.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Key(#[from] crate::privacy::KeyError),
    #[error(transparent)]
    Crypto(#[from] crate::privacy::CryptoError),
    #[error(transparent)]
    Append(#[from] outbox::AppendError),
    #[error("a stored payload does not read: {0}")]
    Payload(String),
    /// What the work was about is gone (deleted meanwhile).
    #[error("{0} vanished")]
    Vanished(&'static str),
    #[error("{0}")]
    Refused(String),
}

impl From<serde_json::Error> for WorkError {
    fn from(err: serde_json::Error) -> Self {
        WorkError::Payload(err.to_string())
    }
}

impl From<std::string::FromUtf8Error> for WorkError {
    fn from(err: std::string::FromUtf8Error) -> Self {
        WorkError::Payload(err.to_string())
    }
}

//! The omnibridge adapter SDK.
//!
//! A channel adapter turns one provider (a web widget, a mailbox, Twilio, a Telegram bot) into
//! normalized [`InboundMessage`]s and sends [`OutboundMessage`]s. Adapters depend on this crate
//! only — never on the hub — so the crate boundary itself keeps them free of database access and
//! hub internals: everything an adapter may touch is in here.

mod error;
pub mod files;
pub mod host;
pub mod keywords;
pub mod kind;
mod message;
pub mod net;
mod recent;
pub mod problem;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{AdapterError, IntakeError, SettingsError, SinkError};
pub use host::{ChannelHost, DeliveryReport, HookContext, HostError, HostedChannel};
pub use kind::{Capabilities, ChannelKind, ChannelSetup, DataDestination, HostSetting, Medium, ProcessingRecord, SecretSetting, Services, categories, settings_schema_of};
pub use net::AddressGuard;
pub use recent::RecentReceipts;
pub use message::{
    Accepted, Address, AddressKind, ConsentAction, ConsentSignal, DeliveryStatus, FetchedFile, InboundAttachment, InboundExtras, InboundMessage,
    OutboundAttachment, OutboundExtras, OutboundMessage, Receipt, Sender, Technical, Template, TemplateSend, is_e164,
};

use std::sync::Arc;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

/// Where an adapter hands what it received. The hub implements it with its ingest pipeline;
/// `accept` returns once the message is durably stored (or known to be a duplicate), so an
/// adapter may acknowledge the provider only after it returns `Ok`.
#[async_trait]
pub trait InboundSink: Send + Sync + 'static {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError>;
}

/// The shared handle adapters receive to deliver inbound messages.
pub type InboundTx = Arc<dyn InboundSink>;

/// One connection of a tenant to a provider, as the hub drives it.
#[async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel kind, e.g. `"webchat"` or `"telegram"`.
    fn kind(&self) -> &'static str;

    /// Checks that the provider is reachable with the configured credentials.
    async fn healthcheck(&self) -> Result<(), AdapterError>;

    /// Runs the adapter's long-lived work (a mailbox poller, a long poll) until `shutdown` is
    /// cancelled. Push-based channels have nothing to run and return at once.
    async fn run(&self, inbound: InboundTx, shutdown: CancellationToken) -> Result<(), AdapterError> {
        let _ = inbound;
        shutdown.cancelled().await;
        Ok(())
    }

    /// Sends one message. Must be idempotent on `message.id`: the hub retries after transient
    /// failures and after crashes, and a retry must not reach the recipient twice where the
    /// provider lets the adapter prevent it.
    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError>;

    /// The channel is being deleted: undo what the adapter set up at the provider (Telegram's
    /// webhook registration), so the provider stops calling a URL that no longer answers.
    async fn retire(&self) -> Result<(), AdapterError> {
        Ok(())
    }

    /// The hub stopped while this attempt of `message` ([`OutboundMessage::attempt_key`]) was
    /// with the provider, and its answer was never recorded: did it arrive? Providers that can
    /// be asked answer [`Reconciled::Sent`] or [`Reconciled::NotSent`]; a send that is harmless
    /// to repeat (the provider or the receiver drops the repeat) answers `NotSent`. The default,
    /// [`Reconciled::Unknown`], makes the hub surface the message instead of resending it.
    async fn reconcile(&self, message: &OutboundMessage) -> Result<Reconciled, AdapterError> {
        let _ = message;
        Ok(Reconciled::Unknown)
    }

    /// Fetches the content of an inbound attachment the channel left at the provider
    /// ([`InboundAttachment::remote`]). Channels that always deliver content inline keep the
    /// default.
    async fn fetch_attachment(&self, remote: &str) -> Result<FetchedFile, AdapterError> {
        let _ = remote;
        Err(AdapterError::Permanent(format!("{} channels keep no files at the provider", self.kind())))
    }

    /// The message templates the provider keeps for this channel (WhatsApp), all of them,
    /// whatever their status. Kinds without templates keep the default.
    async fn templates(&self) -> Result<Vec<Template>, AdapterError> {
        Ok(Vec::new())
    }

    /// A link that opens a conversation with this channel carrying `token` (a Telegram deep
    /// link), for channels that have them.
    async fn start_link(&self, token: &str) -> Result<Option<String>, AdapterError> {
        let _ = token;
        Ok(None)
    }

    /// Shows `to` that an operator is typing, where the person has a live session; false when
    /// nobody saw it.
    fn typing(&self, to: &Address, typing: bool) -> bool {
        let _ = (to, typing);
        false
    }

    /// Asks `to` the satisfaction question in their live session; false when no session is open.
    fn offer_survey(&self, to: &Address, survey_id: uuid::Uuid) -> bool {
        let _ = (to, survey_id);
        false
    }
}

/// `Debug` for a settings struct that holds secrets: the listed public fields as they are, the
/// secret ones as `"…"`, so a secret never reaches a log line or a panic message.
#[macro_export]
macro_rules! debug_redacted {
    ($ty:ident { $($field:ident),* $(,)? } secret { $($secret:ident),* $(,)? }) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut s = f.debug_struct(stringify!($ty));
                $(s.field(stringify!($field), &self.$field);)*
                $(let _ = &self.$secret; s.field(stringify!($secret), &"…");)*
                s.finish()
            }
        }
    };
}

/// A websocket connection's budget for frames from the client: at most `per_second` in any
/// one-second window. Clients have no reason to send more (the sockets carry events to them);
/// one that does is closed.
#[derive(Debug)]
pub struct FrameRate {
    per_second: u32,
    window: std::time::Instant,
    count: u32,
}

impl FrameRate {
    pub fn new(per_second: u32) -> Self {
        Self { per_second, window: std::time::Instant::now(), count: 0 }
    }

    /// Counts one frame; false when the budget is spent.
    pub fn allow(&mut self) -> bool {
        if self.window.elapsed() >= std::time::Duration::from_secs(1) {
            self.window = std::time::Instant::now();
            self.count = 0;
        }
        self.count += 1;
        self.count <= self.per_second
    }
}

/// Whether two secrets are equal, in time that does not depend on where they differ (tokens,
/// signatures, CSRF tokens).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// Frames per second a client may send on a websocket.
pub const CLIENT_FRAMES_PER_SECOND: u32 = 20;

/// How often a server pings a websocket client; one silent for three pings (no pong, no frame)
/// is gone — a tab that went away without closing, or a client holding sockets for nothing.
pub const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(25);

/// When a websocket client was last heard from.
#[derive(Debug)]
pub struct Liveness {
    heard: std::time::Instant,
}

impl Default for Liveness {
    fn default() -> Self {
        Self { heard: std::time::Instant::now() }
    }
}

impl Liveness {
    /// Any frame from the client, pongs included.
    pub fn heard(&mut self) {
        self.heard = std::time::Instant::now();
    }

    /// Silent for three pings.
    pub fn is_gone(&self) -> bool {
        self.heard.elapsed() > PING_EVERY * 3
    }
}

/// What a provider says about a send whose answer was lost.
#[derive(Debug, Clone)]
pub enum Reconciled {
    /// It arrived: the provider's receipt.
    Sent(Receipt),
    /// It did not, or repeating it is harmless: send it.
    NotSent,
    /// Nobody can tell.
    Unknown,
}

//! Facebook Messenger and Instagram Direct as omnibridge channels: a Page's (or an Instagram
//! professional account's) conversations become the hub's. Both speak the Graph API's
//! messaging shape, so one crate serves two kinds.
//!
//! - [`settings`]: the page (or account) id, the page access token and app secret (sealed by the
//!   hub), the verify token, the Graph base URL and API version.
//! - [`webhook`]: Meta's batched `messaging[]` / `standby[]` items → inbound messages (text,
//!   attachments left at Meta's CDN until fetched, postbacks, reactions, edits), delivery and
//!   read reports (by message id or watermark), notification opt-outs.
//! - [`channel`]: [`MessengerChannel`], the SDK `Channel`: text and files out (inside the
//!   24-hour window as a response, after it under the `HUMAN_AGENT` tag for 7 days).
//! - [`MessengerKind`]: the two kinds the hub registers, each with its webhook routes.

pub mod channel;
mod kind;
pub mod settings;
pub mod webhook;

pub use channel::MessengerChannel;
pub use kind::{MessengerKind, Platform};
pub use settings::MessengerConfig;

//! SMS and MMS through Twilio as an omnibridge channel.
//!
//! Twilio calls us (inbound messages and delivery status, form-encoded and signed) and we call
//! Twilio (the Messages API). The pieces:
//!
//! - [`signature`]: `X-Twilio-Signature` (HMAC-SHA1 over the public URL and the sorted form
//!   parameters; the `:443`/`:80` variants; JSON bodies with `bodySHA256`), checked in constant
//!   time, with the primary and, during a rotation, the secondary auth token.
//! - [`webhook`]: the inbound-message and status-callback forms, parsed into typed values.
//! - [`keywords`]: the opt-out / opt-in / help keywords carriers and Twilio act on (the SDK's).
//! - [`client`]: a thin client for the Messages API on the hub's HTTP client, with a base URL a
//!   tenant can point at a Twilio region (or a test points at a local fake).
//! - [`channel`]: [`TwilioSmsChannel`], the SDK `Channel`: send and fetch MMS media.
//! - [`settings`]: what a tenant configures, validated field by field.
//! - [`hooks`]: the inbound-message and status-callback routes, signature first.
//! - [`TwilioSmsKind`]: the kind the hub registers.
//! - `testkit` (feature): a local fake of the Messages API speaking Twilio's wire format.
//!
//! Why not the `twilio-async` crate: unmaintained since 2021, a second HTTP stack (hyper 0.14 +
//! OpenSSL), a hard-coded API host (no regions, no local fake), and no `StatusCallback` or
//! `MessagingServiceSid` on messages.

pub mod channel;
pub mod client;
pub mod hooks;
mod kind;
pub use omnibridge_channel::keywords;
pub mod settings;
pub mod signature;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod webhook;

pub use channel::{KIND, MAX_BODY_CHARS, TwilioSmsChannel};
pub use kind::TwilioSmsKind;
pub use settings::{TwilioSmsConfig, TwilioSmsSettings};

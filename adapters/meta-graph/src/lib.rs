//! Meta's Graph API, as omnibridge's WhatsApp, Messenger and Instagram channels speak it.
//!
//! The three channels share their plumbing, and only that lives here:
//!
//! - [`signature`]: `X-Hub-Signature-256`, the HMAC-SHA256 of the raw body under the app secret,
//!   checked in constant time before anything is parsed.
//! - [`handshake`]: the `hub.mode=subscribe` / `hub.verify_token` / `hub.challenge` exchange Meta
//!   makes when a callback URL is saved.
//! - [`client`]: a Graph client on the hub's (guarded) HTTP client, with a base URL and API
//!   version a channel configures, and Graph's error envelope turned into the SDK's
//!   [`AdapterError`](omnibridge_channel::AdapterError) by error code.
//! - [`settings`]: checks of the settings every Meta channel has.
//! - [`intake`]: the signature check and the hand-over of a batch, the same for every kind.
//! - [`ids`]: Meta ids are opaque strings, sometimes sent as JSON numbers.
//! - `testkit` (feature): a local fake of the Graph API and a webhook emitter that serialises and
//!   signs like Meta.

pub mod client;
pub mod handshake;
pub mod ids;
pub mod intake;
pub mod settings;
pub mod signature;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use client::{DEFAULT_API_VERSION, DEFAULT_BASE_URL, Graph, GraphError, classify};

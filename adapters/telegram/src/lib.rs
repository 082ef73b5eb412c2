//! Telegram as an omnibridge channel: a bot's private chats become conversations.
//!
//! - [`settings`]: the bot token, the Bot API URL (Telegram's, or a self-hosted Bot API server)
//!   and the mode: long polling (default) or webhook.
//! - [`update`]: a `teloxide::types::Update` → the hub's `InboundMessage` (text, photos and
//!   documents as attachments fetched on demand, captions, edits, `/start [token]` and `/stop`).
//! - [`channel`]: [`TelegramChannel`], the SDK `Channel`: the long-poll loop (offset kept by the
//!   hub through the `ChannelStateStore` port) or the webhook registration, and sending.
//! - `testkit` (feature): a local fake of the Bot API.
//!
//! Webhook requests are served by the hub (its own route, the secret token compared in constant
//! time with [`secret_matches`]); teloxide's `webhooks-axum` listener is not used because it
//! compares the secret in variable time and queues updates without bound.

pub mod channel;
pub mod settings;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod update;

pub use channel::{KIND, TelegramChannel, secret_matches};
pub use settings::{Mode, TelegramConfig, TelegramSettings};
/// The Bot API's types, as the hub's webhook route parses them.
pub use teloxide::types as bot_types;

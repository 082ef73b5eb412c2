//! Telegram as an omnibridge channel: a bot's private chats become conversations.
//!
//! - [`settings`]: the bot token, the Bot API URL (Telegram's, or a self-hosted Bot API server)
//!   and the mode: long polling (default) or webhook.
//! - [`update`]: a `teloxide::types::Update` → the hub's `InboundMessage` (text, photos and
//!   documents as attachments fetched on demand, captions, edits, `/start [token]` and `/stop`).
//! - [`channel`]: [`TelegramChannel`], the SDK `Channel`: the long-poll loop (offset kept by the
//!   hub through the `ChannelHost` port) or the webhook registration, and sending.
//! - [`TelegramKind`]: the kind the hub registers, with the webhook route (the secret token
//!   compared in constant time with [`secret_matches`]).
//! - `testkit` (feature): a local fake of the Bot API.

pub mod channel;
mod kind;
pub mod settings;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod update;

pub use channel::{KIND, TelegramChannel, secret_matches};
pub use kind::TelegramKind;
pub use settings::{Mode, TelegramConfig, TelegramSettings};
/// The Bot API's types.
pub use teloxide::types as bot_types;

//! WhatsApp Business (Cloud API) as an omnibridge channel: a business phone number's chats
//! become conversations.
//!
//! - [`settings`]: the phone number id, the WhatsApp Business Account id, the access token and
//!   app secret (sealed by the hub), the verify token, the Graph base URL and API version.
//! - [`webhook`]: Meta's batched notifications → inbound messages (every type, media left at
//!   Meta until fetched), delivery statuses, template status changes, stop-marketing signals.
//! - [`channel`]: [`WhatsAppChannel`], the SDK `Channel`: text, media, replies and templates
//!   out; media and templates in.
//! - [`WhatsAppKind`]: the kind the hub registers, with the webhook routes (signature first).

pub mod channel;
mod kind;
pub mod settings;
pub mod webhook;

pub use channel::{KIND, WhatsAppChannel};
pub use kind::WhatsAppKind;
pub use settings::WhatsAppConfig;

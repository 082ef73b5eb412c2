//! Email channel for omnibridge: a mailbox (IMAP in, SMTP out) becomes a channel.
//!
//! - [`parse`]: raw mail → text, sender, threading ids, attachments; RFC 3834 loop signals,
//!   bounces (RFC 3464). Never panics on input.
//! - [`imap`]: connect (implicit TLS, STARTTLS, plain), fetch new mail by UID above a cursor,
//!   IDLE.
//! - [`smtp`]: build and send replies with their own `Message-ID`, `In-Reply-To`, `References`.
//! - [`channel`]: [`EmailChannel`], the SDK `Channel`: the importer loop (IDLE or polling,
//!   reconnect with backoff) and `send`; state that must survive restarts goes through the
//!   SDK's `ChannelHost` port.
//! - [`EmailKind`]: the kind the hub registers.
//! - [`settings`]: what a tenant configures, validated field by field.
//! - `testservers` (feature `testkit`): real Dovecot and aiosmtpd for tests.

pub mod channel;
pub mod imap;
mod kind;
pub mod net;
pub mod parse;
pub mod settings;
pub mod smtp;
#[cfg(feature = "testkit")]
pub mod testservers;

pub use channel::{EmailChannel, KIND};
pub use kind::EmailKind;
pub use omnibridge_channel::SettingsError;
pub use settings::{EmailConfig, EmailSettings, TlsMode};

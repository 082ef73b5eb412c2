//! The web chat channel.
//!
//! Unlike providers reached over the internet, the web chat "provider" is the hub itself: it
//! serves the widget, holds visitor sessions and pushes replies over a websocket. This crate owns
//! that visitor-facing protocol (`/widget/v1/…` and `/widget.js`) and the live socket registry; it
//! reaches storage only through the [`WidgetBackend`] port, which the hub implements, and hands
//! visitor messages to the hub through the SDK's [`InboundSink`](omnibridge_channel::InboundSink)
//! like every other adapter.

mod backend;
mod channel;
mod kind;
mod protocol;
mod routes;
pub mod sockets;
mod token;

pub use backend::{Presence, TranscriptSent, Visitor, WidgetBackend, WidgetError, WidgetSetup};
pub use channel::WebchatChannel;
pub use kind::{WebchatKind, WebchatSettings};
pub use protocol::{PostMessage, ServerFrame, SessionRequest, SessionResponse, WidgetConfig, WidgetMessage};
pub use routes::{WidgetState, description, router};
pub use sockets::VisitorSockets;
pub use token::{TokenHash, VisitorToken};

/// The channel kind this crate implements.
pub const KIND: &str = "webchat";

//! The channel kinds this hub knows: one line per kind. Nothing else in the hub names a kind;
//! everything it needs to know about one it asks the kind ([`ChannelKind`]).
//!
//! An embedding program (or a test) adds kinds of its own with [`crate::Server::with_kind`].

use std::sync::Arc;

use omnibridge_channel::ChannelKind;
use omnibridge_webchat::VisitorSockets;

/// The kinds built into this hub. The web chat kind pushes to the process's visitor sockets.
fn built_in(sockets: &VisitorSockets) -> Vec<Arc<dyn ChannelKind>> {
    vec![
        Arc::new(omnibridge_webchat::WebchatKind::new(sockets.clone())),
        Arc::new(omnibridge_email::EmailKind),
        Arc::new(omnibridge_twilio_sms::TwilioSmsKind),
        Arc::new(omnibridge_telegram::TelegramKind),
        Arc::new(omnibridge_whatsapp::WhatsAppKind),
        Arc::new(omnibridge_meta_messenger::MessengerKind::messenger()),
        Arc::new(omnibridge_meta_messenger::MessengerKind::instagram()),
    ]
}

/// Every kind a channel may be created with, looked up by name.
pub struct Kinds {
    kinds: Vec<Arc<dyn ChannelKind>>,
}

impl Kinds {
    /// The built-in kinds and `extra` ones; a later kind with a taken name is refused.
    pub fn new(sockets: &VisitorSockets, extra: &[Arc<dyn ChannelKind>]) -> anyhow::Result<Self> {
        let mut kinds: Vec<Arc<dyn ChannelKind>> = Vec::new();
        for kind in built_in(sockets).into_iter().chain(extra.iter().cloned()) {
            if kinds.iter().any(|k| k.name() == kind.name() || k.hook_name() == kind.hook_name()) {
                anyhow::bail!("two channel kinds are named {:?}", kind.name());
            }
            kinds.push(kind);
        }
        Ok(Self { kinds })
    }

    /// The built-in kinds, for what needs only their descriptions (the CLI's record of
    /// processing).
    pub fn described() -> Self {
        Self { kinds: built_in(&VisitorSockets::default()) }
    }

    pub fn get(&self, name: &str) -> Option<&dyn ChannelKind> {
        self.kinds.iter().find(|k| k.name() == name).map(|k| &**k)
    }

    pub fn all(&self) -> impl Iterator<Item = &dyn ChannelKind> {
        self.kinds.iter().map(|k| &**k)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.name()).collect()
    }
}

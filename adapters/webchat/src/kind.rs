//! The web chat kind. The hub is its own provider here: replies are pushed to the visitor's
//! open widgets, so nothing reaches a third party, and the kind has no provider callbacks (the
//! widget's own routes are [`crate::router`], authenticated by visitor tokens).

use std::sync::Arc;

use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::{Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, Medium, ProcessingRecord, SettingsError, categories};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{VisitorSockets, WebchatChannel};

/// What a tenant configures for a web chat channel.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebchatSettings {
    /// Origins allowed to embed the widget (empty: any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Shown to visitors when the chat opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
}

/// Web chat: one adapter for every web chat channel of the process, over its visitor sockets.
pub struct WebchatKind {
    channel: Arc<WebchatChannel>,
}

impl WebchatKind {
    pub fn new(sockets: VisitorSockets) -> Self {
        Self { channel: Arc::new(WebchatChannel::new(sockets)) }
    }
}

impl ChannelKind for WebchatKind {
    fn name(&self) -> &'static str {
        crate::KIND
    }

    fn medium(&self) -> Medium {
        Medium::Webchat
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { live_sessions: true, ..Capabilities::default() }
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        let parsed: WebchatSettings = parse_settings(&settings)?;
        for (i, origin) in parsed.allowed_origins.iter().enumerate() {
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            if rest.is_none_or(|host| host.is_empty() || host.trim_end_matches('/').contains(['/', '?', '#', ' '])) {
                return Err(SettingsError::new(
                    format!("allowed_origins[{i}]"),
                    "must be an origin such as https://shop.example (scheme, host, optional port; no path)",
                ));
            }
        }
        Ok(serde_json::to_value(parsed).unwrap_or_default())
    }

    fn destination(&self) -> DataDestination {
        DataDestination::Hub
    }

    fn processing_record(&self) -> ProcessingRecord {
        ProcessingRecord {
            processing: "receiving and answering web chat messages from website visitors",
            data_subjects: "website visitors",
            categories: &[
                categories::CONTACT_NAME,
                categories::CONTACT_EMAIL,
                categories::CONTACT_HANDLE,
                categories::MESSAGE_CONTENT,
                categories::MESSAGE_ATTACHMENTS,
                categories::TECHNICAL_IP,
                categories::TECHNICAL_USER_AGENT,
            ],
        }
    }

    fn build(&self, _setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        Ok(self.channel.clone())
    }
}

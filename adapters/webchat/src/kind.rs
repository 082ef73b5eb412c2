//! The web chat kind. The hub is its own provider here: replies are pushed to the visitor's
//! open widgets, so nothing reaches a third party, and the kind has no provider callbacks (the
//! widget's own routes are [`crate::router`], authenticated by visitor tokens).

use std::sync::Arc;

use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::{Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, Medium, ProcessingRecord, SettingsError, categories};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{VisitorSockets, WebchatChannel};

/// What a tenant configures for a web chat channel: who may embed it, and how the widget looks
/// and greets (served to the widget at `GET /widget/v1/channels/{id}/config`).
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebchatSettings {
    /// Origins allowed to embed the widget (empty: any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Shown to visitors when the chat opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 500)]
    pub greeting: Option<String>,
    /// The business name in the widget's header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 80)]
    pub display_name: Option<String>,
    /// `#rrggbb`: the bubble, the header and the visitor's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub accent_color: Option<String>,
    /// The logo, as a `data:image/…;base64,` URL (served by the hub with the widget's
    /// settings, so the widget makes no request to anyone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// What the widget asks before the first message.
    #[serde(default)]
    #[schema(inline)]
    pub prechat: Prechat,
    /// `right` (default) or `left` bottom corner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub position: Option<Position>,
    /// The widget's language; by default the visitor's browser's (of the languages shipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// A consent checkbox in the pre-chat form: its text, the notice it refers to, what it
    /// grants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub consent: Option<ConsentBox>,
    /// The expected reply time shown in the header: `minutes`, `hours` or `day`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(inline)]
    pub reply_time: Option<ReplyTime>,
}

/// The languages the widget ships message catalogues for.
pub const LANGUAGES: &[&str] = &["en", "de", "fr", "es", "pt", "ru", "ja"];

#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prechat {
    #[serde(default)]
    #[schema(inline)]
    pub fields: PrechatFields,
    /// The fields must be filled in before the first message.
    #[serde(default)]
    pub required: bool,
}

/// What the pre-chat form asks: `none`, `name` or `name_email`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrechatFields {
    #[default]
    None,
    Name,
    NameEmail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Position {
    Right,
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyTime {
    Minutes,
    Hours,
    Day,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentBox {
    /// The checkbox's label.
    #[schema(min_length = 1, max_length = 1000)]
    pub text: String,
    /// The privacy notice's version, recorded as evidence.
    #[schema(min_length = 1, max_length = 100)]
    pub notice_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_url: Option<String>,
    /// What ticking it grants (`marketing`).
    #[serde(default = "default_purposes")]
    pub purposes: Vec<String>,
}

fn default_purposes() -> Vec<String> {
    vec!["marketing".into()]
}

/// The largest logo, in bytes of its data URL.
const MAX_LOGO_BYTES: usize = 64 * 1024;

impl WebchatSettings {
    /// Checks every field; the error names it.
    pub fn check(&self) -> Result<(), SettingsError> {
        for (i, origin) in self.allowed_origins.iter().enumerate() {
            let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
            if rest.is_none_or(|host| host.is_empty() || host.trim_end_matches('/').contains(['/', '?', '#', ' '])) {
                return Err(SettingsError::new(
                    format!("allowed_origins[{i}]"),
                    "must be an origin such as https://shop.example (scheme, host, optional port; no path)",
                ));
            }
        }
        let text = |field: &str, value: &Option<String>, max: usize| match value {
            Some(v) if v.trim().is_empty() || v.chars().count() > max => Err(SettingsError::new(field, format!("must be 1 to {max} characters"))),
            _ => Ok(()),
        };
        text("greeting", &self.greeting, 500)?;
        text("display_name", &self.display_name, 80)?;
        if let Some(color) = &self.accent_color
            && !(color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(SettingsError::new("accent_color", "must be a colour such as #2f6fdf"));
        }
        if let Some(logo) = &self.logo_url {
            let image = ["data:image/png;base64,", "data:image/jpeg;base64,", "data:image/webp;base64,", "data:image/gif;base64,"].iter().any(|p| logo.starts_with(p));
            if !image || logo.len() > MAX_LOGO_BYTES {
                return Err(SettingsError::new("logo_url", format!("must be a data:image/png (jpeg, webp, gif);base64 URL of at most {} KB, served by the hub", MAX_LOGO_BYTES / 1024)));
            }
        }
        if let Some(language) = &self.language
            && !LANGUAGES.contains(&language.as_str())
        {
            return Err(SettingsError::new("language", format!("must be one of {}", LANGUAGES.join(", "))));
        }
        if self.prechat.required && self.prechat.fields == PrechatFields::None {
            return Err(SettingsError::new("prechat.required", "there are no pre-chat fields to require"));
        }
        if let Some(consent) = &self.consent {
            if consent.text.trim().is_empty() || consent.text.chars().count() > 1000 {
                return Err(SettingsError::new("consent.text", "must be 1 to 1000 characters"));
            }
            if consent.notice_version.trim().is_empty() || consent.notice_version.len() > 100 {
                return Err(SettingsError::new("consent.notice_version", "must be 1 to 100 characters"));
            }
            if consent.notice_url.as_deref().is_some_and(|u| u.len() > 500 || !(u.starts_with("https://") || u.starts_with("http://"))) {
                return Err(SettingsError::new("consent.notice_url", "must be an http(s) URL of at most 500 characters"));
            }
            if consent.purposes.is_empty() || consent.purposes.len() > 10 || consent.purposes.iter().any(|p| p.is_empty() || p.len() > 50) {
                return Err(SettingsError::new("consent.purposes", "must list 1 to 10 purposes"));
            }
        }
        Ok(())
    }
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

    fn settings_schema(&self) -> Value {
        omnibridge_channel::settings_schema_of::<WebchatSettings>()
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        let parsed: WebchatSettings = parse_settings(&settings)?;
        parsed.check()?;
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

//! A channel *kind*: everything the hub needs to know about one provider integration, in one
//! place. A kind is a plugin: its crate implements [`ChannelKind`], the hub registers it with
//! one line, and nothing else in the hub names it. The hub asks the kind — never a `match` on
//! its name — what address people have on it, what a send carries and where it goes, which
//! settings are secret, how to build a running [`Channel`] and which provider callbacks to
//! serve.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::host::{ChannelHost, HookContext};
use crate::{AddressGuard, AddressKind, Channel, SettingsError};

/// How people are reached, as consent is recorded: someone's "stop texting me" holds whichever
/// SMS provider carries the texts, so consent is kept per medium, not per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    Webchat,
    Email,
    Sms,
    Telegram,
    Whatsapp,
    Messenger,
    Instagram,
}

impl Medium {
    pub const ALL: &'static [Medium] = &[Self::Sms, Self::Email, Self::Telegram, Self::Webchat, Self::Whatsapp, Self::Messenger, Self::Instagram];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webchat => "webchat",
            Self::Email => "email",
            Self::Sms => "sms",
            Self::Telegram => "telegram",
            Self::Whatsapp => "whatsapp",
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|m| m.as_str() == s)
    }

    /// The kind of address a medium reaches people at.
    pub fn address_kind(self) -> AddressKind {
        match self {
            Self::Webchat => AddressKind::Webchat,
            Self::Email => AddressKind::Email,
            Self::Sms => AddressKind::Phone,
            Self::Telegram => AddressKind::Telegram,
            Self::Whatsapp => AddressKind::Whatsapp,
            Self::Messenger => AddressKind::Messenger,
            Self::Instagram => AddressKind::Instagram,
        }
    }

    /// The media an address of this kind can be reached on.
    pub fn of_address(kind: AddressKind) -> impl Iterator<Item = Medium> {
        Self::ALL.iter().copied().filter(move |m| m.address_kind() == kind)
    }
}

impl std::fmt::Display for Medium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Personal-data categories, as routing policy, the transfer log and the record of processing
/// name them.
pub mod categories {
    pub const CONTACT_NAME: &str = "contact.name";
    pub const CONTACT_EMAIL: &str = "contact.email";
    pub const CONTACT_PHONE: &str = "contact.phone";
    pub const CONTACT_HANDLE: &str = "contact.handle";
    pub const MESSAGE_CONTENT: &str = "message.content";
    pub const MESSAGE_ATTACHMENTS: &str = "message.attachments";
    pub const TECHNICAL_IP: &str = "technical.ip";
    pub const TECHNICAL_USER_AGENT: &str = "technical.user_agent";
    /// The contact's id: a pseudonymous identifier, personal data all the same. Every payload
    /// about a contact carries it; it can be allowed or blocked, not rewritten.
    pub const CONTACT_ID: &str = "contact.id";

    pub const ALL: &[&str] = &[
        CONTACT_ID,
        CONTACT_NAME,
        CONTACT_EMAIL,
        CONTACT_PHONE,
        CONTACT_HANDLE,
        MESSAGE_CONTENT,
        MESSAGE_ATTACHMENTS,
        TECHNICAL_IP,
        TECHNICAL_USER_AGENT,
    ];

    /// The category of a person's address of this kind.
    pub fn of_address(kind: crate::AddressKind) -> &'static str {
        match kind {
            crate::AddressKind::Email => CONTACT_EMAIL,
            crate::AddressKind::Phone | crate::AddressKind::Whatsapp => CONTACT_PHONE,
            crate::AddressKind::Telegram | crate::AddressKind::Webchat | crate::AddressKind::Messenger | crate::AddressKind::Instagram => CONTACT_HANDLE,
        }
    }
}

/// What a kind can do, so the hub asks instead of knowing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Sends files with a message.
    pub attachments: bool,
    /// The longest text one message may carry, in characters, when the provider limits it.
    pub max_text: Option<usize>,
    /// Messages thread by the provider's message ids and a conversation has a subject (mail).
    pub threading: bool,
    /// Free-form messages may be sent only this long after the person last wrote.
    pub reply_window: Option<Duration>,
    /// After `reply_window`, an operator (never an automatic answer) may still write this long
    /// after the person last wrote, the send marked as a human agent's (Messenger's
    /// `HUMAN_AGENT` tag).
    pub human_agent_window: Option<Duration>,
    /// Files people send are fetched from the provider as soon as the message is stored, not on
    /// first download: the provider forgets them (WhatsApp media ids expire).
    pub fetch_media_at_once: bool,
    /// The provider keeps approved message templates ([`crate::Channel::templates`]); outside
    /// the reply window only a template may be sent.
    pub templates: bool,
    /// The hub itself delivers to the person's open sessions (a widget): typing indicators and
    /// surveys are shown in place, and no third party receives anything.
    pub live_sessions: bool,
    /// The channel runs in the background to pull messages in (a mailbox, long polling): one
    /// process of the cluster runs it.
    pub pulls: bool,
    /// Marketing messages carry a one-click unsubscribe link the hub serves under the kind's
    /// hook path (`/hooks/{hook name}/{channel id}/unsubscribe/{token}`).
    pub unsubscribe_link: bool,
    /// A message may go to several people at once — copies (`Cc`) and blind copies (`Bcc`) —
    /// and messages people send name more recipients than the channel (mail).
    pub carbon_copies: bool,
}

/// A secret setting: stored sealed, never shown, and bound to the settings naming the host it
/// is sent to — moving it to another host needs the secret given again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretSetting {
    pub name: &'static str,
    pub sent_to: &'static [&'static str],
}

/// A setting naming a host the channel connects to, vetted against the outbound guard when the
/// channel is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostSetting {
    pub name: &'static str,
    /// The value is a URL (else a bare host name).
    pub is_url: bool,
}

/// Where a channel's sends take the person's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataDestination {
    /// The hub delivers to the person itself (web chat): no third party receives anything.
    Hub,
    /// A provider listed in the subprocessor registry for this kind (`channel_kind`), picked by
    /// the channel's `region` setting where the registry has regional entries.
    Registry,
    /// A server the tenant names in the channel's settings (an SMTP relay): the tenant declares
    /// its country, transfer mechanism and operator in these settings; `host_setting` names the
    /// server when no operator is given.
    TenantRelay { country_setting: &'static str, mechanism_setting: &'static str, operator_setting: &'static str, host_setting: &'static str },
}

/// The kind's entry in a controller's record of processing activities (GDPR Art. 30(2)(b)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessingRecord {
    pub processing: &'static str,
    pub data_subjects: &'static str,
    /// The personal-data categories the kind processes ([`categories`]).
    pub categories: &'static [&'static str],
}

/// What the hub gives a kind to build one channel's adapter.
pub struct ChannelSetup<'a> {
    pub channel_id: Uuid,
    pub tenant_id: Uuid,
    /// The channel's settings, secrets opened and put back in.
    pub settings: &'a Value,
    /// The hub's public base URL, for callback URLs the provider is given.
    pub public_url: &'a str,
    pub services: &'a Services,
}

impl ChannelSetup<'_> {
    /// The URL of one of the kind's provider callbacks for this channel.
    pub fn hook_url(&self, kind: &dyn ChannelKind, rest: &str) -> String {
        format!("{}{}", self.public_url.trim_end_matches('/'), hook_path(kind, self.channel_id, rest))
    }
}

/// What the hub lends every adapter.
#[derive(Clone)]
pub struct Services {
    /// The HTTP client for provider APIs: pooled, and every connection and redirect checked by
    /// the outbound guard.
    pub http: reqwest::Client,
    /// For adapters that open connections themselves (IMAP, SMTP).
    pub guard: AddressGuard,
    /// Cursors, health, quarantine and delivery reports, kept by the hub.
    pub host: Arc<dyn ChannelHost>,
}

/// Where the hub mounts a kind's provider callbacks: `/hooks/{hook name}`.
pub fn hook_prefix(kind: &dyn ChannelKind) -> String {
    format!("/hooks/{}", kind.hook_name())
}

/// The path under which the hub serves a channel's provider callbacks:
/// `/hooks/{hook name}/{channel id}{rest}`.
pub fn hook_path(kind: &dyn ChannelKind, channel_id: Uuid, rest: &str) -> String {
    format!("{}/{channel_id}{rest}", hook_prefix(kind))
}

/// A provider integration, as the hub drives it. One value per kind, registered once.
pub trait ChannelKind: Send + Sync + 'static {
    /// The kind's name, stored with every channel of it (`"twilio_sms"`).
    fn name(&self) -> &'static str;

    /// The path segment of the kind's provider callbacks, `/hooks/{hook_name}/…`.
    fn hook_name(&self) -> &'static str {
        self.name()
    }

    fn medium(&self) -> Medium;

    /// The kind of address people have on this channel.
    fn address_kind(&self) -> AddressKind {
        self.medium().address_kind()
    }

    fn capabilities(&self) -> Capabilities;

    /// Settings stored sealed and never shown.
    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[]
    }

    /// Settings naming hosts the channel connects to.
    fn host_settings(&self) -> &'static [HostSetting] {
        &[]
    }

    /// The settings a channel of this kind takes (public and secret together), as a JSON
    /// Schema: the API description shows it for `POST /v1/channels`. Derive it from the type
    /// `validate` parses ([`settings_schema_of`]) so the description follows the code.
    fn settings_schema(&self) -> Value;

    /// Checks a channel's settings (public and secret together, as the tenant gave them) and
    /// returns them as they are to be stored — the kind may complete them (a generated secret).
    /// Errors name the offending setting.
    fn validate(&self, settings: Value) -> Result<Value, SettingsError>;

    /// Checks a message text before it is queued (a provider's length or encoding limits).
    fn check_text(&self, text: &str) -> Result<(), SettingsError> {
        match self.capabilities().max_text {
            Some(max) if text.chars().count() > max => Err(SettingsError::new("text", format!("at most {max} characters on this channel"))),
            _ => Ok(()),
        }
    }

    /// Where sends go.
    fn destination(&self) -> DataDestination;

    fn processing_record(&self) -> ProcessingRecord;

    /// The address replies should go to when the hub tags outgoing messages with `tag` (mail's
    /// `local+TAG@reply-domain`), if the channel's settings allow one.
    fn reply_address(&self, settings: &Value, tag: &str) -> Option<String> {
        let _ = (settings, tag);
        None
    }

    /// The tag of an address that routes replies back to the hub ([`Self::reply_address`]'s
    /// inverse), if `recipient` is one.
    fn reply_tag(&self, settings: &Value, recipient: &str) -> Option<String> {
        let _ = (settings, recipient);
        None
    }

    /// Whether `address` is the channel's own (its sender address, its mailbox, a tagged reply
    /// address), as opposed to another person a message was also sent to.
    fn own_address(&self, settings: &Value, address: &str) -> bool {
        let _ = (settings, address);
        false
    }

    /// The channel's signature, added under operators' messages (a mailbox's closing lines).
    fn signature(&self, settings: &Value) -> Option<String> {
        let _ = settings;
        None
    }

    /// Builds the adapter serving one channel.
    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError>;

    /// The provider callbacks (inbound webhooks, status callbacks), as paths below
    /// `/{channel_id}`; the hub mounts them at `/hooks/{hook_name}`.
    fn routes(&self) -> Option<axum::Router<HookContext>> {
        None
    }
}

/// The JSON Schema of a kind's settings type, derived with `utoipa::ToSchema` (nested types
/// marked `#[schema(inline)]`, so the schema stands alone).
pub fn settings_schema_of<T: utoipa::PartialSchema>() -> Value {
    serde_json::to_value(T::schema()).unwrap_or_default()
}

/// Parses settings into a kind's typed configuration; unknown or mistyped keys are errors that
/// name the setting.
pub fn parse_settings<T: serde::de::DeserializeOwned>(settings: &Value) -> Result<T, SettingsError> {
    let bytes = serde_json::to_vec(settings).unwrap_or_default();
    crate::problem::parse_json(&bytes).map_err(|p| match p.field {
        Some(field) => {
            let detail = p.detail.strip_prefix(&format!("{field}: ")).unwrap_or(&p.detail).to_owned();
            SettingsError::new(field, detail)
        }
        None => SettingsError::new("", p.detail),
    })
}

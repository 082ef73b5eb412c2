//! The domain's vocabulary: roles, statuses, the JSON views clients see, and events. No I/O.

pub mod events;
pub mod views;

use omnibridge_channel::AddressKind;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything in the tenant, including channels, operators and keys.
    Admin,
    /// Work the inbox: conversations, messages, contacts; read channels.
    Agent,
    /// A system integration: the same data access as an agent, no realtime console.
    Integration,
}

impl Role {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Self::Admin,
            "agent" => Self::Agent,
            "integration" => Self::Integration,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Agent => "agent",
            Self::Integration => "integration",
        }
    }
}

/// Conversation statuses.
pub const CONVERSATION_STATUSES: &[&str] = &["open", "pending", "resolved", "snoozed"];

/// Channel kinds this build knows, and the address kind each one reaches people by.
pub fn address_kind_of_channel(kind: &str) -> Option<AddressKind> {
    Some(match kind {
        "webchat" => AddressKind::Webchat,
        "email" => AddressKind::Email,
        "twilio_sms" => AddressKind::Phone,
        "telegram" => AddressKind::Telegram,
        _ => return None,
    })
}

/// The medium a channel kind carries, as consent is recorded: a person's "stop texting me"
/// holds whichever SMS provider carries the texts.
pub fn medium_of_channel(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "webchat" => "webchat",
        "email" => "email",
        "twilio_sms" => "sms",
        "telegram" => "telegram",
        _ => return None,
    })
}

/// Personal-data categories, as routing policy and the transfer log name them.
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
}

/// Microseconds since the Unix epoch: how the hub keeps time (UTC), in memory and in storage.
pub fn now_micros() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    (now.unix_timestamp_nanos() / 1_000) as i64
}

/// Parses an RFC 3339 time into microseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000) as i64)
}

/// Formats stored microseconds as RFC 3339 UTC.
pub fn rfc3339(micros: i64) -> String {
    let nanos = i128::from(micros) * 1_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

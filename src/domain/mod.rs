//! The domain's vocabulary: roles, statuses, the JSON views clients see, and events. No I/O.

pub mod delivery;
pub mod events;
pub mod patch;
pub mod views;


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

/// Where a conversation stands (stored as its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConversationStatus {
    Open,
    Pending,
    Resolved,
    Snoozed,
}

impl ConversationStatus {
    pub const ALL: [Self; 4] = [Self::Open, Self::Pending, Self::Resolved, Self::Snoozed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Resolved => "resolved",
            Self::Snoozed => "snoozed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the contact to the hub.
    In,
    /// From the hub (an operator, an integration, the hub itself) to the contact.
    Out,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "in",
            Self::Out => "out",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "in" => Self::In,
            "out" => Self::Out,
            _ => return None,
        })
    }
}

/// Personal-data categories, as routing policy and the transfer log name them (the adapter
/// SDK's vocabulary, shared with the kinds' records of processing).
pub use omnibridge_channel::categories;

/// This process's id among the hub processes sharing a database (UUIDv7, made at start):
/// recorded with what it writes and the leases it holds.
pub fn node_id() -> uuid::Uuid {
    static ID: std::sync::OnceLock<uuid::Uuid> = std::sync::OnceLock::new();
    *ID.get_or_init(uuid::Uuid::now_v7)
}

/// A provider's error text without the addresses in it (an SMTP server's "550 5.1.1
/// <ana@example.com>: mailbox unknown"): the error is stored in the clear, the address only
/// sealed on the contact.
pub fn without_addresses(error: &str) -> String {
    error
        .split(' ')
        .map(|word| {
            let bare = word.trim_matches(|c: char| "<>()[]\"',;:".contains(c));
            let digits = bare.strip_prefix('+').unwrap_or(bare);
            if bare.contains('@') && bare.len() > 2 {
                word.replace(bare, "[address]")
            } else if bare.starts_with('+') && (8..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) {
                word.replace(bare, "[number]")
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

/// Whether `email` is a plain mail address (`local@domain.tld`, no display name, no list).
pub fn is_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None)
        if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && email.len() <= 254
            && !email.contains(|c: char| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '>' || c == '"'))
}

/// Reads an optional whole number written either way JSON allows (`30` or `30.0`): JSON Schema's
/// `integer`, which clients and generators may send as a float. A fraction is refused.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    if let Some(n) = number.as_i64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!("invalid value {number}, expected a whole number"))),
    }
}

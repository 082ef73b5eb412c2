//! The normalized message types every adapter speaks.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of address an identity is: the namespace in which `value` is unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    Email,
    Phone,
    Telegram,
    Webchat,
    /// A WhatsApp number, E.164 like a phone number but its own namespace: a WhatsApp account
    /// and an SMS number are one person only when linked by the usual verified-link rules.
    Whatsapp,
    /// A Messenger page-scoped id (PSID): the same person has another id on another page.
    Messenger,
    /// An Instagram-scoped id (IGSID), per professional account.
    Instagram,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Telegram => "telegram",
            Self::Webchat => "webchat",
            Self::Whatsapp => "whatsapp",
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "email" => Self::Email,
            "phone" => Self::Phone,
            "telegram" => Self::Telegram,
            "webchat" => Self::Webchat,
            "whatsapp" => Self::Whatsapp,
            "messenger" => Self::Messenger,
            "instagram" => Self::Instagram,
            _ => return None,
        })
    }
}

/// An address in its normalized form, so that the same person typed twice compares equal
/// (emails lower-cased, phone numbers reduced to `+` and digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    pub kind: AddressKind,
    pub value: String,
}

impl Address {
    pub fn new(kind: AddressKind, raw: &str) -> Self {
        let raw = raw.trim();
        let value = match kind {
            AddressKind::Email => raw.to_lowercase(),
            AddressKind::Phone | AddressKind::Whatsapp => {
                let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
                // `00` is the international prefix written out: 0044… is +44….
                let digits = if raw.starts_with("00") { &digits[2..] } else { &digits[..] };
                format!("+{digits}")
            }
            AddressKind::Telegram | AddressKind::Webchat | AddressKind::Messenger | AddressKind::Instagram => raw.to_owned(),
        };
        Self { kind, value }
    }
}

/// Whether `text` is a phone number in E.164 form: `+`, a non-zero digit, 8 to 15 digits.
pub fn is_e164(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// Who wrote an inbound message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sender {
    pub address: Address,
    /// A display name the provider reported, if any.
    pub display_name: Option<String>,
}

/// Technical data about the sender's connection, kept apart from the message content because it
/// is a separate data category with its own retention and routing rules.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Technical {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The person's browser asked not to be tracked (`Sec-GPC: 1` or `DNT: 1`): the adapter
    /// leaves `ip` and `user_agent` empty, and the hub records "no marketing".
    #[serde(default)]
    pub do_not_track: bool,
}

/// A message that reached a channel from the outside.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundMessage {
    pub channel_id: Uuid,
    /// The provider's id for this message; the hub stores each (channel, external id) once, so
    /// provider retries never duplicate.
    pub external_id: String,
    pub sender: Sender,
    pub text: String,
    pub technical: Technical,
    /// What else the channel knows about the message (threading, subject, attachments).
    #[serde(default)]
    pub extras: InboundExtras,
}

/// Channel-dependent details of an inbound message; every field may be empty.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct InboundExtras {
    /// Provider ids of earlier messages this one answers, best hint first (email: `In-Reply-To`,
    /// then `References` newest first).
    #[serde(default)]
    pub thread_refs: Vec<String>,
    /// Addresses the message was sent to (email: `To` and `Cc`), for reply tokens.
    #[serde(default)]
    pub recipients: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// Byte offset in `text` where quoted history starts.
    #[serde(default)]
    pub quote_start: Option<usize>,
    #[serde(default)]
    pub attachments: Vec<InboundAttachment>,
    /// Never answer this message automatically (RFC 3834 signals: lists, bulk, auto-submitted).
    #[serde(default)]
    pub no_auto_reply: bool,
    /// The sender opted out or back in with this message (an SMS keyword, a bot command). The
    /// hub records it in the consent ledger in the same transaction as the message.
    #[serde(default)]
    pub consent: Option<ConsentSignal>,
    /// A new version of the message already stored under this `external_id` (an edit): the hub
    /// updates the stored text instead of storing a new message.
    #[serde(default)]
    pub edited: bool,
    /// A token the hub minted for a known contact (a deep link's start parameter): a sender
    /// seen for the first time presenting it joins that contact instead of becoming a new one.
    #[serde(default)]
    pub link_token: Option<String>,
    /// The provider's id of the message this one quotes (a reply to a specific message).
    #[serde(default)]
    pub quoted: Option<String>,
}

/// A consent change the sender expressed in the channel's own vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentSignal {
    pub action: ConsentAction,
    /// How it was collected, in the ledger's words: `sms_keyword`, `telegram_command`, ….
    pub method: String,
    /// What the sender wrote, normalized (`STOP`, `/start`).
    pub keyword: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Nothing more on this channel, whatever the purpose (SMS STOP, a carrier rule).
    OptOut,
    /// The sender may be contacted again on this channel (SMS START).
    OptIn,
    /// No more marketing on this channel; answers to the person's own questions still go
    /// (WhatsApp's "stop promotions", a STOP on a messenger).
    OptOutMarketing,
}

/// A file that came with an inbound message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    /// The content (already within the channel's size limit).
    #[serde(skip)]
    pub data: Vec<u8>,
    /// The original size, when the content was dropped for being too large.
    pub size: usize,
    /// Where the channel can fetch the content later (an MMS media URL, a Telegram file id),
    /// when it is not in `data`; see [`crate::Channel::fetch_attachment`].
    #[serde(default)]
    pub remote: Option<String>,
}

/// A file fetched from the provider.
#[derive(Debug, Clone)]
pub struct FetchedFile {
    pub content_type: String,
    pub data: Vec<u8>,
}

/// What the hub answered for an accepted inbound message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Accepted {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    /// True when this (channel, external id) was stored before and nothing new was written.
    pub duplicate: bool,
    /// When the hub stored the message (the first time, for a duplicate), RFC 3339.
    pub created_at: String,
}

/// A message the hub asks an adapter to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The hub's message id; sends are idempotent on it.
    pub id: Uuid,
    pub channel_id: Uuid,
    pub conversation_id: Uuid,
    pub to: Address,
    pub text: String,
    /// When the hub created the message, RFC 3339.
    pub created_at: String,
    /// Who wrote it, for channels that show an author (an operator's display name).
    pub author_name: Option<String>,
    #[serde(default)]
    pub extras: OutboundExtras,
}

impl OutboundMessage {
    /// What a send is idempotent on: the message and the hub's attempt of it.
    pub fn attempt_key(&self) -> (Uuid, u32) {
        (self.id, self.extras.attempt)
    }
}

/// Channel-dependent details of an outbound message.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OutboundExtras {
    /// Provider ids of the messages this one answers, newest first (email: the customer's
    /// `Message-ID`s, for `In-Reply-To` and `References`).
    #[serde(default)]
    pub thread_refs: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    /// Where the recipient's reply should go (email: a `local+TOKEN@reply-domain` address that
    /// names the conversation).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// Sent by the hub on its own (away message, notification): marked `Auto-Submitted`.
    #[serde(default)]
    pub automatic: bool,
    /// For marketing mail: the one-click unsubscribe URL (RFC 8058).
    #[serde(default)]
    pub unsubscribe_url: Option<String>,
    /// For marketing mail: an address that unsubscribes whoever writes to it (RFC 2369 mailto).
    #[serde(default)]
    pub unsubscribe_mailto: Option<String>,
    /// Files to send with the message (channels that carry files).
    #[serde(default)]
    pub attachments: Vec<OutboundAttachment>,
    /// Send this approved template instead of the text (which is the template rendered, for
    /// the record).
    #[serde(default)]
    pub template: Option<TemplateSend>,
    /// The person last wrote longer ago than the kind's reply window: the send is an operator's
    /// under the human-agent allowance ([`crate::Capabilities::human_agent_window`]).
    #[serde(default)]
    pub human_agent: bool,
    /// The provider's id of the message this one answers, shown quoted where the provider can.
    #[serde(default)]
    pub quoted: Option<String>,
    /// The hub's attempt of this message: 0 the first; one more each time the hub sends it
    /// again after the provider reported a failure. A send is idempotent on (id, attempt): a
    /// repeat of the same attempt (its answer was lost) must not reach the person twice.
    #[serde(default)]
    pub attempt: u32,
    /// Further people who get a copy, visibly (`Cc`), on channels with
    /// [`crate::Capabilities::carbon_copies`]; each already allowed by the door.
    #[serde(default)]
    pub cc: Vec<String>,
    /// Further people who get a copy without the others seeing them (`Bcc`).
    #[serde(default)]
    pub bcc: Vec<String>,
}

/// An approved message template a provider keeps (WhatsApp), as synced from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY`, `AUTHENTICATION`.
    pub category: String,
    /// `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, `DISABLED`, …; only approved ones are sent.
    pub status: String,
    /// The provider's component definitions (header, body with `{{1}}` placeholders, footer,
    /// buttons), as it gave them.
    pub components: serde_json::Value,
}

impl Template {
    /// The body's text, if the template has one.
    pub fn body(&self) -> Option<&str> {
        self.components.as_array()?.iter().find(|c| c.get("type").and_then(|t| t.as_str()).is_some_and(|t| t.eq_ignore_ascii_case("body")))?.get("text")?.as_str()
    }

    /// How many parameters the body takes: the distinct `{{…}}` placeholders in it.
    pub fn body_parameters(&self) -> usize {
        let mut names: Vec<&str> = Vec::new();
        let mut rest = self.body().unwrap_or("");
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            let name = after[..end].trim();
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
            rest = &after[end + 2..];
        }
        names.len()
    }

    /// The body with the parameters put in (`{{1}}` is the first), as the person will read it.
    pub fn render(&self, parameters: &[String]) -> String {
        let mut out = String::new();
        let mut names: Vec<String> = Vec::new();
        let mut rest = self.body().unwrap_or("");
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = after[..end].trim().to_owned();
            let index = match name.parse::<usize>() {
                Ok(n) if n >= 1 => n - 1,
                _ => match names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        names.push(name.clone());
                        names.len() - 1
                    }
                },
            };
            out.push_str(parameters.get(index).map(String::as_str).unwrap_or(""));
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// A template to send, with its body parameters in order: an approved template of the channel;
/// outside the reply window the only message that may be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSend {
    pub name: String,
    /// The template's language, such as `en_US`.
    pub language: String,
    /// The body's parameters in order (`{{1}}` first).
    #[serde(default)]
    pub parameters: Vec<String>,
}

/// A file to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// Delivery states as the hub tracks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

/// The provider's answer to a send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    /// The provider's id for the sent message, when it has one.
    pub external_id: Option<String>,
    /// `Sent` when handed to the provider, `Delivered` when the recipient already has it.
    pub status: DeliveryStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_normalize_so_the_same_person_compares_equal() {
        assert_eq!(
            Address::new(AddressKind::Email, " Ana@Example.COM "),
            Address::new(AddressKind::Email, "ana@example.com")
        );
        assert_eq!(Address::new(AddressKind::Phone, "+44 (20) 7946-0958").value, "+442079460958");
        assert_eq!(Address::new(AddressKind::Phone, "0044 20 7946 0958").value, "+442079460958");
    }

    #[test]
    fn templates_render_their_body_with_the_parameters() {
        let t = Template {
            name: "order_update".into(),
            language: "en_US".into(),
            category: "UTILITY".into(),
            status: "APPROVED".into(),
            components: serde_json::json!([{"type": "HEADER", "format": "TEXT", "text": "Hi"}, {"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped. {{1}}!"}]),
        };
        assert_eq!(t.body_parameters(), 2);
        assert_eq!(t.render(&["Ana".into(), "#1234".into()]), "Hi Ana, order #1234 shipped. Ana!");
        let named = Template { components: serde_json::json!([{"type": "BODY", "text": "Table for {{guests}} at {{time}}"}]), ..t };
        assert_eq!(named.body_parameters(), 2);
        assert_eq!(named.render(&["4".into(), "8pm".into()]), "Table for 4 at 8pm");
    }

    #[test]
    fn e164_is_a_plus_and_eight_to_fifteen_digits() {
        assert!(is_e164("+14155550100"));
        assert!(!is_e164("14155550100"));
        assert!(!is_e164("+0123456789"));
        assert!(!is_e164("+1234567"));
        assert!(!is_e164("+1415555010012345"));
        assert!(!is_e164("+1 415 555 0100"));
    }
}

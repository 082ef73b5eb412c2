//! The widget's wire format: what the browser sends and receives.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /widget/v1/channels/{channel_id}/sessions`: optional pre-chat fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VisitorSessionCreate)]
pub struct SessionRequest {
    /// The visitor's name (at most 200 characters).
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// The visitor's email address, as typed (claimed, not verified).
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// What the visitor ticked in the pre-chat form, under which notice.
    #[serde(default)]
    pub consent: Option<SessionConsent>,
}

/// The pre-chat consent checkbox: the purposes the visitor agreed to and the privacy notice
/// they were shown (recorded as consent evidence).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VisitorConsent)]
pub struct SessionConsent {
    /// 1 to 10 purposes, such as `marketing`.
    #[schema(min_items = 1, max_items = 10)]
    pub purposes: Vec<String>,
    /// The version of the privacy notice shown (1 to 100 characters).
    #[schema(min_length = 1, max_length = 100)]
    pub notice_version: String,
    /// Where the notice is (an http(s) URL).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub notice_url: Option<String>,
    /// The page the form was on (an http(s) URL).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub form_url: Option<String>,
}

/// The new session: the token is shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = VisitorSession)]
pub struct SessionResponse {
    pub visitor_token: String,
    pub visitor_id: Uuid,
}

/// `POST /widget/v1/messages`: text, files, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WidgetMessageCreate)]
pub struct PostMessage {
    /// The text; may be empty when files come with it.
    #[serde(default)]
    pub text: String,
    /// Files sent with the message (base64), images shown inline in the console.
    #[serde(default)]
    pub attachments: Vec<PostAttachment>,
    /// A client-chosen id; posting the same id twice stores the message once. The
    /// `Idempotency-Key` header does the same.
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: Option<String>,
}

/// A file a visitor sends.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WidgetFileCreate)]
pub struct PostAttachment {
    /// 1 to 200 characters, without path separators.
    #[schema(min_length = 1, max_length = 200)]
    pub filename: String,
    /// A MIME type such as `image/png` (programs and scripts are refused).
    pub content_type: String,
    /// The content, standard base64.
    #[schema(content_encoding = "base64")]
    pub data: String,
}

/// A file of a message, as the visitor sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WidgetFile {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
}

/// `GET /widget/v1/channels/{id}/config`: how the widget looks and greets, and whether someone
/// is there to answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WidgetConfig {
    pub display_name: Option<String>,
    /// `#rrggbb`.
    pub accent_color: String,
    pub logo_url: Option<String>,
    pub greeting: Option<String>,
    pub prechat: crate::kind::Prechat,
    pub position: crate::kind::Position,
    /// Empty: the visitor's browser language (of those shipped).
    pub language: Option<String>,
    pub consent: Option<crate::kind::ConsentBox>,
    pub reply_time: Option<crate::kind::ReplyTime>,
    /// `online` (an operator is available), `away` (open, nobody available right now) or
    /// `offline` (outside business hours).
    pub presence: crate::backend::Presence,
    /// Shown outside business hours.
    pub away_message: Option<String>,
    /// The largest body of a message with files, in bytes; the files may take three fifths of
    /// it (base64 and the text around them take the rest).
    pub max_upload_bytes: usize,
}

/// One message as the visitor sees it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WidgetMessage {
    /// The message's position in the visitor's history (microseconds of its creation): a
    /// reconnecting widget asks for what follows the last one it has (`/ws?after=SEQ`).
    pub seq: i64,
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `in` for the visitor's own messages, `out` for replies.
    pub direction: String,
    pub text: String,
    /// `contact`, `operator` or `system`.
    pub author: String,
    pub author_name: Option<String>,
    /// Files that came with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<WidgetFile>,
    /// Outbound: `sent`, `delivered` (shown in an open widget) or `read`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// What the visitor's websocket receives.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Sent once after connecting.
    Ready { visitor_id: Uuid },
    /// A reply (or any message) in the visitor's conversation; `seq` is the message's.
    Message { seq: i64, message: WidgetMessage },
    /// An operator is (or stopped) typing a reply.
    Typing { typing: bool },
    /// The conversation was resolved: how did we do (1–5)? Answer at `POST /widget/v1/csat`.
    Csat { survey_id: Uuid },
    /// Sent after the messages a reconnecting widget missed (`?after=`), before live frames.
    Replayed { seq: i64 },
}

/// Microseconds since the epoch of an RFC 3339 time (a message's `seq`).
pub fn micros_of(rfc3339: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(rfc3339.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// JSON-shaped text: objects and arrays nested to any depth with the protocol's field names,
    /// so the cases reach the fields' own checks, not only the tokenizer.
    fn json_like() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            ".{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((prop::sample::select(vec!["text", "external_id", "name", "email", "consent", "purpose", "granted", "notice_version", "x"]), inner), 0..6)
                    .prop_map(|kv| format!("{{{}}}", kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(","))),
            ]
        })
    }

    proptest! {
        #[test]
        fn widget_bodies_parse_or_are_refused_without_panicking(text in json_like()) {
            let _ = serde_json::from_str::<PostMessage>(&text);
            let _ = serde_json::from_str::<SessionRequest>(&text);
        }

        #[test]
        fn deeply_nested_bodies_are_refused(depth in 100usize..2000) {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            // serde_json stops at 128 levels: a bounded stack, an error instead of a crash.
            let nested = serde_json::from_str::<serde_json::Value>(&text);
            prop_assert_eq!(nested.is_ok(), depth <= 127);
        }
    }
}

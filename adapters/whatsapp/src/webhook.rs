//! Meta's WhatsApp notifications (`object = "whatsapp_business_account"`) → what the hub stores.
//!
//! A POST is a batch: every `entry[]`, every `changes[]`, every message and status in it is
//! read — never only the first. Items for another phone number than the channel's are left
//! out, and the numbers named ([`Batch::other_numbers`]), so the callback can hand them to those
//! numbers' channels (Meta calls one URL for all of an app's numbers). Each item is read on its own, so one odd item never loses the others: a type the
//! hub cannot show becomes a message saying so. Media stay at Meta, named by their media id,
//! until the channel fetches them.

use omnibridge_channel::keywords::{self, Keyword};
use omnibridge_channel::{
    AdapterError, Address, AddressKind, ConsentAction, ConsentSignal, DeliveryReport, DeliveryStatus, InboundAttachment, InboundExtras, InboundMessage, Sender, Technical,
};
use omnibridge_meta_graph::client::{GraphError, classify};
use serde_json::Value;
use uuid::Uuid;

/// Everything one notification carried for a channel.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<DeliveryReport>,
    /// Template status changes: (name, language, status).
    pub templates: Vec<(String, String, String)>,
    /// Items addressed to another phone number.
    pub skipped: usize,
    /// The other phone number ids items were addressed to.
    pub other_numbers: std::collections::BTreeSet<String>,
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// Reads a notification for the channel of `phone_number_id` and `waba_id`. `None` when the
/// body is not a WhatsApp notification.
pub fn parse(channel_id: Uuid, phone_number_id: &str, waba_id: &str, body: &Value) -> Option<Batch> {
    if str_at(body, "object") != Some("whatsapp_business_account") {
        return None;
    }
    let mut batch = Batch::default();
    for entry in body.get("entry").and_then(Value::as_array).into_iter().flatten() {
        let entry_waba = entry.get("id").map(id_text).unwrap_or_default();
        for change in entry.get("changes").and_then(Value::as_array).into_iter().flatten() {
            let value = change.get("value").unwrap_or(&Value::Null);
            match str_at(change, "field") {
                Some("messages") => {
                    let number = value.pointer("/metadata/phone_number_id").map(id_text).unwrap_or_default();
                    if number != phone_number_id {
                        batch.skipped += value.get("messages").and_then(Value::as_array).map_or(0, Vec::len)
                            + value.get("statuses").and_then(Value::as_array).map_or(0, Vec::len);
                        batch.other_numbers.insert(number);
                        continue;
                    }
                    let contacts = value.get("contacts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                    for m in value.get("messages").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(message) = message(channel_id, m, contacts) {
                            batch.messages.push(message);
                        }
                    }
                    for s in value.get("statuses").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(report) = status(s) {
                            batch.statuses.push(report);
                        }
                    }
                }
                Some("user_preferences") => match value.pointer("/metadata/phone_number_id").map(id_text) {
                    Some(number) if number != phone_number_id => {
                        batch.skipped += value.get("user_preferences").and_then(Value::as_array).map_or(0, Vec::len);
                        batch.other_numbers.insert(number);
                    }
                    _ => {
                        for p in value.get("user_preferences").and_then(Value::as_array).into_iter().flatten() {
                            if let Some(message) = preference(channel_id, p) {
                                batch.messages.push(message);
                            }
                        }
                    }
                },
                Some("message_template_status_update") if entry_waba == waba_id => {
                    let name = str_at(value, "message_template_name").unwrap_or_default();
                    let language = str_at(value, "message_template_language").unwrap_or_default();
                    let event = str_at(value, "event").unwrap_or_default();
                    if !name.is_empty() && !event.is_empty() {
                        batch.templates.push((name.to_owned(), language.to_owned(), event.to_ascii_uppercase()));
                    }
                }
                _ => {}
            }
        }
    }
    Some(batch)
}

/// A Meta id, whether sent as a string or a number.
fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

/// The person's number as the hub keeps it: E.164.
fn wa_address(wa_id: &str) -> Address {
    Address::new(AddressKind::Whatsapp, &format!("+{}", wa_id.trim_start_matches('+')))
}

fn media(object: &Value, fallback_type: &str) -> InboundAttachment {
    InboundAttachment {
        filename: str_at(object, "filename").map(str::to_owned),
        content_type: str_at(object, "mime_type").unwrap_or(fallback_type).to_owned(),
        data: Vec::new(),
        size: 0,
        remote: object.get("id").map(id_text).filter(|id| !id.is_empty()),
    }
}

/// One message of `messages[]`.
fn message(channel_id: Uuid, m: &Value, contacts: &[Value]) -> Option<InboundMessage> {
    let from = str_at(m, "from").or_else(|| str_at(m, "from_user_id"))?;
    let external_id = str_at(m, "id")?.to_owned();
    let kind = str_at(m, "type").unwrap_or("unknown");
    let body = m.get(kind).unwrap_or(&Value::Null);
    let mut attachments = Vec::new();
    let mut quoted = m.pointer("/context/id").and_then(Value::as_str).map(str::to_owned);
    let text = match kind {
        "text" => str_at(body, "body").unwrap_or_default().to_owned(),
        "image" | "video" | "audio" | "document" | "sticker" => {
            attachments.push(media(body, "application/octet-stream"));
            str_at(body, "caption").unwrap_or_default().to_owned()
        }
        "location" => {
            let (lat, lon) = (body.get("latitude").and_then(Value::as_f64), body.get("longitude").and_then(Value::as_f64));
            let place = [str_at(body, "name"), str_at(body, "address")].into_iter().flatten().collect::<Vec<_>>().join(", ");
            let at = match (lat, lon) {
                (Some(lat), Some(lon)) => format!("{lat:.6}, {lon:.6}"),
                _ => String::new(),
            };
            let mut text = format!("Location: {}", [place.as_str(), at.as_str()].into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" — "));
            if let Some(url) = str_at(body, "url") {
                text.push_str(&format!(" {url}"));
            }
            text
        }
        "contacts" => {
            let cards: Vec<String> = m
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| {
                    let name = c.pointer("/name/formatted_name").and_then(Value::as_str).unwrap_or("(no name)");
                    let phones: Vec<&str> = c.get("phones").and_then(Value::as_array).into_iter().flatten().filter_map(|p| str_at(p, "phone")).collect();
                    let emails: Vec<&str> = c.get("emails").and_then(Value::as_array).into_iter().flatten().filter_map(|p| str_at(p, "email")).collect();
                    [vec![name], phones, emails].concat().join(", ")
                })
                .collect();
            format!("Shared contact: {}", cards.join("; "))
        }
        "interactive" => {
            let reply = body.get("button_reply").or_else(|| body.get("list_reply")).unwrap_or(&Value::Null);
            match (str_at(reply, "title"), str_at(reply, "description")) {
                (Some(title), Some(description)) if !description.is_empty() => format!("{title} — {description}"),
                (Some(title), _) => title.to_owned(),
                _ => "[A form was answered; its content is not shown here]".to_owned(),
            }
        }
        "button" => str_at(body, "text").or_else(|| str_at(body, "payload")).unwrap_or_default().to_owned(),
        "reaction" => {
            quoted = str_at(body, "message_id").map(str::to_owned).or(quoted);
            match str_at(body, "emoji").filter(|e| !e.is_empty()) {
                Some(emoji) => format!("Reacted {emoji}"),
                None => "Removed a reaction".to_owned(),
            }
        }
        other => {
            let what = body.get("type").and_then(Value::as_str).unwrap_or(other);
            format!("[A WhatsApp message of a type not shown here: {what}]")
        }
    };
    let text = if text.is_empty() && attachments.is_empty() { format!("[An empty WhatsApp {kind} message]") } else { text };
    let keyword_text = match kind {
        "text" => Some(text.as_str()),
        "button" | "interactive" => Some(text.as_str()),
        _ => None,
    };
    let consent = keyword_text.and_then(keywords::classify).and_then(|(keyword, word)| {
        let action = match keyword {
            Keyword::OptOut => ConsentAction::OptOutMarketing,
            Keyword::OptIn => ConsentAction::OptIn,
            Keyword::Help => return None,
        };
        Some(ConsentSignal { action, method: "messenger_keyword".into(), keyword: word.to_owned() })
    });
    let display_name = contacts
        .iter()
        .find(|c| str_at(c, "wa_id") == Some(from) || str_at(c, "user_id") == Some(from))
        .and_then(|c| c.pointer("/profile/name").and_then(Value::as_str))
        .map(str::to_owned);
    Some(InboundMessage {
        channel_id,
        external_id,
        sender: Sender { address: wa_address(from), display_name },
        text,
        technical: Technical::default(),
        extras: InboundExtras { attachments, consent, quoted, no_auto_reply: kind == "reaction", ..InboundExtras::default() },
    })
}

/// A stop-marketing or resume tap (`user_preferences`): kept as a message the operator sees,
/// with the withdrawal recorded from it.
fn preference(channel_id: Uuid, p: &Value) -> Option<InboundMessage> {
    let wa_id = str_at(p, "wa_id")?;
    let value = str_at(p, "value")?;
    let at = p.get("timestamp").map(id_text).unwrap_or_default();
    let (text, consent) = match value {
        "stop" => ("Asked to stop marketing messages", Some(ConsentSignal { action: ConsentAction::OptOutMarketing, method: "provider_signal".into(), keyword: "user_preferences:stop".into() })),
        "resume" => ("Asked to receive marketing messages again", None),
        _ => return None,
    };
    Some(InboundMessage {
        channel_id,
        external_id: format!("preference.{wa_id}.{value}.{at}"),
        sender: Sender { address: wa_address(wa_id), display_name: None },
        text: text.to_owned(),
        technical: Technical::default(),
        extras: InboundExtras { consent, no_auto_reply: true, ..InboundExtras::default() },
    })
}

/// One status of `statuses[]`.
fn status(s: &Value) -> Option<DeliveryReport> {
    let provider_id = str_at(s, "id")?.to_owned();
    let status = match str_at(s, "status")? {
        "sent" => DeliveryStatus::Sent,
        "delivered" => DeliveryStatus::Delivered,
        "read" | "played" => DeliveryStatus::Read,
        "failed" => DeliveryStatus::Failed,
        _ => return None,
    };
    // A failure is classified as a failed send would be: 130429 retries, 131050 is a
    // marketing opt-out, 131026 never goes.
    let failure = (status == DeliveryStatus::Failed).then(|| {
        let e = s.get("errors").and_then(Value::as_array).and_then(|e| e.first()).unwrap_or(&Value::Null);
        let code = e.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message: String = str_at(e, "title").or_else(|| str_at(e, "message")).unwrap_or("failed").chars().take(300).collect();
        let details: Option<String> = e.pointer("/error_data/details").and_then(Value::as_str).map(|d| d.chars().take(300).collect());
        let words = format!("{code} {message}{}", details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default());
        match classify(GraphError::Api { http: 200, code, subcode: None, message, details, transient: false }) {
            AdapterError::RateLimited { .. } => AdapterError::Transient(words),
            other => other,
        }
    });
    Some(DeliveryReport { message_id: None, provider_id: Some(provider_id), status, failure, gave_up: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Meta's batched example: three entries, two numbers, messages and statuses mixed.
    fn batch() -> Value {
        serde_json::json!({"object":"whatsapp_business_account","entry":[
         {"id":"102290129340398","changes":[
          {"field":"messages","value":{"messaging_product":"whatsapp",
           "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
           "contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234","user_id":"US.13491208655302741918"}],
           "messages":[
            {"from":"16505551234","id":"wamid.IN1","timestamp":"1749416383","type":"text","text":{"body":"Hi, order #1234?"}},
            {"from":"16505551234","id":"wamid.IN2","timestamp":"1749416390","type":"image",
             "context":{"from":"15550783881","id":"wamid.OUT7"},
             "image":{"caption":"this one","mime_type":"image/jpeg","sha256":"xH5n","id":"1908647269898587"}}]}},
          {"field":"messages","value":{"messaging_product":"whatsapp",
           "metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
           "statuses":[
            {"id":"wamid.OUT7","status":"read","timestamp":"1749416381","recipient_id":"16505551234"},
            {"id":"wamid.OUT7","status":"delivered","timestamp":"1749416377","recipient_id":"16505551234"},
            {"id":"wamid.OUT8","status":"failed","timestamp":"1749416395","recipient_id":"16505550000",
             "errors":[{"code":131026,"title":"Message undeliverable","message":"Message undeliverable","error_data":{"details":"Message Undeliverable."}}]}]}}]},
         {"id":"987654321098765","changes":[
          {"field":"messages","value":{"messaging_product":"whatsapp",
           "metadata":{"display_phone_number":"4930123456","phone_number_id":"112233445566778"},
           "statuses":[{"id":"wamid.OUT9","status":"sent","timestamp":"1749416399","recipient_id":"4915112345678"}]}}]},
         {"id":"102290129340398","time":1749416400,"changes":[
          {"field":"message_template_status_update","value":{"event":"PAUSED","message_template_id":1_689_556_908_129_832_u64,
           "message_template_name":"order_confirmation","message_template_language":"en_US"}}]}]})
    }

    #[test]
    fn every_entry_and_change_of_a_batch_is_read() {
        let b = parse(Uuid::nil(), "106540352242922", "102290129340398", &batch()).unwrap();
        assert_eq!(b.messages.len(), 2);
        assert_eq!(b.messages[0].text, "Hi, order #1234?");
        assert_eq!(b.messages[0].sender.address.value, "+16505551234");
        assert_eq!(b.messages[0].sender.display_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(b.messages[1].extras.quoted.as_deref(), Some("wamid.OUT7"));
        assert_eq!(b.messages[1].extras.attachments[0].remote.as_deref(), Some("1908647269898587"));
        assert_eq!(b.messages[1].text, "this one");
        assert_eq!(b.statuses.len(), 3);
        assert_eq!(b.statuses[2].status, DeliveryStatus::Failed);
        assert_eq!(b.statuses[2].failure, Some(AdapterError::Permanent("131026 Message undeliverable (Message Undeliverable.)".into())));
        assert_eq!(b.skipped, 1, "the other number's status is not this channel's");
        assert_eq!(b.templates, vec![("order_confirmation".into(), "en_US".into(), "PAUSED".into())]);
    }

    #[test]
    fn every_type_becomes_a_message() {
        let cases = [
            (serde_json::json!({"type":"location","location":{"latitude":37.4611978,"longitude":-122.2164385,"name":"Facebook HQ","address":"1 Hacker Way"}}), "Location: Facebook HQ, 1 Hacker Way — 37.461198, -122.216438"),
            (serde_json::json!({"type":"contacts","contacts":[{"name":{"formatted_name":"Chandler Bing"},"phones":[{"phone":"+1 555-555-5555"}]}]}), "Shared contact: Chandler Bing, +1 555-555-5555"),
            (serde_json::json!({"type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"b1","title":"Yes"}}}), "Yes"),
            (serde_json::json!({"type":"button","button":{"payload":"p","text":"Track"}}), "Track"),
            (serde_json::json!({"type":"reaction","reaction":{"message_id":"wamid.OUT1","emoji":"😮"}}), "Reacted 😮"),
            (serde_json::json!({"type":"unsupported","unsupported":{"type":"poll"},"errors":[{"code":131051}]}), "[A WhatsApp message of a type not shown here: poll]"),
            (serde_json::json!({"type":"order","order":{}}), "[A WhatsApp message of a type not shown here: order]"),
        ];
        for (mut m, text) in cases {
            m["from"] = "4915112345678".into();
            m["id"] = "wamid.X".into();
            let message = message(Uuid::nil(), &m, &[]).unwrap();
            assert_eq!(message.text, text);
        }
        let sticker = message(Uuid::nil(), &serde_json::json!({"from":"49151","id":"w","type":"sticker","sticker":{"mime_type":"image/webp","id":"77"}}), &[]).unwrap();
        assert_eq!(sticker.extras.attachments[0].content_type, "image/webp");
    }

    #[test]
    fn stop_withdraws_marketing_and_so_does_the_stop_button() {
        let m = message(Uuid::nil(), &serde_json::json!({"from":"49151","id":"w","type":"text","text":{"body":"Stop."}}), &[]).unwrap();
        assert_eq!(m.extras.consent.map(|c| c.action), Some(ConsentAction::OptOutMarketing));
        let p = preference(Uuid::nil(), &serde_json::json!({"wa_id":"16505551234","value":"stop","category":"marketing_messages","timestamp":1731705721})).unwrap();
        assert_eq!(p.extras.consent.map(|c| (c.action, c.method)), Some((ConsentAction::OptOutMarketing, "provider_signal".to_owned())));
    }

    #[test]
    fn failed_statuses_are_classified_like_failed_sends() {
        let failed = |code: i64| {
            let s = serde_json::json!({"id":"wamid.X","status":"failed","timestamp":"1","recipient_id":"1","errors":[{"code":code,"title":"t"}]});
            status(&s).and_then(|r| r.failure).expect("a failure")
        };
        assert!(failed(130429).is_retryable(), "a rate limit goes again");
        assert!(failed(131000).is_retryable());
        assert!(matches!(failed(131050), AdapterError::MarketingOptedOut(_)));
        assert!(matches!(failed(131026), AdapterError::Permanent(_)));
        assert!(matches!(failed(131047), AdapterError::Permanent(w) if w.starts_with("window_closed")));
        let delivered = serde_json::json!({"id":"wamid.X","status":"delivered","timestamp":"1","recipient_id":"1"});
        assert_eq!(status(&delivered).and_then(|r| r.failure), None);
    }
}

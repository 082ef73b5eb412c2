//! Meta's Messenger (`object = "page"`) and Instagram (`object = "instagram"`) notifications →
//! what the hub stores. Every `entry[]` and every `messaging[]` and `standby[]` item is read, and
//! the App Dashboard's test shape (`changes[]` with a `value`) too. Items are read one by one:
//! an odd one never loses the others. Our own sends come back as echoes and are skipped.

use omnibridge_channel::keywords::{self, Keyword};
use omnibridge_channel::{
    Address, AddressKind, ConsentAction, ConsentSignal, DeliveryReport, DeliveryStatus, InboundAttachment, InboundExtras, InboundMessage, Sender, Technical,
};
use serde_json::Value;
use uuid::Uuid;

/// A watermark report: every message sent to `to` up to `until_ms` reached `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Watermark {
    pub to: Address,
    pub status: DeliveryStatus,
    pub until_ms: i64,
}

/// Everything one notification carried for a channel.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<DeliveryReport>,
    pub watermarks: Vec<Watermark>,
    /// Items for another page or account.
    pub skipped: usize,
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn number(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// Reads a notification of `object` (`page` or `instagram`) for the account `page_id`, whose
/// people have addresses of `kind`. `None` when the body is not such a notification.
pub fn parse(channel_id: Uuid, object: &str, kind: AddressKind, page_id: &str, body: &Value) -> Option<Batch> {
    if str_at(body, "object") != Some(object) {
        return None;
    }
    let mut batch = Batch::default();
    for entry in body.get("entry").and_then(Value::as_array).into_iter().flatten() {
        let items = ["messaging", "standby"].into_iter().filter_map(|k| entry.get(k).and_then(Value::as_array)).flatten();
        let tests = entry.get("changes").and_then(Value::as_array).into_iter().flatten().filter_map(|c| c.get("value"));
        for item in items.chain(tests) {
            item_into(&mut batch, channel_id, kind, page_id, item);
        }
    }
    Some(batch)
}

fn item_into(batch: &mut Batch, channel_id: Uuid, kind: AddressKind, page_id: &str, item: &Value) {
    let sender = item.pointer("/sender/id").map(id_text).unwrap_or_default();
    let recipient = item.pointer("/recipient/id").map(id_text).unwrap_or_default();
    // Echoes of the page's own sends: the hub has them already.
    if sender == page_id || item.pointer("/message/is_echo").and_then(Value::as_bool) == Some(true) {
        return;
    }
    if recipient != page_id || sender.is_empty() {
        batch.skipped += 1;
        return;
    }
    let person = Address::new(kind, &sender);
    let at = number(item.get("timestamp"));
    let inbound = |external_id: String, text: String, extras: InboundExtras| InboundMessage {
        channel_id,
        external_id,
        sender: Sender { address: person.clone(), display_name: None },
        text,
        technical: Technical::default(),
        extras,
    };
    if let Some(message) = item.get("message") {
        let Some(mid) = str_at(message, "mid") else { return };
        if message.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            return;
        }
        let mut text = str_at(message, "text").unwrap_or_default().to_owned();
        let mut attachments = Vec::new();
        for a in message.get("attachments").and_then(Value::as_array).into_iter().flatten() {
            let kind = str_at(a, "type").unwrap_or("fallback");
            let url = a.pointer("/payload/url").and_then(Value::as_str);
            match (kind, url) {
                ("image" | "video" | "audio" | "file", Some(url)) => attachments.push(InboundAttachment {
                    filename: None,
                    content_type: match kind {
                        "image" => "image/jpeg",
                        "video" => "video/mp4",
                        "audio" => "audio/mpeg",
                        _ => "application/octet-stream",
                    }
                    .to_owned(),
                    data: Vec::new(),
                    size: 0,
                    remote: Some(format!("{kind}:{url}")),
                }),
                (other, url) => {
                    let title = a.pointer("/payload/title").or_else(|| a.get("title")).and_then(Value::as_str);
                    let shown = [Some(format!("[Shared {other}]")), title.map(str::to_owned), url.map(str::to_owned)].into_iter().flatten().collect::<Vec<_>>().join(" ");
                    text = if text.is_empty() { shown } else { format!("{text}\n{shown}") };
                }
            }
        }
        if message.get("is_unsupported").and_then(Value::as_bool) == Some(true) && text.is_empty() {
            text = "[A message of a type not shown here]".to_owned();
        }
        if text.is_empty() && attachments.is_empty() {
            text = "[An empty message]".to_owned();
        }
        let consent = keywords::classify(&text).and_then(|(keyword, word)| {
            let action = match keyword {
                Keyword::OptOut => ConsentAction::OptOutMarketing,
                Keyword::OptIn => ConsentAction::OptIn,
                Keyword::Help => return None,
            };
            Some(ConsentSignal { action, method: "messenger_keyword".into(), keyword: word.to_owned() })
        });
        let quoted = message.pointer("/reply_to/mid").and_then(Value::as_str).map(str::to_owned);
        batch.messages.push(inbound(mid.to_owned(), text, InboundExtras { attachments, consent, quoted, ..InboundExtras::default() }));
    } else if let Some(postback) = item.get("postback") {
        let external_id = str_at(postback, "mid").map(str::to_owned).unwrap_or_else(|| format!("postback.{sender}.{at}"));
        let text = str_at(postback, "title").or_else(|| str_at(postback, "payload")).unwrap_or("[A button was tapped]").to_owned();
        batch.messages.push(inbound(external_id, text, InboundExtras::default()));
    } else if let Some(reaction) = item.get("reaction") {
        let mid = str_at(reaction, "mid").unwrap_or_default();
        let text = match (str_at(reaction, "action"), str_at(reaction, "emoji").or_else(|| str_at(reaction, "reaction"))) {
            (Some("unreact"), _) | (_, None) => "Removed a reaction".to_owned(),
            (_, Some(emoji)) => format!("Reacted {emoji}"),
        };
        let extras = InboundExtras { quoted: (!mid.is_empty()).then(|| mid.to_owned()), no_auto_reply: true, ..InboundExtras::default() };
        batch.messages.push(inbound(format!("reaction.{mid}.{sender}.{at}"), text, extras));
    } else if let Some(edit) = item.get("message_edit") {
        if let (Some(mid), Some(text)) = (str_at(edit, "mid"), str_at(edit, "text")) {
            batch.messages.push(inbound(mid.to_owned(), text.to_owned(), InboundExtras { edited: true, ..InboundExtras::default() }));
        }
    } else if let Some(report) = item.get("delivery").map(|d| (d, DeliveryStatus::Delivered)).or_else(|| item.get("read").map(|r| (r, DeliveryStatus::Read))) {
        let (object, status) = report;
        let mids: Vec<String> = object.get("mids").and_then(Value::as_array).into_iter().flatten().filter_map(|m| m.as_str().map(str::to_owned)).chain(str_at(object, "mid").map(str::to_owned)).collect();
        for mid in mids {
            batch.statuses.push(DeliveryReport { message_id: None, provider_id: Some(mid), status, failure: None, gave_up: false });
        }
        if let Some(watermark) = object.get("watermark") {
            batch.watermarks.push(Watermark { to: person, status, until_ms: number(Some(watermark)) });
        }
    } else if let Some(optin) = item.get("optin") {
        let status = str_at(optin, "notification_messages_status").unwrap_or_default();
        let (text, consent) = match status {
            "STOP_NOTIFICATIONS" => (
                "Turned off marketing messages",
                Some(ConsentSignal { action: ConsentAction::OptOutMarketing, method: "provider_signal".into(), keyword: "optin:STOP_NOTIFICATIONS".into() }),
            ),
            "RESUME_NOTIFICATIONS" => ("Turned marketing messages back on", None),
            _ => ("Subscribed to marketing messages", None),
        };
        batch.messages.push(inbound(format!("optin.{sender}.{at}.{status}"), text.to_owned(), InboundExtras { consent, no_auto_reply: true, ..InboundExtras::default() }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn item(extra: Value) -> Value {
        let mut m = json!({"sender": {"id": "6789"}, "recipient": {"id": "1234"}, "timestamp": 1_700_000_000_000_i64});
        m.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        m
    }

    #[test]
    fn every_entry_and_item_of_a_batch_is_read() {
        let body = json!({"object": "page", "entry": [
            {"id": "1234", "time": 1, "messaging": [
                item(json!({"message": {"mid": "m_1", "text": "Olá! Preço 50€ / unidade"}})),
                item(json!({"message": {"mid": "m_2", "attachments": [{"type": "image", "payload": {"url": "https://cdn.example/p.jpg"}}]}})),
                {"sender": {"id": "1234"}, "recipient": {"id": "6789"}, "timestamp": 1, "message": {"mid": "m_echo", "is_echo": true, "text": "ours"}}]},
            {"id": "1234", "time": 2, "messaging": [
                item(json!({"delivery": {"mids": ["m_OUT1"], "watermark": 1_700_000_000_500_i64}})),
                item(json!({"read": {"watermark": 1_700_000_000_900_i64}})),
                item(json!({"postback": {"title": "Get Started", "payload": "START"}})),
                item(json!({"reaction": {"reaction": "love", "emoji": "❤️", "action": "react", "mid": "m_OUT1"}}))]},
            {"id": "9999", "messaging": [{"sender": {"id": "5"}, "recipient": {"id": "9999"}, "timestamp": 1, "message": {"mid": "m_x", "text": "other page"}}]},
        ]});
        let b = parse(Uuid::nil(), "page", AddressKind::Messenger, "1234", &body).unwrap();
        assert_eq!(b.messages.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["Olá! Preço 50€ / unidade", "", "Get Started", "Reacted ❤️"]);
        assert_eq!(b.messages[1].extras.attachments[0].remote.as_deref(), Some("image:https://cdn.example/p.jpg"));
        assert_eq!(b.statuses.len(), 1);
        assert_eq!(b.watermarks.len(), 2);
        assert_eq!(b.watermarks[1].status, DeliveryStatus::Read);
        assert_eq!(b.skipped, 1);
        assert!(parse(Uuid::nil(), "instagram", AddressKind::Instagram, "1234", &body).is_none());
    }

    #[test]
    fn stop_and_stopped_notifications_withdraw_marketing() {
        let body = json!({"object": "instagram", "entry": [{"id": "1234", "messaging": [
            item(json!({"message": {"mid": "m_1", "text": "stop"}})),
            item(json!({"optin": {"type": "notification_messages", "notification_messages_status": "STOP_NOTIFICATIONS"}}))]}]});
        let b = parse(Uuid::nil(), "instagram", AddressKind::Instagram, "1234", &body).unwrap();
        assert!(b.messages.iter().all(|m| m.extras.consent.as_ref().map(|c| c.action) == Some(ConsentAction::OptOutMarketing)));
    }
}

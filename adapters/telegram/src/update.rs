//! A Telegram update → the hub's normalized inbound message.
//!
//! Only private chats with the bot are conversations (a group is not a person). The chat id is
//! the person's telegram address; their name (or @username) the display name. Photos (the
//! largest size) and documents become attachments that name their `file_id`: the content is
//! fetched with `getFile` when someone opens it. Edits carry `edited`, so the stored message is
//! updated. `/stop` withdraws consent, `/start` grants it again, and `/start <token>` also
//! presents a hub-minted link token.

use omnibridge_channel::{
    Address, AddressKind, ConsentAction, ConsentSignal, InboundAttachment, InboundExtras, InboundMessage, Sender, Technical,
};
use teloxide::types::{Message, Update, UpdateKind};
use uuid::Uuid;

/// The updates the bot asks for.
pub const ALLOWED: &[teloxide::types::AllowedUpdate] = &[teloxide::types::AllowedUpdate::Message, teloxide::types::AllowedUpdate::EditedMessage];

/// The hub's id for a Telegram message: unique per chat.
pub fn external_id(message: &Message) -> String {
    format!("{}:{}", message.chat.id.0, message.id.0)
}

/// A command at the start of a text: `/start`, `/start@SomeBot payload`, `/stop`.
fn command(text: &str) -> Option<(&str, &str)> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (word, payload) = rest.split_once(char::is_whitespace).map_or((rest, ""), |(w, p)| (w, p.trim()));
    let name = word.split('@').next().unwrap_or(word);
    Some((name, payload))
}

pub fn to_inbound(channel_id: Uuid, update: &Update) -> Option<InboundMessage> {
    let (message, edited) = match &update.kind {
        UpdateKind::Message(m) => (m, false),
        UpdateKind::EditedMessage(m) => (m, true),
        _ => return None,
    };
    if !message.chat.is_private() {
        return None;
    }
    let text = message.text().or_else(|| message.caption()).unwrap_or_default().to_owned();
    let mut attachments = Vec::new();
    if let Some(largest) = message.photo().and_then(|sizes| sizes.iter().max_by_key(|p| p.width * p.height)) {
        attachments.push(InboundAttachment {
            filename: None,
            content_type: "image/jpeg".into(),
            data: Vec::new(),
            size: largest.file.size as usize,
            remote: Some(largest.file.id.0.clone()),
        });
    }
    if let Some(document) = message.document() {
        attachments.push(InboundAttachment {
            filename: document.file_name.clone(),
            content_type: document.mime_type.as_ref().map(|m| m.to_string()).unwrap_or_else(|| "application/octet-stream".into()),
            data: Vec::new(),
            size: document.file.size as usize,
            remote: Some(document.file.id.0.clone()),
        });
    }
    if text.is_empty() && attachments.is_empty() {
        return None; // stickers, locations, service messages: nothing an operator can answer
    }
    let (mut consent, mut link_token) = (None, None);
    if !edited && let Some(text) = message.text() {
        match command(text) {
            Some(("start", payload)) => {
                consent = Some(ConsentSignal { action: ConsentAction::OptIn, method: "telegram_command".into(), keyword: "/start".into() });
                link_token = (!payload.is_empty()).then(|| payload.to_owned());
            }
            Some(("stop", _)) => {
                consent = Some(ConsentSignal { action: ConsentAction::OptOut, method: "telegram_command".into(), keyword: "/stop".into() });
            }
            _ => {}
        }
    }
    let display_name = message.from.as_ref().map(|user| {
        let name = [Some(user.first_name.as_str()), user.last_name.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
        match (&user.username, name.is_empty()) {
            (Some(username), true) => format!("@{username}"),
            _ => name,
        }
    });
    Some(InboundMessage {
        channel_id,
        external_id: external_id(message),
        sender: Sender { address: Address::new(AddressKind::Telegram, &message.chat.id.0.to_string()), display_name },
        text,
        technical: Technical::default(),
        extras: InboundExtras { attachments, consent, edited, link_token, ..InboundExtras::default() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(kind: &str, message: serde_json::Value) -> Update {
        // From text, as updates arrive (teloxide's Update does not deserialize from a Value).
        serde_json::from_str(&serde_json::json!({"update_id": 10, kind: message}).to_string()).expect("a valid update")
    }

    fn message(extra: serde_json::Value) -> serde_json::Value {
        let mut m = serde_json::json!({
            "message_id": 5, "date": 1_700_000_000,
            "chat": {"id": 4242, "type": "private", "first_name": "Ana"},
            "from": {"id": 4242, "is_bot": false, "first_name": "Ana", "last_name": "Lima", "username": "analima"},
        });
        if let (Some(map), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
            map.extend(extra.clone());
        }
        m
    }

    #[test]
    fn a_text_becomes_a_message_from_the_chat() {
        let msg = to_inbound(Uuid::nil(), &update("message", message(serde_json::json!({"text": "Hello"})))).expect("a message");
        assert_eq!(msg.external_id, "4242:5");
        assert_eq!(msg.sender.address.value, "4242");
        assert_eq!(msg.sender.display_name.as_deref(), Some("Ana Lima"));
        assert_eq!(msg.text, "Hello");
        assert!(!msg.extras.edited);
    }

    #[test]
    fn photos_and_documents_are_attachments_by_file_id() {
        let photo = message(serde_json::json!({"caption": "the parcel", "photo": [
            {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
            {"file_id": "large", "file_unique_id": "l", "width": 1280, "height": 960, "file_size": 90000}]}));
        let msg = to_inbound(Uuid::nil(), &update("message", photo)).expect("a message");
        assert_eq!(msg.text, "the parcel");
        assert_eq!(msg.extras.attachments[0].remote.as_deref(), Some("large"));
        let doc = message(serde_json::json!({"document": {"file_id": "doc1", "file_unique_id": "d", "file_name": "invoice.pdf", "mime_type": "application/pdf", "file_size": 5000}}));
        let msg = to_inbound(Uuid::nil(), &update("message", doc)).expect("a message");
        assert_eq!(msg.extras.attachments[0].filename.as_deref(), Some("invoice.pdf"));
        assert_eq!(msg.extras.attachments[0].content_type, "application/pdf");
    }

    #[test]
    fn commands_are_consent_signals_and_start_carries_the_link_token() {
        let start = to_inbound(Uuid::nil(), &update("message", message(serde_json::json!({"text": "/start abc_123"})))).expect("a message");
        assert_eq!(start.extras.consent.map(|c| c.action), Some(ConsentAction::OptIn));
        assert_eq!(start.extras.link_token.as_deref(), Some("abc_123"));
        let stop = to_inbound(Uuid::nil(), &update("message", message(serde_json::json!({"text": "/stop@ShopBot"})))).expect("a message");
        assert_eq!(stop.extras.consent.map(|c| c.action), Some(ConsentAction::OptOut));
        let plain = to_inbound(Uuid::nil(), &update("message", message(serde_json::json!({"text": "please stop"})))).expect("a message");
        assert_eq!(plain.extras.consent, None);
    }

    #[test]
    fn edits_are_marked_and_groups_are_not_conversations() {
        let edited = to_inbound(Uuid::nil(), &update("edited_message", message(serde_json::json!({"text": "Hello again", "edit_date": 1_700_000_100}))))
            .expect("a message");
        assert!(edited.extras.edited);
        assert_eq!(edited.external_id, "4242:5");
        let group = message(serde_json::json!({"text": "hi", "chat": {"id": -100, "type": "group", "title": "Team"}}));
        assert!(to_inbound(Uuid::nil(), &update("message", group)).is_none());
    }

    /// A private-chat message with arbitrary values where senders put text and numbers.
    fn arbitrary_update() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        (any::<i64>(), any::<i64>(), ".{0,200}", proptest::option::of(".{0,50}"), prop::sample::select(vec!["message", "edited_message", "channel_post", "callback_query"]))
            .prop_map(|(id, chat, text, caption, kind)| {
                serde_json::json!({"update_id": id, kind: {"message_id": id, "date": chat, "text": text, "caption": caption,
                    "chat": {"id": chat, "type": "private", "first_name": text}, "from": {"id": chat, "is_bot": false, "first_name": text}}})
                .to_string()
            })
    }

    proptest::proptest! {
        #[test]
        fn any_update_converts_or_is_skipped_without_panicking(text in arbitrary_update()) {
            if let Ok(update) = serde_json::from_str::<Update>(&text) {
                let _ = to_inbound(Uuid::nil(), &update);
            }
        }

        #[test]
        fn any_bytes_are_refused_or_converted_without_panicking(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            if let Ok(update) = serde_json::from_slice::<Update>(&raw) {
                let _ = to_inbound(Uuid::nil(), &update);
            }
        }
    }
}

//! The Telegram channel against a local fake of the Bot API.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::testkit::{MemoryHost, RecordingSink, check_idempotent_send};
use omnibridge_channel::{AdapterError, Address, AddressKind, Channel, OutboundAttachment, OutboundMessage};
use omnibridge_telegram::testkit::{FakeBotApi, ScriptedError};
use omnibridge_telegram::{TelegramChannel, TelegramConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TOKEN: &str = "123456789:AAHfake-token-for-tests-only_0001";

fn channel(fake: &FakeBotApi, state: &MemoryHost, extra: serde_json::Value) -> (Uuid, Arc<TelegramChannel>) {
    let mut settings = json!({"bot_token": TOKEN, "api_url": fake.api_url()});
    if let (Some(map), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    let settings = serde_json::from_value::<TelegramConfig>(settings).expect("parses").validate().expect("valid");
    let id = Uuid::now_v7();
    let bot = TelegramChannel::new(id, settings, reqwest::Client::new(), Arc::new(state.clone()), Some("https://hub.example.com/hooks/telegram/x".into()))
        .expect("channel");
    (id, Arc::new(bot))
}

fn text_message(id: i64, chat: i64, text: &str) -> serde_json::Value {
    json!({"message_id": id, "date": 1_700_000_000, "chat": {"id": chat, "type": "private", "first_name": "Ana"},
           "from": {"id": chat, "is_bot": false, "first_name": "Ana"}, "text": text})
}

fn reply(chat: i64, text: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::nil(),
        conversation_id: Uuid::nil(),
        to: Address::new(AddressKind::Telegram, &chat.to_string()),
        text: text.into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

#[tokio::test]
async fn long_polling_hands_over_updates_and_keeps_the_offset() {
    let fake = FakeBotApi::start(TOKEN).await;
    let state = MemoryHost::default();
    let (id, bot) = channel(&fake, &state, json!({}));
    let sink = RecordingSink::default();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (bot, sink, shutdown) = (bot.clone(), Arc::new(sink.clone()), shutdown.clone());
        async move { bot.run(sink, shutdown).await }
    });
    let first = fake.push_update("message", text_message(1, 4242, "Hello"));
    fake.push_update("message", text_message(2, 4242, "Anyone there?"));
    for _ in 0..200 {
        if sink.messages().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sink.messages().iter().map(|m| m.text.as_str()).collect::<Vec<_>>(), ["Hello", "Anyone there?"]);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(2), task).await.expect("stops promptly").expect("no panic").expect("clean stop");
    let saved = state.cursors.lock().expect("lock").get(&id).cloned();
    assert_eq!(saved, Some((first["update_id"].as_i64().expect("id") + 2).to_string()), "offset = last update_id + 1");
    assert!(fake.calls_to("deletewebhook").len() == 1, "polling starts by dropping any webhook");
}

#[tokio::test]
async fn webhook_mode_registers_the_url_with_the_secret() {
    let fake = FakeBotApi::start(TOKEN).await;
    let state = MemoryHost::default();
    let (_, bot) = channel(&fake, &state, json!({"mode": "webhook", "webhook_secret": "s3cret_token-1"}));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn({
        let (bot, shutdown) = (bot.clone(), shutdown.clone());
        async move { bot.run(Arc::new(RecordingSink::default()), shutdown).await }
    });
    for _ in 0..100 {
        if fake.webhook().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(fake.webhook(), Some(("https://hub.example.com/hooks/telegram/x".to_owned(), "s3cret_token-1".to_owned())));
    shutdown.cancel();
    let _ = task.await;
}

#[tokio::test]
async fn sends_map_telegram_answers() {
    let fake = FakeBotApi::start(TOKEN).await;
    let (_, bot) = channel(&fake, &MemoryHost::default(), json!({}));
    let receipt = bot.send(&reply(4242, "Hi <b>Ana</b> & co")).await.expect("sent");
    assert!(receipt.external_id.is_some_and(|id| id.starts_with("4242:")));
    let call = &fake.calls_to("sendmessage")[0];
    assert_eq!(call.field("chat_id").as_deref(), Some("4242"));
    assert_eq!(call.field("text").as_deref(), Some("Hi <b>Ana</b> & co"), "sent as plain text");
    assert_eq!(call.field("parse_mode"), None);

    fake.fail_next([
        ScriptedError { code: 429, description: "Too Many Requests: retry after 3".into(), retry_after: Some(3) },
        ScriptedError { code: 403, description: "Forbidden: bot was blocked by the user".into(), retry_after: None },
        ScriptedError { code: 400, description: "Bad Request: chat not found".into(), retry_after: None },
    ]);
    assert!(matches!(bot.send(&reply(4242, "a")).await, Err(AdapterError::RateLimited { retry_after }) if retry_after == Duration::from_secs(3)));
    assert!(matches!(bot.send(&reply(4242, "a")).await, Err(AdapterError::RecipientOptedOut(_))));
    assert!(matches!(bot.send(&reply(4242, "a")).await, Err(AdapterError::Permanent(m)) if m.contains("chat not found")));

    let mut with_file = reply(4242, "Your invoice");
    with_file.extras.attachments.push(OutboundAttachment { filename: "invoice.pdf".into(), content_type: "application/pdf".into(), data: b"%PDF".to_vec() });
    bot.send(&with_file).await.expect("sent");
    assert_eq!(fake.calls_to("senddocument")[0].field("chat_id").as_deref(), Some("4242"));

    let counter = fake.clone();
    check_idempotent_send(bot.as_ref(), &reply(4242, "once"), move || counter.calls_to("sendmessage").len()).await;
}

#[tokio::test]
async fn files_are_fetched_by_file_id() {
    let fake = FakeBotApi::start(TOKEN).await;
    let (_, bot) = channel(&fake, &MemoryHost::default(), json!({}));
    fake.add_file("AgACphoto", "photos/file_7.jpg", b"\xff\xd8jpeg");
    let file = bot.fetch_attachment("AgACphoto").await.expect("fetched");
    assert_eq!((file.content_type.as_str(), file.data.as_slice()), ("image/jpeg", b"\xff\xd8jpeg".as_slice()));
    assert_eq!(bot.username().await.expect("getMe"), "shop_bot");
}

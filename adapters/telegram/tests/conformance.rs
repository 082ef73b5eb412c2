//! The SDK's conformance kit, for the Telegram kind: its description, the channel's lifecycle,
//! an idempotent send, failures classified, and forged webhook requests refused before
//! anything is stored.

use std::sync::Arc;

use omnibridge_channel::testkit::{Expected, Forged, MemoryHost, check_failure_classified, check_forged_callbacks_refused, check_idempotent_send, check_kind, check_lifecycle};
use omnibridge_channel::{Address, AddressKind, Channel, ChannelKind, ChannelSetup, HostedChannel, OutboundMessage, Services};
use omnibridge_telegram::TelegramKind;
use omnibridge_telegram::testkit::{FakeBotApi, ScriptedError};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "123456789:AAHfake-token-for-tests-only_0001";

fn reply(text: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::nil(),
        conversation_id: Uuid::nil(),
        to: Address::new(AddressKind::Telegram, "4242"),
        text: text.into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

fn build(settings: &serde_json::Value, host: &MemoryHost, id: Uuid) -> Arc<dyn Channel> {
    let services = Services { http: reqwest::Client::new(), guard: omnibridge_channel::AddressGuard::permit_all(), host: Arc::new(host.clone()) };
    let setup = ChannelSetup { channel_id: id, tenant_id: Uuid::nil(), settings, public_url: "https://hub.example.com", services: &services };
    TelegramKind.build(setup).expect("built")
}

#[tokio::test]
async fn the_telegram_kind_passes_the_conformance_kit() {
    check_kind(&TelegramKind);
    let fake = FakeBotApi::start(TOKEN).await;
    let host = MemoryHost::default();
    let polling = TelegramKind.validate(json!({"bot_token": TOKEN, "api_url": fake.api_url()})).expect("valid");
    let bot = build(&polling, &host, Uuid::now_v7());
    check_lifecycle(bot.clone()).await;
    let counter = fake.clone();
    check_idempotent_send(bot.as_ref(), &reply("once"), move || counter.calls_to("sendmessage").len()).await;

    fake.fail_next([
        ScriptedError { code: 502, description: "Bad Gateway".into(), retry_after: None },
        ScriptedError { code: 400, description: "Bad Request: chat not found".into(), retry_after: None },
        ScriptedError { code: 403, description: "Forbidden: bot was blocked by the user".into(), retry_after: None },
    ]);
    check_failure_classified(bot.as_ref(), &reply("a"), Expected::Retryable).await;
    check_failure_classified(bot.as_ref(), &reply("a"), Expected::Permanent).await;
    check_failure_classified(bot.as_ref(), &reply("a"), Expected::OptedOut).await;

    // Webhook mode: the kind generates the secret Telegram must repeat.
    let webhook = TelegramKind.validate(json!({"bot_token": TOKEN, "api_url": fake.api_url(), "mode": "webhook"})).expect("valid");
    assert!(webhook["webhook_secret"].as_str().is_some_and(|s| s.len() == 64), "a 64-character secret is generated");
    let id = Uuid::now_v7();
    host.add_channel(TelegramKind.name(), HostedChannel { id, tenant_id: Uuid::nil(), settings: webhook.clone(), adapter: build(&webhook, &host, id) });
    let update = json!({"update_id": 1, "message": {"message_id": 1, "date": 1_700_000_000, "chat": {"id": 4242, "type": "private", "first_name": "Ana"},
        "from": {"id": 4242, "is_bot": false, "first_name": "Ana"}, "text": "hello"}})
    .to_string();
    let json_header = ("content-type", "application/json".to_owned());
    let forged = vec![
        Forged { method: "POST", path: format!("/{id}"), headers: vec![json_header.clone()], body: update.clone().into_bytes() },
        Forged {
            method: "POST",
            path: format!("/{id}"),
            headers: vec![json_header, ("x-telegram-bot-api-secret-token", "a".repeat(64))],
            body: update.into_bytes(),
        },
    ];
    check_forged_callbacks_refused(&TelegramKind, host, forged).await;
}

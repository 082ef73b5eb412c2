//! The SMS channel against a local fake of Twilio's API: what Twilio receives, and how each of
//! its answers becomes the hub's view of the send.

use std::sync::Arc;

use omnibridge_channel::testkit::{check_idempotent_send, check_lifecycle};
use omnibridge_channel::{AdapterError, Address, AddressKind, Channel, DeliveryStatus, OutboundMessage};
use omnibridge_twilio_sms::testkit::{FakeTwilio, ScriptedError};
use omnibridge_twilio_sms::{TwilioSmsChannel, TwilioSmsConfig};
use uuid::Uuid;

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "secret-token";
const CUSTOMER: &str = "+14155550100";

fn channel(fake: &FakeTwilio, extra: serde_json::Value) -> TwilioSmsChannel {
    let mut settings = serde_json::json!({"account_sid": SID, "auth_token": TOKEN, "from": "+14155550199", "api_base_url": fake.base_url()});
    if let (Some(map), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    let settings = serde_json::from_value::<TwilioSmsConfig>(settings).expect("settings parse").validate().expect("settings valid");
    TwilioSmsChannel::new(settings, reqwest::Client::new(), Some("https://hub.example.com/hooks/twilio/c/status".into()))
}

fn message(text: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::now_v7(),
        conversation_id: Uuid::now_v7(),
        to: Address::new(AddressKind::Phone, CUSTOMER),
        text: text.into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

#[tokio::test]
async fn a_reply_reaches_twilio_with_every_field() {
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = channel(&fake, serde_json::json!({}));
    let msg = message("Your order has shipped");
    let receipt = sms.send(&msg).await.expect("sent");
    assert_eq!(receipt.status, DeliveryStatus::Sent);
    assert!(receipt.external_id.as_deref().is_some_and(|sid| sid.starts_with("SM")));
    let sent = fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].field("To"), Some(CUSTOMER));
    assert_eq!(sent[0].field("From"), Some("+14155550199"));
    assert_eq!(sent[0].field("Body"), Some("Your order has shipped"));
    assert_eq!(sent[0].field("StatusCallback"), Some(format!("https://hub.example.com/hooks/twilio/c/status?message_id={}", msg.id).as_str()));
    assert!(sent[0].authorization.starts_with("Basic "));
}

#[tokio::test]
async fn a_messaging_service_sends_without_a_from_number() {
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = channel(&fake, serde_json::json!({"messaging_service_sid": "MG0123456789abcdef0123456789abcdef"}));
    sms.send(&message("hi")).await.expect("sent");
    let sent = fake.sent();
    assert_eq!(sent[0].field("MessagingServiceSid"), Some("MG0123456789abcdef0123456789abcdef"));
    assert_eq!(sent[0].field("From"), None);
}

#[tokio::test]
async fn twilio_answers_become_retry_decisions() {
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = channel(&fake, serde_json::json!({}));
    fake.opt_out(CUSTOMER);
    assert!(matches!(sms.send(&message("a")).await, Err(AdapterError::RecipientOptedOut(m)) if m.contains("21610")));

    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = channel(&fake, serde_json::json!({}));
    fake.fail_next([
        ScriptedError { status: 429, code: 20429, message: "Too Many Requests".into() },
        ScriptedError { status: 503, code: 20503, message: "Service unavailable".into() },
        ScriptedError { status: 400, code: 21211, message: "The 'To' number is not a valid phone number.".into() },
    ]);
    assert!(matches!(sms.send(&message("a")).await, Err(AdapterError::RateLimited { .. })));
    assert!(matches!(sms.send(&message("a")).await, Err(AdapterError::Transient(_))));
    match sms.send(&message("a")).await {
        Err(AdapterError::Permanent(m)) => assert!(m.contains("21211") && m.contains("not a valid phone number"), "{m}"),
        other => panic!("expected a permanent failure, got {other:?}"),
    }
    assert!(fake.sent().is_empty());
}

#[tokio::test]
async fn wrong_credentials_are_a_configuration_error() {
    let fake = FakeTwilio::start(SID, "another-token").await;
    let sms = channel(&fake, serde_json::json!({}));
    assert!(matches!(sms.send(&message("a")).await, Err(AdapterError::Config(_))));
    assert!(matches!(sms.healthcheck().await, Err(AdapterError::Config(_))));
}

#[tokio::test]
async fn over_long_bodies_never_leave() {
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = channel(&fake, serde_json::json!({}));
    match sms.send(&message(&"x".repeat(1601))).await {
        Err(AdapterError::Permanent(m)) => assert!(m.contains("1601") && m.contains("1600"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    sms.send(&message(&"é".repeat(1600))).await.expect("1600 characters fit");
    assert_eq!(fake.sent().len(), 1);
}

#[tokio::test]
async fn mms_media_is_fetched_with_the_account_credentials() {
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = channel(&fake, serde_json::json!({}));
    let url = fake.add_media("image/png", b"\x89PNG fake");
    let file = sms.fetch_attachment(&url).await.expect("fetched");
    assert_eq!((file.content_type.as_str(), file.data.as_slice()), ("image/png", b"\x89PNG fake".as_slice()));
}

#[tokio::test]
async fn the_channel_keeps_the_sdk_contract() {
    let fake = FakeTwilio::start(SID, TOKEN).await;
    let sms = Arc::new(channel(&fake, serde_json::json!({})));
    check_lifecycle(sms.clone()).await;
    let counter = fake.clone();
    check_idempotent_send(sms.as_ref(), &message("once"), move || counter.sent().len()).await;
}

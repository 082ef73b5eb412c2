//! The Messenger and Instagram channels against a local fake of the Graph API: the Send API's
//! framing inside and after the window, files, error classes, the conformance kit, and forged
//! callbacks.

use std::sync::Arc;

use omnibridge_channel::testkit::{Expected, Forged, MemoryHost, check_failure_classified, check_forged_callbacks_refused, check_idempotent_send, check_kind, check_lifecycle};
use omnibridge_channel::{AdapterError, Address, AddressKind, Channel, HostedChannel, OutboundAttachment, OutboundMessage};
use omnibridge_meta_graph::signature;
use omnibridge_meta_graph::testkit::{FakeGraph, ScriptedError};
use omnibridge_meta_messenger::{MessengerChannel, MessengerConfig, MessengerKind, Platform};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "EAAG-page-token-for-tests-0001";
const SECRET: &str = "messenger-app-secret";

fn settings(fake: &FakeGraph) -> serde_json::Value {
    json!({"page_id": "1234567890", "page_access_token": TOKEN, "app_secret": SECRET, "verify_token": "verify-me-please", "graph_base_url": fake.base_url()})
}

fn channel(fake: &FakeGraph, platform: Platform) -> MessengerChannel {
    let config = serde_json::from_value::<MessengerConfig>(settings(fake)).expect("parses").validate().expect("valid");
    MessengerChannel::new(Uuid::now_v7(), platform, config, reqwest::Client::new())
}

fn message(text: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::nil(),
        conversation_id: Uuid::nil(),
        to: Address::new(AddressKind::Messenger, "6789012345678901"),
        text: text.into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

#[tokio::test]
async fn replies_are_responses_and_late_ones_carry_the_human_agent_tag() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    let page = channel(&fake, Platform::Messenger);
    let receipt = page.send(&message("Hello!")).await.expect("sent");
    assert!(receipt.external_id.is_some_and(|id| id.starts_with("m_")));
    let mut late = message("Sorry for the wait.");
    late.extras.human_agent = true;
    late.extras.attachments.push(OutboundAttachment { filename: "p.png".into(), content_type: "image/png".into(), data: b"\x89PNG".to_vec() });
    page.send(&late).await.expect("sent");
    let sent = fake.sent();
    assert_eq!(sent[0].sender, "1234567890");
    assert_eq!(sent[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(sent[0].body, json!({"recipient": {"id": "6789012345678901"}, "messaging_type": "RESPONSE", "message": {"text": "Hello!"}}));
    assert_eq!(sent[1].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(sent[1].body["tag"], "HUMAN_AGENT");
    assert_eq!(sent[1].body["message"]["attachment"]["type"], "image");
    assert_eq!(sent[1].files[0].1, b"\x89PNG");
    assert_eq!(sent[2].body["tag"], "HUMAN_AGENT");
    assert_eq!(sent[2].body["message"]["text"], "Sorry for the wait.");
}

#[tokio::test]
async fn the_conformance_kit_passes_for_both_kinds() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    for (kind, platform) in [(MessengerKind::messenger(), Platform::Messenger), (MessengerKind::instagram(), Platform::Instagram)] {
        check_kind(&kind);
        let page = Arc::new(channel(&fake, platform));
        check_lifecycle(page.clone()).await;
        check_idempotent_send(page.as_ref(), &message("once"), || fake.sent().len()).await;
        for (error, expected) in [
            (ScriptedError::new(400, 4, "(#4) Application request limit reached"), Expected::Retryable),
            (ScriptedError { subcode: Some(2018278), ..ScriptedError::new(400, 10, "(#10) This message is sent outside of allowed window") }, Expected::Permanent),
            (ScriptedError::new(400, 551, "This person isn't available right now"), Expected::Permanent),
            (ScriptedError::new(401, 190, "Error validating access token"), Expected::Config),
        ] {
            fake.fail_next(error);
            check_failure_classified(page.as_ref(), &message("x"), expected).await;
        }
        fake.fail_next(ScriptedError { subcode: Some(2018278), ..ScriptedError::new(400, 10, "outside of allowed window") });
        assert!(matches!(page.send(&message("late")).await, Err(AdapterError::Permanent(why)) if why.starts_with("window_closed")));
    }
}

#[tokio::test]
async fn forged_callbacks_are_refused() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    for (kind, platform) in [(MessengerKind::messenger(), Platform::Messenger), (MessengerKind::instagram(), Platform::Instagram)] {
        let host = MemoryHost::default();
        let id = Uuid::now_v7();
        host.add_channel(platform.name(), HostedChannel { id, tenant_id: Uuid::nil(), settings: settings(&fake), adapter: Arc::new(channel(&fake, platform)) });
        let body = br#"{"object":"page","entry":[{"id":"1234567890","messaging":[{"sender":{"id":"6789"},"recipient":{"id":"1234567890"},"timestamp":1,"message":{"mid":"m_1","text":"hi"}}]}]}"#.to_vec();
        let altered = String::from_utf8(body.clone()).unwrap().replace("hi", "ho").into_bytes();
        let forged = vec![
            Forged { method: "POST", path: format!("/{id}"), headers: vec![], body: body.clone() },
            Forged { method: "POST", path: format!("/{id}"), headers: vec![("x-hub-signature-256", signature::sign("wrong", &body))], body: body.clone() },
            Forged { method: "POST", path: format!("/{id}"), headers: vec![("x-hub-signature-256", signature::sign(SECRET, &body))], body: altered },
            Forged { method: "GET", path: format!("/{id}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"), headers: vec![], body: vec![] },
        ];
        check_forged_callbacks_refused(&kind, host, forged).await;
    }
}

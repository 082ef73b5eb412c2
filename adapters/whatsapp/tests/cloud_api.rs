//! The WhatsApp channel against a local fake of the Graph API: what Meta receives, how its
//! answers are classified, the conformance kit, and forged callbacks.

use std::sync::Arc;

use omnibridge_channel::testkit::{Expected, Forged, MemoryHost, check_failure_classified, check_forged_callbacks_refused, check_idempotent_send, check_kind, check_lifecycle};
use omnibridge_channel::{AdapterError, Address, AddressKind, Channel, HostedChannel, OutboundAttachment, OutboundMessage, TemplateSend};
use omnibridge_meta_graph::signature;
use omnibridge_meta_graph::testkit::{FakeGraph, ScriptedError};
use omnibridge_whatsapp::{WhatsAppChannel, WhatsAppConfig, WhatsAppKind};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "EAAG-test-access-token-0001";
const SECRET: &str = "app-secret-for-tests";

fn settings(fake: &FakeGraph) -> serde_json::Value {
    json!({"phone_number_id": "106540352242922", "waba_id": "102290129340398", "access_token": TOKEN, "app_secret": SECRET,
           "verify_token": "verify-me-please", "graph_base_url": fake.base_url()})
}

fn channel(fake: &FakeGraph) -> WhatsAppChannel {
    let config = serde_json::from_value::<WhatsAppConfig>(settings(fake)).expect("parses").validate().expect("valid");
    WhatsAppChannel::new(Uuid::now_v7(), config, reqwest::Client::new())
}

fn message(text: &str) -> OutboundMessage {
    OutboundMessage {
        id: Uuid::now_v7(),
        channel_id: Uuid::nil(),
        conversation_id: Uuid::nil(),
        to: Address::new(AddressKind::Whatsapp, "+16505551234"),
        text: text.into(),
        created_at: String::new(),
        author_name: None,
        extras: Default::default(),
    }
}

#[tokio::test]
async fn text_media_replies_and_templates_reach_meta_as_documented() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    let wa = channel(&fake);
    let mut reply = message("Blue and green.");
    reply.extras.quoted = Some("wamid.IN1".into());
    let receipt = wa.send(&reply).await.expect("sent");
    assert!(receipt.external_id.as_deref().is_some_and(|id| id.starts_with("wamid.")));
    let sent = fake.sent();
    assert_eq!(sent[0].sender, "106540352242922");
    assert_eq!(sent[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(sent[0].body["to"], "16505551234");
    assert_eq!(sent[0].body["type"], "text");
    assert_eq!(sent[0].body["text"]["body"], "Blue and green.");
    assert_eq!(sent[0].body["context"]["message_id"], "wamid.IN1");
    assert_eq!(sent[0].body["biz_opaque_callback_data"], reply.id.to_string());

    let mut photo = message("This one");
    photo.extras.attachments.push(OutboundAttachment { filename: "p.jpg".into(), content_type: "image/jpeg".into(), data: vec![0xff, 0xd8, 1, 2] });
    wa.send(&photo).await.expect("sent");
    let sent = fake.sent();
    assert_eq!(sent[1].body["type"], "image");
    assert_eq!(sent[1].body["image"]["caption"], "This one");
    assert_eq!(sent.len(), 2, "the text rides as the caption");

    let mut template = message("Hi Ana, order #1234 shipped.");
    template.extras.template = Some(TemplateSend { name: "order_update".into(), language: "en_US".into(), parameters: vec!["Ana".into(), "#1234".into()] });
    wa.send(&template).await.expect("sent");
    let body = &fake.sent()[2].body;
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "order_update");
    assert_eq!(body["template"]["language"]["code"], "en_US");
    assert_eq!(body["template"]["components"][0]["parameters"][1]["text"], "#1234");
}

#[tokio::test]
async fn media_is_fetched_in_two_steps_with_the_token() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    fake.add_media("1908647269898587", "image/jpeg", b"\xff\xd8jpeg-bytes");
    let file = channel(&fake).fetch_attachment("1908647269898587").await.expect("fetched");
    assert_eq!(file.content_type, "image/jpeg");
    assert_eq!(file.data, b"\xff\xd8jpeg-bytes");
    assert_eq!(fake.media_downloads(), 1);
    assert!(channel(&fake).fetch_attachment("../../etc").await.is_err());
}

#[tokio::test]
async fn templates_are_listed_across_pages() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    let templates: Vec<_> = (0..130)
        .map(|i| json!({"name": format!("t{i}"), "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": i.to_string(), "components": [{"type": "BODY", "text": "Hi {{1}}"}]}))
        .collect();
    fake.set_templates(templates);
    let listed = channel(&fake).templates().await.expect("listed");
    assert_eq!(listed.len(), 130);
    assert_eq!(listed[129].name, "t129");
    assert_eq!(listed[0].body_parameters(), 1);
}

#[tokio::test]
async fn the_conformance_kit_passes() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    check_kind(&WhatsAppKind);
    let wa = Arc::new(channel(&fake));
    check_lifecycle(wa.clone()).await;
    let once = message("once");
    check_idempotent_send(wa.as_ref(), &once, || fake.sent().len()).await;
    for (error, expected) in [
        (ScriptedError::new(400, 130429, "(#130429) Rate limit hit"), Expected::Retryable),
        (ScriptedError::new(400, 131026, "Message undeliverable"), Expected::Permanent),
        (ScriptedError::new(400, 131047, "Re-engagement message"), Expected::Permanent),
        (ScriptedError::new(401, 190, "Error validating access token"), Expected::Config),
        (ScriptedError::new(500, 131000, "Something went wrong"), Expected::Retryable),
    ] {
        fake.fail_next(error);
        check_failure_classified(wa.as_ref(), &message("x"), expected).await;
    }
    fake.fail_next(ScriptedError::new(400, 131047, "Re-engagement message"));
    match wa.send(&message("late")).await {
        Err(AdapterError::Permanent(why)) => assert!(why.starts_with("window_closed"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn forged_callbacks_are_refused() {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    let host = MemoryHost::default();
    let id = Uuid::now_v7();
    host.add_channel("whatsapp", HostedChannel { id, tenant_id: Uuid::nil(), settings: settings(&fake), adapter: Arc::new(channel(&fake)) });
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"phone_number_id":"106540352242922"},"messages":[{"from":"16505551234","id":"wamid.F","timestamp":"1","type":"text","text":{"body":"hi"}}]}}]}]}"#.to_vec();
    let altered = String::from_utf8(body.clone()).unwrap().replace("hi", "ho").into_bytes();
    let forged = vec![
        Forged { method: "POST", path: format!("/{id}"), headers: vec![], body: body.clone() },
        Forged { method: "POST", path: format!("/{id}"), headers: vec![("x-hub-signature-256", signature::sign("wrong-secret", &body))], body: body.clone() },
        Forged { method: "POST", path: format!("/{id}"), headers: vec![("x-hub-signature-256", signature::sign(SECRET, &body))], body: altered },
        Forged { method: "GET", path: format!("/{id}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1"), headers: vec![], body: vec![] },
    ];
    check_forged_callbacks_refused(&WhatsAppKind, host.clone(), forged).await;
    assert_eq!(*host.refused.lock().unwrap(), 3);
}

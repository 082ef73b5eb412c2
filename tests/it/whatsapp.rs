//! A WhatsApp Business number as a channel, end to end, against a local fake of Meta's Graph API
//! reached through the channel's `graph_base_url`: signed batched webhooks, media, the 24-hour
//! window and templates, statuses in any order, rate limits, opt-outs.

use std::time::Duration;

use omnibridge_meta_graph::signature;
use omnibridge_meta_graph::testkit::{FakeGraph, ScriptedError, meta_json, post_signed};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    the_handshake_and_a_signed_batch_store_every_message_once,
    forged_or_altered_notifications_store_nothing,
    replies_keep_to_the_window_and_templates_fill_the_gap,
    statuses_end_at_read_whatever_their_order_and_rate_limits_are_retried,
    stop_blocks_marketing_templates,
    one_callback_url_serves_every_number_of_the_app,
);

const TOKEN: &str = "EAAG-access-token-for-tests-0001";
const SECRET: &str = "whatsapp-app-secret-1";
const VERIFY: &str = "verify-token-for-tests";
const NUMBER_ID: &str = "106540352242922";
const WABA: &str = "102290129340398";
const ANA: &str = "16505551234";
const BEN: &str = "4915112345678";

struct Number {
    id: String,
    fake: FakeGraph,
}

async fn whatsapp_channel(app: &TestApp, admin: &str) -> Number {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    fake.set_templates(vec![
        json!({"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1",
               "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} shipped."}]}),
        json!({"name": "spring_sale", "language": "en_US", "status": "APPROVED", "category": "MARKETING", "id": "2",
               "components": [{"type": "BODY", "text": "Spring sale: {{1}} off everything."}, {"type": "FOOTER", "text": "Reply STOP to opt out"}]}),
        json!({"name": "old_notice", "language": "en_US", "status": "PAUSED", "category": "UTILITY", "id": "3",
               "components": [{"type": "BODY", "text": "Notice"}]}),
    ]);
    let settings = json!({"phone_number_id": NUMBER_ID, "waba_id": WABA, "access_token": TOKEN, "app_secret": SECRET,
                          "verify_token": VERIFY, "graph_base_url": fake.base_url()});
    let (status, channel) = app.post("/v1/channels", admin, json!({"kind": "whatsapp", "name": "Support number", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert!(!channel.to_string().contains(TOKEN) && !channel.to_string().contains(SECRET), "secrets are never returned");
    app.approve(admin, "meta-whatsapp").await;
    Number { id: channel["id"].as_str().expect("id").to_owned(), fake }
}

fn text(from: &str, id: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": body}})
}

/// One `changes[]` item of `messages` for the channel's number.
fn change(contacts: Value, messages: Value, statuses: Value) -> Value {
    change_for(NUMBER_ID, contacts, messages, statuses)
}

fn change_for(number_id: &str, contacts: Value, messages: Value, statuses: Value) -> Value {
    json!({"field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number_id},
        "contacts": contacts, "messages": messages, "statuses": statuses}})
}

fn notification(entries: Vec<Value>) -> Value {
    json!({"object": "whatsapp_business_account", "entry": entries})
}

fn profile(wa_id: &str, name: &str) -> Value {
    json!([{"profile": {"name": name}, "wa_id": wa_id}])
}

async fn deliver(app: &TestApp, number: &Number, body: &Value) -> u16 {
    let (status, answer) = post_signed(&app.http, &format!("{}/hooks/whatsapp/{}", app.base, number.id), SECRET, &meta_json(body)).await;
    assert!(status == 200 || status == 401, "{status} {answer}");
    status
}

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn all_messages(app: &TestApp, key: &str) -> Vec<Value> {
    let (_, conversations) = app.get("/v1/conversations", key).await;
    let mut all = Vec::new();
    for c in data(&conversations) {
        let (_, messages) = app.get(&format!("/v1/conversations/{}/messages", c["id"].as_str().expect("id")), key).await;
        all.extend(data(&messages));
    }
    all
}

async fn conversation_of(app: &TestApp, key: &str, messages: usize) -> (String, Vec<Value>) {
    let list = app.wait_for(key, "/v1/conversations", |l| !data(l).is_empty()).await;
    let id = list["data"][0]["id"].as_str().expect("id").to_owned();
    let found = app.wait_for(key, &format!("/v1/conversations/{id}/messages"), |l| data(l).len() >= messages).await;
    (id, data(&found))
}

async fn settled(app: &TestApp, key: &str, conversation: &str, message_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/v1/conversations/{conversation}/messages");
    let list = app.wait_for(key, &path, |l| data(l).iter().any(|m| m["id"] == message_id && done(m))).await;
    data(&list).into_iter().find(|m| m["id"] == message_id).expect("message")
}

async fn the_handshake_and_a_signed_batch_store_every_message_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let number = whatsapp_channel(&app, &admin).await;

    // Meta verifies the callback URL with the channel's verify token.
    let hook = format!("{}/hooks/whatsapp/{}", app.base, number.id);
    let ok = app.http.get(format!("{hook}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444")).send().await.expect("handshake");
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.expect("body"), "1158201444");
    let wrong = app.http.get(format!("{hook}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1")).send().await.expect("handshake");
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);

    // Three entries, five messages of mixed types from two people; the photo and the PDF stay
    // at Meta until fetched.
    number.fake.add_media("1908647269898587", "image/jpeg", b"\xff\xd8 a photo of the parcel");
    number.fake.add_media("3001", "application/pdf", b"%PDF-1.4 the invoice");
    let batch = notification(vec![
        json!({"id": WABA, "changes": [change(profile(ANA, "Ana Lima"), json!([
            text(ANA, "wamid.IN1", "Olá! My order #1234 — where is it? 📦"),
            {"from": ANA, "id": "wamid.IN2", "timestamp": "1749416390", "type": "image",
             "image": {"caption": "the box", "mime_type": "image/jpeg", "sha256": "x", "id": "1908647269898587"}}]), json!([]))]}),
        json!({"id": WABA, "changes": [change(profile(ANA, "Ana Lima"), json!([
            {"from": ANA, "id": "wamid.IN3", "timestamp": "1749416391", "type": "document",
             "document": {"filename": "invoice.pdf", "mime_type": "application/pdf", "sha256": "y", "id": "3001"}},
            {"from": ANA, "id": "wamid.IN4", "timestamp": "1749416392", "type": "location",
             "location": {"latitude": 52.52, "longitude": 13.405, "name": "Home"}}]), json!([]))]}),
        json!({"id": WABA, "changes": [change(profile(BEN, "Ben"), json!([
            {"from": BEN, "id": "wamid.IN5", "timestamp": "1749416393", "type": "unsupported", "unsupported": {"type": "poll"},
             "errors": [{"code": 131051, "title": "Message type unknown"}]}]), json!([]))]}),
    ]);
    assert_eq!(deliver(&app, &number, &batch).await, 200);
    let messages = all_messages(&app, &admin).await;
    assert_eq!(messages.len(), 5, "every entry and every message of the batch: {messages:#?}");
    let texts: Vec<&str> = messages.iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"Olá! My order #1234 — where is it? 📦"), "text arrives as written: {texts:?}");
    assert!(texts.iter().any(|t| t.starts_with("Location: Home")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("poll")), "an unsupported type says so: {texts:?}");
    let (_, contacts) = app.get("/v1/contacts", &admin).await;
    assert!(data(&contacts).iter().any(|c| c["name"] == "Ana Lima"), "{contacts}");

    // Media are fetched at once (Meta forgets them), then served from the hub, sealed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while number.fake.media_downloads() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(number.fake.media_downloads(), 2, "both files fetched without anyone opening them");
    let photo = messages.iter().find(|m| m["text"] == "the box").expect("photo message");
    let attachment = photo["attachments"][0]["id"].as_str().expect("attachment");
    let response = app.http.get(format!("{}/v1/attachments/{attachment}", app.base)).bearer_auth(&admin).send().await.expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), b"\xff\xd8 a photo of the parcel");
    assert_eq!(number.fake.media_downloads(), 2, "kept, not fetched again");

    // Meta delivers again (at least once): nothing doubles.
    assert_eq!(deliver(&app, &number, &batch).await, 200);
    assert_eq!(all_messages(&app, &admin).await.len(), 5, "the same wamids are stored once");
}

async fn forged_or_altered_notifications_store_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let number = whatsapp_channel(&app, &admin).await;
    let hook = format!("{}/hooks/whatsapp/{}", app.base, number.id);
    let body = meta_json(&notification(vec![json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([text(ANA, "wamid.F1", "hello")]), json!([]))]})]));
    let altered = String::from_utf8(body.clone()).expect("utf-8").replace("hello", "pay me").into_bytes();
    let attempts: Vec<(Option<String>, Vec<u8>)> = vec![
        (None, body.clone()),
        (Some(signature::sign("not-the-app-secret", &body)), body.clone()),
        (Some(signature::sign(SECRET, &body).replace("sha256=", "sha1=")), body.clone()),
        (Some(signature::sign(SECRET, &body)), altered),
    ];
    for (header, bytes) in attempts {
        let mut request = app.http.post(&hook).header("content-type", "application/json").body(bytes);
        if let Some(header) = &header {
            request = request.header("x-hub-signature-256", header);
        }
        let response = request.send().await.expect("answer");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let problem: Value = response.json().await.expect("problem json");
        assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("invalid_signature")), "{problem}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(all_messages(&app, &admin).await.is_empty(), "nothing forged was stored");
    let (_, contacts) = app.get("/v1/contacts", &admin).await;
    assert!(data(&contacts).is_empty(), "no contact either: {contacts}");
}

async fn replies_keep_to_the_window_and_templates_fill_the_gap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let number = whatsapp_channel(&app, &admin).await;
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([text(ANA, "wamid.IN1", "Is it blue?")]), json!([]))]})])).await;
    let (conversation, messages) = conversation_of(&app, &admin, 1).await;
    let inbound = messages[0]["id"].as_str().expect("id").to_owned();

    // Inside the window: free text, quoting the question.
    let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    assert_eq!(shown["window"]["state"], "open", "{shown}");
    assert!(shown["window"]["closes_at"].as_str().is_some(), "the window says when it closes: {shown}");
    let (status, reply) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Yes — blue and green.", "reply_to": inbound})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let sent = settled(&app, &admin, &conversation, reply["id"].as_str().expect("id"), |m| m["status"] == "sent").await;
    assert!(sent["external_id"].as_str().is_some_and(|id| id.starts_with("wamid.")));
    let request = number.fake.sent().into_iter().last().expect("a send");
    assert_eq!(request.sender, NUMBER_ID);
    assert_eq!(request.authorization, format!("Bearer {TOKEN}"));
    assert_eq!(request.body["messaging_product"], "whatsapp");
    assert_eq!(request.body["to"], ANA);
    assert_eq!(request.body["type"], "text");
    assert_eq!(request.body["text"]["body"], "Yes — blue and green.");
    assert_eq!(request.body["context"]["message_id"], "wamid.IN1");
    assert_eq!(reply["reply_to"], inbound.as_str());

    // Ana answers that very message: her reply links to it.
    let wamid = sent["external_id"].as_str().expect("wamid");
    let answer = json!({"from": ANA, "id": "wamid.IN2", "timestamp": "1749416400", "type": "text", "text": {"body": "Green please"},
                        "context": {"from": "15550001111", "id": wamid}});
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([answer]), json!([]))]})])).await;
    let (_, messages) = conversation_of(&app, &admin, 3).await;
    let answer = messages.iter().find(|m| m["external_id"] == "wamid.IN2").expect("the answer");
    assert_eq!(answer["reply_to"], reply["id"], "{answer}");

    // A day later the window has closed: free text is refused before it leaves.
    app.execute("UPDATE messages SET created_at = created_at - 90000000000 WHERE conversation_id = $1 AND direction = 'in'", &conversation).await;
    let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    assert_eq!(shown["window"]["state"], "closed", "{shown}");
    let before = number.fake.sent().len();
    let (status, problem) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Anything else?"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("window_closed")), "{problem}");
    assert!(problem["window_closed_at"].as_str().is_some(), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("template")), "{problem}");

    // The templates synced from the account; only an approved one with its parameters goes.
    let (status, templates) = app.post(&format!("/v1/channels/{}/templates/sync", number.id), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{templates}");
    let (_, templates) = app.get(&format!("/v1/channels/{}/templates", number.id), &admin).await;
    let listed = data(&templates);
    let names: Vec<&str> = listed.iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["old_notice", "order_update", "spring_sale"]);
    let path = format!("/v1/conversations/{conversation}/messages");
    for (template, field) in [
        (json!({"name": "order_update", "language": "en_US", "parameters": ["Ana"]}), "template.parameters"),
        (json!({"name": "old_notice", "language": "en_US", "parameters": []}), "template.name"),
        (json!({"name": "no_such", "language": "en_US", "parameters": []}), "template.name"),
        (json!({"name": "order_update", "language": "en_US", "parameters": ["Ana", "#1"], "header": "x"}), "template.header"),
    ] {
        let (status, problem) = app.post(&path, &admin, json!({"template": template})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, message) = app.post(&path, &admin, json!({"template": {"name": "order_update", "language": "en_US", "parameters": ["Ana", "#1234"]}})).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["text"], "Hi Ana, order #1234 shipped.");
    settled(&app, &admin, &conversation, message["id"].as_str().expect("id"), |m| m["status"] == "sent").await;
    let sent = number.fake.sent();
    assert_eq!(sent.len(), before + 1, "only the template left");
    let body = &sent.last().expect("template").body;
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "order_update");
    assert_eq!(body["template"]["language"]["code"], "en_US");
    assert_eq!(body["template"]["components"][0]["parameters"][0]["text"], "Ana");
}

async fn statuses_end_at_read_whatever_their_order_and_rate_limits_are_retried(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let number = whatsapp_channel(&app, &admin).await;
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([text(ANA, "wamid.IN1", "Hello?")]), json!([]))]})])).await;
    let (conversation, _) = conversation_of(&app, &admin, 1).await;

    // Meta's throughput limit first: the send waits and goes again, once.
    number.fake.fail_next(ScriptedError::new(400, 130429, "(#130429) Rate limit hit"));
    let (_, reply) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Here we are."})).await;
    let reply_id = reply["id"].as_str().expect("id").to_owned();
    let sent = settled(&app, &admin, &conversation, &reply_id, |m| m["status"] == "sent").await;
    assert_eq!(number.fake.sent().len(), 1, "delivered once after the retry");
    let wamid = sent["external_id"].as_str().expect("wamid").to_owned();

    // Read, then a late delivered and a late sent, then a duplicate read: it stays read.
    let status = |s: &str| json!({"id": wamid, "status": s, "timestamp": "1749416390", "recipient_id": ANA});
    for batch in [json!([status("read")]), json!([status("delivered"), status("sent")]), json!([status("read")])] {
        assert_eq!(deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(json!([]), json!([]), batch)]})])).await, 200);
    }
    let read = settled(&app, &admin, &conversation, &reply_id, |m| m["status"] == "read").await;
    assert_eq!(read["status"], "read");
    let (status, history) = app.get(&format!("/v1/messages/{reply_id}/deliveries"), &admin).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let reports: Vec<(String, bool)> =
        data(&history).iter().map(|r| (r["status"].as_str().unwrap_or("").to_owned(), r["applied"].as_bool().unwrap_or(false))).collect();
    assert_eq!(reports, [("read".into(), true), ("delivered".into(), false), ("sent".into(), false), ("read".into(), false)], "every report kept, only the first read applied");

    // A failure with Meta's code and title.
    let (_, second) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Still there?"})).await;
    let second_id = second["id"].as_str().expect("id").to_owned();
    let sent = settled(&app, &admin, &conversation, &second_id, |m| m["status"] == "sent").await;
    let failed = json!([{"id": sent["external_id"], "status": "failed", "timestamp": "1749416395", "recipient_id": ANA,
        "errors": [{"code": 131026, "title": "Message undeliverable", "error_data": {"details": "Message Undeliverable."}}]}]);
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(json!([]), json!([]), failed)]})])).await;
    let failed = settled(&app, &admin, &conversation, &second_id, |m| m["status"] == "failed").await;
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("131026") && e.contains("Message undeliverable")), "{failed}");

    // A rate limit reported after the send: the same message goes again, and arrives.
    let (_, third) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "One more thing."})).await;
    let third_id = third["id"].as_str().expect("id").to_owned();
    let sent = settled(&app, &admin, &conversation, &third_id, |m| m["status"] == "sent").await;
    let first_wamid = sent["external_id"].as_str().expect("wamid").to_owned();
    let sends = number.fake.sent().len();
    let limited = json!([{"id": first_wamid, "status": "failed", "timestamp": "1749416396", "recipient_id": ANA,
        "errors": [{"code": 130429, "title": "Rate limit hit"}]}]);
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(json!([]), json!([]), limited)]})])).await;
    let again = settled(&app, &admin, &conversation, &third_id, |m| m["status"] == "sent" && m["external_id"] != first_wamid.as_str()).await;
    assert_eq!(number.fake.sent().len(), sends + 1, "one new attempt");
    assert_eq!(number.fake.sent().last().expect("resend").body["text"]["body"], "One more thing.");
    let (_, listed) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(data(&listed).iter().filter(|m| m["text"] == "One more thing.").count(), 1, "the same message, not a copy: {again}");
}

async fn stop_blocks_marketing_templates(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let number = whatsapp_channel(&app, &admin).await;
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([text(ANA, "wamid.IN1", "Hi")]), json!([]))]})])).await;
    let (conversation, messages) = conversation_of(&app, &admin, 1).await;
    let contact = messages[0]["contact_id"].as_str().expect("contact").to_owned();
    let (status, body) = app.post(&format!("/v1/channels/{}/templates/sync", number.id), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Ana agreed to promotions on WhatsApp: the marketing template goes.
    let grant = json!({"channel": "whatsapp", "address": format!("+{ANA}"), "purpose": "marketing", "action": "grant"});
    let (status, body) = app.post(&format!("/v1/contacts/{contact}/consents"), &admin, grant).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let sale = json!({"template": {"name": "spring_sale", "language": "en_US", "parameters": ["20%"]}});
    let path = format!("/v1/conversations/{conversation}/messages");
    let (status, message) = app.post(&path, &admin, sale.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{message}");
    assert_eq!(message["purpose"], "marketing");

    // She writes STOP: the withdrawal is recorded, and the next promotion is refused.
    deliver(&app, &number, &notification(vec![json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([text(ANA, "wamid.IN2", "STOP")]), json!([]))]})])).await;
    conversation_of(&app, &admin, 3).await;
    let (_, consents) = app.get(&format!("/v1/contacts/{contact}/consents"), &admin).await;
    assert!(consents.to_string().contains("withdraw"), "{consents}");
    let (status, problem) = app.post(&path, &admin, sale).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("consent_missing")), "{problem}");
    // Service messages to her own questions still go.
    let (status, body) = app.post(&path, &admin, json!({"text": "Understood, no more promotions."})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    settled(&app, &admin, &conversation, body["id"].as_str().expect("id"), |m| m["status"] == "sent").await;

    // She agrees again here, but told WhatsApp to stop promotions: Meta refuses with 131050,
    // and the ledger records that as a marketing withdrawal.
    let grant = json!({"channel": "whatsapp", "address": format!("+{ANA}"), "purpose": "marketing", "action": "grant"});
    let (status, body) = app.post(&format!("/v1/contacts/{contact}/consents"), &admin, grant).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    number.fake.fail_next(ScriptedError::new(400, 131050, "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business."));
    let (status, refused) = app.post(&path, &admin, json!({"template": {"name": "spring_sale", "language": "en_US", "parameters": ["30%"]}})).await;
    assert_eq!(status, StatusCode::CREATED, "{refused}");
    let failed = settled(&app, &admin, &conversation, refused["id"].as_str().expect("id"), |m| m["status"] == "failed").await;
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("131050")), "{failed}");
    let (_, consents) = app.get(&format!("/v1/contacts/{contact}/consents"), &admin).await;
    let marketing = data(&consents).into_iter().find(|c| c["channel"] == "whatsapp" && c["purpose"] == "marketing").expect("marketing consent");
    assert_eq!((marketing["state"].as_str(), marketing["method"].as_str()), (Some("withdraw"), Some("provider_signal")), "{consents}");
    let (status, problem) = app.post(&path, &admin, json!({"template": {"name": "spring_sale", "language": "en_US", "parameters": ["40%"]}})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, body) = app.post(&path, &admin, json!({"text": "Noted."})).await;
    assert_eq!(status, StatusCode::CREATED, "service messages still go: {body}");
}

async fn one_callback_url_serves_every_number_of_the_app(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let support = whatsapp_channel(&app, &admin).await;
    // A second number of the same Meta app; Meta calls the first number's URL for both.
    const SALES_ID: &str = "106540352240002";
    let settings = json!({"phone_number_id": SALES_ID, "waba_id": WABA, "access_token": TOKEN, "app_secret": SECRET,
                          "verify_token": VERIFY, "graph_base_url": support.fake.base_url()});
    let (status, sales) = app.post("/v1/channels", &admin, json!({"kind": "whatsapp", "name": "Sales number", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{sales}");
    // Another tenant's number with the same app secret is not this tenant's to receive.
    let (_, other_admin) = app.create_tenant("Other shop");
    let settings = json!({"phone_number_id": "106540352240003", "waba_id": "1", "access_token": TOKEN, "app_secret": SECRET,
                          "verify_token": VERIFY, "graph_base_url": support.fake.base_url()});
    let (status, foreign) = app.post("/v1/channels", &other_admin, json!({"kind": "whatsapp", "name": "Theirs", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{foreign}");

    let batch = notification(vec![
        json!({"id": WABA, "changes": [change(profile(ANA, "Ana"), json!([text(ANA, "wamid.S1", "Where is my parcel?")]), json!([]))]}),
        json!({"id": WABA, "changes": [change_for(SALES_ID, profile(BEN, "Ben"), json!([text(BEN, "wamid.S2", "Do you ship to Berlin?")]), json!([]))]}),
        json!({"id": "1", "changes": [change_for("106540352240003", profile(BEN, "Ben"), json!([text(BEN, "wamid.S3", "Not for this shop")]), json!([]))]}),
    ]);
    assert_eq!(deliver(&app, &support, &batch).await, 200);
    let messages = app.wait_for(&admin, "/v1/conversations", |l| data(l).len() >= 2).await;
    let conversations = data(&messages);
    assert_eq!(conversations.len(), 2, "{messages}");
    let sales_id = sales["id"].as_str().expect("id");
    assert!(conversations.iter().any(|c| c["channel_id"] == sales_id), "Ben's message went to the sales number: {messages}");
    assert!(conversations.iter().any(|c| c["channel_id"] == support.id.as_str()));
    let texts: Vec<String> = all_messages(&app, &admin).await.iter().filter_map(|m| m["text"].as_str().map(str::to_owned)).collect();
    assert!(!texts.iter().any(|t| t == "Not for this shop"), "{texts:?}");
    let (_, theirs) = app.get("/v1/conversations", &other_admin).await;
    assert!(data(&theirs).is_empty(), "another tenant's number is not reached through this URL: {theirs}");
}

//! A Facebook Page and an Instagram account as channels, end to end, against a local fake of
//! Meta's Graph API: signed notifications, files from Meta's CDN, replies inside the window,
//! the human-agent tag after it, the closed window after seven days, read watermarks.

use std::time::Duration;

use omnibridge_meta_graph::testkit::{FakeGraph, meta_json, post_signed};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(a_page_answers_in_the_window_then_as_a_human_agent_then_not_at_all, an_instagram_account_takes_photos_and_stores_each_message_once);

const TOKEN: &str = "EAAG-page-token-for-tests-0001";
const SECRET: &str = "meta-app-secret-for-tests";
const PAGE: &str = "1234567890";
const PERSON: &str = "6789012345678901";

async fn channel(app: &TestApp, admin: &str, kind: &str, subprocessor: &str) -> (String, FakeGraph) {
    let fake = FakeGraph::start(TOKEN, "v21.0").await;
    let settings = json!({"page_id": PAGE, "page_access_token": TOKEN, "app_secret": SECRET, "verify_token": "verify-token-tests", "graph_base_url": fake.base_url()});
    let (status, channel) = app.post("/v1/channels", admin, json!({"kind": kind, "name": "Shop page", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert!(!channel.to_string().contains(TOKEN), "secrets are never returned");
    app.approve(admin, subprocessor).await;
    (channel["id"].as_str().expect("id").to_owned(), fake)
}

fn notification(object: &str, items: Vec<Value>) -> Value {
    json!({"object": object, "entry": [{"id": PAGE, "time": 1_700_000_000_000_i64, "messaging": items}]})
}

fn from_person(extra: Value) -> Value {
    let mut item = json!({"sender": {"id": PERSON}, "recipient": {"id": PAGE}, "timestamp": 1_700_000_000_000_i64});
    if let (Some(map), Some(extra)) = (item.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    item
}

async fn deliver(app: &TestApp, kind: &str, channel: &str, body: &Value) {
    let (status, answer) = post_signed(&app.http, &format!("{}/hooks/{kind}/{channel}", app.base), SECRET, &meta_json(body)).await;
    assert_eq!(status, 200, "{answer}");
}

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn conversation_of(app: &TestApp, key: &str, messages: usize) -> (String, Vec<Value>) {
    let list = app.wait_for(key, "/v1/conversations", |l| !data(l).is_empty()).await;
    let id = list["data"][0]["id"].as_str().expect("id").to_owned();
    let found = app.wait_for(key, &format!("/v1/conversations/{id}/messages"), |l| data(l).len() >= messages).await;
    (id, data(&found))
}

async fn a_page_answers_in_the_window_then_as_a_human_agent_then_not_at_all(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (id, fake) = channel(&app, &admin, "messenger", "meta-messenger").await;
    let hook = format!("{}/hooks/messenger/{id}", app.base);
    let ok = app.http.get(format!("{hook}?hub.mode=subscribe&hub.verify_token=verify-token-tests&hub.challenge=abc-123")).send().await.expect("handshake");
    assert_eq!(ok.text().await.expect("body"), "abc-123");

    deliver(&app, "messenger", &id, &notification("page", vec![from_person(json!({"message": {"mid": "m_IN1", "text": "Olá! Preço 50€ / unidade?"}}))])).await;
    let (conversation, messages) = conversation_of(&app, &admin, 1).await;
    assert_eq!(messages[0]["text"], "Olá! Preço 50€ / unidade?");
    let inbound = messages[0]["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/conversations/{conversation}/messages");

    // Inside the window: a response.
    let (status, first) = app.post(&path, &admin, json!({"text": "Yes, 50 € each."})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first = first["id"].as_str().expect("id").to_owned();
    app.wait_for(&admin, &path, |l| data(l).iter().any(|m| m["id"] == first && m["status"] == "sent")).await;
    assert_eq!(fake.sent()[0].body, json!({"recipient": {"id": PERSON}, "messaging_type": "RESPONSE", "message": {"text": "Yes, 50 € each."}}));

    // A day later: closed for automatic messages, open to an operator under the human-agent tag.
    app.execute("UPDATE messages SET created_at = created_at - 90000000000 WHERE id = $1", &inbound).await;
    let (_, shown) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    assert_eq!(shown["window"]["state"], "closed", "{shown}");
    assert_eq!(shown["window"]["human_agent"], true, "{shown}");
    let (status, second) = app.post(&path, &admin, json!({"text": "Following up on your question."})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let second = second["id"].as_str().expect("id").to_owned();
    app.wait_for(&admin, &path, |l| data(l).iter().any(|m| m["id"] == second && m["status"] == "sent")).await;
    let tagged = fake.sent()[1].body.clone();
    assert_eq!((tagged["messaging_type"].as_str(), tagged["tag"].as_str()), (Some("MESSAGE_TAG"), Some("HUMAN_AGENT")), "{tagged}");

    // Meta's read watermark covers both replies.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis() as i64;
    deliver(&app, "messenger", &id, &notification("page", vec![from_person(json!({"read": {"watermark": now_ms + 1000}}))])).await;
    app.wait_for(&admin, &path, |l| data(l).iter().filter(|m| m["direction"] == "out" && m["status"] == "read").count() == 2).await;

    // After seven days nothing may be sent.
    app.execute("UPDATE messages SET created_at = created_at - 604800000000 WHERE id = $1", &inbound).await;
    let (status, problem) = app.post(&path, &admin, json!({"text": "Hello again"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("window_closed")), "{problem}");
    assert!(problem["window_closed_at"].as_str().is_some(), "{problem}");
    assert_eq!(fake.sent().len(), 2);
}

async fn an_instagram_account_takes_photos_and_stores_each_message_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let (id, fake) = channel(&app, &admin, "instagram", "meta-instagram").await;
    let url = fake.add_cdn_file("ig1", "image/png", b"\x89PNG the scarf");
    let batch = notification(
        "instagram",
        vec![
            from_person(json!({"message": {"mid": "aWdfZAG1", "text": "Do you have this in red?"}})),
            from_person(json!({"message": {"mid": "aWdfZAG2", "attachments": [{"type": "image", "payload": {"url": url}}]}})),
            from_person(json!({"reaction": {"mid": "aWdfZAG1", "action": "react", "reaction": "love", "emoji": "❤️"}})),
        ],
    );
    deliver(&app, "instagram", &id, &batch).await;
    deliver(&app, "instagram", &id, &batch).await;
    let (conversation, messages) = conversation_of(&app, &admin, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, list) = app.get(&format!("/v1/conversations/{conversation}/messages"), &admin).await;
    assert_eq!(data(&list).len(), 3, "each message once: {list}");
    let photo = messages.iter().find(|m| !m["attachments"].as_array().is_none_or(Vec::is_empty)).expect("the photo");
    let attachment = photo["attachments"][0]["id"].as_str().expect("attachment");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while fake.media_downloads() < 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(fake.media_downloads(), 1, "fetched at once: the CDN link expires");
    let response = app.http.get(format!("{}/v1/attachments/{attachment}", app.base)).bearer_auth(&admin).send().await.expect("download");
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), b"\x89PNG the scarf");
    assert_eq!(fake.media_downloads(), 1);
}

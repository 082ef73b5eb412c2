//! The web chat story end to end: a visitor writes, an operator sees and answers, the visitor
//! receives the answer live; tenants are isolated; bad input is refused clearly; state survives
//! a restart.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, next_frame, websocket};

backend_tests!(
    visitor_and_operator_talk_through_the_hub,
    malformed_input_is_refused_and_loses_nothing,
    a_reply_can_switch_channel_and_notes_stay_private,
    a_typed_in_email_never_merges_two_visitors,
);

async fn visitor_and_operator_talk_through_the_hub(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let (_tenant, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;

    // An operator console is listening for the tenant's events.
    let mut console = websocket(&format!("{}/v1/realtime?token={admin}", app.ws_base)).await;

    // A visitor opens the widget and writes.
    let (visitor_token, _visitor_id) = app.visitor(&channel, json!({"name": "Ana Visitor", "email": "ana@example.com"})).await;
    let mut visitor_socket = websocket(&format!("{}/widget/v1/ws?token={visitor_token}", app.ws_base)).await;
    let ready = next_frame(&mut visitor_socket, Duration::from_secs(5), |f| f["type"] == "ready").await;
    assert!(ready.is_some(), "the visitor socket says it is ready");
    let (status, sent) = app.visitor_says(&visitor_token, json!({"text": "Hello, where is my order #1234?"})).await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    assert_eq!(sent["text"], "Hello, where is my order #1234?");
    assert!(sent["id"].is_string());

    // The operator's console hears of it live.
    let received = next_frame(&mut console, Duration::from_secs(5), |f| f["type"] == "message.received").await.expect("message.received event");
    assert_eq!(received["data"]["text"], "Hello, where is my order #1234?");

    // The operator finds the conversation and reads the text.
    let (status, list) = app.get("/v1/conversations?status=open", &admin).await;
    assert_eq!(status, StatusCode::OK);
    let conversations = list["data"].as_array().expect("data");
    assert_eq!(conversations.len(), 1, "{list}");
    assert!(list["next_cursor"].is_null());
    let conversation_id = conversations[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(conversations[0]["channel_id"], channel.as_str());
    let (status, messages) = app.get(&format!("/v1/conversations/{conversation_id}/messages"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(messages["data"][0]["text"], "Hello, where is my order #1234?");
    assert_eq!(messages["data"][0]["direction"], "in");
    assert_eq!(messages["data"][0]["author"], "contact");

    // The contact carries the typed-in email as a claimed identity and the visitor id as verified.
    let contact_id = conversations[0]["contact_id"].as_str().expect("contact");
    let (_, contact) = app.get(&format!("/v1/contacts/{contact_id}"), &admin).await;
    assert_eq!(contact["name"], "Ana Visitor");
    assert_eq!(contact["email"], "ana@example.com");
    let statuses: Vec<(String, String)> = contact["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| (i["kind"].as_str().unwrap_or_default().to_owned(), i["status"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert!(statuses.contains(&("webchat".into(), "verified".into())), "{contact}");
    assert!(statuses.contains(&("email".into(), "claimed".into())), "{contact}");

    // The operator answers; the visitor's websocket receives it within a second.
    let (status, reply) = app.post(&format!("/v1/conversations/{conversation_id}/messages"), &admin, json!({"text": "It ships tomorrow."})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["direction"], "out");
    let pushed = next_frame(&mut visitor_socket, Duration::from_secs(1), |f| f["type"] == "message").await.expect("reply within a second");
    assert_eq!(pushed["message"]["text"], "It ships tomorrow.");
    assert_eq!(pushed["message"]["id"], reply["id"]);

    // The reply is recorded as delivered, and the visitor's history holds both messages.
    let delivered = next_frame(&mut console, Duration::from_secs(5), |f| f["type"] == "message.delivered").await.expect("delivered event");
    assert_eq!(delivered["data"]["id"], reply["id"]);
    let (_, history) = app.get("/widget/v1/messages", &visitor_token).await;
    let texts: Vec<&str> = history["data"].as_array().expect("data").iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["Hello, where is my order #1234?", "It ships tomorrow."]);
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation_id}/messages"), &admin).await;
    assert_eq!(messages["data"][1]["status"], "delivered");

    // The reply left through the egress door, which recorded the transfer.
    let db = app.db().await;
    let reply_id = uuid::Uuid::parse_str(reply["id"].as_str().expect("id")).expect("uuid");
    assert_eq!(omnibridge::store::transfers::count_for_message(&db, reply_id).await.expect("count"), 1);
    db.close().await;

    // Another tenant sees nothing of it.
    let (_other_tenant, other) = app.create_tenant("Other Co");
    let (status, list) = app.get("/v1/conversations", &other).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["data"].as_array().expect("data").len(), 0);
    let (status, problem) = app.get(&format!("/v1/conversations/{conversation_id}"), &other).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "not_found");

    // The operator resolves the conversation; it stays resolved across a restart.
    let (status, updated) = app.patch(&format!("/v1/conversations/{conversation_id}"), &admin, json!({"status": "resolved"})).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    drop(console);
    drop(visitor_socket);
    app.restart().await;
    let (status, after) = app.get(&format!("/v1/conversations/{conversation_id}"), &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(after["status"], "resolved");
    let (_, messages) = app.get(&format!("/v1/conversations/{conversation_id}/messages"), &admin).await;
    assert_eq!(messages["data"].as_array().expect("data").len(), 2, "messages survive the restart");

    // The returning visitor writes again: a resolved conversation is not reused.
    let (status, _) = app.visitor_says(&visitor_token, json!({"text": "One more thing"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = app.get("/v1/conversations", &admin).await;
    assert_eq!(list["data"].as_array().expect("data").len(), 2);
    assert_eq!(list["data"][0]["status"], "open");
}

async fn malformed_input_is_refused_and_loses_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_tenant, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    let (status, _) = app.visitor_says(&token, json!({"text": "first, accepted"})).await;
    assert_eq!(status, StatusCode::CREATED);

    // Malformed JSON: a problem document, not a crash.
    let res = app
        .http
        .post(format!("{}/v1/channels", app.base))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"kind\": \"webchat\", \"name\": ")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = res.json().await.expect("json");
    assert_eq!(problem["code"], "malformed_json");
    assert_eq!(problem["status"], 400);

    // A wrong type names the field.
    let (status, problem) = app.visitor_says(&token, json!({"text": 42})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "text");
    let (status, problem) = app.post("/v1/channels", &admin, json!({"kind": "webchat", "name": "x", "settings": {"greeting": 5}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "settings.greeting");
    let (status, problem) = app.post("/v1/channels", &admin, json!({"kind": "carrier_pigeon", "name": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "kind");
    let (status, problem) = app.get("/v1/conversations?status=lost", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "status");

    // An oversized body gets 413.
    let huge = "x".repeat(app.config.http.max_body_bytes + 10);
    let (status, problem) = app.visitor_says(&token, json!({"text": huge})).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem["code"], "body_too_large");

    // A wrong method and an unknown route answer problem documents too.
    let (status, problem) = app.call(Method::PUT, "/v1/channels", Some(&admin), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem["code"], "method_not_allowed");
    let (status, problem) = app.get("/v1/nothing-here", &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "not_found");

    // What was accepted before is all still there.
    let (_, history) = app.get("/widget/v1/messages", &token).await;
    let texts: Vec<&str> = history["data"].as_array().expect("data").iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["first, accepted"]);
}

async fn a_reply_can_switch_channel_and_notes_stay_private(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_tenant, admin) = app.create_tenant("Acme");
    let site = app.webchat_channel(&admin).await;
    let (_, shop) = app.post("/v1/channels", &admin, json!({"kind": "webchat", "name": "Shop"})).await;
    let shop = shop["id"].as_str().expect("id").to_owned();
    let (token, _) = app.visitor(&site, json!({"name": "Bo"})).await;
    app.visitor_says(&token, json!({"text": "hi"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let conversation = list["data"][0]["id"].as_str().expect("id").to_owned();

    // A private note is stored but never sent.
    let (status, note) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "VIP customer", "private": true})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(note["private"], true);
    assert_eq!(note["status"], "note");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, history) = app.get("/widget/v1/messages", &token).await;
    assert!(!history.to_string().contains("VIP customer"), "the visitor never sees notes");

    // Starting a conversation on a channel where the contact has no address is refused, naming
    // the field.
    let (status, email_only) = app.post("/v1/contacts", &admin, json!({"name": "Cy", "email": "cy@example.com"})).await;
    assert_eq!(status, StatusCode::CREATED, "{email_only}");
    let body = json!({"contact_id": email_only["id"], "channel_id": site, "text": "hello"});
    let (status, problem) = app.post("/v1/conversations", &admin, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "channel_id");

    // Answering on another channel the contact can be reached on switches the conversation there.
    let (status, reply) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "hello", "channel_id": shop})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["channel_id"], shop.as_str());
    let (_, after) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    assert_eq!(after["channel_id"], shop.as_str());

    // Starting an outbound conversation with a reachable contact queues its first message.
    let contact = after["contact_id"].clone();
    let (status, started) = app.post("/v1/conversations", &admin, json!({"contact_id": contact, "channel_id": site, "text": "A follow-up"})).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert!(started["id"].is_string());
    assert_eq!(started["message"]["text"], "A follow-up");
    assert_eq!(started["message"]["purpose"], "service");
}

async fn a_typed_in_email_never_merges_two_visitors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_tenant, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    // Two visitors type the same address into the pre-chat form (one of them is not its owner).
    let (first, _) = app.visitor(&channel, json!({"name": "Ana", "email": "ana@example.com"})).await;
    let (second, _) = app.visitor(&channel, json!({"name": "Mallory", "email": "ANA@example.com"})).await;
    app.visitor_says(&first, json!({"text": "from Ana"})).await;
    app.visitor_says(&second, json!({"text": "from Mallory"})).await;

    // They stay two contacts in two conversations; each holds the address as a claim only, so
    // neither one's claim decides where mail from the address goes.
    let (_, contacts) = app.get("/v1/contacts", &admin).await;
    let contacts = contacts["data"].as_array().expect("data");
    assert_eq!(contacts.len(), 2);
    let mut holders: Vec<(&str, &str)> = contacts
        .iter()
        .flat_map(|c| c["identities"].as_array().expect("identities").iter().map(move |i| (c, i)))
        .filter(|(_, i)| i["kind"] == "email")
        .filter_map(|(c, i)| Some((c["name"].as_str()?, i["status"].as_str()?)))
        .collect();
    holders.sort();
    assert_eq!(holders, [("Ana", "claimed"), ("Mallory", "claimed")]);
    let (_, conversations) = app.get("/v1/conversations", &admin).await;
    assert_eq!(conversations["data"].as_array().expect("data").len(), 2);
    let (_, mallory_history) = app.get("/widget/v1/messages", &second).await;
    assert!(!mallory_history.to_string().contains("from Ana"), "no visitor sees another's messages");
}

//! A Telegram bot as a channel, end to end, against a local fake of the Bot API reached through
//! the channel's `api_url` (as a self-hosted Bot API server would be).

use std::time::Duration;

use omnibridge_telegram::testkit::{FakeBotApi, ScriptedError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

backend_tests!(
    a_bots_chats_become_conversations_and_replies_go_back,
    webhook_mode_accepts_only_the_secret_token,
    a_deep_link_joins_the_chat_to_a_known_contact,
    stop_blocks_replies_and_start_allows_them_again,
    a_send_whose_answer_was_lost_is_surfaced_not_resent,
);

const TOKEN: &str = "123456789:AAHfake-token-for-tests-only_0001";
const CHAT: i64 = 777_001;

fn message(id: i64, extra: Value) -> Value {
    let mut m = json!({"message_id": id, "date": 1_700_000_000,
        "chat": {"id": CHAT, "type": "private", "first_name": "Ana"},
        "from": {"id": CHAT, "is_bot": false, "first_name": "Ana", "last_name": "Lima", "username": "analima"}});
    if let (Some(map), Some(extra)) = (m.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    m
}

async fn telegram_channel(app: &TestApp, admin: &str, bot: &FakeBotApi, extra: Value) -> String {
    let mut settings = json!({"bot_token": TOKEN, "api_url": bot.api_url()});
    if let (Some(map), Some(extra)) = (settings.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    let (status, channel) = app.post("/v1/channels", admin, json!({"kind": "telegram", "name": "Bot", "settings": settings})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    assert!(!channel.to_string().contains(TOKEN), "the token is never returned");
    // Telegram processes data outside the EEA without a transfer mechanism: an eu tenant
    // approves it and instructs the hub to use it anyway (the people chose Telegram).
    app.approve(admin, "telegram").await;
    let rule = json!({"rules": [{"destination": "subprocessor:telegram", "categories": ["*"], "action": "allow"}]});
    let (status, body) = app.put("/v1/policy", admin, rule).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    channel["id"].as_str().expect("id").to_owned()
}

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn conversation_with(app: &TestApp, key: &str, messages: usize) -> (String, Vec<Value>) {
    let list = app.wait_for(key, "/v1/conversations", |l| !data(l).is_empty()).await;
    let id = list["data"][0]["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/conversations/{id}/messages");
    let found = app.wait_for(key, &path, |l| data(l).len() >= messages).await;
    (id, data(&found))
}

async fn settled(app: &TestApp, key: &str, conversation: &str, message_id: &str) -> Value {
    let path = format!("/v1/conversations/{conversation}/messages");
    let list = app.wait_for(key, &path, |l| data(l).iter().any(|m| m["id"] == message_id && m["status"] != "queued" && m["status"] != "sending")).await;
    data(&list).into_iter().find(|m| m["id"] == message_id).expect("message")
}

async fn a_bots_chats_become_conversations_and_replies_go_back(backend: Backend) {
    let bot = FakeBotApi::start(TOKEN).await;
    let mut app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    telegram_channel(&app, &admin, &bot, json!({})).await;

    // A text and a photo with a caption: one conversation, the photo fetched when opened.
    bot.push_update("message", message(1, json!({"text": "Hi, my parcel is damaged"})));
    bot.add_file("AgACphoto", "photos/file_1.jpg", b"\xff\xd8 the parcel");
    bot.push_update("message", message(2, json!({"caption": "See?", "photo": [
        {"file_id": "AgACthumb", "file_unique_id": "t", "width": 90, "height": 90, "file_size": 100},
        {"file_id": "AgACphoto", "file_unique_id": "p", "width": 1280, "height": 960, "file_size": 12}]})));
    let (conversation, messages) = conversation_with(&app, &admin, 2).await;
    assert_eq!(messages[0]["text"], "Hi, my parcel is damaged");
    assert_eq!(messages[1]["text"], "See?");
    let (_, list) = app.get("/v1/conversations", &admin).await;
    assert_eq!(data(&list).len(), 1, "one conversation");
    let contact_id = messages[0]["contact_id"].as_str().expect("contact");
    let (_, contact) = app.get(&format!("/v1/contacts/{contact_id}"), &admin).await;
    assert_eq!(contact["name"], "Ana Lima");
    assert_eq!(contact["identities"][0]["kind"], "telegram");
    let photo = messages[1]["attachments"][0]["id"].as_str().expect("attachment").to_owned();
    let response = app.http.get(format!("{}/v1/attachments/{photo}", app.base)).bearer_auth(&admin).send().await.expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.expect("bytes").as_ref(), b"\xff\xd8 the parcel");

    // An edit updates the stored message.
    bot.push_update("edited_message", message(1, json!({"text": "Hi, my parcel arrived damaged", "edit_date": 1_700_000_100})));
    let path = format!("/v1/conversations/{conversation}/messages");
    app.wait_for(&admin, &path, |l| data(l).first().is_some_and(|m| m["text"] == "Hi, my parcel arrived damaged")).await;

    // The operator's reply reaches the chat; a 429 is waited out and retried.
    bot.fail_next([ScriptedError { code: 429, description: "Too Many Requests: retry after 1".into(), retry_after: Some(1) }]);
    let (status, reply) = app.post(&path, &admin, json!({"text": "Sorry! A replacement is on its way."})).await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let sent = settled(&app, &admin, &conversation, reply["id"].as_str().expect("id")).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let calls = bot.calls_to("sendmessage");
    assert_eq!(calls.len(), 1, "the 429 was not a send");
    assert_eq!(calls[0].field("chat_id").as_deref(), Some(CHAT.to_string().as_str()));
    assert_eq!(calls[0].field("text").as_deref(), Some("Sorry! A replacement is on its way."));

    // A restart resumes after the last update: nothing is imported twice, nothing is missed.
    let offsets_before = bot.offsets().len();
    app.restart().await;
    bot.push_update("message", message(3, json!({"text": "Thanks!"})));
    app.wait_for(&admin, &path, |l| data(l).iter().any(|m| m["text"] == "Thanks!")).await;
    let after_restart = bot.offsets()[offsets_before];
    assert!(after_restart > 100, "the first poll after the restart starts past the imported updates (offset {after_restart})");
    let (_, all) = app.get(&path, &admin).await;
    assert_eq!(data(&all).iter().filter(|m| m["direction"] == "in").count(), 3, "{all}");
}

async fn webhook_mode_accepts_only_the_secret_token(backend: Backend) {
    let bot = FakeBotApi::start(TOKEN).await;
    let app = TestApp::spawn_with(backend, |c| c.public_url = Some("https://hub.shop.example".into())).await;
    let (_, admin) = app.create_tenant("Shop");
    let id = telegram_channel(&app, &admin, &bot, json!({"mode": "webhook"})).await;
    let mut registered = None;
    for _ in 0..200 {
        registered = bot.webhook();
        if registered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (url, secret) = registered.expect("the hub called setWebhook");
    assert_eq!(url, format!("https://hub.shop.example/hooks/telegram/{id}"));
    assert!(secret.len() >= 32, "a random secret token");

    let update = json!({"update_id": 5001, "message": message(1, json!({"text": "Hello from a webhook"}))});
    let post = |secret: Option<String>| {
        let mut request = app.http.post(format!("{}/hooks/telegram/{id}", app.base)).json(&update);
        if let Some(secret) = secret {
            request = request.header("x-telegram-bot-api-secret-token", secret);
        }
        request.send()
    };
    for wrong in [None, Some("not-the-secret".to_owned()), Some(format!("{secret}x"))] {
        let response = post(wrong).await.expect("request");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    let (_, list) = app.get("/v1/conversations", &admin).await;
    assert!(data(&list).is_empty(), "nothing stored for a wrong secret");
    assert_eq!(post(Some(secret.clone())).await.expect("request").status(), StatusCode::OK);
    assert_eq!(post(Some(secret.clone())).await.expect("request").status(), StatusCode::OK, "a redelivery");
    let (_, messages) = conversation_with(&app, &admin, 1).await;
    assert_eq!(messages.len(), 1, "stored once");
    assert_eq!(messages[0]["text"], "Hello from a webhook");

    // Back to polling: the webhook is deleted.
    let (status, body) = app.patch(&format!("/v1/channels/{id}"), &admin, json!({"settings": {"api_url": bot.api_url(), "mode": "polling"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..200 {
        if bot.webhook().is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(bot.webhook(), None, "deleteWebhook was called");

    // Webhook mode again, then the channel is deleted: its webhook goes with it.
    let (status, body) = app.patch(&format!("/v1/channels/{id}"), &admin, json!({"settings": {"api_url": bot.api_url(), "mode": "webhook"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for _ in 0..200 {
        if bot.webhook().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(bot.webhook().is_some(), "registered again");
    let deletes = bot.calls_to("deletewebhook").len();
    let (status, _) = app.call(reqwest::Method::DELETE, &format!("/v1/channels/{id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(bot.webhook(), None, "deleting the channel deleted its webhook");
    assert!(bot.calls_to("deletewebhook").len() > deletes);
}

async fn a_deep_link_joins_the_chat_to_a_known_contact(backend: Backend) {
    let bot = FakeBotApi::start(TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let webchat = app.webchat_channel(&admin).await;
    let telegram = telegram_channel(&app, &admin, &bot, json!({})).await;
    let (visitor, _) = app.visitor(&webchat, json!({"name": "Ana"})).await;
    app.visitor_says(&visitor, json!({"text": "Can I continue on Telegram?"})).await;
    let (_, list) = app.get("/v1/conversations", &admin).await;
    let contact = list["data"][0]["contact_id"].as_str().expect("contact").to_owned();

    let (status, link) = app.post(&format!("/v1/contacts/{contact}/links"), &admin, json!({"channel_id": telegram})).await;
    assert_eq!(status, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().expect("url");
    let token = url.strip_prefix("https://t.me/shop_bot?start=").expect("a t.me deep link").to_owned();
    let (status, problem) = app.post(&format!("/v1/contacts/{contact}/links"), &admin, json!({"channel_id": webchat})).await;
    assert_eq!((status, problem["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("channel_id")));
    // A bot the hub has never reached has no known @username: its channel cannot make links
    // yet, which is the channel's state (409), not a failure of the hub.
    let silent = json!({"kind": "telegram", "name": "Unreachable bot", "settings": {"bot_token": TOKEN, "api_url": "http://127.0.0.1:9"}});
    let (status, unreachable) = app.post("/v1/channels", &admin, silent).await;
    assert_eq!(status, StatusCode::CREATED, "{unreachable}");
    let (status, problem) = app.post(&format!("/v1/contacts/{contact}/links"), &admin, json!({"channel_id": unreachable["id"]})).await;
    assert_eq!((status, problem["status"].as_u64()), (StatusCode::CONFLICT, Some(409)), "{problem}");
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("has not reached its provider")), "{problem}");

    // Opening the link sends /start <token>: the chat joins the web chat contact.
    bot.push_update("message", message(1, json!({"text": format!("/start {token}")})));
    let path = format!("/v1/contacts/{contact}");
    let joined = app.wait_for(&admin, &path, |c| c["identities"].as_array().is_some_and(|i| i.len() == 2)).await;
    let kinds: Vec<&str> = joined["identities"].as_array().expect("identities").iter().filter_map(|i| i["kind"].as_str()).collect();
    assert!(kinds.contains(&"webchat") && kinds.contains(&"telegram"), "{joined}");
    let (_, contacts) = app.get("/v1/contacts", &admin).await;
    assert_eq!(data(&contacts).len(), 1, "one contact, two identities");

    // The token is single use: another chat presenting it becomes a contact of its own.
    let mut other = message(1, json!({"text": format!("/start {token}")}));
    other["chat"]["id"] = json!(888_002);
    other["from"]["id"] = json!(888_002);
    bot.push_update("message", other);
    app.wait_for(&admin, "/v1/contacts", |c| data(c).len() == 2).await;
}

async fn stop_blocks_replies_and_start_allows_them_again(backend: Backend) {
    let bot = FakeBotApi::start(TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    telegram_channel(&app, &admin, &bot, json!({})).await;
    bot.push_update("message", message(1, json!({"text": "Hello"})));
    bot.push_update("message", message(2, json!({"text": "/stop"})));
    let (conversation, _) = conversation_with(&app, &admin, 2).await;
    let path = format!("/v1/conversations/{conversation}/messages");

    let (status, problem) = app.post(&path, &admin, json!({"text": "Are you still there?"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bot.calls_to("sendmessage").is_empty(), "the bot sent nothing");

    bot.push_update("message", message(3, json!({"text": "/start"})));
    app.wait_for(&admin, &path, |l| data(l).iter().any(|m| m["text"] == "/start")).await;
    let (_, reply) = app.post(&path, &admin, json!({"text": "Welcome back"})).await;
    assert_eq!(settled(&app, &admin, &conversation, reply["id"].as_str().expect("id")).await["status"], "sent");

    // The user blocks the bot: Telegram's 403 counts as a withdrawal too.
    bot.fail_next([ScriptedError { code: 403, description: "Forbidden: bot was blocked by the user".into(), retry_after: None }]);
    let (_, reply) = app.post(&path, &admin, json!({"text": "One more thing"})).await;
    let failed = settled(&app, &admin, &conversation, reply["id"].as_str().expect("id")).await;
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("blocked")), "{failed}");
    let (status, problem) = app.post(&path, &admin, json!({"text": "Hello?"})).await;
    assert_eq!((status, problem["code"].as_str()), (StatusCode::CONFLICT, Some("consent_missing")), "{problem}");
    assert_eq!(bot.calls_to("sendmessage").len(), 1);
}

/// Telegram cannot be asked whether a message went: a send left without an answer by a process
/// that died is marked `unknown` and listed for a person, never resent on its own.
async fn a_send_whose_answer_was_lost_is_surfaced_not_resent(backend: Backend) {
    let bot = FakeBotApi::start(TOKEN).await;
    let app = TestApp::spawn_with(backend, |c| c.delivery.lease_secs = 1).await;
    let (_, admin) = app.create_tenant("Shop");
    telegram_channel(&app, &admin, &bot, json!({})).await;
    bot.push_update("message", message(1, json!({"text": "Hello?"})));
    let (conversation, _) = conversation_with(&app, &admin, 1).await;
    let (_, reply) = app.post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "Hi Ana!"})).await;
    let id = reply["id"].as_str().expect("id").to_owned();
    settled(&app, &admin, &conversation, &id).await;
    let sends = bot.calls_to("sendmessage").len();

    // As a process that died mid-send leaves it: sending, its lease run out.
    app.execute("UPDATE messages SET status = 'sending', lease_until = 1 WHERE id = $1", &id).await;
    let unknown = app.wait_for(&admin, &format!("/v1/messages/{id}"), |m| m["status"] == "unknown").await;
    assert_eq!(unknown["failure"]["code"], "answer_lost", "{unknown}");
    let (_, dead) = app.get("/v1/messages", &admin).await;
    assert!(data(&dead).iter().any(|m| m["id"] == id.as_str()), "listed with the failed ones: {dead}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(bot.calls_to("sendmessage").len(), sends, "not resent on its own");

    // A person decides: retried, it goes again.
    let (status, body) = app.post(&format!("/v1/messages/{id}/retry"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    bot.wait_for_calls("sendmessage", sends + 1, Duration::from_secs(20)).await;
    assert_eq!(bot.calls_to("sendmessage").len(), sends + 1);
}

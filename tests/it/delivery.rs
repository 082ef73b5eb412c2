//! Delivery a team can trust, told over SMS against the fake Twilio: a failed message is
//! listed, retried once and delivered; reports out of order and twice end right with their
//! history; scheduled messages wait, survive a restart, go once, can be changed or canceled,
//! and are checked for consent when they go.

use std::time::Duration;

use omnibridge_twilio_sms::testkit::{FakeTwilio, ScriptedError};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, ChildHub, TestApp, free_port};
use crate::sms::{ACCOUNT, CUSTOMER, OUR_NUMBER, PUBLIC, TOKEN, customer_texts, only_conversation, post_form, reply, settled, sms_channel, twilio_signature};

backend_tests!(
    a_failed_text_is_listed_retried_once_and_delivered,
    scheduled_messages_wait_survive_a_restart_and_go_once,
    a_scheduled_promotion_is_checked_for_consent_when_it_goes,
    a_text_whose_answer_was_lost_in_a_crash_is_not_sent_twice,
);

const WAIT: Duration = Duration::from_secs(20);

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

/// Twilio's status callback for `sid`, signed for the URL the send gave it.
async fn twilio_reports(app: &TestApp, callback: &str, sid: &str, status: &str) {
    let report = [("MessageSid", sid), ("MessageStatus", status), ("AccountSid", ACCOUNT), ("To", CUSTOMER), ("From", OUR_NUMBER)];
    let signature = twilio_signature(TOKEN, callback, &report);
    let (code, body) = post_form(app, callback.strip_prefix(PUBLIC).expect("our URL"), &report, Some(&signature)).await;
    assert_eq!(code, StatusCode::NO_CONTENT, "{body}");
}

async fn message(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, message) = app.get(&format!("/v1/messages/{id}"), key).await;
    assert_eq!(status, StatusCode::OK, "{message}");
    message
}

async fn message_becomes(app: &TestApp, key: &str, id: &str, status: &str) -> Value {
    app.wait_for(key, &format!("/v1/messages/{id}"), |m| m["status"] == status).await
}

async fn a_failed_text_is_listed_retried_once_and_delivered(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&app, &channel_id, "SMf0000000000000000000000000000001", "Is my order on its way?").await;
    let conversation = only_conversation(&app, &admin).await;

    // Twilio refuses the first attempt for good: the message fails and says why.
    twilio.fail_next([ScriptedError { status: 400, code: 21612, message: "The 'To' phone number is not currently reachable".into() }]);
    let (status, sent) = reply(&app, &admin, &conversation, "Yes, it left this morning.").await;
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let id = sent["id"].as_str().expect("id").to_owned();
    let failed = message_becomes(&app, &admin, &id, "failed").await;
    assert_eq!(failed["failure"]["class"], "permanent", "{failed}");
    assert_eq!(failed["failure"]["code"], "21612", "{failed}");
    assert_eq!(failed["failure"]["provider"], "twilio", "{failed}");
    assert!(failed["failure"]["reason"].as_str().is_some_and(|r| r.contains("not currently reachable")), "{failed}");

    // The dead-letter view lists it, tenant-wide and by conversation; not delivered ones.
    let (status, dead) = app.get("/v1/messages?status=failed,unknown", &admin).await;
    assert_eq!(status, StatusCode::OK, "{dead}");
    assert_eq!(data(&dead).iter().map(|m| m["id"].clone()).collect::<Vec<_>>(), [json!(id)]);
    let (_, by_conversation) = app.get(&format!("/v1/messages?status=failed&conversation_id={conversation}"), &admin).await;
    assert_eq!(data(&by_conversation).len(), 1);
    let (status, problem) = app.get("/v1/messages?status=lost", &admin).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "status");

    // Retry: a new attempt of the same message, sent once, and delivered.
    let before = twilio.sent().len();
    let (status, retried) = app.post(&format!("/v1/messages/{id}/retry"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    assert_eq!(retried["status"], "queued");
    assert_eq!(retried["id"], id.as_str(), "the same message, not a copy");
    let requests = twilio.wait_for_sent(before + 1, WAIT).await;
    assert_eq!(requests.len(), before + 1);
    assert_eq!(requests[before].field("Body"), Some("Yes, it left this morning."));
    let sent = settled(&app, &admin, &conversation, &id).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert!(sent["failure"].is_null(), "the failure is cleared: {sent}");
    let sid = sent["external_id"].as_str().expect("sid").to_owned();
    let callback = requests[before].field("StatusCallback").expect("callback").to_owned();

    // Twilio reports out of order and twice: it ends delivered, every report kept.
    for status in ["delivered", "sent", "delivered", "queued"] {
        twilio_reports(&app, &callback, &sid, status).await;
    }
    let delivered = message_becomes(&app, &admin, &id, "delivered").await;
    assert_eq!(delivered["status"], "delivered");
    let (_, history) = app.get(&format!("/v1/messages/{id}/deliveries"), &admin).await;
    let applied: Vec<(String, bool)> = data(&history).iter().map(|r| (r["status"].as_str().unwrap_or("").to_owned(), r["applied"] == true)).collect();
    assert_eq!(applied, [("delivered".into(), true), ("sent".into(), false), ("delivered".into(), false), ("queued".into(), false)], "{history}");
    assert_eq!(twilio.sent().len(), before + 1, "nothing sent twice");

    // A delivered message is not retried; nothing else is listed as failed.
    let (status, problem) = app.post(&format!("/v1/messages/{id}/retry"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (_, dead) = app.get("/v1/messages?status=failed,unknown", &admin).await;
    assert!(data(&dead).is_empty(), "{dead}");
    let (status, _) = app.post(&format!("/v1/messages/{}/retry", uuid::Uuid::now_v7()), &admin, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn scheduled_messages_wait_survive_a_restart_and_go_once(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let mut app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&app, &channel_id, "SMf0000000000000000000000000000002", "When do you open tomorrow?").await;
    let conversation = only_conversation(&app, &admin).await;
    let path = format!("/v1/conversations/{conversation}/messages");
    let at = |secs: i64| omnibridge::domain::rfc3339(omnibridge::store::now_micros() + secs * 1_000_000);

    // Bad times are refused, naming the field.
    for (send_at, why) in [("tomorrow", "RFC 3339"), ("2020-01-01T00:00:00Z", "future")] {
        let (status, problem) = app.post(&path, &admin, json!({"text": "x", "send_at": send_at})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], "send_at");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains(why)), "{problem}");
    }

    // One to go in 3 s, one to cancel, one to change before it goes.
    let due = omnibridge::store::now_micros() + 3_000_000;
    let (status, scheduled) = app.post(&path, &admin, json!({"text": "We open at 9.", "send_at": omnibridge::domain::rfc3339(due)})).await;
    assert_eq!(status, StatusCode::CREATED, "{scheduled}");
    assert_eq!(scheduled["status"], "scheduled");
    assert!(scheduled["send_at"].as_str().is_some());
    let (_, canceled) = app.post(&path, &admin, json!({"text": "Never mind.", "send_at": at(3)})).await;
    let (_, changed) = app.post(&path, &admin, json!({"text": "We open at 8.", "send_at": at(60)})).await;
    let (scheduled_id, canceled_id, changed_id) =
        (scheduled["id"].as_str().expect("id").to_owned(), canceled["id"].as_str().expect("id").to_owned(), changed["id"].as_str().expect("id").to_owned());
    let (_, listed) = app.get("/v1/messages?status=scheduled", &admin).await;
    assert_eq!(data(&listed).len(), 3, "{listed}");

    let (status, canceled) = app.post(&format!("/v1/messages/{canceled_id}/cancel"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(canceled["status"], "canceled");
    let (status, changed) = app.patch(&format!("/v1/messages/{changed_id}"), &admin, json!({"text": "We open at 8:30.", "send_at": at(3)})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["text"], "We open at 8:30.");
    // An update that gives nothing changes nothing.
    let (status, same) = app.patch(&format!("/v1/messages/{changed_id}"), &admin, json!({})).await;
    assert_eq!((status, same["text"].as_str(), same["send_at"].clone()), (StatusCode::OK, Some("We open at 8:30."), changed["send_at"].clone()), "{same}");

    // The hub restarts while they wait; nothing goes before its time.
    app.restart().await;
    if omnibridge::store::now_micros() < due {
        assert!(twilio.sent().is_empty(), "nothing before its time");
    }
    twilio.wait_for_sent(1, WAIT).await;
    assert!(omnibridge::store::now_micros() >= due, "the first went when it was due, not before");

    // Both go, once each, with the changed text; the canceled one never.
    let requests = twilio.wait_for_sent(2, WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let bodies: Vec<String> = twilio.sent().iter().filter_map(|r| r.field("Body").map(str::to_owned)).collect();
    assert_eq!(requests.len(), 2, "{bodies:?}");
    let mut sorted = bodies.clone();
    sorted.sort();
    assert_eq!(sorted, ["We open at 8:30.", "We open at 9."], "each once; the canceled one never");
    message_becomes(&app, &admin, &scheduled_id, "sent").await;
    assert_eq!(message(&app, &admin, &canceled_id).await["status"], "canceled");

    // Gone or canceled: no more changes.
    let (status, _) = app.patch(&format!("/v1/messages/{scheduled_id}"), &admin, json!({"text": "Too late"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app.post(&format!("/v1/messages/{scheduled_id}/cancel"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
}

async fn a_scheduled_promotion_is_checked_for_consent_when_it_goes(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&app, &channel_id, "SMf0000000000000000000000000000003", "Any offers soon?").await;
    let conversation = only_conversation(&app, &admin).await;
    let (_, list) = app.get(&format!("/v1/conversations/{conversation}"), &admin).await;
    let contact = list["contact_id"].as_str().expect("contact").to_owned();
    let consent = |action: &str| json!({"channel": "sms", "address": CUSTOMER, "purpose": "marketing", "action": action});

    // Agreed when written…
    let (status, body) = app.post(&format!("/v1/contacts/{contact}/consents"), &admin, consent("grant")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let send_at = omnibridge::domain::rfc3339(omnibridge::store::now_micros() + 5_000_000);
    let (status, promotion) = app
        .post(&format!("/v1/conversations/{conversation}/messages"), &admin, json!({"text": "20% off this weekend", "purpose": "marketing", "send_at": send_at}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{promotion}");
    // …withdrawn before it goes: refused when it goes, and never reaches Twilio.
    let (status, body) = app.post(&format!("/v1/contacts/{contact}/consents"), &admin, consent("withdraw")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let failed = message_becomes(&app, &admin, promotion["id"].as_str().expect("id"), "failed").await;
    assert_eq!(failed["failure"]["code"], "consent_missing", "{failed}");
    assert_eq!(failed["failure"]["provider"], "hub");
    assert!(twilio.sent().is_empty(), "nothing reached Twilio");
}

async fn a_text_whose_answer_was_lost_in_a_crash_is_not_sent_twice(backend: Backend) {
    let twilio = FakeTwilio::start(ACCOUNT, TOKEN).await;
    let mut app = TestApp::spawn_with(backend, |c| c.delivery.lease_secs = 2).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel_id = sms_channel(&app, &admin, &twilio.base_url(), json!({})).await;
    customer_texts(&app, &channel_id, "SMf0000000000000000000000000000004", "Did you get my order?").await;
    let conversation = only_conversation(&app, &admin).await;
    app.stop_server().await;

    // Twilio takes the text but its answer is slow; the hub is killed before it arrives.
    twilio.hold_answers(Duration::from_secs(60));
    let mut hub = ChildHub::start(&app, free_port()).await;
    let sent = app
        .http
        .post(format!("{}/v1/conversations/{conversation}/messages", hub.base))
        .bearer_auth(&admin)
        .json(&json!({"text": "Yes, it ships today."}))
        .send()
        .await
        .expect("reply");
    assert_eq!(sent.status(), StatusCode::CREATED);
    let id = sent.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
    assert_eq!(twilio.wait_for_sent(1, WAIT).await.len(), 1, "Twilio took it");
    hub.kill_9();

    // Started again: the send without an answer is looked up at Twilio, found, and recorded;
    // nothing goes twice.
    twilio.hold_answers(Duration::ZERO);
    let hub = ChildHub::start(&app, free_port()).await;
    let message = hub.message_once(&admin, &id, "sent").await;
    assert_eq!(message["status"], "sent", "{message}");
    assert!(message["external_id"].as_str().is_some_and(|sid| sid.starts_with("SM")), "Twilio's sid, found by the lookup: {message}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(twilio.sent().len(), 1, "sent once");
}

//! Outbound webhooks as an integration sees them: a real receiver on 127.0.0.1, signatures
//! checked by the official Standard Webhooks library, retries, replay, disabling, SSRF refusals.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};
use crate::receiver::{Receiver, Reply, verify_with_official_library};

backend_tests!(
    an_integration_verifies_every_webhook_with_the_official_library,
    a_failing_receiver_gets_the_same_event_until_it_answers,
    failed_deliveries_can_be_replayed_and_gone_endpoints_are_disabled,
    webhook_urls_to_private_addresses_are_refused,
    endpoints_are_validated_filtered_and_can_be_thin,
    an_endpoint_failing_for_too_long_is_disabled,
    payloads_are_purged_after_the_retention_period,
);

const WAIT: Duration = Duration::from_secs(20);

/// Creates an endpoint; returns (id, secret).
/// The tenants here are in the `eu` region: an endpoint says where it is (here: in the EEA).
async fn endpoint(app: &TestApp, key: &str, mut body: Value) -> (String, String) {
    if body.get("country").is_none() {
        body["country"] = json!("DE");
    }
    let (status, created) = app.post("/v1/webhooks/endpoints", key, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["id"].as_str().expect("id").into(), created["secret"].as_str().expect("secret").into())
}

fn has_type(event_type: &'static str, n: usize) -> impl Fn(&[crate::receiver::Received]) -> bool {
    move |requests| requests.iter().filter(|r| r.json()["type"] == event_type).count() >= n
}

async fn an_integration_verifies_every_webhook_with_the_official_library(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (id, secret) = endpoint(&app, &admin, json!({"url": receiver.url, "description": "CRM"})).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, shown) = app.get(&format!("/v1/webhooks/endpoints/{id}"), &admin).await;
    assert!(shown.get("secret").is_none(), "a secret is shown only at creation and rotation: {shown}");
    assert!(shown["event_types"].is_null());

    let (token, _) = app.visitor(&channel, json!({"name": "Ana"})).await;
    let (_, sent) = app.visitor_says(&token, json!({"text": "Where is my parcel?"})).await;
    let requests = receiver.wait_until(WAIT, |r| has_type("message.received", 1)(r) && has_type("conversation.created", 1)(r)).await;
    let received = requests.iter().find(|r| r.json()["type"] == "message.received").expect("message.received");
    assert_eq!(verify_with_official_library(&secret, received), Ok("message.received".into()));
    let wrong = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(verify_with_official_library(wrong, received).is_err(), "a wrong secret must not verify");

    assert!(received.header("webhook-id").starts_with("msg_"));
    assert_eq!(received.header("content-type"), "application/json");
    let signed_at: i64 = received.header("webhook-timestamp").parse().expect("unix seconds");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - signed_at).abs() < 30, "the timestamp is the attempt's: {signed_at} vs {now}");
    let payload = received.json();
    assert_eq!(payload["data"]["id"], sent["id"]);
    assert_eq!(payload["data"]["text"], "Where is my parcel?");
    assert!(payload["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));

    // Every event of a conversation carries its own, increasing sequence number.
    let conversation = sent["conversation_id"].clone();
    let mut sequences: Vec<i64> = requests
        .iter()
        .map(|r| r.json())
        .filter(|p| p["data"]["conversation_id"] == conversation || p["data"]["id"] == conversation)
        .map(|p| p["data"]["sequence"].as_i64().expect("sequence"))
        .collect();
    sequences.sort();
    assert!(sequences.len() >= 2, "conversation.created and message.received: {sequences:?}");
    assert_eq!(sequences.iter().collect::<HashSet<_>>().len(), sequences.len(), "unique: {sequences:?}");

    // Rotation: during the grace period every request carries both signatures, and each secret
    // verifies on its own.
    let (status, rotated) = app.post(&format!("/v1/webhooks/endpoints/{id}/rotate-secret"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
    assert_ne!(new_secret, secret);
    app.visitor_says(&token, json!({"text": "Any news?"})).await;
    let requests = receiver.wait_until(WAIT, has_type("message.received", 2)).await;
    let during_grace = requests.iter().filter(|r| r.json()["type"] == "message.received").nth(1).expect("second message");
    assert_eq!(during_grace.header("webhook-signature").split(' ').count(), 2, "{}", during_grace.header("webhook-signature"));
    assert_eq!(verify_with_official_library(&secret, during_grace), Ok("message.received".into()), "the old secret");
    assert_eq!(verify_with_official_library(&new_secret, during_grace), Ok("message.received".into()), "the new secret");

    // A rotation without grace retires the current secret at once (the older one keeps its
    // remaining grace); a supplied secret is used as given.
    let supplied = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let (status, third) =
        app.post(&format!("/v1/webhooks/endpoints/{id}/rotate-secret"), &admin, json!({"secret": supplied, "grace_period_secs": 0})).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["secret"], supplied);
    app.visitor_says(&token, json!({"text": "Hello?"})).await;
    let requests = receiver.wait_until(WAIT, has_type("message.received", 3)).await;
    let after = requests.iter().filter(|r| r.json()["type"] == "message.received").nth(2).expect("third message");
    assert_eq!(verify_with_official_library(supplied, after), Ok("message.received".into()));
    assert!(verify_with_official_library(&new_secret, after).is_err(), "retired without grace");
    assert_eq!(verify_with_official_library(&secret, after), Ok("message.received".into()), "still in its grace period");

    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("omnibridge_webhook_deliveries_delivered_total"), "{metrics}");
    assert!(metrics.contains("omnibridge_webhook_attempt_seconds"), "{metrics}");
    assert!(metrics.contains("omnibridge_webhook_queue_depth"), "{metrics}");
    assert!(metrics.contains("omnibridge_webhook_oldest_pending_seconds"), "{metrics}");
}

async fn a_failing_receiver_gets_the_same_event_until_it_answers(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| {
        c.webhooks.retry_schedule_secs = vec![0, 2, 2, 2];
        c.webhooks.timeout_secs = 1;
        c.webhooks.overload_penalty_secs = 2;
    })
    .await;
    let receiver = Receiver::start().await;
    let operations = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (id, secret) = endpoint(&app, &admin, json!({"url": receiver.url, "event_types": ["message.received"]})).await;
    endpoint(&app, &admin, json!({"url": operations.url, "event_types": ["message.attempt.recovered"]})).await;
    receiver.script([Reply::Status(500), Reply::Hang(Duration::from_secs(3)), Reply::Status(200)]);

    let (token, _) = app.visitor(&channel, json!({})).await;
    app.visitor_says(&token, json!({"text": "are you there?"})).await;
    let requests = receiver.wait_until(WAIT, |r| r.len() >= 3).await;
    assert!(requests.iter().all(|r| r.json()["type"] == "message.received"));
    let ids: HashSet<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), 1, "one event, one webhook-id across retries");
    let stamps: Vec<i64> = requests.iter().map(|r| r.header("webhook-timestamp").parse().expect("ts")).collect();
    assert!(stamps.windows(2).all(|w| w[1] > w[0]), "each attempt is signed afresh: {stamps:?}");
    for r in &requests {
        assert_eq!(verify_with_official_library(&secret, r), Ok("message.received".into()));
    }
    // The retries (claimed from the database) carry the same event as the first attempt (handed
    // over in memory), text included, byte for byte.
    assert!(requests.iter().all(|r| r.json()["data"]["text"] == "are you there?" && r.json().get("text_ref").is_none()));
    assert!(requests.windows(2).all(|w| w[0].body == w[1].body), "the same body on every attempt");

    // The delivery log shows all three attempts.
    let (_, deliveries) = app.get(&format!("/v1/webhooks/endpoints/{id}/deliveries"), &admin).await;
    let delivery = &deliveries["data"][0];
    assert_eq!(delivery["msg_id"], requests[0].header("webhook-id"));
    let delivery_id = delivery["id"].as_str().expect("id").to_owned();
    let attempts = app.wait_for(&admin, &format!("/v1/webhooks/deliveries/{delivery_id}/attempts"), |a| {
        a["data"].as_array().is_some_and(|l| l.len() == 3)
    })
    .await;
    let attempts = attempts["data"].as_array().expect("list");
    assert_eq!(attempts[0]["status_code"], 500);
    assert!(attempts[1]["status_code"].is_null());
    assert_eq!(attempts[1]["error"], "timed out");
    assert_eq!(attempts[2]["status_code"], 200);
    assert!(attempts.iter().all(|a| a["latency_ms"].as_f64().is_some()));
    let (_, delivery) = app.get(&format!("/v1/webhooks/deliveries/{delivery_id}"), &admin).await;
    assert_eq!(delivery["status"], "delivered");
    assert_eq!(delivery["attempts"], 3);

    // Success after failures is an operational event of its own.
    let recovered = operations.wait_until(WAIT, has_type("message.attempt.recovered", 1)).await;
    assert_eq!(recovered[0].json()["data"]["msg_id"], requests[0].header("webhook-id"));
}

async fn failed_deliveries_can_be_replayed_and_gone_endpoints_are_disabled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.webhooks.retry_schedule_secs = vec![0]).await;
    let receiver = Receiver::start().await;
    let operations = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (id, _) = endpoint(&app, &admin, json!({"url": receiver.url, "event_types": ["message.received"]})).await;
    endpoint(&app, &admin, json!({"url": operations.url, "event_types": ["message.attempt.exhausted", "endpoint.disabled"]})).await;
    let (token, _) = app.visitor(&channel, json!({})).await;

    // One attempt only, and it fails: the delivery is exhausted.
    receiver.answer_from_now_on(503);
    app.visitor_says(&token, json!({"text": "first"})).await;
    operations.wait_until(WAIT, has_type("message.attempt.exhausted", 1)).await;
    let failed = app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}/deliveries?status=failed"), |d| {
        d["data"].as_array().is_some_and(|l| l.len() == 1)
    })
    .await;
    let delivery_id = failed["data"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(failed["data"][0]["last_status_code"], 503);

    // Retry one, now.
    receiver.answer_from_now_on(200);
    let (status, retried) = app.post(&format!("/v1/webhooks/deliveries/{delivery_id}/retry"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    let requests = receiver.wait_until(WAIT, |r| r.len() >= 2).await;
    assert_eq!(requests[0].header("webhook-id"), requests[1].header("webhook-id"));
    app.wait_for(&admin, &format!("/v1/webhooks/deliveries/{delivery_id}"), |d| d["status"] == "delivered").await;

    // Recover every failure of a time window.
    receiver.answer_from_now_on(500);
    app.visitor_says(&token, json!({"text": "second"})).await;
    app.visitor_says(&token, json!({"text": "third"})).await;
    app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}/deliveries?status=failed"), |d| {
        d["data"].as_array().is_some_and(|l| l.len() == 2)
    })
    .await;
    receiver.answer_from_now_on(200);
    let since = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let since = since.format(&time::format_description::well_known::Rfc3339).expect("format");
    let (status, recovered) = app.post(&format!("/v1/webhooks/endpoints/{id}/recover"), &admin, json!({"since": since})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{recovered}");
    assert_eq!(recovered["requeued"], 2);
    app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}/deliveries?status=delivered"), |d| {
        d["data"].as_array().is_some_and(|l| l.len() == 3)
    })
    .await;
    let (status, bad) = app.post(&format!("/v1/webhooks/endpoints/{id}/recover"), &admin, json!({"since": "yesterday"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad["field"], "since");

    // 410 Gone: the endpoint is disabled at once, and says why.
    receiver.answer_from_now_on(410);
    app.visitor_says(&token, json!({"text": "fourth"})).await;
    let disabled = operations.wait_until(WAIT, has_type("endpoint.disabled", 1)).await;
    let event = disabled.iter().find(|r| r.json()["type"] == "endpoint.disabled").expect("event").json();
    assert_eq!(event["data"]["endpoint_id"], id.as_str());
    let (_, shown) = app.get(&format!("/v1/webhooks/endpoints/{id}"), &admin).await;
    assert_eq!(shown["disabled"], true);
    assert!(shown["disabled_reason"].as_str().is_some_and(|r| r.contains("410")), "{shown}");

    // While disabled, events are still recorded (so they can be recovered) but not sent.
    let before = receiver.requests().len();
    app.visitor_says(&token, json!({"text": "fifth"})).await;
    let all = app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}/deliveries"), |d| {
        d["data"].as_array().is_some_and(|l| l.len() == 5)
    })
    .await;
    assert_eq!(all["data"][0]["status"], "failed");
    assert_eq!(all["data"][0]["last_error"], "endpoint disabled");
    let newest = all["data"][0]["id"].as_str().expect("id").to_owned();
    let (status, _) = app.post(&format!("/v1/webhooks/deliveries/{newest}/retry"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "a disabled endpoint takes no retries");

    // Enabled again, the missed event is recovered.
    receiver.answer_from_now_on(200);
    let (status, enabled) = app.patch(&format!("/v1/webhooks/endpoints/{id}"), &admin, json!({"disabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{enabled}");
    assert_eq!(enabled["disabled"], false);
    let (_, recovered) = app.post(&format!("/v1/webhooks/endpoints/{id}/recover"), &admin, json!({"since": since})).await;
    assert!(recovered["requeued"].as_u64().is_some_and(|n| n >= 1), "{recovered}");
    let requests = receiver.wait_until(WAIT, |r| r.len() > before && r.iter().any(|x| x.json()["data"]["text"] == "fifth")).await;
    assert!(requests.iter().any(|r| r.json()["data"]["text"] == "fifth"));
}

async fn webhook_urls_to_private_addresses_are_refused(backend: Backend) {
    // No allow-list: the hub's own network is out of reach.
    let app = TestApp::spawn_with(backend, |c| c.webhooks.allow_private_cidrs.clear()).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    let port = receiver.url.split(':').nth(2).and_then(|p| p.split('/').next()).expect("port").to_owned();
    for url in [
        receiver.url.clone(),
        format!("http://localhost:{port}/hooks"),
        "http://10.1.2.3/hook".into(),
        "http://169.254.169.254/latest/meta-data".into(),
        "http://[::1]/hook".into(),
        "http://[::ffff:127.0.0.1]/hook".into(),
        "http://100.64.0.1/hook".into(),
        "ftp://example.com/hook".into(),
    ] {
        let (status, problem) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": url})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {problem}");
        assert_eq!(problem["field"], "url", "{problem}");
    }
    let (status, problem) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problem["detail"].as_str().is_some_and(|d| d.contains("private")), "{problem}");

    // A public address is accepted; if its name later resolves to a private address (DNS
    // rebinding), the delivery is refused at connect time and nothing reaches the network.
    let (id, _) = endpoint(&app, &admin, json!({"url": "http://93.184.216.34/hook", "event_types": ["message.received"]})).await;
    let db = app.db().await;
    let rebound = format!("http://localhost:{port}/hooks");
    match &db {
        omnibridge::store::Db::Sqlite(p) => {
            sqlx::query("UPDATE webhook_endpoints SET url = $1").bind(&rebound).execute(p).await.expect("update");
        }
        omnibridge::store::Db::Pg(p) => {
            sqlx::query("UPDATE webhook_endpoints SET url = $1").bind(&rebound).execute(p).await.expect("update");
        }
    }
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    app.visitor_says(&token, json!({"text": "hi"})).await;
    let deliveries = app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}/deliveries"), |d| d["data"][0]["id"].is_string()).await;
    let delivery_id = deliveries["data"][0]["id"].as_str().expect("id");
    // The attempt is recorded once it has ended (the delivery counts it when it is claimed).
    let attempts = app.wait_for(&admin, &format!("/v1/webhooks/deliveries/{delivery_id}/attempts"), |a| {
        a["data"].as_array().is_some_and(|l| !l.is_empty())
    })
    .await;
    let error = attempts["data"][0]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("refused") && error.contains("private"), "{attempts}");
    assert!(receiver.requests().is_empty(), "nothing may reach a private address");
}

async fn endpoints_are_validated_filtered_and_can_be_thin(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let thin = Receiver::start().await;
    let (tenant, admin) = app.create_tenant("Acme");
    let agent = app.create_key(&tenant, "agent");
    let integration = app.create_key(&tenant, "integration");

    for (body, field) in [
        (json!({"url": receiver.url, "secret": "whsec_short"}), "secret"),
        (json!({"url": receiver.url, "event_types": ["message.exploded"]}), "event_types"),
        (json!({"url": receiver.url, "event_types": []}), "event_types"),
        (json!({"url": receiver.url, "country": "Germany"}), "country"),
        (json!({"url": receiver.url, "transfer_mechanism": "handshake"}), "transfer_mechanism"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": receiver.url, "colour": "red"}), "colour"),
        (json!({"url": receiver.url}), "country"),
    ] {
        let (status, problem) = app.post("/v1/webhooks/endpoints", &admin, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }
    let (status, _) = app.post("/v1/webhooks/endpoints", &agent, json!({"url": receiver.url, "country": "DE"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "agents do not manage webhooks");
    let (_, list) = app.get("/v1/webhooks/endpoints", &admin).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(0), "nothing half-created: {list}");

    // An integration key manages its own endpoints; the country and mechanism are kept.
    let (full_id, _) = endpoint(
        &app,
        &integration,
        json!({"url": receiver.url, "event_types": ["message.received"], "country": "us", "transfer_mechanism": "scc"}),
    )
    .await;
    let (_, shown) = app.get(&format!("/v1/webhooks/endpoints/{full_id}"), &integration).await;
    assert_eq!(shown["country"], "US");
    assert_eq!(shown["transfer_mechanism"], "scc");
    assert_eq!(shown["event_types"], json!(["message.received"]));
    endpoint(&app, &admin, json!({"url": thin.url, "event_types": ["message.received"], "thin_payload": true})).await;

    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Ana", "email": "ana@example.com"})).await;
    let (_, sent) = app.visitor_says(&token, json!({"text": "my card number is 4111"})).await;
    let full = receiver.wait_until(WAIT, |r| !r.is_empty()).await;
    let thin_requests = thin.wait_until(WAIT, |r| !r.is_empty()).await;
    // Filtered at the producer: only the subscribed type arrives.
    assert!(full.iter().all(|r| r.json()["type"] == "message.received"), "only subscribed types");
    let body = thin_requests[0].json();
    assert_eq!(body["data"]["id"], sent["id"]);
    assert_eq!(body["data"]["conversation_id"], sent["conversation_id"]);
    let raw = String::from_utf8_lossy(&thin_requests[0].body).into_owned();
    // (Whole values: a timestamp or an id may contain "4111" by chance.)
    assert!(!raw.contains("card number is 4111") && !raw.contains("\"Ana\"") && !raw.contains("ana@example.com"), "a thin payload carries no personal data: {raw}");
    assert!(body["data"].get("text").is_none(), "{body}");
    // Both deliveries share the event's webhook-id.
    assert_eq!(full[0].header("webhook-id"), thin_requests[0].header("webhook-id"));

    // Every delivery went through the egress door and is in the transfer log.
    let db = app.db().await;
    let count: i64 = match &db {
        omnibridge::store::Db::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM transfers WHERE destination_kind = 'webhook'")
            .fetch_one(p)
            .await
            .expect("count"),
        omnibridge::store::Db::Pg(p) => sqlx::query_scalar("SELECT COUNT(*) FROM transfers WHERE destination_kind = 'webhook'")
            .fetch_one(p)
            .await
            .expect("count"),
    };
    assert!(count >= 2, "one transfer record per delivery, got {count}");

    // At most ten old secrets may be in their grace period at once.
    for n in 0..10 {
        let (status, body) = app.post(&format!("/v1/webhooks/endpoints/{full_id}/rotate-secret"), &admin, json!({})).await;
        assert_eq!(status, StatusCode::OK, "rotation {n}: {body}");
    }
    let (status, problem) = app.post(&format!("/v1/webhooks/endpoints/{full_id}/rotate-secret"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, problem) =
        app.post(&format!("/v1/webhooks/endpoints/{full_id}/rotate-secret"), &admin, json!({"grace_period_secs": 700_000})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "grace_period_secs");

    // PATCH and DELETE.
    let (status, patched) =
        app.patch(&format!("/v1/webhooks/endpoints/{full_id}"), &admin, json!({"event_types": null, "description": "all"})).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert!(patched["event_types"].is_null());
    let (status, _) = app.call(Method::DELETE, &format!("/v1/webhooks/endpoints/{full_id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.get(&format!("/v1/webhooks/endpoints/{full_id}"), &admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn an_endpoint_failing_for_too_long_is_disabled(backend: Backend) {
    // Five days in production; two seconds here.
    let app = TestApp::spawn_with(backend, |c| {
        c.webhooks.disable_after_secs = 2;
        c.webhooks.retry_schedule_secs = vec![0, 1, 1, 1, 1, 1, 1, 1];
    })
    .await;
    let receiver = Receiver::start().await;
    let operations = Receiver::start().await;
    receiver.answer_from_now_on(500);
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (id, _) = endpoint(&app, &admin, json!({"url": receiver.url, "event_types": ["message.received"]})).await;
    endpoint(&app, &admin, json!({"url": operations.url, "event_types": ["endpoint.disabled"]})).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    app.visitor_says(&token, json!({"text": "anyone?"})).await;

    let failing = app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}"), |e| e["failing_since"].is_string()).await;
    assert_eq!(failing["disabled"], false, "one failure starts the clock, it does not disable");
    let disabled = app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}"), |e| e["disabled"] == true).await;
    assert!(disabled["disabled_reason"].as_str().is_some_and(|r| r.contains("without a success")), "{disabled}");
    let events = operations.wait_until(WAIT, has_type("endpoint.disabled", 1)).await;
    assert_eq!(events[0].json()["data"]["endpoint_id"], id.as_str());
    // Once disabled, nothing more is sent.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let settled = receiver.requests().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.requests().len(), settled);
}

async fn payloads_are_purged_after_the_retention_period(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |c| c.webhooks.retry_schedule_secs = vec![0]).await;
    let receiver = Receiver::start().await;
    receiver.answer_from_now_on(500);
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (id, _) = endpoint(&app, &admin, json!({"url": receiver.url, "event_types": ["message.received"]})).await;
    let (token, _) = app.visitor(&channel, json!({})).await;
    app.visitor_says(&token, json!({"text": "an old secret"})).await;
    let failed = app.wait_for(&admin, &format!("/v1/webhooks/endpoints/{id}/deliveries?status=failed"), |d| {
        d["data"].as_array().is_some_and(|l| l.len() == 1)
    })
    .await;
    let delivery = failed["data"][0]["id"].as_str().expect("id").to_owned();
    let (_, attempts) = app.get(&format!("/v1/webhooks/deliveries/{delivery}/attempts"), &admin).await;
    assert_eq!(attempts["data"][0]["response_body"], "answered 500", "the receiver's answer is kept while it may matter");

    // Age everything past the 90-day retention period; the purge runs when the hub starts.
    let db = app.db().await;
    let age = 91_i64 * 86_400 * 1_000_000;
    for sql in ["UPDATE outbox SET created_at = created_at - $1", "UPDATE webhook_attempts SET created_at = created_at - $1"] {
        match &db {
            omnibridge::store::Db::Sqlite(p) => sqlx::query(sql).bind(age).execute(p).await.map(|_| ()),
            omnibridge::store::Db::Pg(p) => sqlx::query(sql).bind(age).execute(p).await.map(|_| ()),
        }
        .expect("age rows");
    }
    app.restart().await;
    app.wait_for(&admin, &format!("/v1/webhooks/deliveries/{delivery}/attempts"), |a| a["data"][0]["response_body"].is_null()).await;
    // The event log's retention runs on its own, at start too.
    let mut left = -1_i64;
    for _ in 0..100 {
        left = match &db {
            omnibridge::store::Db::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(p).await,
            omnibridge::store::Db::Pg(p) => sqlx::query_scalar("SELECT COUNT(*) FROM outbox").fetch_one(p).await,
        }
        .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "expired event payloads are deleted");

    // A purged payload cannot be replayed; the attempt says why.
    receiver.answer_from_now_on(200);
    let (status, _) = app.post(&format!("/v1/webhooks/deliveries/{delivery}/retry"), &admin, json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let after = app.wait_for(&admin, &format!("/v1/webhooks/deliveries/{delivery}"), |d| d["status"] == "failed").await;
    assert!(after["last_error"].as_str().is_some_and(|e| e.contains("payload is gone")), "{after}");
    assert_eq!(receiver.requests().len(), 1, "nothing was sent without a payload");
}


//! Crash safety: the hub is killed with SIGKILL under a steady stream of inbound messages and
//! started again; every message it accepted still reaches the webhook receiver (at least once).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::backend_tests;
use crate::helpers::{Backend, ChildHub, TestApp, free_port};
use crate::receiver::Receiver;

backend_tests!(every_accepted_message_is_delivered_after_a_kill_9);

/// Visitors send messages one after another until `stop`; the ids the hub accepted (201) are
/// collected. Failures (the hub is down) are not accepted and not counted.
async fn stream(base: String, tokens: Vec<String>, accepted: Arc<Mutex<Vec<String>>>, stop: CancellationToken) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().expect("client");
    let mut n = 0u64;
    while !stop.is_cancelled() {
        for token in &tokens {
            n += 1;
            let sent = http
                .post(format!("{base}/widget/v1/messages"))
                .bearer_auth(token)
                .json(&json!({"text": format!("message {n}"), "external_id": format!("m-{n}")}))
                .send()
                .await;
            match sent {
                Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                    let body: serde_json::Value = r.json().await.expect("json");
                    accepted.lock().expect("lock").push(body["id"].as_str().expect("id").to_owned());
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

async fn every_accepted_message_is_delivered_after_a_kill_9(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let receiver = Receiver::start().await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (status, _) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "event_types": ["message.received"], "country": "DE"})).await;
    assert_eq!(status, reqwest::StatusCode::CREATED);
    let mut tokens = Vec::new();
    for i in 0..4 {
        tokens.push(app.visitor(&channel, json!({"name": format!("Visitor {i}")})).await.0);
    }
    app.stop_server().await;

    let port = free_port();
    let mut hub = ChildHub::start(&app, port).await;
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let sender = tokio::spawn(stream(hub.base.clone(), tokens, accepted.clone(), stop.clone()));

    // Killed once the stream flows (however long that takes on a loaded machine), not after a
    // fixed time.
    let started = std::time::Instant::now();
    while accepted.lock().expect("lock").len() < 25 {
        assert!(started.elapsed() < Duration::from_secs(60), "the stream never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.kill_9();
    let at_kill = accepted.lock().expect("lock").len();
    assert!(at_kill > 20, "the stream was flowing when the hub died ({at_kill} accepted)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let hub = ChildHub::start(&app, port).await;
    let restarted = std::time::Instant::now();
    while accepted.lock().expect("lock").len() < at_kill + 5 {
        assert!(restarted.elapsed() < Duration::from_secs(60), "the stream never resumed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    sender.await.expect("stream");
    let accepted: HashSet<String> = accepted.lock().expect("lock").iter().cloned().collect();
    assert!(accepted.len() > at_kill, "messages were accepted after the restart too");

    let requests = receiver
        .wait_until(Duration::from_secs(60), |requests| {
            let delivered: HashSet<String> =
                requests.iter().filter_map(|r| r.json()["data"]["id"].as_str().map(str::to_owned)).collect();
            accepted.is_subset(&delivered)
        })
        .await;
    let ids: HashSet<&str> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.len() >= accepted.len(), "{} distinct webhook-ids for {} accepted messages", ids.len(), accepted.len());
    drop(hub);
}

//! Several hub processes on one PostgreSQL database: every message stored once and delivered,
//! every operator seeing every event live, each poller with one owner — and a process killed
//! with SIGKILL leaves nothing behind. SQLite serves one process and refuses a second.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use omnibridge_telegram::testkit::FakeBotApi;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::helpers::{Backend, ChildHub, TestApp, free_port, next_frame, websocket};
use crate::receiver::Receiver;

const BOT_TOKEN: &str = "123456789:AAHfake-token-for-tests-only_0001";

fn data(list: &Value) -> Vec<Value> {
    list["data"].as_array().cloned().unwrap_or_default()
}

async fn call(http: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = http.request(method, format!("{base}{path}")).bearer_auth(key);
    if let Some(body) = body {
        req = req.json(&body);
    }
    match req.send().await {
        Ok(res) => {
            let status = res.status();
            (status, res.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Value::Null),
    }
}

/// Which of the hubs holds the lease named `lease`, by their `/readyz`.
async fn owner_of(http: &reqwest::Client, hubs: &[&ChildHub], lease: &str) -> Option<usize> {
    for (i, hub) in hubs.iter().enumerate() {
        let ready: Value = match http.get(format!("{}/readyz", hub.base)).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => continue,
        };
        if ready["leases"].as_array().is_some_and(|l| l.iter().any(|n| n == lease)) {
            return Some(i);
        }
    }
    None
}

/// Inbound messages of the tenant, through one hub's API.
async fn inbound_texts(http: &reqwest::Client, base: &str, key: &str) -> Vec<String> {
    let (_, list) = call(http, base, reqwest::Method::GET, "/v1/conversations?limit=200", key, None).await;
    let mut texts = Vec::new();
    for c in data(&list) {
        let path = format!("/v1/conversations/{}/messages?limit=200", c["id"].as_str().unwrap_or_default());
        let (_, messages) = call(http, base, reqwest::Method::GET, &path, key, None).await;
        texts.extend(data(&messages).iter().filter(|m| m["direction"] == "in").filter_map(|m| m["text"].as_str().map(str::to_owned)));
    }
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_on_one_postgres_lose_and_double_nothing() {
    let mut app = TestApp::spawn_with(Backend::Postgres, |c| {
        c.cluster.lease_secs = 4;
        c.cluster.heartbeat_secs = 1;
    })
    .await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let receiver = Receiver::start().await;
    let bot = FakeBotApi::start(BOT_TOKEN).await;
    let (_, admin) = app.create_tenant("Shop");
    let channel = app.webchat_channel(&admin).await;
    let (status, _) = app.post("/v1/webhooks/endpoints", &admin, json!({"url": receiver.url, "event_types": ["message.received"], "country": "DE"})).await;
    assert_eq!(status, StatusCode::CREATED);
    app.approve(&admin, "telegram").await;
    let (status, _) = app.put("/v1/policy", &admin, json!({"rules": [{"destination": "subprocessor:telegram", "categories": ["*"], "action": "allow"}]})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, telegram) = app.post("/v1/channels", &admin, json!({"kind": "telegram", "name": "Bot", "settings": {"bot_token": BOT_TOKEN, "api_url": bot.api_url()}})).await;
    assert_eq!(status, StatusCode::CREATED, "{telegram}");
    let telegram_lease = format!("poller:{}", telegram["id"].as_str().expect("id"));
    app.stop_server().await;

    let mut hubs = vec![ChildHub::start(&app, free_port()).await, ChildHub::start(&app, free_port()).await, ChildHub::start(&app, free_port()).await];

    // The processes know each other.
    let out = app.cli(&["nodes", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let nodes: Value = serde_json::from_slice(&out.stdout).expect("nodes --json");
    assert_eq!(nodes.as_array().map(Vec::len), Some(3), "{nodes}");
    let owners: Vec<&Value> = nodes.as_array().expect("nodes").iter().filter(|n| n["leases"].as_array().is_some_and(|l| l.iter().any(|x| *x == telegram_lease.as_str()))).collect();
    assert_eq!(owners.len(), 1, "exactly one process polls the bot: {nodes}");

    // An operator watches on process A.
    let mut operator = websocket(&format!("{}/v1/realtime?token={admin}", hubs[0].ws_base)).await;

    // Visitors write to all three, in turn.
    let mut tokens = Vec::new();
    for i in 0..6 {
        let base = &hubs[i % 3].base;
        let res = http.post(format!("{base}/widget/v1/channels/{channel}/sessions")).json(&json!({"name": format!("Visitor {i}")})).send().await.expect("session");
        assert_eq!(res.status(), StatusCode::CREATED);
        let body: Value = res.json().await.expect("json");
        tokens.push(body["visitor_token"].as_str().expect("token").to_owned());
    }
    let mut posted = Vec::new();
    let mut from_others = HashSet::new();
    for n in 0..30 {
        let node = n % 3;
        let res = http
            .post(format!("{}/widget/v1/messages", hubs[node].base))
            .bearer_auth(&tokens[n % tokens.len()])
            .json(&json!({"text": format!("hello {n}"), "external_id": format!("m-{n}")}))
            .send()
            .await
            .expect("post");
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = res.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_owned();
        if node != 0 {
            from_others.insert(id.clone());
        }
        posted.push(id);
    }
    let got = receiver
        .wait_until(Duration::from_secs(30), |r| {
            let ids: HashSet<&str> = r.iter().filter(|x| x.json()["type"] == "message.received").filter_map(|x| x.json()["data"]["id"].as_str().map(|_| x.header("webhook-id"))).collect();
            ids.len() >= 30
        })
        .await;
    let received: Vec<&crate::receiver::Received> = got.iter().filter(|x| x.json()["type"] == "message.received").collect();
    let webhook_ids: HashSet<&str> = received.iter().map(|x| x.header("webhook-id")).collect();
    let message_ids: HashSet<String> = received.iter().filter_map(|x| x.json()["data"]["id"].as_str().map(str::to_owned)).collect();
    assert_eq!(webhook_ids.len(), 30, "one delivery chain per message, none missing");
    assert_eq!(message_ids, posted.iter().cloned().collect::<HashSet<_>>(), "every message delivered");
    let texts = inbound_texts(&http, &hubs[1].base, &admin).await;
    assert_eq!(texts.len(), 30, "each message stored once: {texts:?}");

    // Process A's operator saw the messages processes B and C took in, live.
    let mut seen = HashSet::new();
    while seen.len() < from_others.len() {
        let Some(frame) = next_frame(&mut operator, Duration::from_secs(10), |f| f["type"] == "message.received").await else { break };
        if let Some(id) = frame["data"]["id"].as_str().filter(|id| from_others.contains(*id)) {
            seen.insert(id.to_owned());
        }
    }
    assert_eq!(seen, from_others, "events committed elsewhere reach the websocket on process A");

    // A visitor's widget is connected to process C; the operator answers through process A,
    // and whichever process sends the replies, they reach the widget.
    let mut widget = websocket(&format!("{}/widget/v1/ws?token={}", hubs[2].ws_base, tokens[2])).await;
    let res = http.post(format!("{}/widget/v1/messages", hubs[2].base)).bearer_auth(&tokens[2]).json(&json!({"text": "are you there?"})).send().await.expect("post");
    let conversation = res.json::<Value>().await.expect("json")["conversation_id"].as_str().expect("conversation").to_owned();
    for k in 0..3 {
        let (status, body) = call(&http, &hubs[0].base, reqwest::Method::POST, &format!("/v1/conversations/{conversation}/messages"), &admin, Some(json!({"text": format!("reply {k}")}))).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut replies = HashSet::new();
    while replies.len() < 3 {
        let Some(frame) = next_frame(&mut widget, Duration::from_secs(10), |f| f["type"] == "message" && f["message"]["direction"] == "out").await else { break };
        replies.insert(frame["message"]["text"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(replies.len(), 3, "every reply reached the widget on process C: {replies:?}");

    // The bot poller's process dies: another takes over and the next update arrives once.
    let views: Vec<&ChildHub> = hubs.iter().collect();
    let owner = owner_of(&http, &views, &telegram_lease).await.expect("a process holds the poller");
    hubs[owner].kill_9();
    let killed = Instant::now();
    bot.push_update("message", json!({"message_id": 1, "date": 1_700_000_000, "text": "Anyone there?",
        "chat": {"id": 4242, "type": "private", "first_name": "Tom"}, "from": {"id": 4242, "is_bot": false, "first_name": "Tom"}}));
    let survivor = hubs.iter().enumerate().find(|(i, _)| *i != owner).map(|(_, h)| h.base.clone()).expect("a survivor");
    let mut taken_over = None;
    while killed.elapsed() < Duration::from_secs(30) {
        if inbound_texts(&http, &survivor, &admin).await.iter().any(|t| t == "Anyone there?") {
            taken_over = Some(killed.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let taken_over = taken_over.expect("the update arrived after the owner died");
    assert!(taken_over <= Duration::from_secs(15), "taken over within the bound: {taken_over:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let texts = inbound_texts(&http, &survivor, &admin).await;
    assert_eq!(texts.iter().filter(|t| *t == "Anyone there?").count(), 1, "the update arrives once");
    hubs.remove(owner);

    // Under webhook load, another process is killed: every accepted message is still delivered.
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = CancellationToken::new();
    let bases: Vec<String> = hubs.iter().map(|h| h.base.clone()).collect();
    let sender = tokio::spawn({
        let (accepted, stop, tokens) = (accepted.clone(), stop.clone(), tokens.clone());
        async move {
            let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().expect("client");
            let mut n = 100u64;
            while !stop.is_cancelled() {
                n += 1;
                let base = &bases[n as usize % bases.len()];
                let token = &tokens[n as usize % tokens.len()];
                let sent = http.post(format!("{base}/widget/v1/messages")).bearer_auth(token).json(&json!({"text": format!("load {n}"), "external_id": format!("l-{n}")})).send().await;
                match sent {
                    Ok(r) if r.status() == StatusCode::CREATED => {
                        let body: Value = r.json().await.unwrap_or(Value::Null);
                        if let Some(id) = body["id"].as_str() {
                            accepted.lock().expect("lock").push(id.to_owned());
                        }
                    }
                    _ => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    });
    // Killed once the load flows, and stopped once it flowed on after the kill — conditions, not
    // durations, so a loaded machine waits longer instead of failing.
    let started = Instant::now();
    while accepted.lock().expect("lock").len() < 25 {
        assert!(started.elapsed() < Duration::from_secs(60), "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hubs[0].kill_9();
    let at_kill = accepted.lock().expect("lock").len();
    while accepted.lock().expect("lock").len() < at_kill + 10 {
        assert!(started.elapsed() < Duration::from_secs(120), "the load stopped with the killed process");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    sender.await.expect("sender");
    let accepted: HashSet<String> = accepted.lock().expect("lock").iter().cloned().collect();
    assert!(accepted.len() > 20, "the load was flowing ({} accepted)", accepted.len());
    receiver
        .wait_until(Duration::from_secs(60), |r| {
            let delivered: HashSet<String> = r.iter().filter_map(|x| x.json()["data"]["id"].as_str().map(str::to_owned)).collect();
            accepted.is_subset(&delivered)
        })
        .await;
    drop(hubs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_one_sqlite_file_is_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let out = tokio::task::spawn_blocking({
        let url = app.config.database_url.clone();
        let key = app.config.master_key.clone().unwrap_or_default();
        let dir = app.dir.path().to_owned();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_omnibridge"))
                .arg("serve")
                .env("OMNIBRIDGE_LISTEN", format!("127.0.0.1:{}", free_port()))
                .env("OMNIBRIDGE_DATABASE_URL", url)
                .env("OMNIBRIDGE_MASTER_KEY", key)
                .env("OMNIBRIDGE_LOG__LEVEL", "warn")
                .current_dir(dir)
                .output()
                .expect("run omnibridge serve")
        }
    })
    .await
    .expect("join");
    assert!(!out.status.success(), "the second process stops");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("SQLite serves one process") && stderr.contains("PostgreSQL"), "{stderr}");
    // The first one serves on.
    let ready = app.http.get(format!("{}/readyz", app.base)).send().await.expect("readyz");
    assert_eq!(ready.status(), StatusCode::OK);
    let ready: Value = ready.json().await.expect("json");
    assert!(ready["node_id"].is_string());
}

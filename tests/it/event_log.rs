//! The event log: every consumer reads it by position, so a listener that stalls or dies misses
//! nothing. Automatic work (assignment, away messages) catches up after a burst and after a
//! kill -9; an operator's websocket that stops reading, or is cut, resumes with `?after=` and
//! gets every event once, in order — the same sequence `GET /v1/events` pages through; a
//! position older than the log's retention is told to re-sync.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::backend_tests;
use crate::helpers::{Backend, ChildHub, Socket, TestApp, free_port, next_frame, websocket, websocket_status};

backend_tests!(
    a_stalled_socket_and_a_burst_of_two_thousand_messages_lose_nothing,
    a_position_older_than_retention_is_told_to_resync,
    after_a_kill_9_automatic_work_continues_where_it_stopped,
    a_widget_that_reconnects_with_after_gets_the_replies_it_missed,
);

const VISITORS: usize = 200;
const PER_VISITOR: usize = 10;

/// A tenant with two operators online and a channel that is closed all week (its away message
/// goes out once per conversation).
async fn closed_shop(app: &TestApp, base: &str) -> (String, String, Vec<String>) {
    let http = reqwest::Client::new();
    let (_, admin) = app.create_tenant("Night Shop");
    let call = |method: reqwest::Method, path: String, body: Value| {
        let http = http.clone();
        let admin = admin.clone();
        let base = base.to_owned();
        async move {
            let r = http.request(method, format!("{base}{path}")).bearer_auth(&admin).json(&body).send().await.expect("request");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let mut operators = Vec::new();
    for name in ["Ann", "Bob"] {
        let (status, op) = call(reqwest::Method::POST, "/v1/operators".into(), json!({"name": name, "role": "agent"})).await;
        assert_eq!(status, StatusCode::CREATED, "{op}");
        let id = op["id"].as_str().expect("id").to_owned();
        let (status, _) = call(reqwest::Method::PATCH, format!("/v1/operators/{id}"), json!({"availability": "online", "capacity": 1000})).await;
        assert_eq!(status, StatusCode::OK);
        operators.push(id);
    }
    let (status, channel) = call(reqwest::Method::POST, "/v1/channels".into(), json!({"kind": "webchat", "name": "Website"})).await;
    assert_eq!(status, StatusCode::CREATED, "{channel}");
    let channel = channel["id"].as_str().expect("id").to_owned();
    let hours = json!({"time_zone": "UTC", "weekly": {}, "holidays": [], "away_message": "We are closed; we answer tomorrow."});
    let (status, _) = call(reqwest::Method::PUT, format!("/v1/channels/{channel}/business-hours"), hours).await;
    assert_eq!(status, StatusCode::OK);
    (admin, channel, operators)
}

async fn visitors(base: &str, channel: &str, n: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..n {
        let r = http.post(format!("{base}/widget/v1/channels/{channel}/sessions")).json(&json!({"name": format!("Visitor {i}")})).send().await.expect("session");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        tokens.push(body["visitor_token"].as_str().expect("token").to_owned());
    }
    tokens
}

/// Each visitor sends `per_visitor` messages (tagged `round`), 16 requests at a time; returns
/// the ids accepted.
async fn burst(base: &str, tokens: &[String], per_visitor: usize, round: usize) -> Vec<String> {
    let http = reqwest::Client::new();
    let jobs: Vec<(String, usize)> = (0..per_visitor).flat_map(|i| tokens.iter().map(move |t| (t.clone(), i))).collect();
    let accepted: Vec<Option<String>> = futures_util::stream::iter(jobs)
        .map(|(token, i)| {
            let http = http.clone();
            let base = base.to_owned();
            async move {
                let r = http
                    .post(format!("{base}/widget/v1/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"text": format!("message {round}.{i}"), "external_id": format!("m-{round}-{i}")}))
                    .send()
                    .await
                    .ok()?;
                if r.status() != StatusCode::CREATED {
                    return None;
                }
                let body: Value = r.json().await.ok()?;
                body["id"].as_str().map(str::to_owned)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    accepted.into_iter().flatten().collect()
}

/// Reads event frames until none comes for `quiet`; returns them.
async fn drain(socket: &mut Socket, quiet: Duration, most: usize) -> Vec<Value> {
    let mut frames = Vec::new();
    while frames.len() < most {
        let Ok(Some(Ok(frame))) = tokio::time::timeout(quiet, socket.next()).await else { break };
        if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
            frames.push(serde_json::from_str::<Value>(&text).expect("a frame is JSON"));
        }
    }
    frames
}

/// The tenant's whole event log through `GET /v1/events`, page by page.
async fn all_events(app_base: &str, key: &str, after: i64) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut after = after;
    let mut events = Vec::new();
    loop {
        let r = http.get(format!("{app_base}/v1/events?after={after}&limit=500")).bearer_auth(key).send().await.expect("events");
        assert_eq!(r.status(), StatusCode::OK);
        let page: Value = r.json().await.expect("json");
        let data = page["data"].as_array().expect("data").clone();
        events.extend(data);
        let next = page["next_after"].as_i64().expect("next_after");
        assert!(next >= after, "positions never go back");
        after = next;
        if page["has_more"] != true {
            return events;
        }
    }
}

fn seqs(frames: &[Value]) -> Vec<i64> {
    frames.iter().map(|f| f["seq"].as_i64().expect("every frame carries seq")).collect()
}

async fn count(db: &omnibridge::store::Db, sql: &str) -> i64 {
    match db {
        omnibridge::store::Db::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(p).await,
        omnibridge::store::Db::Pg(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(p).await,
    }
    .expect("count")
}

/// Waits until `sql` counts `want`.
async fn until_count(db: &omnibridge::store::Db, sql: &str, want: i64) {
    let started = std::time::Instant::now();
    loop {
        let n = count(db, sql).await;
        if n == want {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{sql}: {n}, want {want}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const UNASSIGNED: &str = "SELECT COUNT(*) FROM conversations WHERE assignee_id IS NULL";
const AWAY_NOTICES: &str = "SELECT COUNT(*) FROM messages WHERE author_type = 'system' AND direction = 'out'";
const CONVERSATIONS_TOLD_TWICE: &str =
    "SELECT COUNT(*) FROM (SELECT conversation_id FROM messages WHERE author_type = 'system' AND direction = 'out' GROUP BY conversation_id HAVING COUNT(*) > 1) AS twice";

async fn a_stalled_socket_and_a_burst_of_two_thousand_messages_lose_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (admin, channel, operators) = closed_shop(&app, &app.base).await;
    let tokens = visitors(&app.base, &channel, VISITORS).await;
    let start = all_events(&app.base, &admin, 0).await.last().and_then(|e| e["seq"].as_i64()).unwrap_or(0);

    // An operator's socket that stops reading while the burst arrives.
    let mut stalled = websocket(&format!("{}/v1/realtime?token={admin}", app.ws_base)).await;
    let accepted = burst(&app.base, &tokens, PER_VISITOR, 0).await;
    assert_eq!(accepted.len(), VISITORS * PER_VISITOR, "every message was accepted");

    // The automatic work caught up: every conversation assigned, every away message sent once.
    let db = app.db().await;
    assert_eq!(count(&db, "SELECT COUNT(*) FROM conversations").await, VISITORS as i64);
    until_count(&db, UNASSIGNED, 0).await;
    until_count(&db, AWAY_NOTICES, VISITORS as i64).await;
    assert_eq!(count(&db, CONVERSATIONS_TOLD_TWICE).await, 0, "no conversation is told twice");
    let (_, list) = app.get("/v1/conversations?limit=100", &admin).await;
    for conversation in list["data"].as_array().expect("data") {
        assert!(operators.iter().any(|o| conversation["assignee_id"] == o.as_str()), "{conversation}");
    }

    // The stalled socket reads again: a part of what happened, then it is cut mid-stream.
    let first = drain(&mut stalled, Duration::from_secs(5), 500).await;
    assert_eq!(first.len(), 500, "the stalled socket still has its events");
    drop(stalled);
    let last = *seqs(&first).last().expect("frames");
    let mut resumed = websocket(&format!("{}/v1/realtime?token={admin}&after={last}", app.ws_base)).await;
    let rest = drain(&mut resumed, Duration::from_secs(3), usize::MAX).await;

    // Together: every event of the log after the socket opened, in order, none twice — the
    // same sequence GET /v1/events pages through.
    let got: Vec<i64> = seqs(&first).into_iter().chain(seqs(&rest)).collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, none twice");
    let log: Vec<i64> = seqs(&all_events(&app.base, &admin, start).await);
    assert_eq!(got, log, "the socket saw exactly the log");
    let received = got.len();
    let messages = first.iter().chain(&rest).filter(|f| f["type"] == "message.received").count();
    assert_eq!(messages, VISITORS * PER_VISITOR, "{received} events");
    let per_type: HashMap<String, usize> = first.iter().chain(&rest).fold(HashMap::new(), |mut m, f| {
        *m.entry(f["type"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        m
    });
    assert!(per_type.get("conversation.updated").is_some_and(|n| *n >= VISITORS), "assignments were seen live: {per_type:?}");

    // Filtering by type and small pages give the same events.
    let http = reqwest::Client::new();
    let page: Value = http
        .get(format!("{}/v1/events?after={start}&limit=3&types=message.received", app.base))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("events")
        .json()
        .await
        .expect("json");
    let data = page["data"].as_array().expect("data");
    assert_eq!(data.len(), 3, "{page}");
    assert!(data.iter().all(|e| e["type"] == "message.received" && e["data"]["text"].is_string() && e["id"].is_string()), "{page}");
    assert_eq!(page["has_more"], true);

    // Bad positions and filters name the parameter.
    for (query, field) in [("after=-1", "after"), ("after=x", "after"), ("limit=0", "limit"), ("limit=5000", "limit"), ("types=message.nope", "types")] {
        let r = http.get(format!("{}/v1/events?{query}", app.base)).bearer_auth(&admin).send().await.expect("events");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        let problem: Value = r.json().await.expect("json");
        assert_eq!(problem["field"], field, "{problem}");
    }
    // Another tenant sees none of it.
    let (_, other) = app.create_tenant("Elsewhere");
    assert!(all_events(&app.base, &other, 0).await.iter().all(|e| e["type"] != "message.received"));
    let status = websocket_status(&format!("{}/v1/realtime?token={admin}&after=99999999", app.ws_base), None).await;
    assert_eq!(status, 422, "a position past the end of the log is refused");
}

async fn a_position_older_than_retention_is_told_to_resync(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |c| c.events.retention_days = 7).await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (token, _) = app.visitor(&channel, json!({"name": "Early Bird"})).await;
    for text in ["one", "two", "three"] {
        app.visitor_says(&token, json!({"text": text})).await;
    }
    let before = all_events(&app.base, &admin, 0).await;
    assert!(before.len() >= 5, "{before:?}");
    let first = before[0]["seq"].as_i64().expect("seq");

    // Everything so far is older than the retention period; the hub purges at start.
    let db = app.db().await;
    let age = 8_i64 * 86_400 * 1_000_000;
    match &db {
        omnibridge::store::Db::Sqlite(p) => sqlx::query("UPDATE outbox SET created_at = created_at - $1").bind(age).execute(p).await.map(|_| ()),
        omnibridge::store::Db::Pg(p) => sqlx::query("UPDATE outbox SET created_at = created_at - $1").bind(age).execute(p).await.map(|_| ()),
    }
    .expect("age events");
    app.restart().await;
    until_count(&db, "SELECT COUNT(*) FROM outbox", 0).await;
    app.visitor_says(&token, json!({"text": "after the purge"})).await;

    let http = reqwest::Client::new();
    let r = http.get(format!("{}/v1/events?after={first}", app.base)).bearer_auth(&admin).send().await.expect("events");
    assert_eq!(r.status(), StatusCode::GONE);
    let problem: Value = r.json().await.expect("json");
    assert_eq!((problem["type"].as_str().map(|t| t.ends_with("cursor_expired")), problem["field"].as_str()), (Some(true), Some("after")), "{problem}");
    assert!(problem["purged_through"].as_i64().is_some_and(|p| p > first), "{problem}");
    let status = websocket_status(&format!("{}/v1/realtime?token={admin}&after={first}", app.ws_base), None).await;
    assert_eq!(status, 410, "a socket asking for purged events is told to re-sync");

    // From the oldest kept (after=0) the log goes on.
    let kept = all_events(&app.base, &admin, 0).await;
    assert!(kept.iter().any(|e| e["type"] == "message.received" && e["data"]["text"] == "after the purge"), "{kept:?}");
    assert!(kept.iter().all(|e| e["seq"].as_i64().is_some_and(|s| s > first)));
    assert!(kept.iter().all(|e| e.get("text_ref").is_none()), "events read back are whole: {kept:?}");
}

async fn after_a_kill_9_automatic_work_continues_where_it_stopped(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    app.stop_server().await;
    let port = free_port();
    let mut hub = ChildHub::start(&app, port).await;
    let (admin, channel, _) = closed_shop(&app, &hub.base).await;
    let tokens = visitors(&hub.base, &channel, 60).await;

    // Visitors write on; the hub is killed in the middle of it.
    let accepted = Arc::new(Mutex::new(HashSet::new()));
    let stop = CancellationToken::new();
    let writer = {
        let (accepted, stop, base) = (accepted.clone(), stop.clone(), hub.base.clone());
        let tokens = tokens.clone();
        tokio::spawn(async move {
            let mut round = 0;
            while !stop.is_cancelled() {
                round += 1;
                for id in burst(&base, &tokens, 1, round).await {
                    accepted.lock().expect("lock").insert(id);
                }
                if round > 200 {
                    break;
                }
            }
        })
    };
    let started = std::time::Instant::now();
    while accepted.lock().expect("lock").len() < 150 {
        assert!(started.elapsed() < Duration::from_secs(60), "the load never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.kill_9();
    stop.cancel();
    writer.await.expect("writer");
    let hub = ChildHub::start(&app, port).await;

    // After the restart: every conversation assigned once, every away message sent once.
    let db = app.db().await;
    let conversations = count(&db, "SELECT COUNT(*) FROM conversations").await;
    assert!(conversations > 0);
    until_count(&db, UNASSIGNED, 0).await;
    until_count(&db, AWAY_NOTICES, conversations).await;
    assert_eq!(count(&db, CONVERSATIONS_TOLD_TWICE).await, 0, "nothing done twice");
    let assignments: Vec<Value> = all_events(&hub.base, &admin, 0)
        .await
        .into_iter()
        .filter(|e| e["type"] == "conversation.updated" && e["data"]["assignee_id"].is_string())
        .collect();
    let mut per_conversation: HashMap<String, HashSet<String>> = HashMap::new();
    for e in &assignments {
        per_conversation
            .entry(e["data"]["id"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .insert(e["data"]["assignee_id"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(per_conversation.len() as i64, conversations, "every conversation was assigned");
    assert!(per_conversation.values().all(|a| a.len() == 1), "none was assigned twice: {per_conversation:?}");
    let stored = count(&db, "SELECT COUNT(*) FROM messages WHERE direction = 'in'").await;
    assert!(stored >= accepted.lock().expect("lock").len() as i64, "every accepted message is stored");
}

async fn a_widget_that_reconnects_with_after_gets_the_replies_it_missed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = app.create_tenant("Acme");
    let channel = app.webchat_channel(&admin).await;
    let (token, first) = app.visitor_wrote(&channel, "Ana", "Where is my order?").await;
    let conversation = first["conversation_id"].as_str().expect("conversation").to_owned();
    assert!(first["seq"].as_i64().is_some_and(|s| s > 0), "{first}");
    let reply = |text: &'static str| {
        let (app, admin, conversation) = (&app, &admin, &conversation);
        async move {
            let (status, body) = app.post(&format!("/v1/conversations/{conversation}/messages"), admin, json!({"text": text})).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
    };
    let widget_url = format!("{}/widget/v1/ws?token={token}", app.ws_base);
    let mut widget = websocket(&widget_url).await;
    reply("It ships tomorrow.").await;
    let live = next_frame(&mut widget, Duration::from_secs(5), |f| f["type"] == "message").await.expect("the reply, live");
    let seen = live["seq"].as_i64().expect("a message frame carries seq");
    assert_eq!(live["message"]["seq"], live["seq"]);

    // The widget's connection drops; two replies are sent meanwhile.
    drop(widget);
    reply("Tracking: 1Z999.").await;
    reply("Anything else?").await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut widget = websocket(&format!("{widget_url}&after={seen}")).await;
    let mut frames = Vec::new();
    while let Some(frame) = next_frame(&mut widget, Duration::from_secs(5), |f| f["type"] == "message" || f["type"] == "replayed").await {
        let done = frame["type"] == "replayed";
        frames.push(frame);
        if done {
            break;
        }
    }
    let texts: Vec<&str> = frames.iter().filter_map(|f| f["message"]["text"].as_str()).collect();
    assert_eq!(texts, ["Tracking: 1Z999.", "Anything else?"], "the missed replies, in order, once: {frames:?}");
    let replayed: Vec<i64> = frames.iter().filter_map(|f| f["message"]["seq"].as_i64()).collect();
    assert!(replayed.windows(2).all(|w| w[0] < w[1]) && replayed[0] > seen);
    assert_eq!(frames.last().map(|f| f["seq"].clone()), Some(json!(replayed[1])), "the replay ends with its last seq");

    // Then it is live again.
    reply("Have a nice day.").await;
    let live = next_frame(&mut widget, Duration::from_secs(5), |f| f["type"] == "message").await.expect("live again");
    assert_eq!(live["message"]["text"], "Have a nice day.");
    let status = websocket_status(&format!("{widget_url}&after=soon"), None).await;
    assert_eq!(status, 422, "a bad position is refused before the upgrade");
}

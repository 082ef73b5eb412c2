//! Webhook delivery benchmark against a running hub, with its own receiver on 127.0.0.1.
//!
//! 1. Throughput: with the endpoint disabled, `--backlog` web chat messages are ingested (their
//!    deliveries are recorded, not sent); then the endpoint is enabled and the backlog recovered
//!    in one call. Deliveries per second = backlog / time until the receiver has them all: the
//!    whole path claim → sign → egress record → POST → record attempt.
//! 2. Latency: messages at a fixed `--rate` for `--duration-secs`; for each, the time from the
//!    widget POST to the webhook's arrival at the receiver (p50/p90/p99/max), and — with
//!    `--operators N` operator websockets open on `/v1/realtime` — to its `message.received`
//!    frame on every one of them.
//! 3. End to end: `--concurrency` visitors post back to back for `--e2e-secs` with the endpoint
//!    live, so ingest and delivery run at once; sustained messages/s = messages accepted / time
//!    until the receiver has the last of them.
//!
//! The hub must allow the receiver's address: OMNIBRIDGE_WEBHOOKS__ALLOW_PRIVATE_CIDRS=127.0.0.1
//! (`benches/webhooks.sh` starts it so).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "Measure webhook deliveries per second and inbound-to-delivery latency of a running hub")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// An admin API key of a tenant.
    #[arg(long)]
    api_key: String,
    /// Messages queued before the throughput run.
    #[arg(long, default_value_t = 20_000)]
    backlog: usize,
    /// Messages per second during the latency run.
    #[arg(long, default_value_t = 200)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Concurrent senders while building the backlog.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Operator websockets open during the latency run.
    #[arg(long, default_value_t = 50)]
    operators: usize,
    /// Seconds of the end-to-end run (0: skip it).
    #[arg(long, default_value_t = 10)]
    e2e_secs: u64,
    #[arg(long, default_value = "")]
    label: String,
}

/// Arrivals of `message.received` frames on operator sockets: (text key, when).
type SocketArrivals = Arc<Mutex<Vec<(String, Instant)>>>;

/// Opens an operator's realtime socket that records every `message.received` frame's arrival.
async fn operator_socket(ws_url: String, arrivals: SocketArrivals) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use futures_util::StreamExt;
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                let now = Instant::now();
                if let Ok(v) = serde_json::from_str::<Value>(&text)
                    && v["type"] == "message.received"
                    && let Some(text) = v["data"]["text"].as_str()
                {
                    let key = text.split(' ').next().unwrap_or_default().to_owned();
                    arrivals.lock().expect("lock").push((key, now));
                }
            }
        }
    }))
}

/// What the receiver saw: arrival time per message text, and how many requests in all.
#[derive(Default)]
struct Seen {
    arrivals: Mutex<HashMap<String, Instant>>,
    requests: std::sync::atomic::AtomicU64,
}

async fn receive(State(seen): State<Arc<Seen>>, body: Bytes) -> &'static str {
    let now = Instant::now();
    seen.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if let Ok(v) = serde_json::from_slice::<Value>(&body)
        && let Some(text) = v["data"]["text"].as_str()
    {
        let key = text.split(' ').next().unwrap_or_default().to_owned();
        seen.arrivals.lock().expect("lock").entry(key).or_insert(now);
    }
    "ok"
}

struct Hub {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Hub {
    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.key).json(&body).send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }
}

async fn say(http: &reqwest::Client, base: &str, token: &str, text: String) -> bool {
    let sent = http.post(format!("{base}/widget/v1/messages")).bearer_auth(token).json(&json!({"text": text})).send().await;
    matches!(sent, Ok(r) if r.status() == reqwest::StatusCode::CREATED)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new().fallback(receive).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency.max(64)).build()?;
    // Several comma-separated base URLs: hub processes on one database; visitors spread over them.
    let bases: Vec<String> = args.base_url.split(',').map(|b| b.trim().trim_end_matches('/').to_owned()).filter(|b| !b.is_empty()).collect();
    let hub = Hub { http: http.clone(), base: bases[0].clone(), key: args.api_key.clone() };
    let channel = hub.call(reqwest::Method::POST, "/v1/channels", json!({"kind": "webchat", "name": "webhook-bench"})).await?;
    let channel_id = channel["id"].as_str().context("channel id")?.to_owned();
    let endpoint = hub
        .call(
            reqwest::Method::POST,
            "/v1/webhooks/endpoints",
            json!({"url": receiver_url, "event_types": ["message.received"], "disabled": true, "country": "DE"}),
        )
        .await?;
    let endpoint_id = endpoint["id"].as_str().context("endpoint id")?.to_owned();
    let mut tokens = Vec::new();
    for i in 0..args.concurrency {
        let session = hub.call(reqwest::Method::POST, &format!("/widget/v1/channels/{channel_id}/sessions"), json!({"name": format!("V{i}")})).await?;
        tokens.push(session["visitor_token"].as_str().context("token")?.to_owned());
    }
    let filler = "x".repeat(200);

    // 1. Throughput: build a backlog while the endpoint is disabled, then recover it at once.
    let since = time_now_rfc3339();
    let per_worker = args.backlog.div_ceil(args.concurrency);
    let mut workers = Vec::new();
    for (w, token) in tokens.iter().cloned().enumerate() {
        let (http, base, filler) = (http.clone(), bases[w % bases.len()].clone(), filler.clone());
        workers.push(tokio::spawn(async move {
            let mut ok = 0usize;
            for i in 0..per_worker {
                ok += usize::from(say(&http, &base, &token, format!("b{w}-{i} {filler}")).await);
            }
            ok
        }));
    }
    let mut backlog = 0;
    for worker in workers {
        backlog += worker.await?;
    }
    // Every backlog event fanned out (the gauge is sampled every 5 s) before the clock starts.
    let backlog_done = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let metrics = http.get(format!("{}/metrics", bases[0])).send().await?.text().await?;
        let pending = metrics
            .lines()
            .find(|l| (l.starts_with("omnibridge_event_consumer_lag{") && l.contains("consumer=\"webhooks\"")) || l.starts_with("omnibridge_webhook_undispatched_events"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.trim().parse::<f64>().ok());
        if pending == Some(0.0) && backlog_done.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    hub.call(reqwest::Method::PATCH, &format!("/v1/webhooks/endpoints/{endpoint_id}"), json!({"disabled": false})).await?;
    let started = Instant::now();
    let recovered = hub.call(reqwest::Method::POST, &format!("/v1/webhooks/endpoints/{endpoint_id}/recover"), json!({"since": since})).await?;
    let requeued = recovered["requeued"].as_u64().unwrap_or_default() as usize;
    while seen.arrivals.lock().expect("lock").len() < requeued {
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the backlog was not delivered within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = started.elapsed().as_secs_f64();

    // 2. Latency at a fixed rate, with operators watching.
    let socket_arrivals: SocketArrivals = Arc::default();
    let mut sockets = Vec::new();
    for i in 0..args.operators {
        let base = &bases[i % bases.len()];
        // One key per operator, as operators have (a credential holds a bounded number of sockets).
        let created = hub.call(reqwest::Method::POST, "/v1/api-keys", json!({"name": format!("operator {i}"), "role": "agent"})).await?;
        let key = created["api_key"].as_str().context("api key")?;
        let ws = format!("{}/v1/realtime?token={key}", base.replacen("http", "ws", 1));
        sockets.push(operator_socket(ws, socket_arrivals.clone()).await?);
    }
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = args.rate * args.duration_secs;
    let mut tasks = Vec::new();
    for n in 0..total {
        tick.tick().await;
        let token = tokens[n as usize % tokens.len()].clone();
        let (http, base, sent_at, filler) = (http.clone(), bases[n as usize % bases.len()].clone(), sent_at.clone(), filler.clone());
        tasks.push(tokio::spawn(async move {
            let key = format!("l{n}");
            sent_at.lock().expect("lock").insert(key.clone(), Instant::now());
            say(&http, &base, &token, format!("{key} {filler}")).await
        }));
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += usize::from(task.await?);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    loop {
        let finished = {
            let arrivals = seen.arrivals.lock().expect("lock");
            let sent = sent_at.lock().expect("lock");
            let delivered = sent.keys().filter(|k| arrivals.contains_key(*k)).count();
            if delivered >= accepted || Instant::now() > deadline {
                for (key, at) in sent.iter() {
                    if let Some(arrived) = arrivals.get(key) {
                        histogram.record(arrived.saturating_duration_since(*at).as_micros().max(1) as u64)?;
                    }
                }
                true
            } else {
                false
            }
        };
        if finished {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    // Every operator socket's frame of every message sent in the latency run.
    let wanted = accepted * args.operators;
    let deadline = Instant::now() + Duration::from_secs(30);
    while socket_arrivals.lock().expect("lock").len() < wanted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut to_sockets = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    {
        let sent = sent_at.lock().expect("lock");
        for (key, arrived) in socket_arrivals.lock().expect("lock").iter() {
            if let Some(at) = sent.get(key) {
                to_sockets.record(arrived.saturating_duration_since(*at).as_micros().max(1) as u64)?;
            }
        }
    }
    for socket in sockets {
        socket.abort();
    }
    let socket_ms = |q: f64| to_sockets.value_at_quantile(q) as f64 / 1000.0;

    // 3. End to end: ingest and delivery at once.
    let mut e2e = Value::Null;
    if args.e2e_secs > 0 {
        let before = seen.arrivals.lock().expect("lock").len();
        let started = Instant::now();
        let until = started + Duration::from_secs(args.e2e_secs);
        let mut workers = Vec::new();
        for (w, token) in tokens.iter().cloned().enumerate() {
            let (http, base, filler) = (http.clone(), bases[w % bases.len()].clone(), filler.clone());
            workers.push(tokio::spawn(async move {
                let mut ok = 0usize;
                let mut i = 0;
                while Instant::now() < until {
                    i += 1;
                    ok += usize::from(say(&http, &base, &token, format!("e{w}-{i} {filler}")).await);
                }
                ok
            }));
        }
        let mut sent = 0;
        for worker in workers {
            sent += worker.await?;
        }
        let ingest_secs = started.elapsed().as_secs_f64();
        let deadline = Instant::now() + Duration::from_secs(300);
        while seen.arrivals.lock().expect("lock").len() < before + sent && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let all_secs = started.elapsed().as_secs_f64();
        let delivered = seen.arrivals.lock().expect("lock").len() - before;
        e2e = json!({
            "seconds": args.e2e_secs, "accepted": sent, "delivered": delivered,
            "ingest_per_second": (sent as f64 / ingest_secs).round(),
            "sustained_per_second": (delivered as f64 / all_secs).round(),
            "drain_after_ingest_seconds": ((all_secs - ingest_secs) * 100.0).round() / 100.0,
        });
    }
    println!(
        "{}",
        json!({
            "label": args.label,
            "processes": bases.len(),
            "throughput": {"backlog": backlog, "requeued": requeued, "seconds": drain, "deliveries_per_second": (requeued as f64 / drain).round()},
            "latency": {
                "rate_per_second": args.rate, "sent": total, "accepted": accepted, "delivered": histogram.len(),
                "inbound_to_delivery_ms": {"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": histogram.max() as f64 / 1000.0},
                "operator_sockets": args.operators, "socket_frames": to_sockets.len(),
                "inbound_to_operator_socket_ms": {"p50": socket_ms(0.5), "p90": socket_ms(0.9), "p99": socket_ms(0.99), "max": to_sockets.max() as f64 / 1000.0},
            },
            "end_to_end": e2e,
            "receiver_requests": seen.requests.load(std::sync::atomic::Ordering::Relaxed),
        })
    );
    Ok(())
}

fn time_now_rfc3339() -> String {
    // One second of slack for clock rounding at the window's start.
    let start = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    start.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

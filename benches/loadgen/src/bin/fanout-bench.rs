//! Fan-out at scale against a running hub: `--visitors` web chat visitors each hold a widget
//! websocket, `--operators` operators hold `/v1/realtime`; visitors write at `--rate` messages/s
//! for `--duration-secs`, and every `--reply-every`-th message gets an operator reply.
//!
//! Reports: inbound → every operator socket (p50/p99 over all frames), operator reply → the
//! visitor's widget socket (p50/p99), and with `--server-pid` the hub's resident memory while
//! every socket is open. The process needs a file-descriptor limit above `--visitors`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "Measure realtime fan-out to many widget and operator websockets of a running hub")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// An admin API key of a tenant.
    #[arg(long)]
    api_key: String,
    #[arg(long, default_value_t = 10_000)]
    visitors: usize,
    #[arg(long, default_value_t = 50)]
    operators: usize,
    /// Visitor messages per second.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Every n-th visitor message is answered by an operator.
    #[arg(long, default_value_t = 10)]
    reply_every: u64,
    /// The hub's process id, to read its memory while the sockets are open.
    #[arg(long)]
    server_pid: Option<u32>,
    #[arg(long, default_value = "")]
    label: String,
}

type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

fn rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// A websocket that records the arrival of every frame `key_of` recognises.
async fn listen(url: String, arrivals: Arrivals, key_of: fn(&Value) -> Option<String>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            if let tokio_tungstenite::tungstenite::Message::Text(text) = frame {
                let now = Instant::now();
                if let Ok(v) = serde_json::from_str::<Value>(&text)
                    && let Some(key) = key_of(&v)
                {
                    arrivals.lock().expect("lock").push((key, now));
                }
            }
        }
    }))
}

fn first_word(text: Option<&str>) -> Option<String> {
    text.map(|t| t.split(' ').next().unwrap_or_default().to_owned())
}

fn operator_key(v: &Value) -> Option<String> {
    (v["type"] == "message.received").then(|| first_word(v["data"]["text"].as_str())).flatten()
}

fn visitor_key(v: &Value) -> Option<String> {
    (v["type"] == "message" && v["message"]["direction"] == "out").then(|| first_word(v["message"]["text"].as_str())).flatten()
}

fn histogram(sent: &HashMap<String, Instant>, arrivals: &[(String, Instant)]) -> anyhow::Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    for (key, at) in arrivals {
        if let Some(sent) = sent.get(key) {
            h.record(at.saturating_duration_since(*sent).as_micros().max(1) as u64)?;
        }
    }
    Ok(h)
}

fn summary(h: &Histogram<u64>) -> Value {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    json!({"frames": h.len(), "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "max_ms": h.max() as f64 / 1000.0})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.base_url.trim_end_matches('/').to_owned();
    let ws_base = base.replacen("http", "ws", 1);
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let admin = |method: reqwest::Method, path: String, body: Value| {
        let (http, base, key) = (http.clone(), base.clone(), args.api_key.clone());
        async move {
            let r = http.request(method, format!("{base}{path}")).bearer_auth(key).json(&body).send().await?;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if !status.is_success() {
                bail!("{path}: {status} {body}");
            }
            anyhow::Ok(body)
        }
    };
    let channel = admin(reqwest::Method::POST, "/v1/channels".into(), json!({"kind": "webchat", "name": "fanout-bench"})).await?;
    let channel_id = channel["id"].as_str().context("channel id")?.to_owned();

    // Visitors and their widget sockets.
    let opened = Instant::now();
    let tokens: Vec<String> = futures_util::stream::iter(0..args.visitors)
        .map(|i| {
            let (http, base, channel_id) = (http.clone(), base.clone(), channel_id.clone());
            async move {
                let r = http.post(format!("{base}/widget/v1/channels/{channel_id}/sessions")).json(&json!({"name": format!("V{i}")})).send().await?;
                let body: Value = r.json().await?;
                body["visitor_token"].as_str().map(str::to_owned).context("visitor token")
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<anyhow::Result<String>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let to_visitors: Arrivals = Arc::default();
    let widgets: Vec<tokio::task::JoinHandle<()>> = futures_util::stream::iter(tokens.iter().cloned())
        .map(|token| listen(format!("{ws_base}/widget/v1/ws?token={token}"), to_visitors.clone(), visitor_key))
        .buffer_unordered(128)
        .collect::<Vec<anyhow::Result<_>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let to_operators: Arrivals = Arc::default();
    let mut operators = Vec::new();
    for i in 0..args.operators {
        // One key per operator, as operators have (a credential holds a bounded number of sockets).
        let created = admin(reqwest::Method::POST, "/v1/api-keys".into(), json!({"name": format!("operator {i}"), "role": "agent"})).await?;
        let key = created["api_key"].as_str().context("api key")?.to_owned();
        operators.push(listen(format!("{ws_base}/v1/realtime?token={key}"), to_operators.clone(), operator_key).await?);
    }
    let setup_secs = opened.elapsed().as_secs_f64();
    let rss_idle = args.server_pid.and_then(rss_mb);

    // Messages at a fixed rate; every n-th is answered.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let replied_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = args.rate * args.duration_secs;
    let mut tasks = Vec::new();
    for n in 0..total {
        tick.tick().await;
        let token = tokens[(n as usize * 7919) % tokens.len()].clone();
        let (http, base, key, sent_at, replied_at) = (http.clone(), base.clone(), args.api_key.clone(), sent_at.clone(), replied_at.clone());
        let reply = args.reply_every > 0 && n % args.reply_every == 0;
        tasks.push(tokio::spawn(async move {
            let tag = format!("m{n}");
            sent_at.lock().expect("lock").insert(tag.clone(), Instant::now());
            let Ok(r) = http.post(format!("{base}/widget/v1/messages")).bearer_auth(&token).json(&json!({"text": format!("{tag} hello")})).send().await else {
                return false;
            };
            if r.status() != reqwest::StatusCode::CREATED {
                return false;
            }
            if reply {
                let Ok(body) = r.json::<Value>().await else { return true };
                let Some(conversation) = body["conversation_id"].as_str() else { return true };
                let answer = format!("r{n}");
                replied_at.lock().expect("lock").insert(answer.clone(), Instant::now());
                let _ = http
                    .post(format!("{base}/v1/conversations/{conversation}/messages"))
                    .bearer_auth(&key)
                    .json(&json!({"text": format!("{answer} thanks")}))
                    .send()
                    .await;
            }
            true
        }));
    }
    let mut accepted = 0u64;
    for task in tasks {
        accepted += u64::from(task.await?);
    }
    let wanted = accepted as usize * args.operators;
    let deadline = Instant::now() + Duration::from_secs(60);
    while to_operators.lock().expect("lock").len() < wanted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_loaded = args.server_pid.and_then(rss_mb);
    let operators_h = histogram(&sent_at.lock().expect("lock"), &to_operators.lock().expect("lock"))?;
    let visitors_h = histogram(&replied_at.lock().expect("lock"), &to_visitors.lock().expect("lock"))?;
    println!(
        "{}",
        json!({
            "label": args.label,
            "widget_sockets": widgets.len(), "operator_sockets": operators.len(), "setup_seconds": (setup_secs * 10.0).round() / 10.0,
            "rate_per_second": args.rate, "sent": total, "accepted": accepted, "replies": replied_at.lock().expect("lock").len(),
            "inbound_to_operator_sockets": summary(&operators_h),
            "reply_to_visitor_socket": summary(&visitors_h),
            "hub_rss_mb": {"sockets_open": rss_idle, "after_load": rss_loaded},
        })
    );
    for task in widgets.into_iter().chain(operators) {
        task.abort();
    }
    Ok(())
}

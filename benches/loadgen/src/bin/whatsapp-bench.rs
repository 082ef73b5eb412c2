//! WhatsApp webhook intake benchmark against a running hub: signed notifications of
//! `--batch` messages each (serialised and signed as Meta does), posted at fixed rates, open
//! loop. For each rate: messages per second the hub answered for, answer time p50 / p99 / max,
//! and errors. A 200 means every message of the request is committed, so zero errors and the
//! hub's own ingested-message counter matching is zero loss. The highest rate with zero loss
//! and the answers keeping up is the sustained figure.
//!
//! The hub must let the channel's Graph base URL (this program's fake, on 127.0.0.1) through:
//! OMNIBRIDGE_OUTBOUND__ALLOW_PRIVATE_CIDRS=127.0.0.1 (`benches/whatsapp.sh` starts it so).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use omnibridge_meta_graph::testkit::{FakeGraph, meta_json};
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "Measure how many WhatsApp messages per second a running hub takes in through signed webhooks")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// An admin API key of a tenant.
    #[arg(long)]
    api_key: String,
    /// Messages per second to try, in order (comma-separated).
    #[arg(long, default_value = "1000,2000,3000,4000,5000,6000")]
    rates: String,
    /// Messages per webhook request.
    #[arg(long, default_value_t = 10)]
    batch: usize,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Distinct WhatsApp users writing.
    #[arg(long, default_value_t = 2000)]
    senders: usize,
    /// Requests in flight at most (an answer slower than this backs the generator up).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    #[arg(long, default_value = "")]
    label: String,
}

const SECRET: &str = "bench-app-secret";
const NUMBER: &str = "106540352242922";
const WABA: &str = "102290129340398";

async fn ingested(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let metrics = http.get(format!("{base}/metrics")).send().await?.text().await?;
    Ok(metrics
        .lines()
        .find(|l| l.starts_with("omnibridge_messages_ingested_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// One notification of `batch` text messages, numbered from `first`.
fn notification(first: u64, batch: usize, senders: usize, filler: &str) -> Vec<u8> {
    let messages: Vec<Value> = (0..batch as u64)
        .map(|i| {
            let n = first + i;
            let from = format!("4915{:08}", n % senders as u64);
            json!({"from": from, "id": format!("wamid.BENCH{n}"), "timestamp": "1749416383", "type": "text", "text": {"body": format!("m{n} {filler}")}})
        })
        .collect();
    let contacts: Vec<Value> = messages.iter().map(|m| json!({"profile": {"name": "Bench"}, "wa_id": m["from"]})).collect();
    meta_json(&json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550783881", "phone_number_id": NUMBER},
        "contacts": contacts, "messages": messages}}]}]}))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.base_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.max_in_flight).build()?;
    let graph = FakeGraph::start("bench-access-token-0000001", "v21.0").await;
    let settings = json!({"phone_number_id": NUMBER, "waba_id": WABA, "access_token": "bench-access-token-0000001", "app_secret": SECRET,
                          "verify_token": "bench-verify-token", "graph_base_url": graph.base_url()});
    let created = http
        .post(format!("{base}/v1/channels"))
        .bearer_auth(&args.api_key)
        .json(&json!({"kind": "whatsapp", "name": "whatsapp-bench", "settings": settings}))
        .send()
        .await?;
    if !created.status().is_success() {
        bail!("creating the channel: {} {}", created.status(), created.text().await?);
    }
    let channel: Value = created.json().await?;
    let hook = format!("{base}/hooks/whatsapp/{}", channel["id"].as_str().context("channel id")?);
    let filler = "x".repeat(100);
    let mut next: u64 = 0;
    for rate in args.rates.split(',').filter_map(|r| r.trim().parse::<u64>().ok()) {
        let before = ingested(&http, &base).await?;
        let requests = rate * args.duration_secs / args.batch as u64;
        let answers = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?));
        let errors = Arc::new(AtomicU64::new(0));
        let in_flight = Arc::new(tokio::sync::Semaphore::new(args.max_in_flight));
        let mut tick = tokio::time::interval(Duration::from_secs_f64(args.batch as f64 / rate as f64));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(requests as usize);
        for _ in 0..requests {
            tick.tick().await;
            let permit = in_flight.clone().acquire_owned().await?;
            let body = notification(next, args.batch, args.senders, &filler);
            next += args.batch as u64;
            let (http, hook, answers, errors) = (http.clone(), hook.clone(), answers.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                let signature = omnibridge_meta_graph::signature::sign(SECRET, &body);
                let sent = Instant::now();
                let answer = http.post(&hook).header("content-type", "application/json").header("x-hub-signature-256", signature).body(body).send().await;
                let took = sent.elapsed().as_micros() as u64;
                match answer {
                    Ok(r) if r.status().is_success() => {
                        let _ = answers.lock().expect("lock").record(took.max(1));
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
                drop(permit);
            }));
        }
        for task in tasks {
            task.await?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let stored = ingested(&http, &base).await? - before;
        let h = answers.lock().expect("lock").clone();
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let sent = requests * args.batch as u64;
        println!(
            "{}",
            json!({
                "label": args.label, "rate": rate, "messages": sent, "stored": stored, "errors": errors.load(Ordering::Relaxed),
                "msgs_per_s": (stored as f64 / elapsed).round(), "answer_p50_ms": ms(0.5), "answer_p99_ms": ms(0.99), "answer_max_ms": h.max() as f64 / 1000.0,
                "zero_loss": stored == sent && errors.load(Ordering::Relaxed) == 0,
            })
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

//! Load generator for omnibridge's web chat ingest path.
//!
//! Opens one visitor session per concurrent worker on a fresh web chat channel, then has every
//! worker post 1 KiB widget messages back to back for a fixed time. A `201` means the message and
//! its events are committed, so completed requests per second is committed messages per second.
//! Reports throughput and the latency distribution (p50/p90/p99/max).
//!
//! Usually run through `benches/ingest.sh`, which starts a hub on SQLite or PostgreSQL first.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

#[derive(Parser, Debug)]
#[command(about = "Measure widget-message ingest throughput and latency of a running hub")]
struct Args {
    /// Base URL of the hub; several, comma-separated, spread the visitors over as many hub
    /// processes (on one database).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// An admin API key of a tenant (to create the channel).
    #[arg(long)]
    api_key: String,
    /// Concurrent visitors, each with one request in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds of measured load.
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Seconds of unmeasured load first.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// Size of each message's text.
    #[arg(long, default_value_t = 1024)]
    message_bytes: usize,
    /// Label printed with the result (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    let bases: Vec<String> = args.base_url.split(',').map(|b| b.trim().trim_end_matches('/').to_owned()).filter(|b| !b.is_empty()).collect();
    let channel: Value = client
        .post(format!("{}/v1/channels", bases[0]))
        .bearer_auth(&args.api_key)
        .json(&json!({"kind": "webchat", "name": "loadgen"}))
        .send()
        .await?
        .error_for_status()
        .context("creating the channel")?
        .json()
        .await?;
    let channel_id = channel["id"].as_str().context("channel id")?.to_owned();

    let mut tokens = Vec::with_capacity(args.concurrency);
    for i in 0..args.concurrency {
        let session: Value = client
            .post(format!("{}/widget/v1/channels/{channel_id}/sessions", bases[i % bases.len()]))
            .json(&json!({"name": format!("Visitor {i}")}))
            .send()
            .await?
            .error_for_status()
            .context("opening a visitor session")?
            .json()
            .await?;
        tokens.push(session["visitor_token"].as_str().context("token")?.to_owned());
    }

    let text: String = "lorem ipsum dolor sit amet ".chars().cycle().take(args.message_bytes).collect();
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (client, url, text) = (client.clone(), format!("{}/widget/v1/messages", bases[i % bases.len()]), text.clone());
        let (measuring, stop, errors) = (measuring.clone(), stop.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let result = client.post(&url).bearer_auth(&token).json(&json!({"text": text})).send().await;
                let ok = matches!(&result, Ok(r) if r.status() == reqwest::StatusCode::CREATED);
                if let Ok(response) = result {
                    let _ = response.bytes().await;
                }
                if measuring.load(Ordering::Relaxed) {
                    if ok {
                        let _ = histogram.record(started.elapsed().as_micros() as u64);
                    } else {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            histogram
        }));
    }

    tokio::time::sleep(Duration::from_secs(args.warmup_secs)).await;
    measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.duration_secs)).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);

    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for worker in workers {
        total.add(worker.await?)?;
    }
    let committed = total.len();
    let errors = errors.load(Ordering::Relaxed);
    if committed == 0 {
        bail!("no message was committed ({errors} errors)");
    }
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    let result = json!({
        "label": args.label,
        "processes": bases.len(),
        "concurrency": args.concurrency,
        "message_bytes": args.message_bytes,
        "seconds": elapsed,
        "committed": committed,
        "errors": errors,
        "messages_per_second": (committed as f64 / elapsed).round(),
        "latency_ms": {"p50": ms(0.50), "p90": ms(0.90), "p99": ms(0.99), "max": total.max() as f64 / 1000.0},
    });
    println!("{result}");
    Ok(())
}

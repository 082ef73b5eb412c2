//! The rate limiter under a flood of distinct client keys: unauthenticated clients make up
//! bearer tokens, and every one draws from a bucket of its own before it is checked. Sends
//! `--flood-keys` requests, each with a new made-up key (`--concurrency` at a time), then measures
//! normal traffic with a real key: latency p50/p99/max of `GET /v1/conversations`, and the
//! buckets the hub holds (`omnibridge_rate_limit_buckets` in /metrics).
//!
//! Usually run through `benches/limiter.sh`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;

#[derive(Parser, Debug)]
#[command(about = "Flood a hub's rate limiter with distinct keys, then measure normal API latency")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    /// A real API key of a tenant.
    #[arg(long)]
    api_key: String,
    /// Distinct made-up keys sent first.
    #[arg(long, default_value_t = 300_000)]
    flood_keys: u64,
    #[arg(long, default_value_t = 64)]
    concurrency: u64,
    /// Requests with the real key measured afterwards (within the key's burst, so none is
    /// refused by its own limit).
    #[arg(long, default_value_t = 1_000)]
    requests: u64,
    #[arg(long, default_value = "")]
    label: String,
}

async fn buckets(http: &reqwest::Client, base: &str) -> anyhow::Result<f64> {
    let text = http.get(format!("{base}/metrics")).send().await?.text().await?;
    Ok(text
        .lines()
        .find(|l| l.starts_with("omnibridge_rate_limit_buckets"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.base_url.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency as usize).build()?;

    // The flood.
    let next = Arc::new(AtomicU64::new(0));
    let flood_started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, base, next, total) = (http.clone(), base.clone(), next.clone(), args.flood_keys);
        workers.push(tokio::spawn(async move {
            let mut flood = Histogram::<u64>::new(3).expect("histogram");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return flood;
                }
                let started = Instant::now();
                let _ = http.get(format!("{base}/v1/conversations")).bearer_auth(format!("made-up-key-{i:012}")).send().await;
                let _ = flood.record(started.elapsed().as_micros() as u64);
            }
        }));
    }
    let mut flood = Histogram::<u64>::new(3)?;
    for w in workers {
        flood.add(w.await?)?;
    }
    let flood_secs = flood_started.elapsed().as_secs_f64();
    let held = buckets(&http, &base).await?;

    // Normal traffic with a real key, one client at a time per worker.
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (http, base, key, next, total) = (http.clone(), base.clone(), args.api_key.clone(), next.clone(), args.requests);
        workers.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3).expect("histogram");
            let mut errors = 0u64;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let started = Instant::now();
                match http.get(format!("{base}/v1/conversations?limit=10")).bearer_auth(&key).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                let _ = latency.record(started.elapsed().as_micros() as u64);
            }
            (latency, errors)
        }));
    }
    let mut latency = Histogram::<u64>::new(3)?;
    let mut errors = 0;
    for w in workers {
        let (h, e) = w.await?;
        latency.add(h)?;
        errors += e;
    }
    let ms = |us: u64| Duration::from_micros(us).as_secs_f64() * 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "label": args.label,
            "flood_keys": args.flood_keys,
            "flood_requests_per_sec": (args.flood_keys as f64 / flood_secs).round(),
            "flood_p99_ms": ms(flood.value_at_quantile(0.99)),
            "buckets_held": held,
            "api_p50_ms": ms(latency.value_at_quantile(0.5)),
            "api_p99_ms": ms(latency.value_at_quantile(0.99)),
            "api_max_ms": ms(latency.max()),
            "api_errors": errors,
        })
    );
    Ok(())
}

//! Payload retention and queue metrics.
//!
//! Event payloads and receivers' responses are personal data; they are kept for the retention
//! period (so failed deliveries can be replayed after a long outage) and then purged in small
//! batches. Queue depth and the age of the oldest waiting delivery are sampled for `/metrics`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{self, Db, now_micros};

const PURGE_EVERY: Duration = Duration::from_secs(3600);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const PURGE_BATCH: usize = 1000;

pub struct Housekeeping {
    pub db: Db,
    pub retention: Duration,
}

impl Housekeeping {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut since_purge = PURGE_EVERY; // purge once at start
        loop {
            if since_purge >= PURGE_EVERY {
                since_purge = Duration::ZERO;
                self.purge(&shutdown).await;
            }
            self.sample().await;
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(SAMPLE_EVERY) => since_purge += SAMPLE_EVERY,
            }
        }
    }

    /// Purges everything older than the retention period; returns the rows changed.
    pub async fn purge(&self, shutdown: &CancellationToken) -> u64 {
        let cutoff = now_micros() - self.retention.as_micros() as i64;
        let mut total = 0;
        while !shutdown.is_cancelled() {
            match store::webhooks::purge_before(&self.db, cutoff, PURGE_BATCH).await {
                Ok(0) => break,
                Ok(n) => total += n,
                Err(err) => {
                    tracing::error!(error = %err, "purging expired webhook payloads failed");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!(rows = total, "purged webhook payloads past their retention period");
        }
        total
    }

    async fn sample(&self) {
        if let Ok((depth, oldest)) = store::webhooks::queue_stats(&self.db).await {
            metrics::gauge!("omnibridge_webhook_queue_depth").set(depth as f64);
            let age = oldest.map(|t| (now_micros() - t).max(0) as f64 / 1e6).unwrap_or(0.0);
            metrics::gauge!("omnibridge_webhook_oldest_pending_seconds").set(age);
        }
    }
}

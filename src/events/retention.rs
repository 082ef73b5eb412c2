//! Retention of the event log: events older than `events.retention_days` are removed, oldest
//! first, as one prefix of the log and never past the slowest durable consumer. How far the log
//! is purged is recorded, so a reader asking for events after an older position is told to
//! re-sync ([`super::log::LogError::Gone`]) rather than handed a gap. Consumers' lag is sampled
//! for `/metrics` here too.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{self, Db, StoreError, now_micros};

const PURGE_EVERY: Duration = Duration::from_secs(3600);
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
const PURGE_BATCH: usize = 5000;
/// How soon a purge held back by a consumer is tried again.
const RETRY_HELD_BACK: Duration = Duration::from_secs(10);

pub async fn run(db: Db, retention: Duration, stop: CancellationToken) {
    let mut since_purge = PURGE_EVERY; // purge once at start
    loop {
        if since_purge >= PURGE_EVERY {
            since_purge = Duration::ZERO;
            match purge(&db, retention, &stop).await {
                Ok(Purge { removed, held_back }) => {
                    if removed > 0 {
                        tracing::info!(events = removed, "removed events past the log's retention period");
                    }
                    if held_back {
                        // A consumer has not handled everything expired yet (at start: not
                        // saved what it passed over); look again soon rather than in an hour.
                        since_purge = PURGE_EVERY - RETRY_HELD_BACK;
                    }
                }
                Err(err) => tracing::error!(error = %err, "purging the event log failed"),
            }
        }
        sample(&db).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(SAMPLE_EVERY) => since_purge += SAMPLE_EVERY,
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Purge {
    /// Events removed.
    pub removed: u64,
    /// Expired events a durable consumer still has to handle were kept.
    pub held_back: bool,
}

/// Removes what is past retention and handled by every durable consumer.
pub async fn purge(db: &Db, retention: Duration, stop: &CancellationToken) -> Result<Purge, StoreError> {
    let cutoff = now_micros() - retention.as_micros() as i64;
    let keep_after = store::consumers::slowest(db).await?.unwrap_or(i64::MAX);
    let mut purge = Purge::default();
    while !stop.is_cancelled() {
        match store::outbox::purge_prefix(db, cutoff, keep_after, PURGE_BATCH).await? {
            store::outbox::Purged::Removed(0) => break,
            store::outbox::Purged::Removed(n) => purge.removed += n,
            store::outbox::Purged::HeldBack => {
                purge.held_back = true;
                break;
            }
        }
    }
    Ok(purge)
}

async fn sample(db: &Db) {
    let (Ok(end), Ok(consumers)) = (store::outbox::max_seq(db).await, store::consumers::all(db).await) else { return };
    for (name, seq, _) in consumers {
        metrics::gauge!("omnibridge_event_consumer_lag", "consumer" => name).set((end - seq).max(0) as f64);
    }
}

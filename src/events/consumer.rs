//! Durable consumers: work that follows the event log from a position kept in the database.
//!
//! A consumer (webhook fan-out, automatic assignment, away messages) reads the events after its position in batches, does its work for the ones it wants in one
//! unit of work and moves its position in that same transaction. So its work is done once per
//! event — not twice after a crash (the position moved with the work), not skipped under load
//! (a consumer that falls behind reads on from where it is; nothing is dropped), and once per
//! cluster (on PostgreSQL the position row is locked for the batch; another process finding it
//! locked leaves the batch to its holder).
//!
//! Events a consumer does not want are passed over in memory; its stored position catches up
//! with the next batch it works on, every few seconds, or when the log has been quiet for a
//! second, so passing over costs no write per event. A batch that fails is retried one event at a time; an event that keeps failing
//! is logged and passed over after a few tries, so it cannot stall the log.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::WorkError;
use super::outbox::{EventBus, UnitOfWork};
use crate::domain::events::Event;
use crate::store::{self, Db};

/// Work that follows the event log.
pub trait Consumer: Send + Sync + 'static {
    /// Its name, the key of its position (`event_consumers.name`).
    fn name(&self) -> &'static str;

    /// Whether it has anything to do for this event.
    fn wants(&self, event: &Event) -> bool;

    /// Of the wanted events, those that need work, found with reads only (no write
    /// transaction is opened for a batch that needs none): e.g. only the events of tenants that
    /// have webhook endpoints. What `handle` then gets is checked again in its transaction.
    fn select<'a>(&'a self, db: &'a Db, events: Vec<Arc<Event>>) -> impl Future<Output = Result<Vec<Arc<Event>>, WorkError>> + Send + 'a {
        let _ = db;
        std::future::ready(Ok(events))
    }

    /// Does the work for these events (all wanted, in order) in `work`, which commits them
    /// together with the consumer's new position.
    fn handle<'a>(&'a self, work: &'a mut UnitOfWork, events: &'a [Arc<Event>]) -> impl Future<Output = Result<(), WorkError>> + Send + 'a;
}

/// How long unwanted events may be passed over before the stored position follows.
const SAVE_EVERY: Duration = Duration::from_secs(5);
/// How long the log must be quiet before an idle consumer saves a position it passed over.
const QUIET: Duration = Duration::from_secs(1);
/// Tries of a failing event before it is passed over.
const TRIES: u32 = 5;

enum Step {
    /// Worked through a batch.
    Moved,
    /// Passed over events it does not want (in memory); there may be more.
    PassedOver,
    /// Nothing to do after this position.
    Idle,
    /// Another process holds the position.
    Busy,
}

/// Runs `consumer` until `stop`.
pub async fn run<C: Consumer>(consumer: C, db: Db, bus: EventBus, batch: usize, stop: CancellationToken) {
    let name = consumer.name();
    let (looked, saved) = follow(&consumer, &db, &bus, batch, &stop).await;
    if looked > saved {
        // What was passed over is kept on the way out, so the next start (and the log's
        // retention) begins from there.
        if let Err(err) = save_passed_over(&db, &bus, name, looked).await {
            tracing::warn!(consumer = name, error = %err, "saving the position on the way out failed");
        }
    }
}

/// Follows the log until `stop`; returns how far it looked and what it stored.
async fn follow<C: Consumer>(consumer: &C, db: &Db, bus: &EventBus, batch: usize, stop: &CancellationToken) -> (i64, i64) {
    let name = consumer.name();
    let log = bus.log().clone();
    let mut head = log.watch();
    // Where this process has looked (in memory); the stored position may lag behind it over
    // events the consumer does not want.
    let mut looked = match load(db, name).await {
        Some(seq) => seq,
        None => log.head(),
    };
    let mut saved = looked;
    let mut saved_at = Instant::now();
    let mut quiet = false;
    let mut failures = 0u32;
    loop {
        let limit = if failures > 0 { 1 } else { batch.max(1) };
        // The stored position follows what was passed over every few seconds under load, and
        // at once when there is nothing left to read.
        let save = quiet || saved_at.elapsed() >= SAVE_EVERY;
        let step = step(consumer, db, bus, &mut looked, limit, save).await;
        match step {
            Ok(Step::Moved) => {
                failures = 0;
                saved = looked;
                saved_at = Instant::now();
                quiet = false;
                continue;
            }
            Ok(Step::PassedOver) => continue,
            Ok(Step::Idle) if looked > saved => {
                // Saved once the log has been quiet for a moment (not after every batch).
                tokio::select! {
                    _ = stop.cancelled() => return (looked, saved),
                    _ = head.changed() => {}
                    _ = tokio::time::sleep(QUIET) => quiet = true,
                }
                continue;
            }
            Ok(Step::Idle) => {}
            Ok(Step::Busy) => {
                // Another process works through the log; look again soon in case it stops.
                tokio::select! {
                    _ = stop.cancelled() => return (looked, saved),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
                looked = load(db, name).await.unwrap_or(looked);
                continue;
            }
            // A step cut short by shutting down (the pool closing under it) is not a failure:
            // its position was not saved past the event, which the next start takes again.
            Err(err) if stop.is_cancelled() => {
                tracing::debug!(consumer = name, position = looked, error = %err, "an event consumer stopped mid-step on shutdown");
                return (looked, saved);
            }
            Err(err) => {
                failures += 1;
                metrics::counter!("omnibridge_event_consumer_failures_total", "consumer" => name).increment(1);
                tracing::error!(consumer = name, position = looked, tries = failures, error = %err, "an event consumer failed; trying again");
                if failures >= TRIES {
                    pass_over(consumer, db, bus, looked).await;
                    looked = load(db, name).await.unwrap_or(looked);
                    failures = 0;
                }
                tokio::select! {
                    _ = stop.cancelled() => return (looked, saved),
                    _ = tokio::time::sleep(Duration::from_millis(100 << failures.min(6))) => {}
                }
                continue;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return (looked, saved),
            _ = head.changed() => {}
            _ = tokio::time::sleep(SAVE_EVERY) => {}
        }
    }
}

async fn load(db: &Db, name: &str) -> Option<i64> {
    store::consumers::all(db).await.ok()?.into_iter().find(|(n, _, _)| n == name).map(|(_, seq, _)| seq)
}

/// One batch: the events after `looked` (in memory) — when some are wanted, handled in one unit
/// of work from the stored position on; when none are, only `looked` moves (and the stored
/// position with it when `save` is due).
async fn step<C: Consumer>(consumer: &C, db: &Db, bus: &EventBus, looked: &mut i64, limit: usize, save: bool) -> Result<Step, WorkError> {
    let log = bus.log();
    let peek = log.read(*looked, limit).await.map_err(log_error)?;
    let candidates: Vec<Arc<Event>> = peek.events.iter().filter(|e| consumer.wants(e)).cloned().collect();
    let wanted = !candidates.is_empty() && !consumer.select(db, candidates).await?.is_empty();
    if !wanted {
        let moved = peek.through > *looked;
        *looked = peek.through;
        if !save {
            return Ok(if moved { Step::PassedOver } else { Step::Idle });
        }
    }
    if !wanted {
        return Ok(if save_passed_over(db, bus, consumer.name(), *looked).await? { Step::Moved } else { Step::Busy });
    }
    let mut work = UnitOfWork::begin(db, bus).await?;
    let Some(position) = store::consumers::lock(work.tx(), consumer.name()).await? else {
        return Ok(Step::Busy);
    };
    // From the stored position: another process may have moved it, or it lags over events
    // passed over here.
    let batch = log.read(position, limit.max(1)).await.map_err(log_error)?;
    if batch.through <= position {
        return Ok(Step::Idle);
    }
    let events: Vec<Arc<Event>> = batch.events.into_iter().filter(|e| consumer.wants(e)).collect();
    if !events.is_empty() {
        consumer.handle(&mut work, &events).await?;
    }
    store::consumers::advance(work.tx(), consumer.name(), batch.through).await?;
    work.commit().await?;
    *looked = batch.through;
    Ok(Step::Moved)
}

/// Moves the stored position up to `looked` over events passed over; false when another
/// process holds the position.
async fn save_passed_over(db: &Db, bus: &EventBus, name: &'static str, looked: i64) -> Result<bool, WorkError> {
    let mut work = UnitOfWork::begin(db, bus).await?;
    let Some(position) = store::consumers::lock(work.tx(), name).await? else {
        return Ok(false);
    };
    if looked > position {
        store::consumers::advance(work.tx(), name, looked).await?;
        work.commit().await?;
    }
    Ok(true)
}

/// Moves the stored position past the first event after it that the consumer wants (it failed
/// every try), and says so.
async fn pass_over<C: Consumer>(consumer: &C, db: &Db, bus: &EventBus, looked: i64) {
    let result: Result<(), WorkError> = async {
        let mut work = UnitOfWork::begin(db, bus).await?;
        let Some(position) = store::consumers::lock(work.tx(), consumer.name()).await? else { return Ok(()) };
        let mut after = position.min(looked);
        loop {
            let batch = bus.log().read(after, 64).await.map_err(log_error)?;
            if let Some(event) = batch.events.iter().find(|e| consumer.wants(e)) {
                tracing::error!(consumer = consumer.name(), seq = event.seq, event_id = %event.id, event_type = event.event_type, "an event failed every try and is passed over");
                metrics::counter!("omnibridge_event_consumer_passed_over_total", "consumer" => consumer.name()).increment(1);
                store::consumers::advance(work.tx(), consumer.name(), event.seq).await?;
                break;
            }
            if batch.through <= after {
                break;
            }
            after = batch.through;
        }
        work.commit().await?;
        Ok(())
    }
    .await;
    if let Err(err) = result {
        tracing::error!(consumer = consumer.name(), error = %err, "passing over a failing event failed");
    }
}

/// A durable consumer's position and how far it is behind the log's end (for `/readyz` and
/// `omnibridge nodes`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ConsumerLag {
    pub name: String,
    pub position: i64,
    pub lag: i64,
    pub updated_at: String,
}

/// Every durable consumer's position and lag.
pub async fn positions(db: &Db) -> Result<Vec<ConsumerLag>, crate::store::StoreError> {
    let end = store::outbox::max_seq(db).await?;
    Ok(store::consumers::all(db)
        .await?
        .into_iter()
        .map(|(name, position, updated_at)| ConsumerLag { name, position, lag: (end - position).max(0), updated_at: crate::domain::rfc3339(updated_at) })
        .collect())
}

fn log_error(err: super::log::LogError) -> WorkError {
    match err {
        super::log::LogError::Store(err) => WorkError::Store(err),
        gone @ super::log::LogError::Gone { .. } => WorkError::Refused(gone.to_string()),
    }
}

//! The group-commit writer: one task, one transaction per batch of queued inbound messages.
//! Under load, whatever queued while the previous batch committed goes into the next one, so the
//! batch size follows the load and an idle hub still commits each message at once.

use std::sync::Arc;

use omnibridge_channel::{Accepted, InboundMessage, SinkError};
use tokio::sync::{mpsc, oneshot};

use super::batch::{BatchOutcome, IngestError, ingest_batch};
use crate::channels::Channels;
use crate::events::outbox::{EventBus, UnitOfWork};
use crate::privacy::Keyring;
use crate::store::Db;

pub(super) struct Job {
    pub message: InboundMessage,
    pub reply: oneshot::Sender<Result<omnibridge_channel::Accepted, SinkError>>,
}

/// What the writer needs from the hub.
#[derive(Clone)]
pub struct WriterContext {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub channels: Arc<Channels>,
    pub bus: EventBus,
}

/// When a writer last committed a batch, readable from anywhere in the process.
#[derive(Clone)]
pub struct Activity {
    since: std::time::Instant,
    /// Milliseconds after `since` of the last commit; 0 before the first.
    last_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Activity {
    fn default() -> Self {
        Self { since: std::time::Instant::now(), last_ms: Arc::default() }
    }
}

impl Activity {
    fn committed(&self) {
        let ms = self.since.elapsed().as_millis() as u64 + 1;
        self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether a batch was committed within `window`.
    pub fn within(&self, window: std::time::Duration) -> bool {
        let last = self.last_ms.load(std::sync::atomic::Ordering::Relaxed);
        last > 0 && (self.since.elapsed().as_millis() as u64 + 1).saturating_sub(last) < window.as_millis() as u64
    }
}

pub struct Writer {
    ctx: WriterContext,
    jobs: mpsc::Receiver<Job>,
    batch_max: usize,
    activity: Activity,
}

impl Writer {
    pub(super) fn new(ctx: WriterContext, jobs: mpsc::Receiver<Job>, batch_max: usize, activity: Activity) -> Self {
        Self { ctx, jobs, batch_max, activity }
    }

    /// Runs until every sender is gone (the hub shut down), draining what was queued.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.batch_max);
        while self.jobs.recv_many(&mut batch, self.batch_max).await > 0 {
            metrics::histogram!("omnibridge_ingest_batch_size").record(batch.len() as f64);
            let started = std::time::Instant::now();
            self.commit(std::mem::take(&mut batch)).await;
            self.activity.committed();
            metrics::histogram!("omnibridge_ingest_batch_seconds").record(started.elapsed().as_secs_f64());
        }
    }

    /// Commits a batch. A race with another process is retried once; any other failure splits
    /// the batch so one bad message cannot take its neighbours down with it.
    async fn commit(&self, batch: Vec<Job>) {
        let messages: Vec<&InboundMessage> = batch.iter().map(|j| &j.message).collect();
        let mut outcome = self.try_commit(&messages).await;
        if matches!(outcome, Err(IngestError::Race)) {
            outcome = self.try_commit(&messages).await;
        }
        match outcome {
            Ok(results) => {
                for (job, result) in batch.into_iter().zip(results) {
                    if let Ok(accepted) = &result
                        && !accepted.duplicate {
                            metrics::counter!("omnibridge_messages_ingested_total").increment(1);
                        }
                    let _ = job.reply.send(result);
                }
            }
            Err(err) if batch.len() > 1 => {
                tracing::warn!(error = %err, size = batch.len(), "ingest batch failed; committing its messages one by one");
                for job in batch {
                    Box::pin(self.commit(vec![job])).await;
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "ingest failed; the message was not stored");
                for job in batch {
                    let _ = job.reply.send(Err(SinkError::Unavailable("storage error".into())));
                }
            }
        }
    }

    async fn try_commit(&self, messages: &[&InboundMessage]) -> Result<Vec<Result<Accepted, SinkError>>, IngestError> {
        let mut work = UnitOfWork::begin(&self.ctx.db, &self.ctx.bus).await?;
        let BatchOutcome { results, events } = ingest_batch(work.tx(), &self.ctx, messages).await?;
        work.appended(events);
        work.commit().await?;
        Ok(results)
    }
}

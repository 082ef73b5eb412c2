//! The group-commit writer: one task, one transaction per batch of queued inbound messages.
//! Each message runs inside a savepoint, so one bad message fails alone while its batch-mates
//! commit.

use std::sync::Arc;

use omnibridge_channel::{Accepted, InboundMessage, SinkError};
use tokio::sync::{mpsc, oneshot};

use super::pipeline::{self, IngestError};
use crate::channels::Channels;
use crate::outbox::EventBus;
use crate::privacy::Keyring;
use crate::store::Db;

pub(super) struct Job {
    pub message: InboundMessage,
    pub reply: oneshot::Sender<Result<Accepted, SinkError>>,
}

/// What the writer needs from the hub.
#[derive(Clone)]
pub struct WriterContext {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub channels: Arc<Channels>,
    pub bus: EventBus,
}

pub struct Writer {
    ctx: WriterContext,
    jobs: mpsc::Receiver<Job>,
    batch_max: usize,
}

impl Writer {
    pub(super) fn new(ctx: WriterContext, jobs: mpsc::Receiver<Job>, batch_max: usize) -> Self {
        Self { ctx, jobs, batch_max }
    }

    /// Runs until every sender is gone (the hub shut down), draining what was queued.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.batch_max);
        while self.jobs.recv_many(&mut batch, self.batch_max).await > 0 {
            let size = batch.len();
            self.commit_batch(std::mem::take(&mut batch)).await;
            metrics::histogram!("omnibridge_ingest_batch_size").record(size as f64);
        }
    }

    async fn commit_batch(&self, batch: Vec<Job>) {
        match self.try_batch(&batch).await {
            Ok((results, events)) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
                self.ctx.bus.publish(events);
            }
            Err(err) => {
                tracing::error!(error = %err, size = batch.len(), "ingest batch failed; nothing of it was stored");
                for job in batch {
                    let _ = job.reply.send(Err(SinkError::Unavailable("storage error".into())));
                }
            }
        }
    }

    async fn try_batch(&self, batch: &[Job]) -> Result<(Vec<Result<Accepted, SinkError>>, Vec<crate::domain::events::Event>), IngestError> {
        let mut tx = self.ctx.db.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        let mut events = Vec::new();
        let isolate = batch.len() > 1;
        for job in batch {
            if isolate {
                tx.savepoint().await?;
            }
            let mut item_events = Vec::new();
            match pipeline::ingest_one(&mut tx, &self.ctx, &job.message, &mut item_events).await {
                Ok(accepted) => {
                    if isolate {
                        tx.release_savepoint().await?;
                    }
                    if !accepted.duplicate {
                        metrics::counter!("omnibridge_messages_ingested_total").increment(1);
                    }
                    events.append(&mut item_events);
                    results.push(Ok(accepted));
                }
                Err(IngestError::Rejected(reason)) => {
                    if isolate {
                        tx.rollback_to_savepoint().await?;
                    } else {
                        return Ok((vec![Err(SinkError::Rejected(reason))], Vec::new()));
                    }
                    results.push(Err(SinkError::Rejected(reason)));
                }
                Err(err) => return Err(err),
            }
        }
        tx.commit().await?;
        Ok((results, events))
    }
}

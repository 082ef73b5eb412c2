//! The inbound pipeline: adapter → [`InboundMessage`] → dedup on (channel, external id) →
//! identity resolution → find or open the conversation → persist the message and its events in
//! one transaction.
//!
//! Messages reach the pipeline through [`Ingest`], the hub's [`InboundSink`]. A writer task
//! commits whatever has queued up in one transaction (group commit), so throughput does not stop
//! at one commit per message; each caller is answered once its batch is durable.
//!
//! SQLite has one writer (it has one write lock). PostgreSQL can run several: each sender
//! address is routed to one writer by hash, so one contact's messages stay in order and two
//! writers never contend for the same contact or conversation rows.

mod batch;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use omnibridge_channel::{Accepted, InboundMessage, InboundSink, SinkError};
use tokio::sync::{mpsc, oneshot};

pub use batch::IngestError;
pub use writer::{Activity, Writer, WriterContext};

/// The hub's inbound sink: hands messages to the writer and waits for their commit.
pub struct Ingest {
    queues: Vec<mpsc::Sender<writer::Job>>,
    activity: Activity,
}

impl Ingest {
    /// Creates the sink and `writers` writers that serve it; the caller spawns `Writer::run`
    /// for each.
    pub fn new(ctx: WriterContext, writers: usize, batch_max: usize, capacity: usize) -> (Arc<Self>, Vec<Writer>) {
        let writers = writers.max(1);
        let activity = Activity::default();
        let (queues, workers) = (0..writers)
            .map(|_| {
                let (queue, jobs) = mpsc::channel(capacity.div_ceil(writers));
                (queue, Writer::new(ctx.clone(), jobs, batch_max, activity.clone()))
            })
            .unzip();
        (Arc::new(Self { queues, activity }), workers)
    }

    /// When the writers last committed: background work that shares the database (the search
    /// index) gives way while messages are coming in.
    pub fn activity(&self) -> Activity {
        self.activity.clone()
    }

    fn queue_for(&self, message: &InboundMessage) -> &mpsc::Sender<writer::Job> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (message.channel_id, &message.sender.address).hash(&mut hasher);
        &self.queues[(hasher.finish() % self.queues.len() as u64) as usize]
    }
}

#[async_trait]
impl InboundSink for Ingest {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError> {
        let (reply, answer) = oneshot::channel();
        self.queue_for(&message).try_send(writer::Job { message, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SinkError::Unavailable("ingest queue is full".into()),
            mpsc::error::TrySendError::Closed(_) => SinkError::Unavailable("hub is shutting down".into()),
        })?;
        answer.await.map_err(|_| SinkError::Unavailable("hub is shutting down".into()))?
    }
}

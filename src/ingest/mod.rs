//! The inbound pipeline: adapter → [`InboundMessage`] → dedup on (channel, external id) →
//! identity resolution → find or open the conversation → persist the message and its events in
//! one transaction.
//!
//! Messages reach the pipeline through [`Ingest`], the hub's [`InboundSink`]. A single writer task
//! commits whatever has queued up in one transaction (group commit), so throughput does not stop
//! at one fsync per message; each caller is answered once its batch is durable.

mod batch;
mod writer;

use std::sync::Arc;

use async_trait::async_trait;
use omnibridge_channel::{Accepted, InboundMessage, InboundSink, SinkError};
use tokio::sync::{mpsc, oneshot};

pub use batch::IngestError;
pub use writer::{Writer, WriterContext};

/// The hub's inbound sink: hands messages to the writer and waits for their commit.
pub struct Ingest {
    queue: mpsc::Sender<writer::Job>,
}

impl Ingest {
    /// Creates the sink and the writer that serves it; the caller spawns `Writer::run`.
    pub fn new(ctx: WriterContext, batch_max: usize, capacity: usize) -> (Arc<Self>, Writer) {
        let (queue, jobs) = mpsc::channel(capacity);
        (Arc::new(Self { queue }), Writer::new(ctx, jobs, batch_max))
    }
}

#[async_trait]
impl InboundSink for Ingest {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError> {
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(writer::Job { message, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SinkError::Unavailable("ingest queue is full".into()),
            mpsc::error::TrySendError::Closed(_) => SinkError::Unavailable("hub is shutting down".into()),
        })?;
        answer.await.map_err(|_| SinkError::Unavailable("hub is shutting down".into()))?
    }
}

//! A conformance kit every adapter's tests run (enable the `testkit` feature in
//! dev-dependencies): the behaviours the hub relies on, checked the same way for each channel.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Accepted, Channel, InboundMessage, InboundSink, OutboundMessage, SinkError};

/// An [`InboundSink`] that records what it is given and accepts everything.
#[derive(Default, Clone)]
pub struct RecordingSink {
    pub received: Arc<Mutex<Vec<InboundMessage>>>,
}

impl RecordingSink {
    pub fn messages(&self) -> Vec<InboundMessage> {
        self.received.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl InboundSink for RecordingSink {
    async fn accept(&self, message: InboundMessage) -> Result<Accepted, SinkError> {
        let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        let duplicate = received.iter().any(|m| m.channel_id == message.channel_id && m.external_id == message.external_id);
        if !duplicate {
            received.push(message);
        }
        Ok(Accepted {
            message_id: Uuid::now_v7(),
            conversation_id: Uuid::nil(),
            contact_id: Uuid::nil(),
            duplicate,
            created_at: String::new(),
        })
    }
}

/// The channel reports healthy, and `run` returns within two seconds of shutdown.
pub async fn check_lifecycle(channel: Arc<dyn Channel>) {
    channel.healthcheck().await.expect("a correctly configured channel is healthy");
    let shutdown = CancellationToken::new();
    let sink: Arc<dyn InboundSink> = Arc::new(RecordingSink::default());
    let task = tokio::spawn({
        let (channel, shutdown) = (channel.clone(), shutdown.clone());
        async move { channel.run(sink, shutdown).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(2), task).await.expect("run stops promptly on shutdown");
    result.expect("run did not panic").expect("run ends cleanly on shutdown");
}

/// Sending the same message twice reaches the recipient once. `deliveries` counts what the
/// recipient (or the provider fake) has seen.
pub async fn check_idempotent_send(channel: &dyn Channel, message: &OutboundMessage, deliveries: impl Fn() -> usize) {
    let before = deliveries();
    channel.send(message).await.expect("first send succeeds");
    channel.send(message).await.expect("a repeated send succeeds too");
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(deliveries() - before, 1, "the same message id reached the recipient once");
}

/// A [`crate::ChannelStateStore`] in memory.
#[derive(Default, Clone)]
pub struct MemoryState {
    pub cursors: Arc<Mutex<std::collections::HashMap<Uuid, String>>>,
    pub health: Arc<Mutex<Option<String>>>,
}

#[async_trait]
impl crate::ChannelStateStore for MemoryState {
    async fn cursor(&self, channel_id: Uuid) -> Result<Option<String>, String> {
        Ok(self.cursors.lock().unwrap_or_else(|e| e.into_inner()).get(&channel_id).cloned())
    }

    async fn save_cursor(&self, channel_id: Uuid, cursor: &str) -> Result<(), String> {
        self.cursors.lock().unwrap_or_else(|e| e.into_inner()).insert(channel_id, cursor.to_owned());
        Ok(())
    }

    async fn health(&self, _channel_id: Uuid, last_error: Option<String>) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = last_error;
    }
}

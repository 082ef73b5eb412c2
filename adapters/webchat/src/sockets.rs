//! Live visitor websockets in this process, keyed by visitor id. A visitor may have several tabs
//! open; each subscribes to the same broadcast — up to [`MAX_SOCKETS_PER_VISITOR`], so one
//! visitor token cannot hold thousands of sockets. A socket that cannot keep up is closed with
//! a resync code (its widget reconnects with `?after=` and reads what it missed), never handed a
//! gap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use uuid::Uuid;

const PER_VISITOR_BUFFER: usize = 64;
/// Open sockets (tabs) one visitor may hold at once.
pub const MAX_SOCKETS_PER_VISITOR: usize = 8;

/// One frame for a visitor's sockets: its JSON, and the message it carries if any (so a
/// socket replaying what its widget missed does not send a message twice).
#[derive(Clone, Debug)]
pub struct Frame {
    pub message: Option<Uuid>,
    pub json: Arc<str>,
}

#[derive(Clone, Default)]
pub struct VisitorSockets {
    inner: Arc<Mutex<HashMap<Uuid, broadcast::Sender<Frame>>>>,
}

impl VisitorSockets {
    /// A new socket's feed; `None` when the visitor holds the most sockets already.
    pub fn subscribe(&self, visitor_id: Uuid) -> Option<broadcast::Receiver<Frame>> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let sender = map.entry(visitor_id).or_insert_with(|| broadcast::channel(PER_VISITOR_BUFFER).0);
        (sender.receiver_count() < MAX_SOCKETS_PER_VISITOR).then(|| sender.subscribe())
    }

    /// Pushes a frame to every open socket of the visitor; returns whether any received it.
    pub fn push(&self, visitor_id: Uuid, frame: Frame) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(sender) = map.get(&visitor_id) else { return false };
        if sender.send(frame).is_ok() {
            return true;
        }
        map.remove(&visitor_id);
        false
    }

    /// Forgets a visitor whose last socket closed.
    pub fn release(&self, visitor_id: Uuid) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&visitor_id).is_some_and(|s| s.receiver_count() == 0) {
            map.remove(&visitor_id);
        }
    }

}

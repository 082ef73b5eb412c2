//! Recent sends remembered by message id and attempt, for providers without idempotency keys: a
//! repeated send of the same attempt within the same process answers the first receipt instead
//! of reaching the person twice. A new attempt (the hub resending after the provider reported a
//! failure) is sent.

use std::collections::VecDeque;
use std::sync::Mutex;

use uuid::Uuid;

use crate::{OutboundMessage, Receipt};

pub struct RecentReceipts {
    capacity: usize,
    sent: Mutex<VecDeque<((Uuid, u32), Receipt)>>,
}

impl RecentReceipts {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), sent: Mutex::new(VecDeque::new()) }
    }

    /// The receipt of an earlier send of this attempt of the message, if it is remembered.
    pub fn get(&self, message: &OutboundMessage) -> Option<Receipt> {
        let key = message.attempt_key();
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(sent, _)| *sent == key).map(|(_, r)| r.clone())
    }

    /// Remembers a send, forgetting the oldest beyond the capacity.
    pub fn remember(&self, message: &OutboundMessage, receipt: &Receipt) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() == self.capacity {
            sent.pop_front();
        }
        sent.push_back((message.attempt_key(), receipt.clone()));
    }
}

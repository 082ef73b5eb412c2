//! Recent sends remembered by message id, for providers without idempotency keys: a repeated
//! send within the same process answers the first receipt instead of reaching the person twice.

use std::collections::VecDeque;
use std::sync::Mutex;

use uuid::Uuid;

use crate::Receipt;

pub struct RecentReceipts {
    capacity: usize,
    sent: Mutex<VecDeque<(Uuid, Receipt)>>,
}

impl RecentReceipts {
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), sent: Mutex::new(VecDeque::new()) }
    }

    /// The receipt of an earlier send of this message, if it is remembered.
    pub fn get(&self, id: Uuid) -> Option<Receipt> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(sent, _)| *sent == id).map(|(_, r)| r.clone())
    }

    /// Remembers a send, forgetting the oldest beyond the capacity.
    pub fn remember(&self, id: Uuid, receipt: &Receipt) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        if sent.len() == self.capacity {
            sent.pop_front();
        }
        sent.push_back((id, receipt.clone()));
    }
}

//! The event log as this process reads it: the outbox, followed by one tail per cell.
//!
//! Every consumer — webhook fan-out, the inbox's automatic work, operators' websockets, the
//! `/v1/events` feed — reads committed events *after a position*, in sequence order, from here.
//! Nothing is pushed to listeners that might drop it: a reader that falls behind reads again
//! from where it is, first from the window of recent events this process keeps in memory, and
//! beyond it from the database.
//!
//! The tail takes in what was committed, in order and without gaps (appends commit in sequence
//! order: SQLite has one writer, PostgreSQL appends take an ordering lock). Events this process
//! committed that directly follow the last one it holds are taken in as they are, with no read
//! at all; otherwise it asks the database which sequence numbers follow, uses this process's
//! events as they are (no second read, no second decryption) and reads whole only the ones
//! other processes committed. A unit of work wakes it on commit; other processes' commits
//! wake it through the cluster's notifications, and it looks every second anyway.
//!
//! The window is bounded (`events.memory_window`); retention removes the oldest events from the
//! database after `events.retention_days`, never any that a durable consumer has not handled.
//! A reader whose position is older than what retention kept is told so ([`LogError::Gone`]):
//! it must re-sync, it is never handed a silent gap.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::domain::events::Event;
use crate::privacy::Keyring;
use crate::store::{self, Db, StoreError};

/// Events read from the database per round.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The position is older than what retention kept.
    #[error("events after {after} are no longer kept (the log now starts after {purged_through}); re-sync and follow from the end")]
    Gone { after: i64, purged_through: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Events after a position, and how far they reach.
pub struct Batch {
    pub events: Vec<Arc<Event>>,
    /// The position to read after next time: the last event looked at (handed out or not for
    /// this reader), or the end of the log when the batch reached it.
    pub through: i64,
}

/// This process's reading of one cell's event log.
pub struct EventLog {
    db: Db,
    keyring: Arc<Keyring>,
    me: Uuid,
    window: usize,
    state: Mutex<State>,
    head: watch::Sender<i64>,
    look: Notify,
    /// Another process committed: the database must be asked even when this process's own
    /// events follow on directly.
    others: std::sync::atomic::AtomicBool,
    /// Counts this process's commits (the cluster bridge tells the other processes).
    commits: watch::Sender<u64>,
}

struct State {
    /// Every readable event with `floor < seq <= head`, oldest first.
    ring: VecDeque<Arc<Event>>,
    floor: i64,
    head: i64,
    /// Events this process committed that the tail has not taken in yet, by sequence number.
    local: HashMap<i64, Event>,
}

impl EventLog {
    /// Follows the log from its current end.
    pub async fn open(db: Db, keyring: Arc<Keyring>, window: usize) -> Result<Arc<Self>, StoreError> {
        let head = store::outbox::max_seq(&db).await?;
        Ok(Arc::new(Self {
            db,
            keyring,
            me: crate::domain::node_id(),
            window: window.max(1),
            state: Mutex::new(State { ring: VecDeque::new(), floor: head, head, local: HashMap::new() }),
            head: watch::Sender::new(head),
            look: Notify::new(),
            others: std::sync::atomic::AtomicBool::new(false),
            commits: watch::Sender::new(0),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events this process just committed: the tail takes them in without reading them back.
    pub(super) fn committed(&self, events: Vec<Event>) {
        {
            let mut state = self.state();
            let head = state.head;
            for event in events.into_iter().filter(|e| e.seq > head) {
                state.local.insert(event.seq, event);
            }
        }
        self.look.notify_one();
        self.commits.send_modify(|n| *n += 1);
    }

    /// Changes whenever this process commits events.
    pub fn committed_here(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// Tells the tail to look (another process committed events).
    pub fn look(&self) {
        self.others.store(true, std::sync::atomic::Ordering::Release);
        self.look.notify_one();
    }

    /// The last sequence number taken in.
    pub fn head(&self) -> i64 {
        *self.head.borrow()
    }

    /// Changes whenever the tail takes events in.
    pub fn watch(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    /// Takes committed events in until `stop`.
    pub async fn tail(self: Arc<Self>, stop: CancellationToken) {
        loop {
            if let Err(err) = self.take_in().await {
                tracing::warn!(error = %err, "reading the event log failed; trying again");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.look.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// Reads what follows the head, page by page, into the window.
    pub async fn take_in(&self) -> Result<(), StoreError> {
        if self.take_in_own() && !self.others.swap(false, std::sync::atomic::Ordering::AcqRel) {
            return Ok(());
        }
        loop {
            let head = self.head();
            let positions = store::outbox::positions_after(&self.db, head, PAGE).await?;
            let Some(&(last, _, _)) = positions.last() else { return Ok(()) };
            let mut taken: Vec<(i64, Option<Event>)> = Vec::with_capacity(positions.len());
            let mut missing = Vec::new();
            {
                let mut state = self.state();
                for (seq, _, _) in &positions {
                    match state.local.remove(seq) {
                        Some(event) => taken.push((*seq, Some(event))),
                        None => {
                            missing.push(*seq);
                            taken.push((*seq, None));
                        }
                    }
                }
            }
            let mut read: HashMap<i64, Event> = HashMap::new();
            for row in store::outbox::by_seqs(&self.db, &missing).await? {
                if let Some(event) = self.open_row(&row).await {
                    read.insert(row.seq, event);
                }
            }
            let events: Vec<Arc<Event>> = taken.into_iter().filter_map(|(seq, e)| e.or_else(|| read.remove(&seq))).map(Arc::new).collect();
            self.extend(&mut self.state(), events, last);
            self.published(last);
            if positions.len() < PAGE {
                return Ok(());
            }
        }
    }

    /// Takes in this process's own events that directly follow the head (nothing can be
    /// missing between them); whether it took any.
    fn take_in_own(&self) -> bool {
        let last = {
            let mut state = self.state();
            let mut next = state.head + 1;
            let mut events = Vec::new();
            while let Some(event) = state.local.remove(&next) {
                events.push(Arc::new(event));
                next += 1;
            }
            if events.is_empty() {
                return false;
            }
            self.extend(&mut state, events, next - 1);
            next - 1
        };
        self.published(last);
        true
    }

    /// Adds events up to `last` to the window.
    fn extend(&self, state: &mut State, events: Vec<Arc<Event>>, last: i64) {
        state.ring.extend(events);
        while state.ring.len() > self.window {
            if let Some(old) = state.ring.pop_front() {
                state.floor = old.seq;
            }
        }
        if state.ring.is_empty() {
            state.floor = last;
        }
        state.head = last;
        state.local.retain(|seq, _| *seq > last);
    }

    fn published(&self, last: i64) {
        self.head.send_replace(last);
        metrics::gauge!("omnibridge_event_log_head").set(last as f64);
    }

    /// An event read back from the database, its payload opened. One about a contact erased
    /// since keeps its place in the log with its data redacted; a type this build does not
    /// know is skipped.
    async fn open_row(&self, row: &store::outbox::OriginRow) -> Option<Event> {
        let mut event = match super::outbox::from_row(&self.db, &self.keyring, row).await {
            Ok(Some(event)) => event,
            Ok(None) => super::outbox::redacted(row)?,
            Err(err) => {
                tracing::warn!(event_id = %row.id, error = %err, "an event of the log cannot be opened; passed on redacted");
                super::outbox::redacted(row)?
            }
        };
        event.remote = row.origin.is_some_and(|o| o != self.me);
        Some(event)
    }

    /// Up to `limit` events after `after`, in order: from the window when it reaches back that
    /// far, from the database otherwise.
    pub async fn read(&self, after: i64, limit: usize) -> Result<Batch, LogError> {
        {
            let state = self.state();
            if after >= state.floor {
                let start = state.ring.partition_point(|e| e.seq <= after);
                let events: Vec<Arc<Event>> = state.ring.iter().skip(start).take(limit).cloned().collect();
                let through = if start + events.len() >= state.ring.len() { state.head.max(after) } else { events.last().map_or(after, |e| e.seq) };
                return Ok(Batch { events, through });
            }
        }
        self.check_kept(after).await?;
        let head = self.head();
        let rows = store::outbox::all_after(&self.db, after, limit).await?;
        let reached_end = rows.len() < limit;
        let last = rows.last().map_or(after, |r| r.seq);
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(event) = self.open_row(row).await {
                events.push(Arc::new(event));
            }
        }
        let through = if reached_end { last.max(head).max(after) } else { last };
        Ok(Batch { events, through })
    }

    /// A tenant's events after `after` (of `types`, all when empty), read from the database:
    /// the `/v1/events` feed.
    pub async fn read_tenant(&self, tenant_id: Uuid, after: i64, types: &[&str], limit: usize) -> Result<Batch, LogError> {
        self.check_kept(after).await?;
        let head = store::outbox::max_seq(&self.db).await?;
        let rows = store::outbox::tenant_after(&self.db, tenant_id, after, types, limit).await?;
        let reached_end = rows.len() < limit;
        let last = rows.last().map_or(after, |r| r.seq);
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(event) = self.open_row(row).await {
                events.push(Arc::new(event));
            }
        }
        let through = if reached_end { last.max(head).max(after) } else { last };
        Ok(Batch { events, through })
    }

    /// Fails with [`LogError::Gone`] when events after `after` were removed by retention.
    pub async fn check_kept(&self, after: i64) -> Result<(), LogError> {
        let purged_through = store::outbox::purged_through(&self.db).await?;
        if after < purged_through {
            return Err(LogError::Gone { after, purged_through });
        }
        Ok(())
    }

    /// The last sequence number committed, as the database says (readers ask for positions up
    /// to here).
    pub async fn end(&self) -> Result<i64, StoreError> {
        store::outbox::max_seq(&self.db).await
    }
}

//! Many hub processes on one PostgreSQL database.
//!
//! - Node identity: each process has an id ([`node_id`]), registers in `nodes` and renews a
//!   heartbeat; `omnibridge nodes` lists the live ones and what each owns.
//! - Leases: work that must have exactly one owner (a mailbox's importer, a bot's long poll)
//!   runs only while its node holds the lease row and renews it; a node that dies stops
//!   renewing and another takes over once the lease expires ([`Cluster::hold`]).
//! - Realtime across processes: after committing events a node sends `NOTIFY
//!   omnibridge_events`; every other node then reads the outbox past its cursor (the outbox is
//!   the source of truth, so a missed notification is caught up by the next one or by the
//!   periodic check) and hands those events to its operators' and visitors' websockets only:
//!   the work events trigger (assignment, away messages, webhooks) is done once, by the
//!   committing node or by whoever claims it.
//! - Caches: a change to configuration a node caches (a channel, a tenant's policy or
//!   allow-list, an API key) is announced with `NOTIFY omnibridge_config`, and every node drops
//!   what it cached.
//!
//! On SQLite there is one process (see [`lock_sqlite`]): leases are taken at once, and the
//! notifications are not needed.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Config;
use crate::store::{self, Db};

/// This process's node id.
pub fn node_id() -> Uuid {
    static ID: OnceLock<Uuid> = OnceLock::new();
    *ID.get_or_init(Uuid::now_v7)
}

/// What a node announces to the others about configuration it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A channel was created, changed or deleted: drop it from caches, restart its poller.
    Channel(Uuid),
    /// A tenant's policy, allow-list or keys changed: drop what is cached about the tenant.
    Tenant(Uuid),
    /// Someone's access to a tenant ended (a key revoked, an operator deactivated or signed
    /// out): drop cached keys, and open websockets re-check their credentials.
    Access(Uuid),
}

impl Change {
    fn encode(self) -> String {
        match self {
            Change::Channel(id) => format!("{}:channel:{id}", node_id()),
            Change::Tenant(id) => format!("{}:tenant:{id}", node_id()),
            Change::Access(id) => format!("{}:access:{id}", node_id()),
        }
    }

    /// The change and the node that made it.
    fn decode(text: &str) -> Option<(Uuid, Change)> {
        let mut parts = text.splitn(3, ':');
        let node = parts.next()?.parse().ok()?;
        let kind = parts.next()?;
        let id = parts.next()?.parse().ok()?;
        match kind {
            "channel" => Some((node, Change::Channel(id))),
            "tenant" => Some((node, Change::Tenant(id))),
            "access" => Some((node, Change::Access(id))),
            _ => None,
        }
    }
}

pub const EVENTS_CHANNEL: &str = "omnibridge_events";
pub const CONFIG_CHANNEL: &str = "omnibridge_config";

/// A cell's view of the cluster: its database, this node, the lease timing.
pub struct Cluster {
    db: Db,
    pub lease: Duration,
    pub heartbeat: Duration,
    /// The leases this node holds in this cell's database.
    held: Mutex<HashSet<String>>,
}

impl Cluster {
    pub fn new(db: Db, config: &Config) -> Self {
        Self {
            db,
            lease: Duration::from_secs(config.cluster.lease_secs.max(1)),
            heartbeat: Duration::from_secs(config.cluster.heartbeat_secs.max(1)),
            held: Mutex::new(HashSet::new()),
        }
    }

    pub fn is_shared(&self) -> bool {
        matches!(self.db, Db::Pg(_))
    }

    /// Takes or renews the lease `name`; false when another live node holds it.
    pub async fn hold(&self, name: &str) -> bool {
        match store::cluster::acquire(&self.db, name, node_id(), self.lease.as_micros() as i64).await {
            Ok(true) => {
                self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_owned());
                true
            }
            Ok(false) => {
                self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
                false
            }
            Err(err) => {
                // Without the database nobody can renew: give the work up rather than risk two
                // owners once the lease runs out.
                tracing::warn!(lease = name, error = %err, "renewing a lease failed");
                self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
                false
            }
        }
    }

    pub async fn release(&self, name: &str) {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).remove(name);
        if let Err(err) = store::cluster::release(&self.db, name, node_id()).await {
            tracing::warn!(lease = name, error = %err, "releasing a lease failed; it will expire");
        }
    }

    /// The leases this node holds, sorted.
    pub fn held(&self) -> Vec<String> {
        let mut names: Vec<String> = self.held.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        names.sort();
        names
    }

    /// Tells the other nodes (PostgreSQL only) that configuration changed.
    pub async fn announce(&self, change: Change) {
        announce_to(&self.db, change).await;
    }

    /// Tells the other nodes (PostgreSQL only) that events were committed.
    pub async fn events_committed(&self) {
        let Db::Pg(pool) = &self.db else { return };
        if let Err(err) = sqlx::query("SELECT pg_notify($1, $2)").bind(EVENTS_CHANNEL).bind(node_id().to_string()).execute(pool).await {
            tracing::debug!(error = %err, "notifying other nodes of events failed; they catch up on their own");
        }
    }
}

/// Tells the hub processes on `db` (PostgreSQL only) that configuration changed — from a
/// running hub or from the command line.
pub async fn announce_to(db: &Db, change: Change) {
    let Db::Pg(pool) = db else { return };
    if let Err(err) = sqlx::query("SELECT pg_notify($1, $2)").bind(CONFIG_CHANNEL).bind(change.encode()).execute(pool).await {
        tracing::warn!(error = %err, ?change, "announcing a configuration change failed; other nodes' caches expire on their own");
    }
}

/// What this process runs as, for `nodes`.
pub fn this_node(config: &Config) -> store::cluster::NodeRow {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_else(|_| "unknown".into());
    store::cluster::NodeRow {
        id: node_id(),
        hostname,
        pid: i64::from(std::process::id()),
        listen: config.listen.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: store::now_micros(),
        heartbeat_at: store::now_micros(),
    }
}

/// Keeps this node's heartbeat; removes its row (and leases) when it stops.
pub async fn heartbeat(db: Db, node: store::cluster::NodeRow, every: Duration, stop: CancellationToken) {
    let forget_after = (every * 20).as_micros() as i64;
    loop {
        if let Err(err) = store::cluster::heartbeat(&db, &node, forget_after).await {
            tracing::warn!(error = %err, "node heartbeat failed");
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    if let Err(err) = store::cluster::remove_node(&db, node.id).await {
        tracing::warn!(error = %err, "removing this node's row failed; it expires");
    }
}

/// Holds an exclusive lock on a SQLite database for this process's lifetime: SQLite serves
/// one hub process; a second `omnibridge serve` on the same file is refused.
pub fn lock_sqlite(url: &str) -> anyhow::Result<Option<std::fs::File>> {
    let Some(path) = store::sqlite_file(url) else { return Ok(None) };
    let lock_path = {
        let mut p = path.into_os_string();
        p.push(".serve-lock");
        std::path::PathBuf::from(p)
    };
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "another omnibridge serve is using {} (lock {}): SQLite serves one process; to run several, use PostgreSQL (database_url = \"postgres://…\")",
            url,
            lock_path.display()
        ),
        Err(std::fs::TryLockError::Error(err)) => Err(err.into()),
    }
}

/// Outbox rows already handed on, so a row read twice (the cursor looks back a little, for
/// transactions that committed out of order) is passed on once.
struct Seen {
    ids: HashSet<Uuid>,
    order: VecDeque<Uuid>,
}

impl Seen {
    const MAX: usize = 20_000;

    fn first_time(&mut self, id: Uuid) -> bool {
        if !self.ids.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::MAX
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// How far back (in outbox sequence numbers) each read looks, for transactions that took a
/// number earlier and committed later.
const LOOK_BACK: i64 = 500;

/// PostgreSQL only: listens for the other nodes' notifications; hands their committed events to
/// this node's websockets, and applies their configuration changes through `on_change`.
pub async fn bridge(
    hub: crate::state::AppState,
    on_change: Arc<dyn Fn(Change) + Send + Sync>,
    stop: CancellationToken,
) {
    let Db::Pg(pool) = &hub.db else { return };
    let me = node_id();
    let mut cursor = match store::outbox::max_seq(&hub.db).await {
        Ok(seq) => seq,
        Err(err) => {
            tracing::error!(error = %err, "the cluster bridge cannot read the outbox; realtime stays local");
            return;
        }
    };
    let mut seen = Seen { ids: HashSet::new(), order: VecDeque::new() };
    let mut local = hub.bus.subscribe();
    let mut backoff = Duration::from_millis(200);
    'connect: loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!(error = %err, "the cluster bridge cannot listen; retrying");
                tokio::select! { _ = stop.cancelled() => return, _ = tokio::time::sleep(backoff) => {} }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(err) = listener.listen_all([EVENTS_CHANNEL, CONFIG_CHANNEL]).await {
            tracing::warn!(error = %err, "the cluster bridge cannot listen; retrying");
            continue;
        }
        backoff = Duration::from_millis(200);
        // Whatever was missed while not listening.
        cursor = catch_up(&hub, me, cursor, &mut seen).await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // Events this node committed: tell the others (coalescing a burst into one).
                event = local.recv() => match event {
                    Ok(e) if !e.remote => {
                        while local.try_recv().is_ok() {}
                        hub.cluster.events_committed().await;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => hub.cluster.events_committed().await,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                note = listener.recv() => match note {
                    Ok(note) if note.channel() == CONFIG_CHANNEL => {
                        if let Some((node, change)) = Change::decode(note.payload())
                            && node != me
                        {
                            on_change(change);
                        }
                    }
                    Ok(note) => {
                        if note.payload() != me.to_string() {
                            cursor = catch_up(&hub, me, cursor, &mut seen).await;
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "the cluster bridge lost its connection; reconnecting");
                        continue 'connect;
                    }
                },
                // A notification can be lost with a connection: look anyway, now and then.
                _ = tokio::time::sleep(Duration::from_secs(1)) => cursor = catch_up(&hub, me, cursor, &mut seen).await,
            }
        }
    }
}

/// Publishes to this node's websockets the other nodes' events past `cursor`; returns the new
/// cursor.
async fn catch_up(hub: &crate::state::AppState, me: Uuid, cursor: i64, seen: &mut Seen) -> i64 {
    let recent = match store::outbox::others_since(&hub.db, cursor - LOOK_BACK, me, 1000).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "reading other nodes' events failed");
            return cursor;
        }
    };
    let next = recent.iter().map(|(seq, _)| *seq).max().unwrap_or(cursor).max(cursor);
    // Only the events not handed on yet are read whole and opened.
    let fresh: Vec<Uuid> = recent.into_iter().map(|(_, id)| id).filter(|id| seen.first_time(*id)).collect();
    let rows = match store::outbox::by_ids(&hub.db, &fresh).await {
        Ok(rows) => rows,
        Err(err) => {
            tracing::warn!(error = %err, "reading other nodes' events failed");
            return cursor;
        }
    };
    let mut events = Vec::new();
    for row in rows {
        match crate::outbox::from_row(hub, &row).await {
            Ok(Some(mut event)) => {
                event.remote = true;
                events.push(event);
            }
            Ok(None) => {}
            Err(err) => tracing::warn!(event_id = %row.id, error = %err, "an event of another node cannot be opened"),
        }
    }
    if !events.is_empty() {
        crate::realtime_remote::deliver(hub, &events).await;
        hub.bus.relay(events);
    }
    next
}

//! Many hub processes on one PostgreSQL database.
//!
//! - Node identity: each process has an id ([`node_id`]), registers in `nodes` and renews a
//!   heartbeat; `omnibridge nodes` lists the live ones and what each owns.
//! - Leases: work that must have exactly one owner (a mailbox's importer, a bot's long poll)
//!   runs only while its node holds the lease row and renews it; a node that dies stops
//!   renewing and another takes over once the lease expires ([`Cluster::hold`]).
//! - Realtime across processes: after committing events a node sends `NOTIFY
//!   omnibridge_events`; the others relay them to their websockets
//!   (`crate::runtime::relay`).
//! - Caches: a change to configuration a node caches (a channel, a tenant's policy or
//!   allow-list, an API key) is announced with `NOTIFY omnibridge_config`, and every node drops
//!   what it cached.
//!
//! On SQLite there is one process (see [`lock_sqlite`]): leases are taken at once, and the
//! notifications are not needed.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Config;
use crate::store::{self, Db};

/// This process's node id.
pub fn node_id() -> Uuid {
    crate::domain::node_id()
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
    /// A contact's web chat sessions changed hands (a merge, an unmerge) or ended with its
    /// data key (an erasure): drop its cached sessions and its cached key.
    Contact(Uuid),
}

impl Change {
    fn encode(self) -> String {
        match self {
            Change::Channel(id) => format!("{}:channel:{id}", node_id()),
            Change::Tenant(id) => format!("{}:tenant:{id}", node_id()),
            Change::Access(id) => format!("{}:access:{id}", node_id()),
            Change::Contact(id) => format!("{}:contact:{id}", node_id()),
        }
    }

    /// The change and the node that made it.
    pub fn decode(text: &str) -> Option<(Uuid, Change)> {
        let mut parts = text.splitn(3, ':');
        let node = parts.next()?.parse().ok()?;
        let kind = parts.next()?;
        let id = parts.next()?.parse().ok()?;
        match kind {
            "channel" => Some((node, Change::Channel(id))),
            "tenant" => Some((node, Change::Tenant(id))),
            "access" => Some((node, Change::Access(id))),
            "contact" => Some((node, Change::Contact(id))),
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
        if let Err(err) = store::cluster::notify(&self.db, EVENTS_CHANNEL, &node_id().to_string()).await {
            tracing::debug!(error = %err, "notifying other nodes of events failed; they catch up on their own");
        }
    }
}

/// Tells the hub processes on `db` (PostgreSQL only) that configuration changed — from a
/// running hub or from the command line.
pub async fn announce_to(db: &Db, change: Change) {
    if let Err(err) = store::cluster::notify(db, CONFIG_CHANNEL, &change.encode()).await {
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


//! omnibridge: an omnichannel bridge server.
//!
//! [`run`] wires the hub together — store, keyring, channels, the ingest writer, the send worker
//! behind the egress door, the HTTP router — and serves until `shutdown` is cancelled. The binary
//! calls it for `omnibridge serve`; tests call it on port 0.

pub mod access;
pub mod api;
pub mod backup;
pub mod channels;
pub mod cluster;
pub mod config;
pub mod consent;
pub mod contacts;
pub mod domain;
pub mod egress;
pub mod events;
pub mod hub;
pub mod inbox;
pub mod ingest;
pub mod limits;
pub mod net;
pub mod outgoing;
pub mod policy;
pub mod privacy;
pub mod rights;
pub mod runtime;
pub mod search;

pub mod store;
pub mod team;
pub mod webhooks;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use omnibridge_webchat::{VisitorSockets, WidgetState};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::channels::{Channels, ChannelsSetup, Kinds};
use crate::channels::runners::Runners;
use crate::inbox::widget::HubWidgetBackend;
use crate::config::Config;
use crate::egress::Door;
use crate::egress::worker::SendWorker;
use crate::ingest::{Ingest, WriterContext};
use crate::events::log::EventLog;
use crate::events::outbox::EventBus;
use crate::privacy::{Keyring, SecretKey, load_or_create_master_key, parse_master_key};
use crate::hub::Hub;
use crate::store::{Db, DbOptions};

/// Installs the process-wide TLS provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process-wide Prometheus recorder, installed on first use.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().add_global_label("node", cluster::node_id().to_string()).install_recorder().ok()).clone()
}

/// The master key from configuration, or the one generated into the data directory.
pub fn master_key(config: &Config) -> anyhow::Result<SecretKey> {
    if let Some(text) = &config.master_key {
        return Ok(parse_master_key(text)?);
    }
    let (key, created) = load_or_create_master_key(&config.data_dir)?;
    if created {
        tracing::warn!(
            path = %config.data_dir.join("master.key").display(),
            "no master key configured: generated one; back it up apart from the database, or set OMNIBRIDGE_MASTER_KEY"
        );
    }
    Ok(key)
}

/// The key generations the configured master key opens, read from the main database.
pub async fn key_generations(config: &Config) -> anyhow::Result<Vec<privacy::Generation>> {
    let master = master_key(config)?;
    let db = Db::connect(&db_options(config)).await.context("opening the database to read the key roots")?;
    let generations = privacy::rotation::generations(&db, &master).await;
    db.close().await;
    Ok(generations?)
}

/// The keyring: the key generations opened with the configured master key (see
/// [`privacy::root`]), read from the main database (migrated first).
pub async fn keyring(config: &Config) -> anyhow::Result<Keyring> {
    let keyring = Keyring::with_generations(key_generations(config).await?);
    // Index keys imported tenants brought along, wherever they live.
    for url in runtime::regions::database_urls(config) {
        let db = Db::connect(&db_options_for(config, &url)).await.context("opening a database to read imported tenants' keys")?;
        let rows = store::key_roots::tenant_keys(&db, None).await;
        db.close().await;
        keyring.adopt_index_keys(&rows?).context("an imported tenant's index keys do not open with the master key")?;
    }
    Ok(keyring)
}

pub fn db_options(config: &Config) -> DbOptions {
    db_options_for(config, &config.database_url)
}

/// Options for one of the configured databases (the main one or a region's).
pub fn db_options_for(config: &Config, url: &str) -> DbOptions {
    DbOptions {
        url: url.to_owned(),
        max_connections: config.database.max_connections,
        sqlite_synchronous: config.database.sqlite_synchronous.clone(),
        sqlite_manual_checkpoints: false,
    }
}

/// Connects to the configured database and applies pending migrations.
pub async fn connect(config: &Config) -> anyhow::Result<Db> {
    Db::connect(&db_options(config))
        .await
        .with_context(|| format!("opening database {}", config::redact_url(&config.database_url)))
}

/// Keeps the SQLite write-ahead log short, off the ingest writer's path.
async fn checkpoint_periodically(db: Db, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Err(err) = db.checkpoint().await {
            tracing::warn!(error = %err, "WAL checkpoint failed");
        }
    }
}

/// Starts the ingest writers, each on a connection of its own: on SQLite (one writer, it has one
/// write lock) the page cache stays warm — a pool would hand each batch a connection whose cache
/// the previous write invalidated. On PostgreSQL one writer is the default too: appends commit in
/// sequence order under one lock, so several writers mostly wait for each other's commits, and
/// one writer with larger batches ingested more (3,982 msg/s against 3,138 with four, with a
/// lower p99); `ingest.writers` sets more, e.g. for a database on another machine, where a
/// commit's round trip is longer.
async fn start_ingest(config: &Config, url: &str, db: &Db, hub: &Hub) -> anyhow::Result<(Arc<Ingest>, Db, Vec<JoinHandle<()>>)> {
    let writers = match (db, config.ingest.writers) {
        (Db::Sqlite(_), _) => 1,
        (Db::Pg(_), 0) => 1,
        (Db::Pg(_), n) => n,
    };
    let options = DbOptions { max_connections: writers as u32, sqlite_manual_checkpoints: true, ..db_options_for(config, url) };
    let writer_db = Db::connect_without_migrating(&options).await?;
    let ctx = WriterContext { db: writer_db.clone(), keyring: hub.keyring.clone(), channels: hub.channels.clone(), bus: hub.bus.clone() };
    let (ingest, writers) = Ingest::new(ctx, writers, config.ingest.batch_max, config.ingest.queue_capacity);
    Ok((ingest, writer_db, writers.into_iter().map(|w| tokio::spawn(w.run())).collect()))
}

fn send_worker(config: &Config, hub: &Hub) -> SendWorker {
    SendWorker {
        db: hub.db.clone(),
        door: hub.door.clone(),
        keyring: hub.keyring.clone(),
        channels: hub.channels.clone(),
        bus: hub.bus.clone(),
        wake: hub.send_wake.clone(),
        batch: config.delivery.batch,
        lease: Duration::from_secs(config.delivery.lease_secs),
        poll_interval: Duration::from_millis(config.delivery.poll_interval_ms),
        max_attempts: config.delivery.max_attempts,
        public_url: config.public_base_url(),
    }
}

/// What the cells of one process share.
struct Shared {
    config: Arc<Config>,
    /// One set of buckets for the process, whichever cell a request goes to.
    limits: Arc<limits::RateLimits>,
    keyring: Arc<Keyring>,
    policies: Arc<policy::Policies>,
    provider_http: reqwest::Client,
    outbound_policy: Arc<net::ssrf::AddressPolicy>,
    workers: CancellationToken,
    shutdown: CancellationToken,
    /// The channel kinds, and the web chat visitors' open sockets they push to.
    kinds: Arc<Kinds>,
    sockets: VisitorSockets,
}

/// One database and everything that works on it: a whole hub for the regions it holds.
struct Cell {
    hub: Arc<Hub>,
    db: Db,
    writer_db: Db,
    runners: Arc<Runners>,
    tasks: Vec<JoinHandle<()>>,
    writer_tasks: Vec<JoinHandle<()>>,
    checkpointer: JoinHandle<()>,
}

impl Cell {
    /// Connects (migrating) and starts the cell's workers; returns it and its router.
    async fn start(shared: &Shared, url: &str) -> anyhow::Result<(Self, axum::Router)> {
        let config = &shared.config;
        let db = Db::connect(&db_options_for(config, url)).await.with_context(|| format!("opening database {}", config::redact_url(url)))?;
        let keyring = shared.keyring.clone();
        let log = EventLog::open(db.clone(), keyring.clone(), config.events.memory_window).await.context("reading the event log")?;
        let bus = EventBus::new(log.clone());
        let send_wake = Arc::new(Notify::new());
        let channels = Channels::new(ChannelsSetup {
            db: db.clone(),
            keyring: keyring.clone(),
            kinds: shared.kinds.clone(),
            bus: bus.clone(),
            send_wake: send_wake.clone(),
            max_attempts: config.delivery.max_attempts,
            http: shared.provider_http.clone(),
            guard: net::outbound::guard(shared.outbound_policy.clone()),
            public_url: config.public_base_url(),
        });
        let cluster = Arc::new(cluster::Cluster::new(db.clone(), config));
        let runners = Arc::new(Runners::new(db.clone(), channels.clone(), cluster.clone(), shared.workers.clone()));
        let hub = Arc::new(Hub {
            config: config.clone(),
            db: db.clone(),
            keyring: keyring.clone(),
            policies: shared.policies.clone(),
            channels: channels.clone(),
            door: Door::new(db.clone(), shared.policies.clone(), keyring.clone()).with_minimum_age(config.consent.minimum_age),
            bus: bus.clone(),
            send_wake,
            webhook_ready: Arc::new(Notify::new()),
            privacy_wake: Arc::new(Notify::new()),
            mail_wake: Arc::new(Notify::new()),
            runners: runners.clone(),
            webhooks: Arc::new(webhooks::client(&config.webhooks).context("building the webhook HTTP client")?),
            auth_cache: Default::default(),
            ip_allow: Default::default(),
            metrics: metrics_handle(),
            cluster: cluster.clone(),
            limits: shared.limits.clone(),
            shutdown: shared.shutdown.clone(),
            outbound_policy: shared.outbound_policy.clone(),
            revocations: tokio::sync::broadcast::Sender::new(256),
            visitor_sessions: Default::default(),
            socket_counts: Default::default(),
        });
        let (ingest, writer_db, writer_tasks) = start_ingest(config, url, &db, &hub).await?;
        let checkpointer = tokio::spawn(checkpoint_periodically(db.clone(), shared.workers.clone()));
        // Keys a process still on an older key generation wrapped after a rotation.
        match privacy::rotation::settle(&db, &keyring).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rewrapped = n, "re-wrapped keys left under an older key generation"),
            Err(err) => tracing::warn!(error = %err, "re-wrapping keys left under an older key generation failed"),
        }
        let mut tasks = vec![
            tokio::spawn(log.clone().tail(shared.workers.clone())),
            tokio::spawn(send_worker(config, &hub).run(shared.workers.clone())),
        ];
        tasks.extend(webhooks::start(
            &config.webhooks,
            db.clone(),
            keyring.clone(),
            Door::new(db.clone(), shared.policies.clone(), keyring.clone()),
            bus.clone(),
            hub.webhooks.clone(),
            hub.webhook_ready.clone(),
            Duration::from_secs(config.http.shutdown_grace_secs),
            shared.workers.clone(),
        ));
        let consumer_batch = config.events.consumer_batch;
        tasks.push(tokio::spawn(events::consumer::run(inbox::assignment::Assignment(hub.clone()), db.clone(), bus.clone(), consumer_batch, shared.workers.clone())));
        tasks.push(tokio::spawn(events::consumer::run(inbox::hours::AwayMessages(hub.clone()), db.clone(), bus.clone(), consumer_batch, shared.workers.clone())));
        let activity = ingest.activity();
        let indexer = search::Indexer::new(db.clone(), keyring.clone()).yielding_to(Arc::new(move || activity.within(Duration::from_millis(100))));
        tasks.push(tokio::spawn(events::consumer::run(indexer, db.clone(), bus.clone(), consumer_batch, shared.workers.clone())));
        tasks.push(tokio::spawn(search::index::backfill_in_background(db.clone(), keyring.clone(), shared.workers.clone())));
        tasks.push(tokio::spawn(events::retention::run(db.clone(), Duration::from_secs(config.events.retention_days * 86_400), shared.workers.clone())));
        tasks.push(tokio::spawn(team::mailer::run(db.clone(), keyring.clone(), hub.door.clone(), config.clone(), hub.mail_wake.clone(), shared.workers.clone())));
        let privacy_worker = rights::requests::Worker { hub: hub.clone(), wake: hub.privacy_wake.clone() };
        tasks.push(tokio::spawn(privacy_worker.run(shared.workers.clone())));
        tasks.push(tokio::spawn(backup::exports::run(db.clone(), config.clone(), shared.workers.clone())));
        tasks.push(tokio::spawn(privacy::retention::run(db.clone(), privacy::tombstones::Journal::new(config.tombstones_path()), config.webhooks.payload_retention_days, shared.workers.clone())));
        tasks.push(tokio::spawn(policy::notices::watch(db.clone(), bus.clone(), shared.policies.clone(), shared.workers.clone())));
        tasks.push(tokio::spawn(privacy::rotation::watch(
            db.clone(),
            keyring.clone(),
            {
                let config = config.clone();
                move || master_key(&config).ok()
            },
            shared.workers.clone(),
        )));
        tasks.push(tokio::spawn(cluster::heartbeat(db.clone(), cluster::this_node(config), cluster.heartbeat, shared.workers.clone())));
        runners.start_all(ingest.clone()).await.context("starting channel importers")?;
        tasks.push(tokio::spawn(runners.clone().supervise()));
        if cluster.is_shared() {
            let on_change: Arc<dyn Fn(cluster::Change) + Send + Sync> = Arc::new({
                let hub = hub.clone();
                move |change| {
                    let hub = hub.clone();
                    tokio::spawn(async move {
                        match change {
                            cluster::Change::Channel(id) => {
                                hub.visitor_sessions.forget_channel(id);
                                hub.runners.changed_elsewhere(id).await
                            }
                            cluster::Change::Tenant(id) => {
                                hub.policies.invalidate(id);
                                hub.ip_allow.forget(id);
                            }
                            cluster::Change::Access(id) => team::operators::Ended::here(&hub, id),
                            cluster::Change::Contact(id) => hub.contact_changed_here(id),
                        }
                    });
                }
            });
            tasks.push(tokio::spawn(runtime::relay::bridge(hub.clone(), on_change, shared.workers.clone())));
            tasks.push(tokio::spawn(runtime::relay::follow_replies(hub.clone(), shared.workers.clone())));
        }
        let widget = omnibridge_webchat::router(WidgetState {
            backend: Arc::new(HubWidgetBackend::new(
                hub.clone(),
                inbox::widget::WidgetOptions {
                    purposes: config.consent.purposes(),
                    session_ttl: Duration::from_secs(config.widget.session_days * 86_400),
                    public_url: config.public_base_url(),
                },
            )),
            inbound: ingest.clone(),
            sockets: shared.sockets.clone(),
            max_text_chars: config.widget.max_text_chars,
            max_upload_bytes: config.http.widget_max_upload_bytes,
            shutdown: shared.shutdown.clone(),
        });
        let router = api::router(hub.clone(), widget, ingest);
        Ok((Self { hub, db, writer_db, runners, tasks, writer_tasks, checkpointer }, router))
    }

    /// Stops the cell's workers (the router, and with it the last ingest sender, must be gone:
    /// the writer drains and stops).
    async fn stop(self, grace: Duration) {
        self.runners.shutdown(grace).await;
        let _ = tokio::time::timeout(grace, futures_util::future::join_all(self.writer_tasks)).await;
        let _ = tokio::time::timeout(grace * 2, futures_util::future::join_all(self.tasks)).await;
        let _ = self.checkpointer.await;
        let _ = self.db.checkpoint().await;
        self.writer_db.close().await;
        self.db.close().await;
    }
}

/// Runs the hub on `listener` until `shutdown` is cancelled.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    Server::new(config).run(listener, shutdown).await
}

/// The hub and the channel kinds it serves: the built-in ones, and any an embedding program
/// adds.
pub struct Server {
    config: Config,
    kinds: Vec<Arc<dyn omnibridge_channel::ChannelKind>>,
}

impl Server {
    pub fn new(config: Config) -> Self {
        Self { config, kinds: Vec::new() }
    }

    /// Serves channels of one more kind.
    pub fn with_kind(mut self, kind: Arc<dyn omnibridge_channel::ChannelKind>) -> Self {
        self.kinds.push(kind);
        self
    }

    /// Runs the hub on `listener` until `shutdown` is cancelled.
    pub async fn run(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        serve_hub(self.config, &self.kinds, listener, shutdown).await
    }
}

/// Every open socket (a visitor's widget, an operator's console) is a file descriptor: raises
/// the process's soft limit to its hard limit, once, and says so when the OS does not allow it.
fn raise_file_limit() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < 16_384 => {
            tracing::warn!(limit, "open files are limited to {limit}: at most about that many websockets; raise the hard limit (ulimit -Hn) for more")
        }
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(err) => tracing::warn!(error = %err, "the open file limit could not be raised; websockets beyond it will be refused"),
    });
}

async fn serve_hub(config: Config, extra_kinds: &[Arc<dyn omnibridge_channel::ChannelKind>], listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    install_crypto_provider();
    raise_file_limit();
    let config = Arc::new(config);
    // SQLite serves one process: hold each file's lock while serving.
    let mut _sqlite_locks = Vec::new();
    for url in runtime::regions::database_urls(&config) {
        _sqlite_locks.extend(cluster::lock_sqlite(&url)?);
    }
    let registry = policy::registry::Registry::load(&config.subprocessors.registry_file)?;
    let outbound_policy = Arc::new(net::ssrf::AddressPolicy::new(config.outbound.allow_list()));
    let sockets = VisitorSockets::default();
    let kinds = Arc::new(Kinds::new(&sockets, extra_kinds)?);
    let shared = Shared {
        keyring: Arc::new(keyring(&config).await?),
        policies: Arc::new(policy::Policies::new(registry, kinds.clone(), config.clone())),
        kinds,
        sockets,
        provider_http: net::outbound::provider_client(outbound_policy.clone()).context("building the provider HTTP client")?,
        outbound_policy,
        workers: CancellationToken::new(),
        shutdown: shutdown.clone(),
        limits: Arc::new(limits::RateLimits::new(config.limits.clone())),
        config: config.clone(),
    };
    let sweeper = tokio::spawn(limits::sweeper(shared.limits.clone(), shared.workers.clone()));
    // One cell per database: the main one first (it also holds the directory of tenants), then
    // each region's own.
    let mut cells = Vec::new();
    let mut routers = Vec::new();
    for url in runtime::regions::database_urls(&config) {
        let (cell, router) = Cell::start(&shared, &url).await?;
        cells.push(cell);
        routers.push(router);
    }
    let app = if routers.len() == 1 {
        routers.pop().unwrap_or_default()
    } else {
        runtime::regions::dispatcher(cells.iter().map(|c| c.hub.clone()).zip(routers).collect())
    };
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = cells[0].db.backend(), cells = cells.len(), "omnibridge listening");
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let header_timeout = Duration::from_secs(config.http.header_read_timeout_secs.max(1));
    let served: anyhow::Result<()> = tokio::select! {
        _ = runtime::serve::serve(listener, app, header_timeout, Arc::new(config.server.trusted()), shutdown.clone()) => Ok(()),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("open connections did not finish within the grace period");
            Ok(())
        }
    };
    shared.workers.cancel();
    let _ = sweeper.await;
    for cell in cells {
        cell.stop(grace).await;
    }
    tracing::info!("omnibridge stopped");
    served
}

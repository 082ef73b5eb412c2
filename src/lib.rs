//! omnibridge: an omnichannel bridge server.
//!
//! [`run`] wires the hub together — store, keyring, channels, the ingest writer, the send worker
//! behind the egress door, the HTTP router — and serves until `shutdown` is cancelled. The binary
//! calls it for `omnibridge serve`; tests call it on port 0.

pub mod api;
pub mod channels;
pub mod cli;
pub mod config;
pub mod consent;
pub mod domain;
pub mod egress;
pub mod error;
pub mod ingest;
pub mod outbox;
pub mod policy;
pub mod present;
pub mod privacy;
pub mod state;
pub mod store;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use omnibridge_webchat::{VisitorSockets, WidgetState};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::channels::Channels;
use crate::channels::runners::Runners;
use crate::channels::webchat::HubWidgetBackend;
use crate::config::Config;
use crate::egress::Door;
use crate::egress::worker::SendWorker;
use crate::ingest::{Ingest, WriterContext};
use crate::outbox::EventBus;
use crate::privacy::{Keyring, SecretKey, load_or_create_master_key, parse_master_key};
use crate::state::Hub;
use crate::store::{Db, DbOptions};

/// Installs the process-wide TLS provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The process-wide Prometheus recorder, installed on first use.
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().ok()).clone()
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

pub fn db_options(config: &Config) -> DbOptions {
    DbOptions {
        url: config.database_url.clone(),
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
/// the previous write invalidated; on PostgreSQL several writers share the load.
async fn start_ingest(config: &Config, db: &Db, hub: &Hub) -> anyhow::Result<(Arc<Ingest>, Db, Vec<JoinHandle<()>>)> {
    let writers = match (db, config.ingest.writers) {
        (Db::Sqlite(_), _) => 1,
        (Db::Pg(_), 0) => 4,
        (Db::Pg(_), n) => n,
    };
    let options = DbOptions { max_connections: writers as u32, sqlite_manual_checkpoints: true, ..db_options(config) };
    let writer_db = Db::connect_without_migrating(&options).await?;
    let ctx = WriterContext { db: writer_db.clone(), keyring: hub.keyring.clone(), channels: hub.channels.clone(), bus: hub.bus.clone() };
    let (ingest, writers) = Ingest::new(ctx, writers, config.ingest.batch_max, config.ingest.queue_capacity);
    Ok((ingest, writer_db, writers.into_iter().map(|w| tokio::spawn(w.run())).collect()))
}

fn send_worker(config: &Config, hub: &Hub) -> SendWorker {
    SendWorker {
        db: hub.db.clone(),
        door: Door::new(hub.db.clone(), hub.policies.clone(), hub.keyring.clone()).with_minimum_age(config.consent.minimum_age),
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

/// Runs the hub on `listener` until `shutdown` is cancelled.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    install_crypto_provider();
    let config = Arc::new(config);
    let keyring = Arc::new(Keyring::new(master_key(&config)?));
    let db = connect(&config).await?;
    let registry = policy::registry::Registry::load(&config.subprocessors.registry_file)?;
    let policies = Arc::new(policy::Policies::new(registry, config.clone()));
    let bus = EventBus::new(4096);
    let workers = CancellationToken::new();
    let sockets = VisitorSockets::default();
    let provider_http = reqwest::Client::builder()
        .user_agent(concat!("omnibridge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .context("building the provider HTTP client")?;
    let channels = Arc::new(Channels::new(db.clone(), sockets.clone(), keyring.clone(), bus.clone(), provider_http, config.public_base_url()));
    let runners = Arc::new(Runners::new(db.clone(), channels.clone(), workers.clone()));
    let hub = Arc::new(Hub {
        config: config.clone(),
        db: db.clone(),
        keyring: keyring.clone(),
        policies: policies.clone(),
        channels: channels.clone(),
        bus: bus.clone(),
        send_wake: Arc::new(Notify::new()),
        webhook_ready: Arc::new(Notify::new()),
        runners: runners.clone(),
        webhooks: Arc::new(webhooks::client(&config.webhooks).context("building the webhook HTTP client")?),
        auth_cache: Default::default(),
        metrics: metrics_handle(),
        shutdown: shutdown.clone(),
    });

    let (ingest, writer_db, writer_tasks) = start_ingest(&config, &db, &hub).await?;
    let checkpointer = tokio::spawn(checkpoint_periodically(db.clone(), workers.clone()));
    let sender_task = tokio::spawn(send_worker(&config, &hub).run(workers.clone()));
    let webhook_tasks = webhooks::start(
        &config.webhooks,
        db.clone(),
        keyring.clone(),
        Door::new(db.clone(), policies.clone(), keyring.clone()),
        bus.clone(),
        hub.webhooks.clone(),
        hub.webhook_ready.clone(),
        Duration::from_secs(config.http.shutdown_grace_secs),
        workers.clone(),
    );

    let notices_task = tokio::spawn(policy::notices::watch(db.clone(), bus.clone(), policies.clone(), workers.clone()));
    runners.start_all(ingest.clone()).await.context("starting channel importers")?;
    let widget = omnibridge_webchat::router(WidgetState {
        backend: Arc::new(HubWidgetBackend::new(db.clone(), keyring.clone(), channels.clone(), bus.clone(), config.consent.purposes())),
        inbound: ingest.clone(),
        sockets,
        max_text_chars: config.widget.max_text_chars,
        shutdown: shutdown.clone(),
    });
    let app = api::router(hub, widget, ingest);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, database = db.backend(), "omnibridge listening");
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let served = tokio::select! {
        result = server => result.context("serving HTTP"),
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("open connections did not finish within the grace period");
            Ok(())
        }
    };
    // The router (and with it the last ingest sender) is gone: the writer drains and stops.
    workers.cancel();
    runners.shutdown(grace).await;
    let _ = tokio::time::timeout(grace, futures_util::future::join_all(writer_tasks)).await;
    let _ = tokio::time::timeout(grace, sender_task).await;
    let _ = tokio::time::timeout(grace * 2, futures_util::future::join_all(webhook_tasks)).await;
    let _ = notices_task.await;
    let _ = checkpointer.await;
    let _ = db.checkpoint().await;
    writer_db.close().await;
    db.close().await;
    tracing::info!("omnibridge stopped");
    served
}

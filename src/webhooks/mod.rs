//! Outbound webhooks, Standard Webhooks 1.0.
//!
//! Events reach integrations in three steps, each durable in the database:
//! [`dispatch`] follows the event log and fans every committed event out into one delivery per
//! subscribed endpoint;
//! [`deliver`] claims due deliveries, signs them ([`signature`]) and posts them through the
//! egress door with the guarded [`client`], retrying on the [`schedule`]; [`housekeeping`] purges
//! payloads past their retention and reports queue depth. Endpoints are managed over the API
//! (`/v1/webhooks/…`, in `crate::api::webhooks`).

pub mod client;
pub mod deliver;
pub mod dispatch;
pub mod housekeeping;
pub mod schedule;
pub mod signature;
pub mod test_event;
pub mod thin;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::WebhooksConfig;
use crate::egress::Door;
use crate::events::outbox::EventBus;
use crate::privacy::Keyring;
use crate::store::Db;

pub use client::WebhookClient;

/// The retry schedule configured in `[webhooks]`.
pub fn retry_schedule(config: &WebhooksConfig) -> schedule::RetrySchedule {
    schedule::RetrySchedule {
        delays: config.retry_schedule_secs.iter().map(|s| Duration::from_secs(*s)).collect(),
        jitter: config.jitter,
        overload_penalty: Duration::from_secs(config.overload_penalty_secs),
    }
}

/// The guarded HTTP client configured in `[webhooks]`.
pub fn client(config: &WebhooksConfig) -> Result<WebhookClient, reqwest::Error> {
    WebhookClient::new(
        crate::net::ssrf::AddressPolicy::new(config.allow_list()),
        Duration::from_secs(config.timeout_secs),
        config.response_body_max_bytes,
    )
}

/// Starts the dispatcher, the delivery worker and housekeeping; they stop with `stop`.
#[allow(clippy::too_many_arguments)]
pub fn start(
    config: &WebhooksConfig,
    db: Db,
    keyring: Arc<Keyring>,
    door: Door,
    bus: EventBus,
    client: Arc<WebhookClient>,
    ready: Arc<Notify>,
    grace: Duration,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let deliverer = Arc::new(deliver::Deliverer {
        db: db.clone(),
        keyring,
        door,
        client,
        bus: bus.clone(),
        ready: ready.clone(),
        schedule: retry_schedule(config),
        // A claim outlives the request and the time to record it.
        lease: Duration::from_secs(config.lease_secs.max(config.timeout_secs + 5)),
        batch: config.batch,
        max_in_flight: config.max_in_flight,
        poll_interval: Duration::from_millis(config.poll_interval_ms),
        disable_after: Duration::from_secs(config.disable_after_secs),
        grace,
        slots: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight)),
    });
    let (handed, fresh) = tokio::sync::mpsc::unbounded_channel();
    let dispatcher = dispatch::Dispatcher { deliveries_ready: ready.clone(), handover: deliver::Handover::new(deliverer.clone(), handed) };
    let dispatching = crate::events::consumer::run(dispatcher, db.clone(), bus.clone(), config.fanout_batch, stop.clone());
    let housekeeping = housekeeping::Housekeeping { db, retention: Duration::from_secs(config.payload_retention_days * 86_400) };
    vec![
        tokio::spawn(dispatching),
        tokio::spawn(deliverer.run(fresh, stop.clone())),
        tokio::spawn(housekeeping.run(stop)),
    ]
}

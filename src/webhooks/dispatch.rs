//! Fan-out: turns committed events into deliveries, one per subscribed endpoint.
//!
//! Events not yet fanned out carry `dispatched = false` in the outbox. The dispatcher takes a
//! batch of them (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so several hub processes share the
//! work), inserts the deliveries and sets the flag in the same transaction: an event is fanned
//! out exactly once, and a crash in between leaves it to the next round. Endpoints that are
//! disabled still get a delivery row (status `failed`), so they can be recovered later.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::thin;
use crate::events::outbox::EventBus;
use crate::privacy::Keyring;
use crate::store::webhooks::NewDelivery;
use crate::store::{self, Db, EventRow, StoreError, now_micros};

pub struct Dispatcher {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub bus: EventBus,
    /// Wakes the delivery worker when deliveries were created.
    pub deliveries_ready: Arc<Notify>,
    pub batch: usize,
    pub poll_interval: Duration,
}

impl Dispatcher {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut committed = self.bus.subscribe();
        loop {
            loop {
                match self.fan_out_once().await {
                    Ok(0) => break,
                    Ok(_) => self.deliveries_ready.notify_one(),
                    Err(err) => {
                        tracing::error!(error = %err, "fanning out events to webhook endpoints failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                // Any committed event (or a lagged receiver) means there may be work.
                _ = committed.recv() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    /// Fans out one batch; returns how many events it took.
    pub async fn fan_out_once(&self) -> Result<usize, StoreError> {
        let mut tx = self.db.begin().await?;
        let events = store::webhooks::undispatched(&mut tx, self.batch).await?;
        if events.is_empty() {
            return Ok(0);
        }
        let tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect::<HashSet<_>>().into_iter().collect();
        let mut endpoints: HashMap<Uuid, Vec<store::webhooks::EndpointRow>> = HashMap::new();
        for endpoint in store::webhooks::endpoints_of_tenants(&mut tx, &tenants).await? {
            endpoints.entry(endpoint.tenant_id).or_default().push(endpoint);
        }
        let now = now_micros();
        let mut deliveries = Vec::new();
        for event in &events {
            for endpoint in endpoints.get(&event.tenant_id).into_iter().flatten().filter(|e| e.wants(&event.event_type)) {
                let body = if endpoint.thin_payload { Some(self.thin_body(event).await) } else { None };
                let (status, next_attempt_at, last_error) =
                    if endpoint.disabled { ("failed", None, Some("endpoint disabled")) } else { ("pending", Some(now), None) };
                deliveries.push(NewDelivery {
                    id: Uuid::now_v7(),
                    tenant_id: event.tenant_id,
                    endpoint_id: endpoint.id,
                    event_id: event.id,
                    event_type: event.event_type.clone(),
                    contact_id: event.contact_id,
                    body,
                    status,
                    next_attempt_at,
                    last_error,
                });
            }
        }
        store::webhooks::insert_deliveries(&mut tx, &deliveries, now).await?;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        store::webhooks::mark_dispatched(&mut tx, &seqs).await?;
        tx.commit().await?;
        metrics::counter!("omnibridge_webhook_deliveries_created_total").increment(deliveries.len() as u64);
        Ok(events.len())
    }

    /// The thin body of an event; an event whose contact was erased thins to its envelope.
    async fn thin_body(&self, event: &EventRow) -> Vec<u8> {
        let plain = match event.contact_id {
            None => Some(event.payload.clone()),
            Some(contact_id) => match self.keyring.data_key(&self.db, event.tenant_id, contact_id).await {
                Ok(key) => key.open_bytes("event.payload", event.id, &event.payload).ok(),
                Err(_) => None,
            },
        };
        thin::project(plain.as_deref().unwrap_or(b"{}"))
    }
}

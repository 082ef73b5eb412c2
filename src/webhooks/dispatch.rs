//! Fan-out: turns committed events into deliveries, one per subscribed endpoint.
//!
//! The dispatcher is a durable consumer of the event log (`crate::events::consumer`): it reads
//! the events after its position in batches, inserts the deliveries and moves its position in
//! the same transaction, so an event is fanned out exactly once — a crash in between leaves the
//! batch to the next round, and on PostgreSQL the position's row lock gives each batch to one
//! hub process. The events come from the log as committed (the window in memory, or the
//! database for a dispatcher that fell behind), already opened: fan-out reads no payload back.
//! Endpoints that are disabled still get a delivery row (status `failed`), so they can be
//! recovered later.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::Notify;
use uuid::Uuid;

use super::deliver::Handover;
use super::thin;
use crate::domain::events::Event;
use crate::events::WorkError;
use crate::events::consumer::Consumer;
use crate::events::outbox::UnitOfWork;
use crate::store::webhooks::NewDelivery;
use crate::store::{self, now_micros};

pub struct Dispatcher {
    /// Wakes the delivery worker when deliveries were created.
    pub deliveries_ready: Arc<Notify>,
    /// Deliveries to healthy endpoints go to the worker straight from here.
    pub handover: Handover,
}

impl Consumer for Dispatcher {
    fn name(&self) -> &'static str {
        "webhooks"
    }

    fn wants(&self, _: &Event) -> bool {
        true
    }

    async fn select(&self, db: &crate::store::Db, events: Vec<Arc<Event>>) -> Result<Vec<Arc<Event>>, WorkError> {
        let tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect::<HashSet<_>>().into_iter().collect();
        let endpoints = store::webhooks::endpoints_of_tenants(db, &tenants).await?;
        Ok(events.into_iter().filter(|e| endpoints.iter().any(|p| p.tenant_id == e.tenant_id && p.wants(e.event_type))).collect())
    }

    async fn handle(&self, work: &mut UnitOfWork, events: &[Arc<Event>]) -> Result<(), WorkError> {
        let tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect::<HashSet<_>>().into_iter().collect();
        let mut endpoints: HashMap<Uuid, Vec<store::webhooks::EndpointRow>> = HashMap::new();
        for endpoint in store::webhooks::endpoints_of_tenants(work.tx(), &tenants).await? {
            endpoints.entry(endpoint.tenant_id).or_default().push(endpoint);
        }
        if endpoints.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        let healthy = |e: &store::webhooks::EndpointRow| !e.disabled && e.first_failure_at.is_none();
        let wanted = events
            .iter()
            .map(|event| endpoints.get(&event.tenant_id).into_iter().flatten().filter(|e| healthy(e) && e.wants(event.event_type)).count())
            .sum();
        // Claimed now, as many as the worker has free slots for; the rest when due.
        let mut slots = self.handover.reserve(wanted);
        let lease_until = now + self.handover.lease().as_micros() as i64;
        let mut to_claim = slots.len();
        let mut deliveries = Vec::new();
        for event in events {
            for endpoint in endpoints.get(&event.tenant_id).into_iter().flatten().filter(|e| e.wants(event.event_type)) {
                let body = endpoint.thin_payload.then(|| thin::project(event.payload.as_bytes()));
                let (status, next_attempt_at, last_error) =
                    if endpoint.disabled { ("failed", None, Some("endpoint disabled")) } else { ("pending", Some(now), None) };
                let claimed = healthy(endpoint) && to_claim > 0;
                to_claim -= usize::from(claimed);
                deliveries.push(NewDelivery {
                    id: Uuid::now_v7(),
                    tenant_id: event.tenant_id,
                    endpoint_id: endpoint.id,
                    event_id: event.id,
                    event_type: event.event_type.to_owned(),
                    contact_id: event.contact_id,
                    body,
                    status,
                    next_attempt_at,
                    last_error,
                    lease_until: claimed.then_some(lease_until),
                });
            }
        }
        if deliveries.is_empty() {
            return Ok(());
        }
        let inserted: HashSet<Uuid> = store::webhooks::insert_deliveries(work.tx(), &deliveries, now).await?.into_iter().collect();
        metrics::counter!("omnibridge_webhook_deliveries_created_total").increment(inserted.len() as u64);
        let claimed: Vec<_> = deliveries.iter().filter(|d| d.lease_until.is_some() && inserted.contains(&d.id)).map(|d| d.claimed_row(now)).collect();
        if claimed.len() < deliveries.len() {
            work.wake(&self.deliveries_ready);
        }
        if !claimed.is_empty() {
            slots.truncate(claimed.len());
            let by_id: HashMap<Uuid, store::webhooks::EndpointRow> = endpoints.into_values().flatten().map(|e| (e.id, e)).collect();
            let full: HashSet<Uuid> = claimed.iter().filter(|d| d.body.is_none()).map(|d| d.event_id).collect();
            let payloads: HashMap<Uuid, Vec<u8>> = events
                .iter()
                .filter(|e| full.contains(&e.id))
                .map(|e| (e.id, e.payload.as_bytes().to_vec()))
                .collect();
            let fresh = self.handover.prepare(work.tx(), claimed, &by_id, payloads, slots).await?;
            let handover = self.handover.clone();
            work.then(move || handover.hand(fresh));
        }
        Ok(())
    }
}

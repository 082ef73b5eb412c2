//! The delivery worker: claims due deliveries, signs and posts them through the egress door,
//! and records every attempt.
//!
//! Three stages keep a slow receiver from holding up the others:
//! 1. the claimer takes due deliveries in batches (a lease, with `SKIP LOCKED` on PostgreSQL),
//!    loads their endpoints, secrets and payloads, and asks the door for permits in one write;
//! 2. each request runs as its own task, at most `max_in_flight` at once;
//! 3. the recorder writes finished attempts in batches: the attempt log, the delivery's new
//!    state (delivered, retry at, failed), the endpoint's failure clock, and operational events,
//!    in one transaction.
//!
//! A process that dies between a post and its record leaves the lease to expire and the
//! delivery is posted again: at least once, with the same `webhook-id`, as receivers expect.
//!
//! Fairness: a failing endpoint (one whose last attempt failed) has at most
//! [`FAILING_PER_ENDPOINT`] requests in flight, and one tenant's failing endpoints together at
//! most a quarter of the slots; what is over is handed back unsent for a second. So dead
//! receivers, whose requests each hold a slot until the timeout, cannot starve the deliveries of
//! healthy endpoints of this or any other tenant, while a healthy endpoint still gets every slot
//! it can use.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::client::{PostError, PostResult, SignedRequest, WebhookClient};
use super::schedule::{Failure, RetrySchedule, parse_retry_after, unit_random};
use super::signature::{SigningKey, message_id, signature_header};
use crate::events::outbox::{self, UnitOfWork};
use crate::privacy::DataKey;
use crate::domain::categories;
use crate::policy::transform;
use crate::domain::events::{self, Event};
use crate::egress::{Destination, Door, Grant, Permit, Transfer};
use crate::events::outbox::EventBus;
use crate::privacy::Keyring;
use crate::privacy::tenant_sealed;
use crate::store::webhooks::{DeliveryRow, DeliveryUpdate, EndpointRow, NewAttempt};
use crate::store::{self, Db, StoreError, Tx, now_micros};

pub struct Deliverer {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub door: Door,
    pub client: Arc<WebhookClient>,
    pub bus: EventBus,
    /// Signalled when deliveries become due (fan-out, replay).
    pub ready: Arc<Notify>,
    pub schedule: RetrySchedule,
    pub lease: Duration,
    pub batch: usize,
    pub max_in_flight: usize,
    pub poll_interval: Duration,
    pub disable_after: Duration,
    /// How long shutdown waits for requests in flight.
    pub grace: Duration,
    /// Requests in flight (`max_in_flight` permits), shared with the fan-out's hand-over.
    pub slots: Arc<Semaphore>,
}

/// How one claimed delivery ended this round.
enum Outcome {
    Posted { result: PostResult, signed_at: i64 },
    /// Not sent: endpoint disabled, transfer blocked, payload purged or erased.
    NotSent(String),
}

pub struct Finished {
    delivery: DeliveryRow,
    outcome: Outcome,
}

/// A delivery ready to post.
pub struct Ready {
    delivery: DeliveryRow,
    permit: Permit,
    url: String,
    keys: Vec<SigningKey>,
    body: Vec<u8>,
}

/// What a claim round gives the worker.
struct Round {
    ready: Vec<Ready>,
    not_sent: Vec<Finished>,
    /// Deliveries counted against a failing endpoint's share: (endpoint, tenant) by delivery.
    counted: HashMap<Uuid, (Uuid, Uuid)>,
}

/// A delivery the fan-out claimed at creation and hands to the worker in memory.
pub enum Fresh {
    /// To post now, with the slot reserved for it.
    Post(Ready, OwnedSemaphorePermit),
    /// Decided without a request (blocked by policy, restricted contact): to record.
    Done(Finished),
}

/// The fan-out's way to the worker: deliveries to healthy endpoints are claimed as they are
/// created, prepared in the fan-out's transaction (secrets, restriction, the door's transfer
/// records) with the payload the fan-out already holds, and handed over after its commit — no
/// claim round of their own, no payload read back. Only as many as there are free slots;
/// the rest are claimed when due, as always. If the process dies before posting them, their
/// lease expires and they are claimed again.
#[derive(Clone)]
pub struct Handover {
    deliverer: Arc<Deliverer>,
    queue: mpsc::UnboundedSender<Fresh>,
}

impl Handover {
    pub fn new(deliverer: Arc<Deliverer>, queue: mpsc::UnboundedSender<Fresh>) -> Self {
        Self { deliverer, queue }
    }

    /// Slots for up to `n` requests: as many as are free now.
    pub fn reserve(&self, n: usize) -> Vec<OwnedSemaphorePermit> {
        std::iter::from_fn(|| self.deliverer.slots.clone().try_acquire_owned().ok()).take(n).collect()
    }

    /// How long a delivery claimed at creation is leased.
    pub fn lease(&self) -> Duration {
        self.deliverer.lease
    }

    /// Prepares deliveries claimed at creation (one slot each) in `tx`, with their payloads by
    /// event id; [`Handover::hand`] passes the result on once `tx` has committed.
    pub async fn prepare(
        &self,
        tx: &mut Tx,
        claimed: Vec<DeliveryRow>,
        endpoints: &HashMap<Uuid, EndpointRow>,
        payloads: HashMap<Uuid, Vec<u8>>,
        slots: Vec<OwnedSemaphorePermit>,
    ) -> Result<Vec<Fresh>, StoreError> {
        let (ready, not_sent) = self.deliverer.prepare(tx, claimed, endpoints, payloads).await?;
        let mut slots = slots.into_iter();
        // As many slots as claimed deliveries; one short would leave its delivery to the lease.
        let mut fresh: Vec<Fresh> = ready.into_iter().filter_map(|r| slots.next().map(|slot| Fresh::Post(r, slot))).collect();
        fresh.extend(not_sent.into_iter().map(Fresh::Done));
        Ok(fresh)
    }

    /// Hands prepared deliveries to the worker.
    pub fn hand(&self, fresh: Vec<Fresh>) {
        for item in fresh {
            let _ = self.queue.send(item);
        }
    }
}

/// Requests in flight at once to an endpoint whose last attempt failed.
pub const FAILING_PER_ENDPOINT: usize = 2;

/// Requests in flight to failing endpoints, per endpoint and per tenant.
#[derive(Default)]
struct Failing {
    endpoints: HashMap<Uuid, usize>,
    tenants: HashMap<Uuid, usize>,
}

impl Failing {
    fn leave(&mut self, endpoint: Uuid, tenant: Uuid) {
        for (map, key) in [(&mut self.endpoints, endpoint), (&mut self.tenants, tenant)] {
            if let Some(n) = map.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&key);
                }
            }
        }
    }
}

impl Deliverer {
    /// Splits a claimed batch into what may go now and what waits (see the module docs); the
    /// failing endpoints' share is counted in `failing`. Returns (go, wait, failing endpoints).
    fn fair_share(
        &self,
        claimed: Vec<DeliveryRow>,
        endpoints: &HashMap<Uuid, EndpointRow>,
        failing: &std::sync::Mutex<Failing>,
    ) -> (Vec<DeliveryRow>, Vec<Uuid>, HashSet<Uuid>) {
        let failing_now: HashSet<Uuid> = endpoints.values().filter(|e| e.first_failure_at.is_some()).map(|e| e.id).collect();
        if failing_now.is_empty() {
            return (claimed, Vec::new(), failing_now);
        }
        let per_tenant = (self.max_in_flight / 4).max(1);
        let mut state = failing.lock().unwrap_or_else(|e| e.into_inner());
        let (mut go, mut wait) = (Vec::with_capacity(claimed.len()), Vec::new());
        for d in claimed {
            if !failing_now.contains(&d.endpoint_id) {
                go.push(d);
                continue;
            }
            let on_endpoint = state.endpoints.get(&d.endpoint_id).copied().unwrap_or(0);
            let on_tenant = state.tenants.get(&d.tenant_id).copied().unwrap_or(0);
            if on_endpoint >= FAILING_PER_ENDPOINT || on_tenant >= per_tenant {
                wait.push(d.id);
                continue;
            }
            *state.endpoints.entry(d.endpoint_id).or_default() += 1;
            *state.tenants.entry(d.tenant_id).or_default() += 1;
            go.push(d);
        }
        (go, wait, failing_now)
    }

    pub async fn run(self: Arc<Self>, fresh: mpsc::UnboundedReceiver<Fresh>, shutdown: CancellationToken) {
        let failing = Arc::new(std::sync::Mutex::new(Failing::default()));
        let slots = self.slots.clone();
        let slot_freed = Arc::new(Notify::new());
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(self.clone().record_loop(finished_rx));
        let handed = tokio::spawn(self.clone().post_handed_over(fresh, finished_tx.clone(), slot_freed.clone()));
        // Claim in batches, not one by one as single slots free up.
        let worth_claiming = (self.batch.min(self.max_in_flight) / 2).max(1);
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let free = slots.available_permits();
            if free < worth_claiming && free < self.max_in_flight {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = slot_freed.notified() => continue,
                }
            }
            let Round { ready, not_sent, counted } = match self.claim(free.min(self.batch), &failing).await {
                Ok(Some(round)) => round,
                Ok(None) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.ready.notified() => {}
                        _ = tokio::time::sleep(self.poll_interval) => {}
                    }
                    continue;
                }
                Err(err) => {
                    // Nothing was claimed: the transaction rolled back.
                    tracing::error!(error = %err, "claiming webhook deliveries failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(self.poll_interval) => {}
                    }
                    continue;
                }
            };
            for finished in not_sent {
                if let Some((endpoint, tenant)) = counted.get(&finished.delivery.id) {
                    failing.lock().unwrap_or_else(|e| e.into_inner()).leave(*endpoint, *tenant);
                }
                let _ = finished_tx.send(finished);
            }
            for item in ready {
                let id = item.delivery.id;
                let Ok(slot) = slots.clone().acquire_owned().await else { break };
                let (this, finished_tx, slot_freed) = (self.clone(), finished_tx.clone(), slot_freed.clone());
                let counted_here = counted.get(&id).copied();
                let failing = failing.clone();
                tokio::spawn(async move {
                    let finished = this.post(item).await;
                    if let Some((endpoint, tenant)) = counted_here {
                        failing.lock().unwrap_or_else(|e| e.into_inner()).leave(endpoint, tenant);
                    }
                    let _ = finished_tx.send(finished);
                    drop(slot);
                    slot_freed.notify_one();
                });
            }
        }
        // Let requests in flight finish and be recorded; unrecorded ones are retried after their
        // lease by whichever process runs next.
        let _ = tokio::time::timeout(self.grace, slots.acquire_many(self.max_in_flight as u32)).await;
        handed.abort();
        drop(finished_tx);
        let _ = tokio::time::timeout(self.grace, recorder).await;
    }

    /// Posts what the fan-out claimed and handed over, each with the slot it reserved.
    async fn post_handed_over(self: Arc<Self>, mut fresh: mpsc::UnboundedReceiver<Fresh>, finished_tx: mpsc::UnboundedSender<Finished>, slot_freed: Arc<Notify>) {
        while let Some(item) = fresh.recv().await {
            match item {
                Fresh::Post(item, slot) => {
                    let (this, finished_tx, slot_freed) = (self.clone(), finished_tx.clone(), slot_freed.clone());
                    tokio::spawn(async move {
                        let finished = this.post(item).await;
                        let _ = finished_tx.send(finished);
                        drop(slot);
                        slot_freed.notify_one();
                    });
                }
                Fresh::Done(finished) => {
                    let _ = finished_tx.send(finished);
                }
            }
        }
    }

    /// One claim round in one transaction: due deliveries leased, the failing endpoints' excess
    /// handed back, secrets and payloads loaded, and the door's transfer records written. `None`
    /// when nothing is due.
    async fn claim(&self, limit: usize, failing: &std::sync::Mutex<Failing>) -> Result<Option<Round>, StoreError> {
        let mut tx = self.db.begin().await?;
        let claimed = store::webhooks::claim_due(&mut tx, self.lease.as_micros() as i64, limit).await?;
        if claimed.is_empty() {
            return Ok(None);
        }
        // The endpoints, loaded once for the fair share and for the requests.
        let endpoint_ids: Vec<Uuid> = claimed.iter().map(|d| d.endpoint_id).collect::<HashSet<_>>().into_iter().collect();
        let endpoints: HashMap<Uuid, EndpointRow> = store::webhooks::endpoints_by_ids(&mut tx, &endpoint_ids).await?.into_iter().map(|e| (e.id, e)).collect();
        let (claimed, wait, failing_now) = self.fair_share(claimed, &endpoints, failing);
        // Counted for failing endpoints, released when the request ends (or is not made).
        let counted: HashMap<Uuid, (Uuid, Uuid)> =
            claimed.iter().filter(|d| failing_now.contains(&d.endpoint_id)).map(|d| (d.id, (d.endpoint_id, d.tenant_id))).collect();
        let release = |ids: &mut dyn Iterator<Item = &Uuid>| {
            let mut state = failing.lock().unwrap_or_else(|e| e.into_inner());
            for id in ids {
                if let Some((endpoint, tenant)) = counted.get(id) {
                    state.leave(*endpoint, *tenant);
                }
            }
        };
        let prepared = async {
            store::webhooks::postpone(&mut tx, &wait, now_micros() + 1_000_000).await?;
            let prepared = self.prepare(&mut tx, claimed, &endpoints, HashMap::new()).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(prepared)
        }
        .await;
        let (ready, not_sent) = match prepared {
            Ok(prepared) => prepared,
            Err(err) => {
                release(&mut counted.keys());
                return Err(err);
            }
        };
        // Counted but dropped by the preparation (an endpoint deleted meanwhile).
        let kept: HashSet<Uuid> = ready.iter().map(|r| r.delivery.id).chain(not_sent.iter().map(|f| f.delivery.id)).collect();
        release(&mut counted.keys().filter(|id| !kept.contains(id)));
        Ok(Some(Round { ready, not_sent, counted }))
    }

    /// Loads secrets and the payloads not given in `payloads` (by event id) for claimed
    /// deliveries (their endpoints loaded already) and asks the door, in `tx`.
    async fn prepare(
        &self,
        tx: &mut Tx,
        claimed: Vec<DeliveryRow>,
        endpoints: &HashMap<Uuid, EndpointRow>,
        mut payloads: HashMap<Uuid, Vec<u8>>,
    ) -> Result<(Vec<Ready>, Vec<Finished>), StoreError> {
        let now = now_micros();
        let endpoint_ids: Vec<Uuid> = endpoints.keys().copied().collect();
        let mut keys: HashMap<Uuid, Vec<SigningKey>> = HashMap::new();
        for secret in store::webhooks::valid_secrets(&mut *tx, &endpoint_ids, now).await? {
            let Some(endpoint) = endpoints.get(&secret.endpoint_id) else { continue };
            match self.keyring.open_for_tenant(endpoint.tenant_id, tenant_sealed::WEBHOOK_SECRET, secret.id, &secret.secret) {
                Ok(bytes) => keys.entry(secret.endpoint_id).or_default().push(SigningKey::from_bytes(bytes)),
                Err(err) => tracing::error!(endpoint_id = %endpoint.id, error = %err, "a webhook secret does not open"),
            }
        }
        let full: Vec<Uuid> = claimed.iter().filter(|d| d.body.is_none() && !payloads.contains_key(&d.event_id)).map(|d| d.event_id).collect();
        let rows = store::webhooks::payloads(&mut *tx, &full).await?;
        let mut keys_of: HashMap<Uuid, DataKey> = HashMap::new();
        for row in &rows {
            match row.contact_id {
                None => {
                    payloads.insert(row.id, row.payload.clone());
                }
                Some(contact_id) => {
                    if !keys_of.contains_key(&contact_id)
                        && let Ok(key) = self.keyring.data_key(&self.db, row.tenant_id, contact_id).await
                    {
                        keys_of.insert(contact_id, key);
                    }
                    // Erased: the key is gone, and with it the payload.
                }
            }
        }
        let sealed: Vec<(Uuid, &DataKey, &[u8])> = rows
            .iter()
            .filter_map(|row| Some((row.id, keys_of.get(&row.contact_id?)?, row.payload.as_slice())))
            .collect();
        for (id, plain) in outbox::open_stored(&mut *tx, sealed).await? {
            match plain {
                Ok(plain) => {
                    payloads.insert(id, plain);
                }
                Err(err) => tracing::warn!(event_id = %id, error = %err, "a stored event payload does not open"),
            }
        }

        // Restricted contacts (Art. 18): their data goes nowhere but the restriction notice.
        let about: Vec<Uuid> = claimed.iter().filter_map(|d| d.contact_id).collect::<HashSet<_>>().into_iter().collect();
        let restricted: HashSet<Uuid> = store::privacy::restricted_among(&mut *tx, &about).await?.into_iter().collect();
        let mut not_sent = Vec::new();
        let mut candidates = Vec::new();
        for delivery in claimed {
            let Some(endpoint) = endpoints.get(&delivery.endpoint_id) else { continue }; // deleted meanwhile
            let reason = if delivery.contact_id.is_some_and(|c| restricted.contains(&c)) {
                Some("the contact's processing is restricted (GDPR Art. 18)")
            } else if endpoint.disabled {
                Some("endpoint disabled")
            } else if !keys.contains_key(&endpoint.id) {
                Some("endpoint has no valid signing secret")
            } else {
                None
            };
            let body = delivery.body.clone().or_else(|| payloads.get(&delivery.event_id).cloned());
            match (reason, body) {
                (Some(reason), _) => not_sent.push(Finished { delivery, outcome: Outcome::NotSent(reason.into()) }),
                (None, None) => not_sent.push(Finished {
                    delivery,
                    outcome: Outcome::NotSent("the event payload is gone (retention period passed, or the contact was erased)".into()),
                }),
                (None, Some(body)) => candidates.push((delivery, endpoint, body)),
            }
        }
        let transfers: Vec<Transfer> = candidates
            .iter()
            .map(|(d, endpoint, body)| Transfer {
                tenant_id: d.tenant_id,
                contact_id: d.contact_id,
                message_id: None,
                destination: Destination::webhook(endpoint.id, endpoint.country.clone(), endpoint.transfer_mechanism.clone()),
                categories: categories_in(body, d.contact_id.is_some()),
                recipient: None,
            })
            .collect();
        let (candidates, bodies): (Vec<_>, Vec<_>) = candidates.into_iter().map(|(d, e, body)| ((d, e), body)).unzip();
        let decisions = self.door.authorize_in(tx, &transfers, bodies).await?;
        let mut ready = Vec::new();
        for ((delivery, endpoint), decision) in candidates.into_iter().zip(decisions) {
            match decision {
                Ok(Grant { permit, body }) => ready.push(Ready {
                    url: endpoint.url.clone(),
                    keys: keys.get(&endpoint.id).cloned().unwrap_or_default(),
                    delivery,
                    permit,
                    body,
                }),
                Err(reason) => not_sent.push(Finished { delivery, outcome: Outcome::NotSent(format!("blocked by policy: {reason}")) }),
            }
        }
        Ok((ready, not_sent))
    }

    async fn post(&self, item: Ready) -> Finished {
        let msg_id = message_id(item.delivery.event_id);
        // The timestamp of this attempt, not of the event: receivers reject stale ones.
        let signed_at = now_micros() / 1_000_000;
        let signature = signature_header(&item.keys, &msg_id, signed_at, &item.body);
        let request = SignedRequest { url: &item.url, msg_id: &msg_id, timestamp: signed_at, signature, body: item.body };
        let result = self.client.post(&item.permit, request).await;
        metrics::histogram!("omnibridge_webhook_attempt_seconds").record(result.latency.as_secs_f64());
        Finished { delivery: item.delivery, outcome: Outcome::Posted { result, signed_at } }
    }

    async fn record_loop(self: Arc<Self>, mut finished: mpsc::UnboundedReceiver<Finished>) {
        while let Some(first) = finished.recv().await {
            let mut batch = vec![first];
            while batch.len() < 256 {
                match finished.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            if let Err(err) = self.record(batch).await {
                // The leases expire and the deliveries are posted again.
                tracing::error!(error = %err, "recording webhook attempts failed");
            }
        }
    }

    async fn record(&self, batch: Vec<Finished>) -> Result<(), StoreError> {
        let now = now_micros();
        let mut work = UnitOfWork::begin(&self.db, &self.bus).await?;
        let endpoint_ids: Vec<Uuid> = batch.iter().map(|f| f.delivery.endpoint_id).collect::<HashSet<_>>().into_iter().collect();
        let mut endpoints: HashMap<Uuid, EndpointRow> =
            store::webhooks::lock_endpoints(work.tx(), &endpoint_ids).await?.into_iter().map(|e| (e.id, e)).collect();
        let mut changed: HashSet<Uuid> = HashSet::new();
        let mut attempts = Vec::with_capacity(batch.len());
        let mut operational = Vec::new();
        let (mut delivered, mut failed) = (0u64, 0u64);

        for f in &batch {
            let d = &f.delivery;
            let Some(endpoint) = endpoints.get_mut(&d.endpoint_id) else { continue };
            let is_operational = events::OPERATIONAL.contains(&d.event_type.as_str());
            let (update, attempt) = match &f.outcome {
                Outcome::NotSent(reason) => (
                    DeliveryUpdate { id: d.id, status: "failed", next_attempt_at: None, last_status_code: None, last_error: Some(reason.clone()), delivered_at: None },
                    NewAttempt { error: Some(reason.clone()), ..attempt_of(d, now / 1_000_000) },
                ),
                Outcome::Posted { result, signed_at } => {
                    let attempt = NewAttempt {
                        status_code: result.status.map(i64::from),
                        latency_micros: result.latency.as_micros() as i64,
                        response_body: result.body.clone(),
                        error: result.error.as_ref().map(ToString::to_string),
                        ..attempt_of(d, *signed_at)
                    };
                    let success = result.status.is_some_and(|s| (200..300).contains(&s)) && result.error.is_none();
                    let update = if success {
                        endpoint.last_success_at = Some(now);
                        endpoint.first_failure_at = None;
                        changed.insert(endpoint.id);
                        if d.attempts > 1 && !is_operational {
                            operational.push(Event::new(d.tenant_id, events::ATTEMPT_RECOVERED, None, &attempt_event(d, endpoint, result.status)));
                        }
                        DeliveryUpdate { id: d.id, status: "delivered", next_attempt_at: None, last_status_code: result.status.map(i64::from), last_error: None, delivered_at: Some(now) }
                    } else {
                        let error = describe_failure(result);
                        if result.status == Some(410) {
                            self.disable(endpoint, "the receiver answered 410 Gone", now, &mut operational);
                            changed.insert(endpoint.id);
                            DeliveryUpdate { id: d.id, status: "failed", next_attempt_at: None, last_status_code: Some(410), last_error: Some(error), delivered_at: None }
                        } else {
                            self.count_failure(endpoint, now, &mut operational);
                            changed.insert(endpoint.id);
                            let overloaded = result.status == Some(429) || result.error == Some(PostError::Timeout);
                            let failure = if overloaded { Failure::Overloaded } else { Failure::Other };
                            let retry_after = result.retry_after.as_deref().and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
                            match self.schedule.next_delay(d.attempts.max(0) as usize, failure, retry_after, unit_random()) {
                                Some(delay) => DeliveryUpdate {
                                    id: d.id,
                                    status: "pending",
                                    next_attempt_at: Some(now + delay.as_micros() as i64),
                                    last_status_code: result.status.map(i64::from),
                                    last_error: Some(error),
                                    delivered_at: None,
                                },
                                None => {
                                    if !is_operational {
                                        operational.push(Event::new(d.tenant_id, events::ATTEMPT_EXHAUSTED, None, &attempt_event(d, endpoint, result.status)));
                                    }
                                    DeliveryUpdate { id: d.id, status: "failed", next_attempt_at: None, last_status_code: result.status.map(i64::from), last_error: Some(error), delivered_at: None }
                                }
                            }
                        }
                    };
                    (update, attempt)
                }
            };
            match update.status {
                "delivered" => delivered += 1,
                "failed" => failed += 1,
                _ => {}
            }
            // Gone meanwhile (the contact erased): nothing to record it against.
            if store::webhooks::update_delivery(work.tx(), &update, now).await? {
                attempts.push(attempt);
            }
        }
        store::webhooks::insert_attempts(work.tx(), &attempts, now).await?;
        for id in changed {
            if let Some(endpoint) = endpoints.get(&id) {
                store::webhooks::update_endpoint(work.tx(), endpoint).await?;
            }
        }
        for event in operational {
            work.append_plain(event).await?;
        }
        work.commit().await?;
        metrics::counter!("omnibridge_webhook_attempts_total").increment(attempts.len() as u64);
        metrics::counter!("omnibridge_webhook_deliveries_delivered_total").increment(delivered);
        metrics::counter!("omnibridge_webhook_deliveries_failed_total").increment(failed);
        Ok(())
    }

    /// A failure without success: starts the endpoint's failure clock, or disables it when the
    /// clock has run longer than `disable_after`.
    fn count_failure(&self, endpoint: &mut EndpointRow, now: i64, operational: &mut Vec<Event>) {
        match endpoint.first_failure_at {
            None => endpoint.first_failure_at = Some(now),
            Some(since) if !endpoint.disabled && now - since > self.disable_after.as_micros() as i64 => {
                let days = self.disable_after.as_secs_f64() / 86_400.0;
                self.disable(endpoint, &format!("failing without a success for more than {days:.1} days"), now, operational);
            }
            Some(_) => {}
        }
    }

    fn disable(&self, endpoint: &mut EndpointRow, reason: &str, now: i64, operational: &mut Vec<Event>) {
        if endpoint.disabled {
            return;
        }
        endpoint.disabled = true;
        endpoint.disabled_reason = Some(reason.to_owned());
        endpoint.updated_at = now;
        tracing::warn!(endpoint_id = %endpoint.id, reason, "webhook endpoint disabled");
        let data = json!({ "endpoint_id": endpoint.id, "reason": reason, "disabled_at": crate::domain::rfc3339(now) });
        operational.push(Event::new(endpoint.tenant_id, events::ENDPOINT_DISABLED, None, &data));
    }
}

/// The attempt record of a claimed delivery, before its outcome is filled in.
fn attempt_of(d: &DeliveryRow, signed_at: i64) -> NewAttempt {
    NewAttempt {
        id: Uuid::now_v7(),
        delivery_id: d.id,
        tenant_id: d.tenant_id,
        endpoint_id: d.endpoint_id,
        contact_id: d.contact_id,
        attempt: d.attempts,
        signed_at,
        status_code: None,
        latency_micros: 0,
        response_body: None,
        error: None,
    }
}

fn attempt_event(d: &DeliveryRow, endpoint: &EndpointRow, status: Option<u16>) -> serde_json::Value {
    json!({
        "endpoint_id": endpoint.id,
        "delivery_id": d.id,
        "msg_id": message_id(d.event_id),
        "event_type": d.event_type,
        "attempts": d.attempts,
        "last_status_code": status,
    })
}

fn describe_failure(result: &PostResult) -> String {
    match (&result.error, result.status) {
        (Some(e), _) => e.to_string(),
        (None, Some(status)) => format!("the receiver answered {status}"),
        (None, None) => "no answer".into(),
    }
}

/// The personal-data categories a payload carries; every event about a contact carries its id.
fn categories_in(body: &[u8], about_contact: bool) -> Vec<&'static str> {
    let mut found = serde_json::from_slice::<serde_json::Value>(body).map(|v| transform::categories_in(&v)).unwrap_or_default();
    if about_contact && !found.contains(&categories::CONTACT_ID) {
        found.insert(0, categories::CONTACT_ID);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_categories_a_payload_carries() {
        let body = br#"{"type":"message.received","data":{"id":"x","text":"hi","contact":{"name":"Ada","identities":[{"address":"a@b"}]}}}"#;
        let found = categories_in(body, true);
        assert!(found.contains(&categories::MESSAGE_CONTENT));
        assert!(found.contains(&categories::CONTACT_NAME));
        assert!(found.contains(&categories::CONTACT_HANDLE));
        assert!(found.contains(&categories::CONTACT_ID));
        assert!(categories_in(br#"{"type":"endpoint.disabled","data":{"endpoint_id":"e"}}"#, false).is_empty());
    }
}

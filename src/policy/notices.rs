//! Telling tenants what changed in the subprocessor registry (Art. 28(2): "inform the
//! controller of any intended changes concerning the addition or replacement").
//!
//! Each tenant has a fingerprint per registry entry as it was last told of it. The watcher
//! re-reads the registry every `subprocessors.check_interval_secs`; an entry that is new, whose
//! status, date, entity, countries, mechanism or categories changed, that came into effect or
//! that left the registry is announced in one `subprocessors.changed` event per tenant, in the
//! same transaction as the new fingerprints — so each change is told exactly once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Policies;
use super::registry::{Registry, Standing};
use crate::domain::events::{self, Event};
use crate::events::outbox::{EventBus, UnitOfWork};
use crate::store::{self, Db, StoreError, Tx};

/// Records the registry as `tenant_id` knows it now, without an event (a new tenant sees the
/// list when it signs up).
pub async fn baseline(tx: &mut Tx, tenant_id: Uuid, registry: &Registry) -> Result<(), StoreError> {
    let now = store::now_micros();
    for s in &registry.subprocessors {
        store::policies::save_notice(tx, tenant_id, &s.id, &s.fingerprint(now)).await?;
    }
    Ok(())
}

/// The changes `tenant_id` has not been told of, as the event lists them.
fn changes(registry: &Registry, known: &[store::policies::NoticeRow], now: i64) -> Vec<(String, String, serde_json::Value)> {
    let mut out = Vec::new();
    for s in &registry.subprocessors {
        let fingerprint = s.fingerprint(now);
        let before = known.iter().find(|k| k.subprocessor_id == s.id);
        if before.is_some_and(|b| b.fingerprint == fingerprint) {
            continue;
        }
        let change = match (before, s.standing(now)) {
            (_, Standing::Retired) => "retired",
            (None, Standing::Announced { .. }) => "announced",
            (None, Standing::Active) => "added",
            (Some(b), Standing::Active) if b.fingerprint.starts_with("announced|") => "in_effect",
            (Some(_), _) => "updated",
        };
        let view = json!({
            "id": s.id,
            "change": change,
            "legal_entity": s.legal_entity,
            "service": s.service,
            "processing_countries": s.processing_countries,
            "transfer_mechanism": s.transfer_mechanism,
            "categories": s.categories,
            "status": s.status,
            "effective_at": s.effective_at,
            "dpa_url": s.dpa_url,
        });
        out.push((s.id.clone(), fingerprint, view));
    }
    for k in known {
        if registry.get(&k.subprocessor_id).is_none() && k.fingerprint != "removed" {
            out.push((k.subprocessor_id.clone(), "removed".into(), json!({"id": k.subprocessor_id, "change": "removed"})));
        }
    }
    out
}

/// Announces every tenant's untold changes; returns how many tenants were told something.
pub async fn announce(db: &Db, bus: &EventBus, registry: &Registry) -> Result<usize, StoreError> {
    let now = store::now_micros();
    let mut told = 0;
    for tenant_id in store::policies::tenant_ids(db).await? {
        let mut work = UnitOfWork::begin(db, bus).await?;
        let known = store::policies::notices(work.tx(), tenant_id).await?;
        let found = changes(registry, &known, now);
        if found.is_empty() {
            continue;
        }
        for (id, fingerprint, _) in &found {
            store::policies::save_notice(work.tx(), tenant_id, id, fingerprint).await?;
        }
        let data = json!({ "changes": found.iter().map(|(_, _, v)| v.clone()).collect::<Vec<_>>() });
        work.append_plain(Event::new(tenant_id, events::SUBPROCESSORS_CHANGED, None, &data)).await?;
        work.commit().await?;
        told += 1;
    }
    Ok(told)
}

/// Re-reads the registry file (when one is configured) and announces changes, every interval.
pub async fn watch(db: Db, bus: EventBus, policies: Arc<Policies>, stop: CancellationToken) {
    let interval = Duration::from_secs(policies.config().subprocessors.check_interval_secs);
    loop {
        let file = policies.config().subprocessors.registry_file.clone();
        if !file.is_empty() {
            match Registry::load(&file) {
                Ok(registry) => policies.replace_registry(registry),
                Err(err) => tracing::error!(error = %err, "the subprocessor registry did not load; keeping the previous one"),
            }
        }
        if let Err(err) = announce(&db, &bus, &policies.registry()).await {
            tracing::error!(error = %err, "announcing subprocessor changes failed");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

//! Storage limitation (GDPR Art. 5(1)(e)): each tenant says how long messages, closed
//! conversations, technical data (IP, user agent), webhook payloads and audit entries are kept;
//! the purge job deletes what is older, hourly, and `omnibridge purge` does it on demand (or
//! counts with `--dry-run`).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::store::privacy::{PurgeKind, RetentionRow};
use super::tombstones::{Journal, Tombstone};
use crate::store::{self, Db, StoreError};

/// The days a tenant keeps one category; None: kept (webhook payloads: the hub-wide setting).
pub fn days(r: &RetentionRow, kind: PurgeKind, hub_webhook_days: u64) -> Option<i64> {
    match kind {
        PurgeKind::Messages => r.messages_days,
        PurgeKind::ClosedConversations => r.closed_conversations_days,
        PurgeKind::TechnicalData => r.technical_data_days,
        PurgeKind::WebhookPayloads => r.webhook_payload_days.or(Some(hub_webhook_days as i64)),
        PurgeKind::Audit => r.audit_days,
    }
}

/// Purges (or counts) one tenant's expired data: (category, rows) for each category it limits.
/// A purge that deletes is journaled first (see [`super::tombstones`]), so restoring an older
/// backup purges the same again.
pub async fn purge_tenant(db: &Db, journal: &Journal, tenant_id: Uuid, r: &RetentionRow, hub_webhook_days: u64, dry_run: bool) -> Result<Vec<(&'static str, u64)>, PurgeError> {
    let now = store::now_micros();
    let mut out = Vec::new();
    for kind in PurgeKind::ALL {
        let Some(days) = days(r, kind, hub_webhook_days) else { continue };
        let before = now - days.max(0) * 86_400 * 1_000_000;
        let due = store::privacy::purge(db, tenant_id, kind, before, true).await?;
        if dry_run || due == 0 {
            out.push((kind.name(), due));
            continue;
        }
        journal.record(Tombstone::RetentionPurge { tenant_id, category: kind.name().to_owned(), before })?;
        out.push((kind.name(), store::privacy::purge(db, tenant_id, kind, before, false).await?));
    }
    Ok(out)
}

/// Why a purge stopped.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] super::tombstones::JournalError),
}

/// Every tenant with retention settings, purged; the totals per category.
pub async fn purge_all(
    db: &Db,
    journal: &Journal,
    only: Option<Uuid>,
    hub_webhook_days: u64,
    dry_run: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<(Uuid, Vec<(&'static str, u64)>)>, PurgeError> {
    let tenants: Vec<(Uuid, RetentionRow)> = store::privacy::all_retention(db).await?.into_iter().filter(|(t, _)| only.is_none_or(|o| o == *t)).collect();
    let mut out = Vec::new();
    for (i, (tenant_id, r)) in tenants.iter().enumerate() {
        out.push((*tenant_id, purge_tenant(db, journal, *tenant_id, r, hub_webhook_days, dry_run).await?));
        progress(i + 1, tenants.len());
    }
    Ok(out)
}

/// The scheduled purge: hourly.
/// How long mail that could not be imported stays in quarantine.
pub const QUARANTINE_DAYS: i64 = 30;

pub async fn run(db: Db, journal: Journal, hub_webhook_days: u64, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
        // Mail that could not be imported is kept for a look, not for ever.
        let before = store::now_micros() - QUARANTINE_DAYS * 86_400 * 1_000_000;
        match store::mailboxes::purge_quarantine(&db, before).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "quarantined mail purged"),
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "purging quarantined mail failed"),
        }
        match purge_all(&db, &journal, None, hub_webhook_days, false, &|_, _| {}).await {
            Ok(done) => {
                for (tenant_id, counts) in done {
                    for (category, n) in counts.into_iter().filter(|(_, n)| *n > 0) {
                        tracing::info!(%tenant_id, category, rows = n, "retention purge");
                    }
                }
            }
            Err(err) => tracing::error!(error = %err, "retention purge failed"),
        }
    }
}

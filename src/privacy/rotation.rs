//! Master key rotation against the databases: a new root generation, every data key wrapped
//! under it and every tenant value sealed under it, in one transaction per database (see
//! [`super::root`] for what that protects). A process that was running when the rotation
//! happened picks it up (when its master key comes from the key file, which the rotation
//! replaced) or refuses to start with the old key; whatever it wrapped under the old generation
//! in between is re-wrapped when it catches up ([`settle`]).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::keyring::Generation;
use super::root::{self, StoredRoot};
use super::{CryptoError, Keyring, SecretKey, tenant_sealed};
use crate::store::key_roots::{self, TenantSealed};
use crate::store::{Db, StoreError, now_micros};

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("the configured master key does not open this database's keys: the master key was rotated (omnibridge keys rotate-master); configure the new one")]
    WrongMaster,
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a rotation did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Rotated {
    pub generation: i64,
    pub data_keys: usize,
    pub tenant_values: usize,
}

const PAGE: usize = 1000;

/// The generations `master` opens in `db`.
pub async fn generations(db: &Db, master: &SecretKey) -> Result<Vec<Generation>, RotationError> {
    let stored: Vec<StoredRoot> =
        key_roots::roots(db).await?.into_iter().map(|r| StoredRoot { generation: r.id, wrapped: r.wrapped, created_at: r.rotated_at }).collect();
    root::open(master, &stored).map_err(|_| RotationError::WrongMaster)
}

fn tenant_label(which: TenantSealed) -> &'static str {
    match which {
        TenantSealed::ChannelSecrets => tenant_sealed::CHANNEL_SECRETS,
        TenantSealed::WebhookSecret => tenant_sealed::WEBHOOK_SECRET,
        TenantSealed::QuarantinedMail => tenant_sealed::EMAIL_QUARANTINE,
        TenantSealed::ImportedKeys => tenant_sealed::INDEX_KEY,
    }
}

/// Rotates to `new_master` in every database (`current` opens them all now). Returns the new
/// generations (newest first) and what was rewritten.
pub async fn rotate(dbs: &[&Db], current: &[Generation], new_master: &SecretKey) -> Result<(Vec<Generation>, Rotated), RotationError> {
    let (rows, next) = root::rotate(current, new_master, now_micros())?;
    let keyring = Keyring::with_generations(next.clone());
    let generation = keyring.current_generation();
    let mut report = Rotated { generation, ..Rotated::default() };
    let rows: Vec<(i64, Vec<u8>, i64)> = rows.into_iter().map(|r| (r.generation, r.wrapped, r.created_at)).collect();
    for db in dbs {
        let mut tx = db.begin().await?;
        key_roots::put_roots(&mut tx, &rows).await?;
        loop {
            let page = key_roots::data_keys_older_than(&mut tx, generation, PAGE).await?;
            if page.is_empty() {
                break;
            }
            for k in &page {
                let wrapped = keyring.rewrap_data_key(k.tenant_id, k.contact_id, &k.wrapped)?;
                key_roots::set_wrapping(&mut tx, k.contact_id, &wrapped, generation).await?;
            }
            report.data_keys += page.len();
        }
        for which in TenantSealed::ALL {
            for (id, tenant_id, sealed) in key_roots::tenant_sealed(&mut tx, which).await? {
                match keyring.reseal_for_tenant(tenant_id, tenant_label(which), id, &sealed) {
                    Ok(resealed) => {
                        key_roots::set_tenant_sealed(&mut tx, which, id, &resealed).await?;
                        report.tenant_values += 1;
                    }
                    // Nothing opens it: it was unreadable before and stays so.
                    Err(_) => tracing::warn!(?which, %id, "a sealed tenant value opens with no key generation; left as it is"),
                }
            }
        }
        tx.commit().await?;
    }
    Ok((next, report))
}

/// Re-wraps what a process still on an older generation wrapped after a rotation: data keys by
/// their generation, tenant values that the newest generation does not open.
pub async fn settle(db: &Db, keyring: &Keyring) -> Result<usize, RotationError> {
    let generation = keyring.current_generation();
    if generation == 1 {
        return Ok(0);
    }
    let mut done = 0;
    loop {
        let page = key_roots::data_keys_older_than(db, generation, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for k in &page {
            let wrapped = keyring.rewrap_data_key(k.tenant_id, k.contact_id, &k.wrapped)?;
            key_roots::set_wrapping(db, k.contact_id, &wrapped, generation).await?;
            keyring.forget(k.contact_id);
        }
        done += page.len();
    }
    let mut tx = db.begin().await?;
    for which in TenantSealed::ALL {
        for (id, tenant_id, sealed) in key_roots::tenant_sealed(&mut tx, which).await? {
            if !keyring.sealed_by_newest(tenant_id, tenant_label(which), id, &sealed) && let Ok(resealed) = keyring.reseal_for_tenant(tenant_id, tenant_label(which), id, &sealed) {
                key_roots::set_tenant_sealed(&mut tx, which, id, &resealed).await?;
                done += 1;
            }
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Watches for a rotation made elsewhere (another process or the command line): takes up the
/// new generations with the master key as configured now (the key file a rotation replaced),
/// then settles what this process wrapped under the old generation meanwhile.
pub async fn watch(db: Db, keyring: Arc<Keyring>, master: impl Fn() -> Option<SecretKey> + Send + 'static, shutdown: CancellationToken) {
    let mut failures = 0;
    let mut adopted = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
        let stored = match key_roots::roots(&db).await {
            Ok(rows) => rows,
            Err(err) => {
                tracing::warn!(error = %err, "reading the key roots failed");
                continue;
            }
        };
        // A tenant imported meanwhile (by the command line) brought index keys along.
        match key_roots::tenant_keys(&db, None).await {
            Ok(rows) if rows.len() != adopted => match keyring.adopt_index_keys(&rows) {
                Ok(n) => adopted = n,
                Err(err) => tracing::warn!(error = %err, "an imported tenant's index keys do not open"),
            },
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "reading imported tenants' keys failed"),
        }
        let newest = stored.iter().map(|r| r.id).max().unwrap_or(1);
        if newest <= keyring.current_generation() {
            continue;
        }
        let opened = match master() {
            Some(m) => Some(generations(&db, &m).await),
            None => None,
        };
        match opened {
            Some(Ok(generations)) => {
                keyring.replace_generations(generations);
                tracing::info!(generation = newest, "took up the rotated master key");
                failures = 0;
                match settle(&db, &keyring).await {
                    Ok(n) => tracing::info!(rewrapped = n, "settled keys wrapped under the old generation"),
                    Err(err) => tracing::warn!(error = %err, "settling keys after a rotation failed"),
                }
            }
            // The key file is replaced just after the databases: give it a few rounds.
            _ => {
                failures += 1;
                if failures == 5 {
                    tracing::error!("the master key was rotated and the configured one does not open the new keys: restart this process with the new master key");
                }
            }
        }
    }
}

//! Erasure (GDPR Art. 17), verifiable.
//!
//! One transaction deletes every row about the contact — messages, attachments, technical data,
//! conversations, identities, visitor sessions, link tokens, the outbox events and webhook
//! deliveries and attempts that carry their data — and destroys their data key, so any copy
//! left anywhere (a backup, a replica, a log shipped elsewhere) is ciphertext nobody can open
//! (crypto-shredding). `contact.erased` goes out in the same transaction.
//!
//! Quarantined mail (mail that could not be imported, so belongs to no contact) that names one
//! of the contact's addresses goes too.
//!
//! What is kept, on purpose: the consent ledger's events. Their address is sealed under the
//! destroyed key; what remains is the keyed blind index (HMAC under the tenant's key) — the
//! tombstone that keeps a "STOP" in force if the same number writes again — and the chain stays
//! verifiable. Transfer records and audit entries keep the contact's id (no data) as the record
//! of what happened. The emptied key row records when the key was destroyed.
//!
//! SQLite runs with `secure_delete`, so freed pages are overwritten, and after the commit the
//! write-ahead log is checkpointed and truncated (`Db::wipe_log`), so no old page version of
//! the deleted rows stays on disk.

use serde_json::json;
use uuid::Uuid;

use crate::domain::events::{self, Event};
use crate::domain::rfc3339;
use crate::events::outbox;
use crate::privacy::tombstones::{Journal, Tombstone};
use crate::store::privacy::Erased;
use crate::store::{self, StoreError, Tx};

/// Erases the contact in `tx`; returns what went and the `contact.erased` event to publish after
/// commit. The erasure is journaled (see [`crate::privacy::tombstones`]) before the caller
/// commits, so restoring an older backup does it again.
pub async fn erase_in(
    tx: &mut Tx,
    keyring: &crate::privacy::Keyring,
    journal: &Journal,
    tenant_id: Uuid,
    contact_id: Uuid,
    request_id: Option<Uuid>,
) -> Result<(Erased, Event), ErasureError> {
    let done = erase_rows(tx, keyring, tenant_id, contact_id, request_id).await?;
    journal.record(Tombstone::ContactErased { tenant_id, contact_id })?;
    Ok(done)
}

/// Why an erasure could not be done (nothing of it is kept: the caller's transaction rolls back).
#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Journal(#[from] crate::privacy::tombstones::JournalError),
}

/// The erasure's rows, without the journal line: for re-applying a journaled erasure.
pub async fn erase_rows(tx: &mut Tx, keyring: &crate::privacy::Keyring, tenant_id: Uuid, contact_id: Uuid, request_id: Option<Uuid>) -> Result<(Erased, Event), StoreError> {
    let quarantined = quarantined_mail_of(tx, keyring, tenant_id, contact_id).await?;
    store::mailboxes::delete_quarantined(&mut *tx, &quarantined).await?;
    let mut erased = store::privacy::erase_contact(tx, tenant_id, contact_id).await?;
    // Contacts merged into this one are the same person: their rows and keys go too.
    for merged in store::merges::merged_contacts(&mut *tx, contact_id).await? {
        let also = store::privacy::erase_contact(tx, tenant_id, merged).await?;
        erased.events += also.events;
        erased.webhook_deliveries += also.webhook_deliveries;
        erased.webhook_attempts += also.webhook_attempts;
        erased.merged_contacts.push(merged);
    }
    let data = json!({"contact_id": contact_id, "erased_at": rfc3339(store::now_micros()), "request_id": request_id});
    let mut event = Event::new(tenant_id, events::CONTACT_ERASED, None, &data);
    outbox::append_plain(tx, &mut event).await?;
    Ok((erased, event))
}

/// Quarantined mail (mail that could not be imported, so is filed under no contact) that names
/// one of the contact's addresses.
async fn quarantined_mail_of(tx: &mut Tx, keyring: &crate::privacy::Keyring, tenant_id: Uuid, contact_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    let rows = store::mailboxes::quarantine_of_tenant(&mut *tx, tenant_id).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let Ok(key) = keyring.data_key(&mut *tx, tenant_id, contact_id).await else { return Ok(Vec::new()) };
    let identities = store::contacts::identities_in_range(&mut *tx, tenant_id, contact_id, contact_id).await?;
    let addresses: Vec<String> = identities
        .iter()
        .filter(|i| matches!(omnibridge_channel::AddressKind::parse(&i.kind), Some(omnibridge_channel::AddressKind::Email | omnibridge_channel::AddressKind::Phone)))
        .filter_map(|i| key.open(crate::events::present::fields::IDENTITY_ADDRESS, contact_id, &i.address).ok())
        .map(|a| a.to_lowercase())
        .filter(|a| a.len() >= 5)
        .collect();
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (id, sealed) in rows {
        let Ok(raw) = keyring.open_for_tenant(tenant_id, crate::privacy::tenant_sealed::EMAIL_QUARANTINE, id, &sealed) else { continue };
        let text = String::from_utf8_lossy(&raw).to_lowercase();
        if addresses.iter().any(|a| text.contains(a.as_str())) {
            out.push(id);
        }
    }
    Ok(out)
}

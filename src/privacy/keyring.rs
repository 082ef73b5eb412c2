//! Keys derived from the master key, and the per-contact data keys they wrap.
//!
//! - tenant key: HKDF-SHA256(master, info = "tenant-kek" ‖ tenant id); wraps data keys and
//!   channel secrets;
//! - blind-index key: HKDF-SHA256(master, info = "blind-index" ‖ tenant id); an identity's
//!   index is HMAC-SHA256(key, kind ‖ 0 ‖ normalized address), so lookups never need plaintext
//!   and indexes do not correlate across tenants;
//! - data key: 32 random bytes per contact, stored only wrapped. Destroying the wrapped copy
//!   makes everything sealed under it unreadable (crypto-shredding). Unwrapped keys are cached
//!   for a short time only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use omnibridge_channel::Address;
use sha2::Sha256;
use uuid::Uuid;

use super::{CryptoError, SecretKey};
use crate::store::{self, Conn, StoreError};

const CACHE_TTL: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 50_000;

/// What values sealed under a tenant key are, as associated data (see
/// [`Keyring::seal_for_tenant`]).
pub mod tenant_sealed {
    pub const CHANNEL_SECRETS: &str = "channel.secrets";
    pub const EMAIL_QUARANTINE: &str = "email.quarantine";
    pub const WEBHOOK_SECRET: &str = "webhook.secret";
}

/// A contact's unwrapped data key.
#[derive(Clone, Debug)]
pub struct DataKey {
    pub contact_id: Uuid,
    key: SecretKey,
}

impl DataKey {
    /// Seals a value for one place (`what` names the column, `row` the row it belongs to).
    pub fn seal(&self, what: &str, row: Uuid, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        self.key.seal_str(plaintext, &aad(what, row))
    }

    pub fn open(&self, what: &str, row: Uuid, sealed: &[u8]) -> Result<String, CryptoError> {
        self.key.open_string(sealed, &aad(what, row))
    }

    pub fn seal_opt(&self, what: &str, row: Uuid, plaintext: Option<&str>) -> Result<Option<Vec<u8>>, CryptoError> {
        plaintext.map(|p| self.seal(what, row, p)).transpose()
    }

    pub fn open_opt(&self, what: &str, row: Uuid, sealed: Option<&[u8]>) -> Result<Option<String>, CryptoError> {
        sealed.map(|s| self.open(what, row, s)).transpose()
    }

    pub fn seal_bytes(&self, what: &str, row: Uuid, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.seal(plaintext, &aad(what, row))
    }

    pub fn open_bytes(&self, what: &str, row: Uuid, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.key.open(sealed, &aad(what, row))
    }
}

fn aad(what: &str, row: Uuid) -> Vec<u8> {
    let mut aad = Vec::with_capacity(what.len() + 17);
    aad.extend_from_slice(what.as_bytes());
    aad.push(0);
    aad.extend_from_slice(row.as_bytes());
    aad
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("contact {0} has no data key")]
    Missing(Uuid),
}

pub struct Keyring {
    master: SecretKey,
    cache: Mutex<HashMap<Uuid, (DataKey, Instant)>>,
}

impl Keyring {
    pub fn new(master: SecretKey) -> Self {
        Self { master, cache: Mutex::new(HashMap::new()) }
    }

    fn derive(&self, label: &str, tenant_id: Uuid) -> SecretKey {
        let hk = Hkdf::<Sha256>::new(Some(b"omnibridge/v1"), self.master.as_bytes());
        let mut info = Vec::with_capacity(label.len() + 16);
        info.extend_from_slice(label.as_bytes());
        info.extend_from_slice(tenant_id.as_bytes());
        let mut out = [0u8; 32];
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
        let _ = hk.expand(&info, &mut out);
        SecretKey::from_bytes(out)
    }

    pub fn tenant_key(&self, tenant_id: Uuid) -> SecretKey {
        self.derive("tenant-kek", tenant_id)
    }

    /// The keyed blind index of an address within a tenant.
    pub fn blind_index(&self, tenant_id: Uuid, address: &Address) -> Vec<u8> {
        let key = self.derive("blind-index", tenant_id);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(address.kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(address.value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// A stable pseudonym for a value of a data category within a tenant: `pseu_` and 128 bits
    /// of HMAC-SHA256 under a per-tenant key, hex. The same value always gives the same token
    /// (receivers can still join on it); without the tenant key it cannot be reversed or
    /// recomputed, and other tenants' tokens for the same value differ.
    pub fn pseudonym(&self, tenant_id: Uuid, category: &str, value: &str) -> String {
        let key = self.derive("pseudonym", tenant_id);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(category.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        let out: String = mac.finalize().into_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("pseu_{out}")
    }

    /// Seals a channel's secrets under the tenant key.
    pub fn seal_secrets(&self, tenant_id: Uuid, channel_id: Uuid, json: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.seal_for_tenant(tenant_id, tenant_sealed::CHANNEL_SECRETS, channel_id, json)
    }

    /// Seals a value under the tenant key (not a contact's): `what` names the column, `row`
    /// the row, so a ciphertext cannot be moved elsewhere.
    pub fn seal_for_tenant(&self, tenant_id: Uuid, what: &str, row: Uuid, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.tenant_key(tenant_id).seal(plaintext, &aad(what, row))
    }

    pub fn open_for_tenant(&self, tenant_id: Uuid, what: &str, row: Uuid, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.tenant_key(tenant_id).open(sealed, &aad(what, row))
    }

    /// An unforgeable token naming a conversation, for reply addresses (`support+TOKEN@…`).
    pub fn reply_token(&self, tenant_id: Uuid, channel_id: Uuid, conversation_id: Uuid) -> String {
        self.link_token("reply-token", tenant_id, channel_id, conversation_id)
    }

    /// The conversation a reply token names, if the token is genuine.
    pub fn verify_reply_token(&self, tenant_id: Uuid, channel_id: Uuid, token: &str) -> Option<Uuid> {
        self.verify_link_token("reply-token", tenant_id, channel_id, token)
    }

    /// An unforgeable token naming `id` for one purpose on one channel: the id and 64 bits of
    /// HMAC-SHA256 under a per-tenant, per-purpose key, as 48 hex characters.
    pub fn link_token(&self, purpose: &str, tenant_id: Uuid, channel_id: Uuid, id: Uuid) -> String {
        format!("{}{}", id.simple(), self.link_mac(purpose, tenant_id, channel_id, id))
    }

    /// The id a link token names, if the token is genuine (constant-time comparison).
    pub fn verify_link_token(&self, purpose: &str, tenant_id: Uuid, channel_id: Uuid, token: &str) -> Option<Uuid> {
        let token = token.to_ascii_lowercase();
        if token.len() != 48 || !token.is_ascii() {
            return None;
        }
        let id = Uuid::parse_str(&token[..32]).ok()?;
        let expected = self.link_mac(purpose, tenant_id, channel_id, id);
        let matches = expected.bytes().zip(token[32..].bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        matches.then_some(id)
    }

    fn link_mac(&self, purpose: &str, tenant_id: Uuid, channel_id: Uuid, id: Uuid) -> String {
        let key = self.derive(purpose, tenant_id);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
        mac.update(channel_id.as_bytes());
        mac.update(id.as_bytes());
        mac.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A fresh data key for a new contact and its wrapped form, for the caller to store.
    pub fn new_data_key(&self, tenant_id: Uuid, contact_id: Uuid) -> Result<(DataKey, Vec<u8>), CryptoError> {
        let key = SecretKey::random()?;
        let wrapped = self.tenant_key(tenant_id).seal(key.as_bytes(), &aad("data-key", contact_id))?;
        let data_key = DataKey { contact_id, key };
        self.remember(&data_key);
        Ok((data_key, wrapped))
    }

    /// Creates and stores a data key for a new contact.
    pub async fn create_data_key<'a>(
        &self,
        conn: impl Into<Conn<'a>>,
        tenant_id: Uuid,
        contact_id: Uuid,
    ) -> Result<DataKey, KeyError> {
        let (data_key, wrapped) = self.new_data_key(tenant_id, contact_id)?;
        store::contacts::insert_data_key(conn, tenant_id, contact_id, &wrapped).await?;
        Ok(data_key)
    }

    /// The contact's data key, from the short-lived cache or unwrapped from the store.
    pub async fn data_key<'a>(
        &self,
        conn: impl Into<Conn<'a>>,
        tenant_id: Uuid,
        contact_id: Uuid,
    ) -> Result<DataKey, KeyError> {
        if let Some(key) = self.cached(contact_id) {
            return Ok(key);
        }
        let wrapped = store::contacts::wrapped_data_key(conn, contact_id).await?;
        let Some(wrapped) = wrapped else {
            return Err(KeyError::Crypto(CryptoError::KeyDestroyed));
        };
        self.unwrap_data_key(tenant_id, contact_id, &wrapped)
    }

    /// Unwraps a data key read from the store (and caches it).
    pub fn unwrap_data_key(&self, tenant_id: Uuid, contact_id: Uuid, wrapped: &[u8]) -> Result<DataKey, KeyError> {
        if let Some(key) = self.cached(contact_id) {
            return Ok(key);
        }
        let bytes = self.tenant_key(tenant_id).open(wrapped, &aad("data-key", contact_id))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
        let data_key = DataKey { contact_id, key: SecretKey::from_bytes(bytes) };
        self.remember(&data_key);
        Ok(data_key)
    }

    /// Drops a contact's key from the cache (after its erasure).
    pub fn forget(&self, contact_id: Uuid) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(&contact_id);
    }

    /// The key if it was unwrapped recently.
    pub fn cached(&self, contact_id: Uuid) -> Option<DataKey> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(&contact_id).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(k, _)| k.clone())
    }

    fn remember(&self, key: &DataKey) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key.contact_id, (key.clone(), Instant::now()));
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use omnibridge_channel::AddressKind;

    #[test]
    fn blind_indexes_match_per_tenant_and_differ_across_tenants() {
        let ring = Keyring::new(SecretKey::random().unwrap());
        let (t1, t2) = (Uuid::now_v7(), Uuid::now_v7());
        let a = Address::new(AddressKind::Email, "Ana@Example.com");
        let b = Address::new(AddressKind::Email, "ana@example.com");
        assert_eq!(ring.blind_index(t1, &a), ring.blind_index(t1, &b));
        assert_ne!(ring.blind_index(t1, &a), ring.blind_index(t2, &a));
        let phone = Address::new(AddressKind::Phone, "ana@example.com");
        assert_ne!(ring.blind_index(t1, &a), ring.blind_index(t1, &phone));
    }
}

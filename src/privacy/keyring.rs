//! Keys derived from the key roots, and the per-contact data keys they wrap.
//!
//! The roots come in generations (see [`super::root`]): generation 1 is the first root (the
//! first master key), and every master key rotation adds a fresh random one.
//!
//! - tenant key (per generation): HKDF-SHA256(root, info = "tenant-kek" ‖ tenant id); wraps
//!   data keys and seals tenant values (channel secrets, webhook secrets, quarantined mail). New
//!   values use the newest generation; a rotation re-wraps the old ones under it;
//! - blind-index key: HKDF-SHA256(first root, info = "blind-index" ‖ tenant id); an identity's
//!   index is HMAC-SHA256(key, kind ‖ 0 ‖ normalized address), so lookups never need plaintext
//!   and indexes do not correlate across tenants. Indexes and pseudonyms must stay stable (they
//!   are stored, and receivers join on pseudonyms), so they keep the first root's keys;
//! - search key: HKDF-SHA256(first root, info = "search-index" ‖ tenant id); a search term's
//!   index entry is the first 64 bits of HMAC-SHA256(key, term) (see `crate::search`). Stable
//!   like blind indexes, since the index is stored;
//! - link tokens (reply addresses, unsubscribe links): the newest generation; an older
//!   generation's tokens are accepted for [`OLD_TOKENS_ACCEPTED`] after the rotation that
//!   retired it, so mail already out keeps working;
//! - data key: 32 random bytes per contact, stored only wrapped. Destroying the wrapped copy
//!   makes everything sealed under it unreadable (crypto-shredding). Unwrapped keys are cached
//!   for a short time only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use omnibridge_channel::Address;
use sha2::Sha256;
use uuid::Uuid;

use super::{CryptoError, SecretKey};
use crate::store::{self, Conn, StoreError};

const CACHE_TTL: Duration = Duration::from_secs(60);
/// How long tokens of a retired generation are still accepted.
pub const OLD_TOKENS_ACCEPTED: Duration = Duration::from_secs(30 * 24 * 3600);
const CACHE_MAX: usize = 50_000;

/// What values sealed under a tenant key are, as associated data (see
/// [`Keyring::seal_for_tenant`]).
pub mod tenant_sealed {
    pub const CHANNEL_SECRETS: &str = "channel.secrets";
    pub const EMAIL_QUARANTINE: &str = "email.quarantine";
    pub const WEBHOOK_SECRET: &str = "webhook.secret";
    pub const INDEX_KEY: &str = "tenant.index_key";
}

/// The keys made from the first root that a tenant's stored values depend on (blind indexes,
/// search terms, pseudonyms). A tenant moving to another installation takes them along
/// (`omnibridge tenant export`), so what it stored keeps matching there.
pub const INDEX_LABELS: [&str; 3] = ["blind-index", "search-index", "pseudonym"];

/// A contact's unwrapped data key.
#[derive(Clone, Debug)]
pub struct DataKey {
    pub contact_id: Uuid,
    key: SecretKey,
}

impl DataKey {
    /// A random key for a made-up contact, for unit tests.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self { contact_id: Uuid::now_v7(), key: SecretKey::random().expect("randomness") }
    }

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

/// One generation of the root key.
#[derive(Clone, Debug)]
pub struct Generation {
    pub number: i64,
    pub root: SecretKey,
    /// When the next generation replaced it (microseconds since the epoch).
    pub retired_at: Option<i64>,
}

pub struct Keyring {
    /// The first generation's root: blind indexes and pseudonyms.
    index_root: SecretKey,
    /// Every generation, newest first. Replaced whole when a rotation is picked up.
    generations: RwLock<Arc<Vec<Generation>>>,
    cache: Mutex<HashMap<Uuid, (DataKey, Instant)>>,
    /// Index keys imported tenants brought along, by tenant and label.
    imported: RwLock<HashMap<(Uuid, String), SecretKey>>,
}

fn derive_from(root: &SecretKey, label: &str, tenant_id: Uuid) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(b"omnibridge/v1"), root.as_bytes());
    let mut info = Vec::with_capacity(label.len() + 16);
    info.extend_from_slice(label.as_bytes());
    info.extend_from_slice(tenant_id.as_bytes());
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(&info, &mut out);
    SecretKey::from_bytes(out)
}

impl Keyring {
    /// A keyring of one generation: `root` (a fresh installation, or tests).
    pub fn new(root: SecretKey) -> Self {
        Self::with_generations(vec![Generation { number: 1, root, retired_at: None }])
    }

    /// A keyring of these generations (any order; generation 1 must be among them).
    pub fn with_generations(mut generations: Vec<Generation>) -> Self {
        generations.sort_by_key(|g| std::cmp::Reverse(g.number));
        let index_root = generations.iter().find(|g| g.number == 1).or(generations.last()).map(|g| g.root.clone()).unwrap_or_else(|| SecretKey::from_bytes([0; 32]));
        Self { index_root, generations: RwLock::new(Arc::new(generations)), cache: Mutex::new(HashMap::new()), imported: RwLock::new(HashMap::new()) }
    }

    /// Takes up the generations after a rotation (the index root cannot change).
    pub fn replace_generations(&self, mut generations: Vec<Generation>) {
        generations.sort_by_key(|g| std::cmp::Reverse(g.number));
        *self.generations.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(generations);
    }

    /// The generations, newest first.
    pub fn generations(&self) -> Arc<Vec<Generation>> {
        self.generations.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The newest generation's number.
    pub fn current_generation(&self) -> i64 {
        self.generations().first().map(|g| g.number).unwrap_or(1)
    }

    fn current_root(&self) -> SecretKey {
        self.generations().first().map(|g| g.root.clone()).unwrap_or_else(|| self.index_root.clone())
    }

    fn derive(&self, label: &str, tenant_id: Uuid) -> SecretKey {
        if let Some(key) = self.imported.read().unwrap_or_else(|e| e.into_inner()).get(&(tenant_id, label.to_owned())) {
            return key.clone();
        }
        derive_from(&self.index_root, label, tenant_id)
    }

    /// A tenant's index key for `label` (one of [`INDEX_LABELS`]), for taking the tenant to
    /// another installation.
    pub fn index_key(&self, tenant_id: Uuid, label: &str) -> SecretKey {
        self.derive(label, tenant_id)
    }

    /// Index keys an imported tenant brought along, as `tenant_keys` holds them: opened and used
    /// from now on for that tenant.
    pub fn adopt_index_keys(&self, rows: &[store::key_roots::TenantKeyRow]) -> Result<usize, CryptoError> {
        let mut opened = Vec::with_capacity(rows.len());
        for row in rows {
            let bytes = self.open_for_tenant(row.tenant_id, tenant_sealed::INDEX_KEY, row.id, &row.wrapped)?;
            let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
            opened.push(((row.tenant_id, row.label.clone()), SecretKey::from_bytes(bytes)));
        }
        let mut imported = self.imported.write().unwrap_or_else(|e| e.into_inner());
        let n = opened.len();
        imported.extend(opened);
        Ok(n)
    }

    /// A contact's data key itself, opened from its wrapping (for sealing it for transport).
    pub fn data_key_bytes(&self, tenant_id: Uuid, contact_id: Uuid, wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
        let bytes = self.open_any(tenant_id, wrapped, &aad("data-key", contact_id))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
        Ok(SecretKey::from_bytes(bytes))
    }

    /// A data key brought from elsewhere, wrapped under the newest generation; with that
    /// generation's number.
    pub fn wrap_data_key(&self, tenant_id: Uuid, contact_id: Uuid, key: &SecretKey) -> Result<(Vec<u8>, i64), CryptoError> {
        Ok((self.tenant_key(tenant_id).seal(key.as_bytes(), &aad("data-key", contact_id))?, self.current_generation()))
    }

    /// Opens with the newest generation's tenant key that fits: after a rotation everything is
    /// re-wrapped, so the first one tried is the one (older keys are derived only on a miss).
    fn open_any(&self, tenant_id: Uuid, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut last = CryptoError::Open;
        for generation in self.generations().iter() {
            match derive_from(&generation.root, "tenant-kek", tenant_id).open(sealed, aad) {
                Ok(plain) => return Ok(plain),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The newest generation's tenant key (what new values are sealed under).
    pub fn tenant_key(&self, tenant_id: Uuid) -> SecretKey {
        derive_from(&self.current_root(), "tenant-kek", tenant_id)
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

    /// The keyed hash of search terms within a tenant.
    pub fn search_hasher(&self, tenant_id: Uuid) -> TermHasher {
        let key = self.derive("search-index", tenant_id);
        TermHasher { mac: <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length") }
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
        self.open_any(tenant_id, sealed, &aad(what, row))
    }

    /// Whether the newest generation's tenant key opens a tenant value.
    pub fn sealed_by_newest(&self, tenant_id: Uuid, what: &str, row: Uuid, sealed: &[u8]) -> bool {
        self.tenant_key(tenant_id).open(sealed, &aad(what, row)).is_ok()
    }

    /// A tenant value sealed again under the newest generation (for a rotation).
    pub fn reseal_for_tenant(&self, tenant_id: Uuid, what: &str, row: Uuid, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let plain = self.open_for_tenant(tenant_id, what, row, sealed)?;
        self.seal_for_tenant(tenant_id, what, row, &plain)
    }

    /// A wrapped data key wrapped again under the newest generation (for a rotation).
    pub fn rewrap_data_key(&self, tenant_id: Uuid, contact_id: Uuid, wrapped: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = self.open_any(tenant_id, wrapped, &aad("data-key", contact_id))?;
        self.tenant_key(tenant_id).seal(&key, &aad("data-key", contact_id))
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
    /// HMAC-SHA256 under a per-tenant, per-purpose key of the newest generation, as 48 hex
    /// characters.
    pub fn link_token(&self, purpose: &str, tenant_id: Uuid, channel_id: Uuid, id: Uuid) -> String {
        format!("{}{}", id.simple(), link_mac(&self.current_root(), purpose, tenant_id, channel_id, id))
    }

    /// The id a link token names, if the token is genuine (constant-time comparison): made by
    /// the newest generation, or by one retired less than [`OLD_TOKENS_ACCEPTED`] ago.
    pub fn verify_link_token(&self, purpose: &str, tenant_id: Uuid, channel_id: Uuid, token: &str) -> Option<Uuid> {
        let token = token.to_ascii_lowercase();
        if token.len() != 48 || !token.is_ascii() {
            return None;
        }
        let id = Uuid::parse_str(&token[..32]).ok()?;
        let oldest = store::now_micros() - OLD_TOKENS_ACCEPTED.as_micros() as i64;
        let generations = self.generations();
        let usable = generations.iter().filter(|g| g.retired_at.is_none_or(|at| at > oldest));
        let mut matches = false;
        for generation in usable {
            let expected = link_mac(&generation.root, purpose, tenant_id, channel_id, id);
            matches |= omnibridge_channel::constant_time_eq(expected.as_bytes(), &token.as_bytes()[32..]);
        }
        matches.then_some(id)
    }

    /// A fresh data key for a new contact, its wrapped form and the generation that wrapped
    /// it, for the caller to store.
    pub fn new_data_key(&self, tenant_id: Uuid, contact_id: Uuid) -> Result<(DataKey, Vec<u8>, i64), CryptoError> {
        let key = SecretKey::random()?;
        let generation = self.generations().first().cloned().unwrap_or(Generation { number: 1, root: self.index_root.clone(), retired_at: None });
        let wrapped = derive_from(&generation.root, "tenant-kek", tenant_id).seal(key.as_bytes(), &aad("data-key", contact_id))?;
        let data_key = DataKey { contact_id, key };
        self.remember(&data_key);
        Ok((data_key, wrapped, generation.number))
    }

    /// Creates and stores a data key for a new contact.
    pub async fn create_data_key<'a>(
        &self,
        conn: impl Into<Conn<'a>>,
        tenant_id: Uuid,
        contact_id: Uuid,
    ) -> Result<DataKey, KeyError> {
        let (data_key, wrapped, generation) = self.new_data_key(tenant_id, contact_id)?;
        store::contacts::insert_data_key(conn, tenant_id, contact_id, &wrapped, generation).await?;
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
        let bytes = self.open_any(tenant_id, wrapped, &aad("data-key", contact_id))?;
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

/// Hashes search terms under one tenant's search key.
#[derive(Clone)]
pub struct TermHasher {
    mac: Hmac<Sha256>,
}

impl TermHasher {
    /// A term's entry in the index: the first 64 bits of its keyed hash.
    pub fn term(&self, term: &str) -> i64 {
        self.hash(b"t", term.as_bytes())
    }

    /// A contact's term: its own namespace, so a search for contacts walks contacts' entries
    /// only, not every message that holds a common name.
    pub fn contact_term(&self, term: &str) -> i64 {
        self.hash(b"c", term.as_bytes())
    }

    /// A fingerprint of indexed content, to tell whether it changed.
    pub fn fingerprint(&self, content: &str) -> i64 {
        self.hash(b"f", content.as_bytes())
    }

    fn hash(&self, domain: &[u8], bytes: &[u8]) -> i64 {
        let mut mac = self.mac.clone();
        mac.update(domain);
        mac.update(&[0]);
        mac.update(bytes);
        let out = mac.finalize().into_bytes();
        i64::from_be_bytes(out[..8].try_into().unwrap_or_default())
    }
}

fn link_mac(root: &SecretKey, purpose: &str, tenant_id: Uuid, channel_id: Uuid, id: Uuid) -> String {
    let key = derive_from(root, purpose, tenant_id);
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(channel_id.as_bytes());
    mac.update(id.as_bytes());
    mac.finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
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

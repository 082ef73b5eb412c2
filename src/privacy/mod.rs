//! Privacy machinery: encryption at rest (per-contact data keys wrapped by per-tenant keys
//! derived from the master key) and the blind index that lets the hub find an address without
//! storing it in the clear; key rotation ([`rotation`]), retention purges ([`retention`]) and
//! the audit log ([`audit`]). The data subjects' rights built on them are `crate::rights`.

pub mod audit;
mod crypto;
pub mod retention;
pub mod root;
pub mod rotation;
pub mod tombstones;
mod keyring;
mod master_key;

pub use crypto::{CryptoError, SecretKey};
pub use keyring::{INDEX_LABELS, tenant_sealed, DataKey, Generation, KeyError, Keyring, TermHasher};
pub use master_key::{MasterKeyError, load_or_create_master_key, parse_master_key, write_master_key};

/// A random token of `bytes` random bytes in unpadded base64url (`A-Z a-z 0-9 - _`): usable in
/// URLs, as a Telegram webhook secret and as a deep-link start parameter.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    // The OS generator does not fail on supported platforms; a zeroed token would be caught by
    // nobody, so refuse to go on without randomness.
    getrandom::fill(&mut buf).expect("the operating system's random generator is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

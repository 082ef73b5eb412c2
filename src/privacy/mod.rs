//! Privacy machinery. Today: encryption at rest (per-contact data keys wrapped by per-tenant
//! keys derived from the master key) and the blind index that lets the hub find an address
//! without storing it in the clear.

mod crypto;
mod keyring;
mod master_key;

pub use crypto::{CryptoError, SecretKey};
pub use keyring::{tenant_sealed, DataKey, KeyError, Keyring};
pub use master_key::{MasterKeyError, load_or_create_master_key, parse_master_key};

//! The root key and master key rotation (envelope encryption).
//!
//! Every key the hub uses — tenant keys, blind-index keys, and through them every contact's
//! data key and every channel secret — derives from one root key. Until the master key is first
//! rotated, the root *is* the master key. Rotating (`omnibridge keys rotate-master`) seals the
//! unchanged root under a key derived from the new master and stores it in `key_root` of every
//! database: no data is re-encrypted, no blind index changes, and processes running on the old
//! master keep working (they hold the root in memory) until they restart with the new one.

use hkdf::Hkdf;
use sha2::Sha256;

use super::{CryptoError, SecretKey};

const AAD: &[u8] = b"omnibridge key_root";

fn wrapping_key(master: &SecretKey) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(b"omnibridge/v1"), master.as_bytes());
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
    let _ = hk.expand(b"root-wrap", &mut out);
    SecretKey::from_bytes(out)
}

/// The root sealed under `master`.
pub fn wrap(master: &SecretKey, root: &SecretKey) -> Result<Vec<u8>, CryptoError> {
    wrapping_key(master).seal(root.as_bytes(), AAD)
}

/// The root, given the master and what `key_root` holds (nothing before the first rotation).
pub fn open(master: &SecretKey, wrapped: Option<&[u8]>) -> Result<SecretKey, CryptoError> {
    let Some(wrapped) = wrapped else { return Ok(SecretKey::from_bytes(*master.as_bytes())) };
    let bytes = wrapping_key(master).open(wrapped, AAD)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
    Ok(SecretKey::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_root_opens_only_with_the_new_master() {
        let (old, new) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let root = open(&old, None).unwrap();
        assert_eq!(root.as_bytes(), old.as_bytes(), "before any rotation the master is the root");
        let wrapped = wrap(&new, &root).unwrap();
        assert_eq!(open(&new, Some(&wrapped)).unwrap().as_bytes(), root.as_bytes());
        assert!(open(&old, Some(&wrapped)).is_err());
    }
}

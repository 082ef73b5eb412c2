//! The key roots and master key rotation (envelope encryption).
//!
//! Every key the hub uses derives from a root key. Roots come in generations: generation 1 is
//! the first master key itself (so a new installation stores nothing), and each rotation
//! (`omnibridge keys rotate-master`) creates a fresh random root as the next generation. The
//! database keeps every generation's root sealed under (a key derived from) the *current*
//! master key in `key_root`; a rotation seals them all anew under the new master, and in the
//! same transaction wraps every contact's data key and re-seals every tenant value (channel and
//! webhook secrets, quarantined mail) under the new generation. Messages are not re-encrypted:
//! they stay sealed under their contact's data key, which only changed wrapping.
//!
//! What a rotation protects: someone holding the old master key and a copy of the database
//! taken after the rotation opens nothing — no root (sealed under the new master), no data key
//! (wrapped under the new generation), no message or tenant secret written or re-wrapped since.
//! What it cannot protect: a copy of the database taken before the rotation, together with the
//! old master, opens what that copy held (and the data keys in it, hence later messages of those
//! contacts); blind indexes and pseudonyms keep generation 1's keys, because they are stored and
//! shared, so the old master still lets someone test whether a guessed address is known.

use hkdf::Hkdf;
use sha2::Sha256;

use super::keyring::Generation;
use super::{CryptoError, SecretKey};

const AAD: &[u8] = b"omnibridge key_root";

/// One generation's root as `key_root` holds it.
#[derive(Debug, Clone)]
pub struct StoredRoot {
    pub generation: i64,
    pub wrapped: Vec<u8>,
    /// When this generation was created (microseconds since the epoch).
    pub created_at: i64,
}

fn wrapping_key(master: &SecretKey, generation: i64) -> SecretKey {
    let hk = Hkdf::<Sha256>::new(Some(b"omnibridge/v1"), master.as_bytes());
    let mut out = [0u8; 32];
    // Generation 1 keeps the label it had before generations existed.
    let info = if generation == 1 { b"root-wrap".to_vec() } else { format!("root-wrap/{generation}").into_bytes() };
    // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
    let _ = hk.expand(&info, &mut out);
    SecretKey::from_bytes(out)
}

/// A root sealed under `master`.
pub fn wrap(master: &SecretKey, generation: i64, root: &SecretKey) -> Result<Vec<u8>, CryptoError> {
    wrapping_key(master, generation).seal(root.as_bytes(), AAD)
}

fn unwrap(master: &SecretKey, generation: i64, wrapped: &[u8]) -> Result<SecretKey, CryptoError> {
    let bytes = wrapping_key(master, generation).open(wrapped, AAD)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Open)?;
    Ok(SecretKey::from_bytes(bytes))
}

/// Every generation, given the master and what `key_root` holds (nothing before the first
/// rotation: then the master is generation 1's root).
pub fn open(master: &SecretKey, stored: &[StoredRoot]) -> Result<Vec<Generation>, CryptoError> {
    if stored.is_empty() {
        return Ok(vec![Generation { number: 1, root: master.clone(), retired_at: None }]);
    }
    let mut stored = stored.to_vec();
    stored.sort_by_key(|s| s.generation);
    let mut out = Vec::with_capacity(stored.len());
    for (i, s) in stored.iter().enumerate() {
        let retired_at = stored.get(i + 1).map(|next| next.created_at);
        out.push(Generation { number: s.generation, root: unwrap(master, s.generation, &s.wrapped)?, retired_at });
    }
    Ok(out)
}

/// A rotation: every generation sealed under `new_master`, plus a fresh one. Returns the rows
/// for `key_root` and the generations, newest first.
pub fn rotate(generations: &[Generation], new_master: &SecretKey, now: i64) -> Result<(Vec<StoredRoot>, Vec<Generation>), CryptoError> {
    let newest = generations.iter().map(|g| g.number).max().unwrap_or(0);
    let mut next: Vec<Generation> = generations
        .iter()
        .map(|g| Generation { retired_at: g.retired_at.or((g.number == newest).then_some(now)), ..g.clone() })
        .collect();
    next.push(Generation { number: newest + 1, root: SecretKey::random()?, retired_at: None });
    next.sort_by_key(|g| std::cmp::Reverse(g.number));
    let mut rows = Vec::with_capacity(next.len());
    for (i, g) in next.iter().enumerate() {
        // A generation's creation is its predecessor's retirement (unknown for generation 1).
        let created_at = next.get(i + 1).and_then(|older| older.retired_at).unwrap_or(now);
        rows.push(StoredRoot { generation: g.number, wrapped: wrap(new_master, g.number, &g.root)?, created_at });
    }
    Ok((rows, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotation_adds_a_generation_that_only_the_new_master_opens() {
        let (old, new) = (SecretKey::random().unwrap(), SecretKey::random().unwrap());
        let first = open(&old, &[]).unwrap();
        assert_eq!(first[0].root.as_bytes(), old.as_bytes(), "before any rotation the master is the root");
        let (rows, generations) = rotate(&first, &new, 1_000).unwrap();
        assert_eq!(generations.iter().map(|g| g.number).collect::<Vec<_>>(), [2, 1]);
        assert_ne!(generations[0].root.as_bytes(), old.as_bytes(), "the new root is fresh");
        let reopened = open(&new, &rows).unwrap();
        assert_eq!(reopened.len(), 2);
        assert!(reopened.iter().any(|g| g.number == 2 && g.root.as_bytes() == generations[0].root.as_bytes()));
        assert_eq!(reopened.iter().find(|g| g.number == 1).and_then(|g| g.retired_at), Some(1_000));
        assert!(open(&old, &rows).is_err(), "the old master opens no stored root");
        // And again: three generations, still opened by the newest master only.
        let newer = SecretKey::random().unwrap();
        let (rows, _) = rotate(&reopened, &newer, 2_000).unwrap();
        assert_eq!(open(&newer, &rows).unwrap().len(), 3);
        assert!(open(&new, &rows).is_err());
    }
}

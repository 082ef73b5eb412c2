//! Visitor tokens: unguessable bearer secrets that identify a returning visitor. Only their
//! SHA-256 hash is stored, so a database leak does not let anyone impersonate visitors.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "vt_";

/// A freshly issued token; shown to the visitor once.
pub struct VisitorToken(String);

/// The stored form of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl VisitorToken {
    /// Issues a token carrying 256 bits from the operating system's CSPRNG.
    pub fn issue() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl TokenHash {
    /// Hashes a presented token. Malformed tokens hash like any other string and simply match
    /// nothing, so callers need no separate validation path.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let (a, b) = (VisitorToken::issue().unwrap(), VisitorToken::issue().unwrap());
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.as_str().starts_with("vt_") && a.as_str().len() > 40);
        assert_eq!(a.hash(), TokenHash::of(a.as_str()));
    }
}

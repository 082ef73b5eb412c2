//! Standard Webhooks 1.0 signing: `whsec_` secrets, `msg_` ids and the `v1` HMAC-SHA256
//! signature over `{id}.{timestamp}.{body}`.
//!
//! Receivers verify with any Standard Webhooks library (the suite checks with the official
//! Python package). The body is signed exactly as it is sent: callers pass the stored bytes.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use uuid::Uuid;

pub const SECRET_PREFIX: &str = "whsec_";
/// Svix's accepted range for customer-supplied keys (the specification asks for 24–64 bytes).
const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=75;

/// A symmetric signing key: the decoded bytes of a `whsec_…` secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(…)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("must be \"whsec_\" followed by standard base64 of 24 to 75 random bytes")]
    Malformed,
}

impl SigningKey {
    /// 32 fresh random bytes.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = vec![0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Parses `whsec_<base64>` (the prefix may be omitted; padding is optional).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let b64 = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if !(32..=100).contains(&b64.len()) || !b64.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
            return Err(SecretError::Malformed);
        }
        let bytes = STANDARD
            .decode(b64)
            .or_else(|_| STANDARD_NO_PAD.decode(b64.trim_end_matches('=')))
            .map_err(|_| SecretError::Malformed)?;
        if !KEY_BYTES.contains(&bytes.len()) {
            return Err(SecretError::Malformed);
        }
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as a receiver configures it.
    pub fn to_secret_string(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    /// The `v1,<base64>` token for one message.
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length; the error arm cannot happen.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else { return String::new() };
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// The `webhook-signature` header: one token per valid key, space-separated.
pub fn signature_header(keys: &[SigningKey], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter().map(|k| k.sign(msg_id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// The `webhook-id` of an event: `msg_` and the event's UUIDv7 in Crockford base32 (26
/// characters, time-ordered like a ULID). Every endpoint the event fans out to, and every retry,
/// sees the same id.
pub fn message_id(event_id: Uuid) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut n = event_id.as_u128();
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n & 31) as usize];
        n >>= 5;
    }
    format!("msg_{}", String::from_utf8_lossy(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published vectors: standard-webhooks libraries/go/webhook_test.go (V1) and
    // libraries/rust/src/lib.rs test_sign (V2).
    #[test]
    fn signs_the_published_vector_v1() {
        let key = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let token = key.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(token, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn signs_the_published_vector_v2() {
        let key = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let token = key.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, br#"{"email":"test@example.com","username":"test_user"}"#);
        assert_eq!(token, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn several_keys_give_space_separated_tokens() {
        let a = SigningKey::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let b = SigningKey::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let header = signature_header(&[a.clone(), b.clone()], "msg_x", 1, b"{}");
        assert_eq!(header, format!("{} {}", a.sign("msg_x", 1, b"{}"), b.sign("msg_x", 1, b"{}")));
        assert!(header.split(' ').all(|t| t.starts_with("v1,") && t.matches(',').count() == 1));
    }

    #[test]
    fn secrets_round_trip_and_bad_ones_are_refused() {
        let key = SigningKey::generate().unwrap();
        let text = key.to_secret_string();
        assert!(text.starts_with("whsec_"));
        assert_eq!(SigningKey::parse(&text).unwrap(), key);
        assert_eq!(SigningKey::parse(text.trim_start_matches("whsec_")).unwrap(), key, "the prefix is optional");
        for bad in ["", "whsec_", "whsec_short", "whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "whsec_dGVzdA==dGVzdA==dGVzdA==dGVzdA=="] {
            assert_eq!(SigningKey::parse(bad), Err(SecretError::Malformed), "{bad:?}");
        }
        // 16 bytes is too short to be a key.
        assert!(SigningKey::parse(&format!("whsec_{}", STANDARD.encode([7u8; 16]))).is_err());
    }

    #[test]
    fn message_ids_are_stable_and_dot_free() {
        let id = Uuid::now_v7();
        assert_eq!(message_id(id), message_id(id));
        let text = message_id(id);
        assert_eq!(text.len(), 30);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        assert_ne!(message_id(Uuid::now_v7()), text);
    }
}

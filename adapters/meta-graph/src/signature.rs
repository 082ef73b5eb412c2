//! `X-Hub-Signature-256: sha256=<hex>`: HMAC-SHA256 of the exact request body under the app
//! secret (its UTF-8 bytes). Meta hashes the body as sent, with its `\uXXXX` and `\/` escapes,
//! so the raw bytes are hashed, never a re-serialisation. The hex is decoded and the digests
//! compared in constant time (upper-case hex is the same digest); the prefix must be exactly
//! `sha256=`. The legacy SHA-1 header is ignored.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-hub-signature-256";

/// The header value Meta would send for `body` under `app_secret`.
pub fn sign(app_secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex(&digest(app_secret, body)))
}

/// Whether `header` (the `X-Hub-Signature-256` value) signs `body` under one of `secrets` (a
/// rotation keeps the old secret for a while). An empty secret never verifies.
pub fn verify<'a>(secrets: impl IntoIterator<Item = &'a str>, body: &[u8], header: Option<&str>) -> bool {
    let Some(given) = header.and_then(|h| h.trim().strip_prefix("sha256=")).and_then(unhex) else { return false };
    if given.len() != 32 {
        return false;
    }
    let mut ok = false;
    for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
        ok |= omnibridge_channel::constant_time_eq(&digest(secret, body), &given);
    }
    ok
}

fn digest(secret: &str, body: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) else { return Vec::new() };
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const B1: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;
    const B2: &str = r#"{"object":"page","entry":[{"id":"1234567890","time":1700000000000,"messaging":[{"sender":{"id":"6789012345678901"},"recipient":{"id":"1234567890"},"timestamp":1700000000000,"message":{"mid":"m_abc123","text":"Ol\u00e1! Pre\u00e7o 50\u20ac \/ unidade"}}]}]}"#;
    const S1: &str = "sha256=44e21c0fb72f527a3033f997ce63ad5247eb4b23a0ffc520abaf914494a68247";
    const S2: &str = "sha256=b62cfa459a1a4c0d9bb26000c0704254b177fd28cb31d89ec5cd9c6115c25a13";

    #[test]
    fn metas_test_vectors_verify() {
        assert_eq!(B1.len(), 499);
        assert_eq!(B2.len(), 256);
        assert_eq!(sign("8f4c2b1e9d7a6b5c4d3e2f1a0b9c8d7e", B1.as_bytes()), S1);
        assert_eq!(sign("test_app_secret", B2.as_bytes()), S2);
        assert!(verify(["8f4c2b1e9d7a6b5c4d3e2f1a0b9c8d7e"], B1.as_bytes(), Some(S1)));
        assert!(verify(["old", "test_app_secret"], B2.as_bytes(), Some(S2)));
        assert!(verify(["test_app_secret"], B2.as_bytes(), Some(&S2.to_ascii_uppercase().replace("SHA256=", "sha256="))));
        assert_eq!(sign("secret", b"test"), "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914");
    }

    #[test]
    fn re_serialised_bodies_and_bad_headers_do_not() {
        let pretty = serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(B1).unwrap()).unwrap();
        assert!(!verify(["8f4c2b1e9d7a6b5c4d3e2f1a0b9c8d7e"], pretty.as_bytes(), Some(S1)));
        let utf8 = serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(B2).unwrap()).unwrap();
        assert!(!verify(["test_app_secret"], &utf8, Some(S2)));
        let ascii_slash = B2.replace(r"\/", "/");
        assert!(!verify(["test_app_secret"], ascii_slash.as_bytes(), Some(S2)));
        assert!(!verify(["test_app_secret"], B2.as_bytes(), None));
        assert!(!verify(["test_app_secret"], B2.as_bytes(), Some(&S2[..S2.len() - 1])));
        assert!(!verify(["test_app_secret"], B2.as_bytes(), Some("sha1=0329a06b62cd16b33eb6792be8c60b158d89a2ee")));
        assert!(!verify(["another_secret"], B2.as_bytes(), Some(S2)));
        assert!(!verify([""], b"", Some(&sign("", b""))));
        assert!(!verify(["test_app_secret"], B2.as_bytes(), Some(&S2.replace("sha256=", "SHA256="))));
    }
}

//! `X-Twilio-Signature`: how Twilio signs the requests it sends us.
//!
//! For a form-encoded POST the signed string is the full URL Twilio requested (scheme, host,
//! path, query as sent) followed by every body parameter as `name` + `value`, sorted by name
//! and then value, with no separators. The signature is `base64(HMAC-SHA1(auth token, string))`.
//! For a JSON body Twilio adds `bodySHA256=<hex SHA-256 of the body>` to the URL's query and
//! signs the URL alone. Twilio may sign the URL with or without an explicit `:443`/`:80`, so
//! both forms are tried, as the official libraries do.
//!
//! Checks run in constant time (the MAC's own `verify_slice`), with every token given: during a
//! rotation the primary token signs and the secondary is still accepted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use omnibridge_channel::constant_time_eq;
use sha1::Sha1;
use sha2::{Digest, Sha256};

type HmacSha1 = Hmac<Sha1>;

/// The string Twilio signs for a form POST to `url` with `params`.
pub fn signed_string(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut out = String::with_capacity(url.len() + params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    out.push_str(url);
    for (name, value) in sorted {
        out.push_str(name);
        out.push_str(value);
    }
    out
}

fn mac(auth_token: &str, data: &str) -> HmacSha1 {
    let mut mac = <HmacSha1 as KeyInit>::new_from_slice(auth_token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    mac
}

/// The signature Twilio sends for a form POST to `url` with `params` (what a test or a fake
/// Twilio puts in `X-Twilio-Signature`).
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    STANDARD.encode(mac(auth_token, &signed_string(url, params)).finalize().into_bytes())
}

/// Whether `header` is a valid signature of a form POST to `url` with `params` under any of
/// `auth_tokens`.
pub fn is_valid_form(auth_tokens: &[&str], url: &str, params: &[(String, String)], header: &str) -> bool {
    let Ok(given) = STANDARD.decode(header.trim()) else { return false };
    url_variants(url).iter().any(|u| {
        let data = signed_string(u, params);
        // Every token is tried (no early exit on the first), so timing says nothing of which matched.
        auth_tokens.iter().fold(false, |ok, token| mac(token, &data).verify_slice(&given).is_ok() | ok)
    })
}

/// Whether `header` is a valid signature of a JSON POST to `url` (which carries `bodySHA256`)
/// with this raw `body`.
pub fn is_valid_json(auth_tokens: &[&str], url: &str, body: &[u8], header: &str) -> bool {
    let Some(claimed) = query_param(url, "bodySHA256") else { return false };
    let actual: String = Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect();
    let body_ok = constant_time_eq(claimed.to_ascii_lowercase().as_bytes(), actual.as_bytes());
    body_ok & is_valid_form(auth_tokens, url, &[], header)
}


fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1.split('#').next()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The URL as given, with the default port made explicit, and with any port removed.
fn url_variants(url: &str) -> Vec<String> {
    let mut variants = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return variants };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (host, port) = match authority.find(']') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        Some(end) if authority.starts_with('[') => {
            let (host, rest) = authority.split_at(end + 1);
            (host, rest.strip_prefix(':'))
        }
        _ => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    match port {
        Some(_) => variants.push(format!("{scheme}://{host}{tail}")),
        None => {
            let default = match scheme.to_ascii_lowercase().as_str() {
                "https" => "443",
                "http" => "80",
                _ => return variants,
            };
            variants.push(format!("{scheme}://{host}:{default}{tail}"));
        }
    }
    variants
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn call() -> Vec<(String, String)> {
        params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    // The published vectors (Twilio's documentation and the official libraries' tests).
    #[test]
    fn the_documented_example_signs_as_published() {
        assert_eq!(
            signed_string(URL, &call()),
            "https://mycompany.com/myapp.php?foo=1&bar=2CallSidCA1234567890ABCDECaller+14158675309Digits1234From+14158675309To+18005551212"
        );
        assert_eq!(compute(TOKEN, URL, &call()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(is_valid_form(&[TOKEN], URL, &call(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn duplicate_parameters_sort_by_value_too() {
        let dup = params(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]);
        assert_eq!(compute(TOKEN, URL, &dup), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn explicit_default_ports_are_signed_forms_of_the_same_url() {
        assert_eq!(compute(TOKEN, "https://mycompany.com:443/myapp.php?foo=1&bar=2", &call()), "kvajT1Ptam85bY51eRf/AJRuM3w=");
        assert_eq!(compute(TOKEN, "http://mycompany.com:80/myapp.php?foo=1&bar=2", &call()), "0ZXoZLH/DfblKGATFgpif+LLRf4=");
        assert_eq!(compute(TOKEN, "http://mycompany.com:1234/myapp.php?foo=1&bar=2", &call()), "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=");
        // Signed with the port, checked against the URL without it, and the other way round.
        assert!(is_valid_form(&[TOKEN], URL, &call(), "kvajT1Ptam85bY51eRf/AJRuM3w="));
        assert!(is_valid_form(&[TOKEN], "https://mycompany.com:443/myapp.php?foo=1&bar=2", &call(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
        assert!(is_valid_form(&[TOKEN], "http://mycompany.com/myapp.php?foo=1&bar=2", &call(), "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    }

    #[test]
    fn a_json_body_is_bound_by_its_hash_in_the_url() {
        let body = br#"{"property": "value", "boolean": true}"#;
        let hash = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
        let url = format!("{URL}&bodySHA256={hash}");
        assert_eq!(compute(TOKEN, &url, &[]), "a9nBmqA0ju/hNViExpshrM61xv4=");
        assert!(is_valid_json(&[TOKEN], &url, body, "a9nBmqA0ju/hNViExpshrM61xv4="));
        assert!(!is_valid_json(&[TOKEN], &url, br#"{"property": "other", "boolean": true}"#, "a9nBmqA0ju/hNViExpshrM61xv4="));
        assert!(!is_valid_json(&[TOKEN], URL, body, "a9nBmqA0ju/hNViExpshrM61xv4="));
    }

    #[test]
    fn tampering_with_anything_signed_fails() {
        let good = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut tampered = call();
        tampered[2].1 = "1235".into();
        assert!(!is_valid_form(&[TOKEN], URL, &tampered, good));
        assert!(!is_valid_form(&["54321"], URL, &call(), good));
        assert!(!is_valid_form(&[TOKEN], "https://mycompany.com/myapp.php?foo=1&bar=3", &call(), good));
        assert!(!is_valid_form(&[TOKEN], URL, &call(), "not base64!"));
        assert!(!is_valid_form(&[TOKEN], URL, &call(), ""));
    }

    #[test]
    fn during_a_rotation_either_token_is_accepted() {
        let signed_with_new = compute("new-token", URL, &call());
        assert!(is_valid_form(&["old-token", "new-token"], URL, &call(), &signed_with_new));
        assert!(!is_valid_form(&["old-token"], URL, &call(), &signed_with_new));
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(url_variants("https://[::1]/x"), vec!["https://[::1]/x".to_owned(), "https://[::1]:443/x".to_owned()]);
        assert_eq!(url_variants("http://[::1]:8080/x"), vec!["http://[::1]:8080/x".to_owned(), "http://[::1]/x".to_owned()]);
    }
}

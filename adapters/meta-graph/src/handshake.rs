//! The verification request Meta sends when a callback URL is saved:
//! `GET …?hub.mode=subscribe&hub.verify_token=T&hub.challenge=C`. The answer is the challenge,
//! verbatim as text, when the mode is `subscribe` and the token equals the channel's (compared
//! in constant time; an empty token never matches); anything else is 403.

use std::collections::HashMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The answer to a verification request with `query`, for a channel whose token is
/// `verify_token`.
pub fn answer(query: &HashMap<String, String>, verify_token: &str) -> Response {
    let mode = query.get("hub.mode").map(String::as_str);
    let token = query.get("hub.verify_token").map(String::as_str).unwrap_or_default();
    let challenge = query.get("hub.challenge");
    match challenge {
        Some(challenge)
            if mode == Some("subscribe") && !verify_token.is_empty() && omnibridge_channel::constant_time_eq(token.as_bytes(), verify_token.as_bytes()) =>
        {
            (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge.clone()).into_response()
        }
        _ => (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "verification failed").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(mode: &str, token: &str, challenge: &str) -> HashMap<String, String> {
        [("hub.mode", mode), ("hub.verify_token", token), ("hub.challenge", challenge)].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn the_documented_vectors() {
        assert_eq!(answer(&query("subscribe", "s3cr3t-verify", "1158201444"), "s3cr3t-verify").status(), StatusCode::OK);
        assert_eq!(answer(&query("subscribe", "wrong", "1158201444"), "s3cr3t-verify").status(), StatusCode::FORBIDDEN);
        assert_eq!(answer(&query("unsubscribe", "s3cr3t-verify", "1158201444"), "s3cr3t-verify").status(), StatusCode::FORBIDDEN);
        assert_eq!(answer(&query("subscribe", "", "1158201444"), "").status(), StatusCode::FORBIDDEN);
        assert_eq!(answer(&query("subscribe", "t", "abc-123"), "t").status(), StatusCode::OK);
        assert_eq!(answer(&HashMap::new(), "t").status(), StatusCode::FORBIDDEN);
    }
}

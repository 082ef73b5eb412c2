//! API key authentication. Keys are `obk_` + 256 random bits (base64url); only their SHA-256 is
//! stored. A verified key is cached briefly so the hot path does not query per request.


use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use crate::domain::Role;
pub use crate::access::{Auth, IssuedKey, hash_key, issue_key};
use crate::api::error::ApiError;
use crate::hub::AppState;


/// Resolves a presented key to its caller.
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Auth, ApiError> {
    let hash = hash_key(secret);
    if let Some(auth) = state.auth_cache.get(&hash) {
        return Ok(auth);
    }
    let row = state.db.api_key_by_hash(&hash).await?.ok_or(ApiError::Unauthorized)?;
    let role = Role::parse(&row.role).ok_or(ApiError::Unauthorized)?;
    let auth = Auth { tenant_id: row.tenant_id, key_id: row.id, operator_id: row.operator_id, role, ip: None };
    state.auth_cache.put(hash, auth.clone());
    Ok(auth)
}

/// A console session from the cookie. Requests that change something must echo the session's
/// CSRF token in `X-CSRF-Token` (a cross-site form or script cannot read it).
async fn from_session(parts: &Parts, state: &AppState) -> Result<Auth, ApiError> {
    let token = super::signin::session_cookie(&parts.headers).ok_or(ApiError::Unauthorized)?;
    let session = crate::store::sessions::find(&state.db, &super::signin::session_hash(&token)).await?.ok_or(ApiError::Unauthorized)?;
    let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS);
    if !safe {
        let sent = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        let matches = omnibridge_channel::constant_time_eq(sent.as_bytes(), session.csrf_token.as_bytes());
        if !matches {
            return Err(ApiError::Csrf);
        }
    }
    let role = Role::parse(&session.role).ok_or(ApiError::Unauthorized)?;
    Ok(Auth { tenant_id: session.tenant_id, key_id: session.operator_id, operator_id: Some(session.operator_id), role, ip: None })
}

/// The bearer token of a request, if it has one.
pub fn bearer(parts: &Parts) -> Option<&str> {
    parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut auth = match bearer(parts) {
            Some(secret) => authenticate(state, secret).await?,
            None => from_session(parts, state).await?,
        };
        auth.ip = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        super::allow_list::check(state, &auth).await?;
        Ok(auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed() {
        let a = issue_key().unwrap();
        let b = issue_key().unwrap();
        assert_ne!(a.secret, b.secret);
        assert!(a.secret.starts_with("obk_") && a.secret.len() == 4 + 43);
        assert_eq!(a.hash, hash_key(&a.secret));
        assert!(a.secret.starts_with(&a.prefix));
    }
}

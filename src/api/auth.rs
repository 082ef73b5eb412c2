//! API key authentication. Keys are `obk_` + 256 random bits (base64url); only their SHA-256 is
//! stored. A verified key is cached briefly so the hot path does not query per request.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain::Role;
use crate::error::ApiError;
use crate::hub::AppState;

const KEY_PREFIX: &str = "obk_";
/// A verified key is trusted this long before the database is asked again: a revocation made
/// by any process (or the command line) takes effect within it, even unannounced.
const CACHE_TTL: Duration = Duration::from_secs(1);

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth {
    pub tenant_id: Uuid,
    pub key_id: Uuid,
    pub operator_id: Option<Uuid>,
    pub role: Role,
    /// The caller's address, for the audit log.
    pub ip: Option<std::net::IpAddr>,
}

impl Auth {
    /// The caller as the audit log names it.
    pub fn actor(&self) -> crate::privacy::audit::Actor {
        crate::privacy::audit::Actor { key_id: Some(self.key_id), operator_id: self.operator_id, ip: self.ip }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role == Role::Admin { Ok(()) } else { Err(ApiError::Forbidden) }
    }
}

/// A new key, shown once.
pub struct IssuedKey {
    pub secret: String,
    pub hash: [u8; 32],
    pub prefix: String,
}

pub fn issue_key() -> Result<IssuedKey, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let prefix = secret[..KEY_PREFIX.len() + 6].to_owned();
    Ok(IssuedKey { hash: hash_key(&secret), prefix, secret })
}

pub fn hash_key(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[derive(Default)]
pub struct AuthCache(Mutex<HashMap<[u8; 32], (Auth, Instant)>>);

impl AuthCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Auth> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(a, _)| a.clone())
    }

    /// Drops every cached key of a tenant (someone's access there ended).
    pub fn forget_tenant(&self, tenant_id: Uuid) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (a, _)| a.tenant_id != tenant_id);
    }

    fn put(&self, hash: [u8; 32], auth: Auth) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(hash, (auth, Instant::now()));
    }
}

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

//! Who is calling and from where: API keys (issued, hashed), console session tokens, the
//! authenticated caller ([`Auth`]), and what is cached about them in a process — verified keys,
//! tenants' IP allow-lists, open sockets per credential, web chat visitors' sessions
//! ([`visitors`]). The API's extractors and middleware
//! use these; so do the operator lifecycle (which ends access) and the region dispatcher (which
//! finds a caller's cell).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use uuid::Uuid;

mod visitors;

pub use visitors::VisitorSessions;

use crate::domain::Role;
use crate::net::ssrf::Cidr;
use crate::store::{self, Db, StoreError};

const KEY_PREFIX: &str = "obk_";
/// A verified key is trusted this long before the database is asked again: a revocation made
/// by any process (or the command line) takes effect within it, even unannounced.
const CACHE_TTL: Duration = Duration::from_secs(1);

/// The caller may not do this (their role does not allow it).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("this key's role may not do that")]
pub struct Forbidden;

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

    pub fn require_admin(&self) -> Result<(), Forbidden> {
        if self.role == Role::Admin { Ok(()) } else { Err(Forbidden) }
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
    pub fn get(&self, hash: &[u8; 32]) -> Option<Auth> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(hash).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(a, _)| a.clone())
    }

    /// Drops every cached key of a tenant (someone's access there ended).
    pub fn forget_tenant(&self, tenant_id: Uuid) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, (a, _)| a.tenant_id != tenant_id);
    }

    pub fn put(&self, hash: [u8; 32], auth: Auth) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            map.clear();
        }
        map.insert(hash, (auth, Instant::now()));
    }
}

/// Console sessions travel in this cookie.
pub const SESSION_COOKIE: &str = "omnibridge_session";

/// How a session token is stored: its SHA-256.
pub fn session_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The session token from the request's cookies.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_owned())
    })
}

/// Sockets one key or session may hold open at once.
pub const MAX_SOCKETS_PER_CREDENTIAL: usize = 20;

/// Open sockets per credential, in this process.
#[derive(Default)]
pub struct SocketCounts(std::sync::Mutex<HashMap<[u8; 32], usize>>);

impl SocketCounts {
    pub fn enter(&self, id: [u8; 32]) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(id).or_default();
        if *n >= MAX_SOCKETS_PER_CREDENTIAL {
            return false;
        }
        *n += 1;
        true
    }

    pub fn leave(&self, id: [u8; 32]) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&id);
            }
        }
    }
}


/// How long another process's change may take to apply here.
const ALLOW_LIST_TTL: Duration = Duration::from_secs(5);

/// A tenant's parsed list and when it was read.
type Cached = (Arc<Vec<Cidr>>, Instant);

/// Tenants' allow-lists, cached briefly.
#[derive(Default)]
pub struct AllowLists(Mutex<HashMap<Uuid, Cached>>);

impl AllowLists {
    pub async fn get(&self, db: &Db, tenant_id: Uuid) -> Result<Arc<Vec<Cidr>>, StoreError> {
        if let Some((list, at)) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&tenant_id)
            && at.elapsed() < ALLOW_LIST_TTL
        {
            return Ok(list.clone());
        }
        let stored = store::tenants::ip_allow_list(db, tenant_id).await?;
        let texts: Vec<String> = stored.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
        let list = Arc::new(texts.iter().filter_map(|c| Cidr::parse(c)).collect::<Vec<_>>());
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(tenant_id, (list.clone(), Instant::now()));
        Ok(list)
    }

    pub fn forget(&self, tenant_id: Uuid) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&tenant_id);
    }
}


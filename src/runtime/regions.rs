//! Region-pinned storage: each tenant's personal data lives only in its home region's database.
//!
//! Configuration maps regions to databases (`[regions.eu] database_url = …`); regions without
//! one share the main `database_url`. Each distinct database is a *cell*: a whole hub (ingest
//! writer, send worker, webhook workers, channel runners) working only on that database. The
//! only thing shared across regions is the directory of tenants → region in the main database
//! (`tenant_directory`: ids and region names, no personal data).
//!
//! One HTTP listener serves every cell: [`dispatcher`] looks at what a request names — the API
//! key, the channel in a provider callback or widget path, the visitor token — finds the cell
//! that knows it, and hands the request to that cell's router unchanged. With one database
//! there is no dispatcher at all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use uuid::Uuid;

use crate::config::Config;
use crate::hub::Hub;
use crate::store::{self, Db, StoreError};

/// The distinct databases of this configuration, the main one first.
pub fn database_urls(config: &Config) -> Vec<String> {
    let mut urls = vec![config.database_url.clone()];
    for region in config.regions.values() {
        if let Some(url) = &region.database_url
            && !urls.contains(url)
        {
            urls.push(url.clone());
        }
    }
    urls
}

/// Every database of the configuration, connected (and migrated), for commands that act on one
/// tenant without a running server.
pub struct Databases {
    config: Arc<Config>,
    /// By URL; the main database first.
    cells: Vec<(String, Db)>,
}

impl Databases {
    pub async fn connect(config: Arc<Config>) -> anyhow::Result<Self> {
        let mut cells = Vec::new();
        for url in database_urls(&config) {
            let db = Db::connect(&crate::db_options_for(&config, &url))
                .await
                .map_err(|e| anyhow::anyhow!("opening database {}: {e}", crate::config::redact_url(&url)))?;
            cells.push((url, db));
        }
        Ok(Self { config, cells })
    }

    /// The main database: the directory, and the data of regions without their own.
    pub fn main(&self) -> &Db {
        &self.cells[0].1
    }

    pub fn all(&self) -> impl Iterator<Item = &Db> {
        self.cells.iter().map(|(_, db)| db)
    }

    /// The database a region's tenants live in; None for a region not configured.
    pub fn for_region(&self, region: &str) -> Option<&Db> {
        self.config.regions.get(region)?;
        let url = self.config.region_database_url(region);
        self.cells.iter().find(|(u, _)| u == url).map(|(_, db)| db)
    }

    /// The database a tenant lives in, from the directory.
    pub async fn for_tenant(&self, tenant_id: Uuid) -> Result<Option<&Db>, StoreError> {
        let region = store::tenants::directory_region(self.main(), tenant_id).await?;
        Ok(region.and_then(|r| self.for_region(&r)))
    }

    pub async fn close(self) {
        for (_, db) in self.cells {
            db.close().await;
        }
    }
}

/// Routes each request to the cell that holds what it names.
pub fn dispatcher(cells: Vec<(Arc<Hub>, Router)>) -> Router {
    Router::new().fallback(dispatch).with_state(Arc::new(Dispatch { cells, known: Mutex::new(HashMap::new()) }))
}

struct Dispatch {
    cells: Vec<(Arc<Hub>, Router)>,
    /// Cells found for channel ids, key hashes and visitor token hashes (they never move).
    known: Mutex<HashMap<[u8; 32], usize>>,
}

/// What in a request names its tenant.
enum Locator {
    Channel(Uuid),
    ApiKey(String),
    Visitor(String),
    Session(String),
    Nothing,
}

fn locate(request: &Request) -> Locator {
    let path = request.uri().path();
    let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let query_token = || {
        form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
    };
    let channel_in = |rest: &str| rest.split('/').next().and_then(|id| id.parse().ok()).map(Locator::Channel);
    if let Some(rest) = path.strip_prefix("/hooks/") {
        // /hooks/<kind>/<channel id>/…
        return rest.split_once('/').and_then(|(_, rest)| channel_in(rest)).unwrap_or(Locator::Nothing);
    }
    if let Some(rest) = path.strip_prefix("/widget/v1/channels/") {
        return channel_in(rest).unwrap_or(Locator::Nothing);
    }
    if path.starts_with("/widget/") {
        return bearer.map(str::to_owned).or_else(query_token).map(Locator::Visitor).unwrap_or(Locator::Nothing);
    }
    if path.starts_with("/v1/") {
        if let Some(key) = bearer.map(str::to_owned).or_else(query_token) {
            return Locator::ApiKey(key);
        }
        return crate::access::session_cookie(request.headers()).map(Locator::Session).unwrap_or(Locator::Nothing);
    }
    Locator::Nothing
}

impl Dispatch {
    /// The cell for a request; the main cell when nothing in it is known anywhere (it answers
    /// 401 or 404 as a single-database hub would).
    async fn cell_for(&self, locator: Locator) -> usize {
        let probe = match locator {
            Locator::Nothing => return 0,
            Locator::Channel(id) => Probe::Channel(id),
            Locator::ApiKey(secret) => Probe::ApiKey(crate::access::hash_key(&secret).to_vec()),
            Locator::Session(token) => Probe::Session(crate::access::session_hash(&token)),
            Locator::Visitor(token) => Probe::Visitor(omnibridge_webchat::TokenHash::of(&token).0.to_vec()),
        };
        let memo = probe.memo();
        if let Some(i) = self.remembered(&memo) {
            return i;
        }
        for (i, (hub, _)) in self.cells.iter().enumerate() {
            if probe.held_by(hub).await {
                let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
                if known.len() > 100_000 {
                    known.clear();
                }
                known.insert(memo, i);
                return i;
            }
        }
        0
    }

    fn remembered(&self, memo: &[u8; 32]) -> Option<usize> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).get(memo).copied()
    }
}

/// What a cell is asked whether it holds: a channel, or the hash of a key or token.
enum Probe {
    Channel(Uuid),
    ApiKey(Vec<u8>),
    Session(Vec<u8>),
    Visitor(Vec<u8>),
}

impl Probe {
    /// The key under which the answer is remembered.
    fn memo(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let (kind, value): (&[u8], &[u8]) = match self {
            Self::Channel(id) => (b"channel", id.as_bytes()),
            Self::ApiKey(h) => (b"key", h),
            Self::Session(h) => (b"session", h),
            Self::Visitor(h) => (b"visitor", h),
        };
        let mut h = Sha256::new();
        h.update(kind);
        h.update([0]);
        h.update(value);
        h.finalize().into()
    }

    /// Whether this cell knows it (a failed lookup counts as no).
    async fn held_by(&self, hub: &Hub) -> bool {
        match self {
            Self::Channel(id) => hub.channels.get(*id).await.ok().flatten().is_some(),
            Self::ApiKey(h) => hub.db.api_key_by_hash(h).await.ok().flatten().is_some(),
            Self::Session(h) => store::sessions::find(&hub.db, h).await.ok().flatten().is_some(),
            Self::Visitor(h) => store::visitors::by_token(&hub.db, h, 0).await.ok().flatten().is_some(),
        }
    }
}

async fn dispatch(State(d): State<Arc<Dispatch>>, request: Request) -> Response {
    if request.uri().path() == "/v1/auth/login" {
        return sign_in_anywhere(&d, request).await;
    }
    let locator = locate(&request);
    let i = d.cell_for(locator).await;
    match d.cells[i].1.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
    .into_response()
}

/// A sign-in names only an email: each cell is asked in turn (the body is small and kept), and
/// the first that does not answer 401 answers.
async fn sign_in_anywhere(d: &Dispatch, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let mut last = None;
    for (_, router) in &d.cells {
        let attempt = Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
        let response = match router.clone().oneshot(attempt).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        if response.status() != axum::http::StatusCode::UNAUTHORIZED {
            return response;
        }
        last = Some(response);
    }
    last.unwrap_or_else(|| axum::http::StatusCode::UNAUTHORIZED.into_response())
}

//! Rate limits: token buckets per client, in memory (each hub process counts for itself).
//!
//! - widget sessions per IP address and per channel, widget messages per visitor,
//! - API requests per key (or console session), provider callbacks per channel,
//! - failed sign-ins per account and per IP address: past the limit the account (or address)
//!   is locked out until the bucket refills.
//!
//! A refused request gets `429` with `Retry-After` and a problem document naming the limit;
//! refusals are counted in `omnibridge_rate_limited_total{limit}`. Limits are per minute in
//! `[limits]`; a bucket holds a minute's worth, so a burst up to the limit passes at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omnibridge_channel::problem::Problem;
use sha2::{Digest, Sha256};

use crate::config::LimitsConfig;
use crate::state::AppState;

/// What is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    WidgetSessionsPerIp,
    WidgetSessionsPerChannel,
    WidgetMessagesPerVisitor,
    ApiRequestsPerKey,
    ProviderCallbacksPerChannel,
    SignInFailuresPerAccount,
    SignInFailuresPerIp,
}

impl Limit {
    pub fn name(self) -> &'static str {
        match self {
            Limit::WidgetSessionsPerIp => "widget_sessions_per_ip",
            Limit::WidgetSessionsPerChannel => "widget_sessions_per_channel",
            Limit::WidgetMessagesPerVisitor => "widget_messages_per_visitor",
            Limit::ApiRequestsPerKey => "api_requests_per_key",
            Limit::ProviderCallbacksPerChannel => "provider_callbacks_per_channel",
            Limit::SignInFailuresPerAccount => "sign_in_failures_per_account",
            Limit::SignInFailuresPerIp => "sign_in_failures_per_ip",
        }
    }

    /// (bucket size, refill window).
    fn budget(self, c: &LimitsConfig) -> (f64, Duration) {
        let minute = Duration::from_secs(60);
        let lockout = Duration::from_secs(c.sign_in_lockout_secs.max(1));
        match self {
            Limit::WidgetSessionsPerIp => (c.widget_sessions_per_ip_per_minute as f64, minute),
            Limit::WidgetSessionsPerChannel => (c.widget_sessions_per_channel_per_minute as f64, minute),
            Limit::WidgetMessagesPerVisitor => (c.widget_messages_per_visitor_per_minute as f64, minute),
            Limit::ApiRequestsPerKey => (c.api_requests_per_key_per_minute as f64, minute),
            Limit::ProviderCallbacksPerChannel => (c.provider_callbacks_per_channel_per_minute as f64, minute),
            Limit::SignInFailuresPerAccount => (c.sign_in_failures_per_account as f64, lockout),
            Limit::SignInFailuresPerIp => (c.sign_in_failures_per_ip as f64, lockout),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Past this many buckets, the idle ones are forgotten (a forgotten bucket starts full).
const MAX_BUCKETS: usize = 200_000;

pub struct RateLimits {
    config: LimitsConfig,
    buckets: Mutex<HashMap<(Limit, String), Bucket>>,
}

impl RateLimits {
    pub fn new(config: LimitsConfig) -> Self {
        Self { config, buckets: Mutex::new(HashMap::new()) }
    }

    fn with_bucket<T>(&self, limit: Limit, key: &str, f: impl FnOnce(&mut Bucket, f64, f64) -> T) -> T {
        let (size, window) = limit.budget(&self.config);
        let per_sec = size / window.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if buckets.len() >= MAX_BUCKETS {
            // Untouched for longer than any window: full again, the same as a new one.
            let idle = Duration::from_secs(600.max(self.config.sign_in_lockout_secs));
            buckets.retain(|_, b| now.duration_since(b.at) < idle);
        }
        let bucket = buckets.entry((limit, key.to_owned())).or_insert(Bucket { tokens: size, at: now });
        bucket.tokens = (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_sec).min(size);
        bucket.at = now;
        f(bucket, size, per_sec)
    }

    /// Takes one token; `Err(wait)` when there is none.
    pub fn take(&self, limit: Limit, key: &str) -> Result<(), Duration> {
        let (size, _) = limit.budget(&self.config);
        if size <= 0.0 {
            return Ok(()); // 0: unlimited
        }
        let result = self.with_bucket(limit, key, |b, _, per_sec| {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
                Ok(())
            } else {
                Err(Duration::from_secs_f64(((1.0 - b.tokens) / per_sec).max(1.0)))
            }
        });
        if result.is_err() {
            metrics::counter!("omnibridge_rate_limited_total", "limit" => limit.name()).increment(1);
        }
        result
    }

    /// Whether the bucket is empty (a lock-out), without taking from it.
    pub fn locked(&self, limit: Limit, key: &str) -> Option<Duration> {
        let (size, _) = limit.budget(&self.config);
        if size <= 0.0 {
            return None;
        }
        self.with_bucket(limit, key, |b, _, per_sec| (b.tokens < 1.0).then(|| Duration::from_secs_f64(((1.0 - b.tokens) / per_sec).max(1.0))))
    }
}

/// The 429 answer.
pub fn refused(limit: Limit, wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", format!("too many requests ({}); try again in {secs} s", limit.name()))
        .with("limit", limit.name())
        .with("retry_after", secs)
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

fn hashed(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The buckets a request draws from.
fn classify(request: &Request, peer: Option<SocketAddr>) -> Vec<(Limit, String)> {
    let path = request.uri().path();
    let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let mut out = Vec::new();
    if let Some(rest) = path.strip_prefix("/widget/v1/channels/")
        && let Some(channel) = rest.strip_suffix("/sessions")
        && request.method() == Method::POST
    {
        if let Some(peer) = peer {
            out.push((Limit::WidgetSessionsPerIp, peer.ip().to_string()));
        }
        out.push((Limit::WidgetSessionsPerChannel, channel.to_owned()));
    } else if path == "/widget/v1/messages" && request.method() == Method::POST {
        if let Some(token) = bearer {
            out.push((Limit::WidgetMessagesPerVisitor, hashed(token)));
        }
    } else if path.starts_with("/v1/") && path != "/v1/auth/login" {
        if let Some(token) = bearer {
            out.push((Limit::ApiRequestsPerKey, hashed(token)));
        } else if let Some(session) = super::signin::session_cookie(request.headers()) {
            out.push((Limit::ApiRequestsPerKey, hashed(&session)));
        }
    } else if let Some(rest) = path.strip_prefix("/hooks/") {
        // /hooks/{provider}/{channel_id}/…
        if let Some(channel) = rest.split('/').nth(1) {
            out.push((Limit::ProviderCallbacksPerChannel, channel.to_owned()));
        }
    }
    out
}

/// The middleware: every bucket the request draws from must have a token.
pub async fn enforce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
    for (limit, key) in classify(&request, peer) {
        if let Err(wait) = state.limits.take(limit, &key) {
            return refused(limit, wait);
        }
    }
    next.run(request).await
}

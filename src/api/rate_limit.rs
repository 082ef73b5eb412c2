//! Rate limits at the door of the HTTP API: which budgets a request draws from, and the `429`
//! answer ([`crate::limits`] keeps the buckets).

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use omnibridge_channel::problem::Problem;

pub use crate::limits::{Limit, RateLimits, sweeper};
use crate::hub::AppState;

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

/// The network an address belongs to for per-network budgets: its IPv4 /24 or IPv6 /48.
fn network_of(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The buckets a request draws from (secrets are hashed by the limiter, never kept).
fn classify(request: &Request, peer: Option<SocketAddr>) -> Vec<(Limit, String)> {
    let path = request.uri().path();
    let bearer = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let mut out = Vec::new();
    if let Some(rest) = path.strip_prefix("/widget/v1/channels/")
        && let Some(channel) = rest.strip_suffix("/sessions")
        && request.method() == Method::POST
    {
        // Per address, and per channel from one network: a flood from many addresses of one
        // network spends that network's budget, never the channel's for everyone else.
        if let Some(peer) = peer {
            out.push((Limit::WidgetSessionsPerIp, peer.ip().to_string()));
            out.push((Limit::WidgetSessionsPerChannel, format!("{channel}|{}", network_of(peer.ip()))));
        }
    } else if path == "/widget/v1/messages" || path == "/widget/v1/files" {
        // Sending (text or files) and reading the history alike: a visitor's budget.
        if let Some(token) = bearer {
            out.push((Limit::WidgetMessagesPerVisitor, token.to_owned()));
        }
    } else if path == "/widget/v1/transcript" && request.method() == Method::POST {
        // Per visitor and per address here; per channel where the channel is known (the hub's
        // transcript service), since the token names it only after it is checked.
        if let Some(token) = bearer {
            out.push((Limit::TranscriptsPerVisitor, token.to_owned()));
        }
        if let Some(peer) = peer {
            out.push((Limit::TranscriptsPerIp, peer.ip().to_string()));
        }
    } else if path.starts_with("/v1/") && path != "/v1/auth/login" {
        if let Some(token) = bearer {
            out.push((Limit::ApiRequestsPerKey, token.to_owned()));
        } else if let Some(session) = super::signin::session_cookie(request.headers()) {
            out.push((Limit::ApiRequestsPerKey, session));
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


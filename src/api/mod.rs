//! The HTTP surface: `/v1` REST for operators and integrations, `/widget` for visitors (served by
//! the web chat adapter), and the operational endpoints.

pub mod allow_list;
pub mod error;
mod attachments;
mod attributes;
mod canned;
mod api_keys;
mod csat;
mod pages;
mod password_reset;
mod transcripts;
mod invitations;
mod unsubscribe;
mod hours;
pub mod auth;
pub use openapi::document as openapi_document;
mod channels;
pub(crate) mod contacts;
mod consents;
mod events;
mod conversations;
mod mail;
pub(crate) mod messages;
pub mod openapi;
mod operators;
mod ops;
mod pagination;
pub mod rate_limit;
mod labels;
mod links;
mod privacy;
pub mod realtime;
mod ropa;
mod routing;
mod search;
mod signin;
mod stats;
mod summary;
mod exports;
mod teams;
pub use signin::{session_cookie, session_hash};
mod console;
mod webhooks;

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use omnibridge_channel::problem::Problem;

use crate::hub::AppState;

/// The whole router; `widget` is the web chat adapter's router, mounted as is; `inbound` is
/// where provider webhooks hand their messages.
pub fn router(state: AppState, widget: Router, inbound: omnibridge_channel::InboundTx) -> Router {
    let max_body = state.config.http.max_body_bytes;
    Router::new()
        .merge(password_reset::pages())
        .merge(csat::router())
        .merge(transcripts::router())
        .merge(invitations::router())
        .merge(summary::router())
        .merge(console::router())
        .merge(Router::from(openapi::documented()))
        .fallback(not_found)
        .with_state(state.clone())
        // Visitors send short texts: a smaller limit for the widget API.
        .merge(widget.layer(DefaultBodyLimit::max(state.config.http.widget_max_body_bytes)))
        .merge(unsubscribe::router(state.clone()))
        .merge(crate::channels::hooks::router(&state.channels, &state.db, &state.keyring, inbound, state.config.public_base_url()))
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit::enforce))
        .layer(middleware::from_fn_with_state(state.clone(), request_deadline))
        .layer(middleware::from_fn_with_state(state, announced_body_limit))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(middleware::from_fn(security_headers))
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(max_body))
}

/// A body announced larger than the limit is refused before a byte of it is read (bodies
/// without a length are cut at the limit as they are read, by `DefaultBodyLimit`).
async fn announced_body_limit(axum::extract::State(state): axum::extract::State<AppState>, request: Request, next: Next) -> Response {
    let announced = request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let http = &state.config.http;
    let path = request.uri().path();
    let limit = if path == "/widget/v1/files" {
        http.widget_max_upload_bytes
    } else if path.starts_with("/widget/") {
        http.widget_max_body_bytes
    } else {
        http.max_body_bytes
    } as u64;
    if announced.is_some_and(|n| n > limit) {
        // Not read: the connection closes after the answer (`security_headers` says so).
        return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is larger than {limit} bytes")).into_response();
    }
    next.run(request).await
}

/// A request (its body included) that takes longer than `http.request_timeout_secs` gets 408;
/// websocket upgrades are answered at once and then live on their own.
async fn request_deadline(axum::extract::State(state): axum::extract::State<AppState>, request: Request, next: Next) -> Response {
    if request.headers().contains_key(header::UPGRADE) {
        return next.run(request).await;
    }
    let limit = std::time::Duration::from_secs(state.config.http.request_timeout_secs.max(1));
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Problem::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", format!("the request took longer than {} s", limit.as_secs())).into_response(),
    }
}

/// Headers every answer carries: no sniffing of content types, no framing by other sites (the
/// widget's script is loaded, not framed), no referrer leaking tokens from URLs.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(header::HeaderValue::from_static("nosniff"));
    headers.entry(header::REFERRER_POLICY).or_insert(header::HeaderValue::from_static("no-referrer"));
    headers.entry(header::X_FRAME_OPTIONS).or_insert(header::HeaderValue::from_static("DENY"));
    // A body refused as too large was not read to its end: the connection closes after this.
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Framework-level rejections (wrong method, oversized body read by a plain extractor) come
/// without a problem document; give them one so every error looks the same.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // Problem documents pass, and so do the pages people open from links (survey, invitation):
    // they answer errors in HTML on purpose.
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || status == StatusCode::SWITCHING_PROTOCOLS {
        return response;
    }
    let code = match status {
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::NOT_FOUND => "not_found",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    };
    let (parts, body) = response.into_parts();
    let detail = axum::body::to_bytes(body, 4096).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok()).unwrap_or_default();
    let detail = if detail.is_empty() { status.canonical_reason().unwrap_or("error").to_owned() } else { detail };
    let mut problem = Problem::new(status, code, detail).into_response();
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        problem.headers_mut().insert(header::ALLOW, allow.clone());
    }
    problem
}

async fn record_metrics(request: Request<Body>, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [("method", method), ("route", route), ("status", response.status().as_u16().to_string())];
    metrics::counter!("omnibridge_http_requests_total", &labels).increment(1);
    metrics::histogram!("omnibridge_http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}

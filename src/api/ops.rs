//! Operational endpoints: liveness, readiness (the database answers) and Prometheus metrics.
//!
//! `/healthz` and the plain `/readyz` answer everyone (load balancers). What shows the hub's
//! insides — `/metrics` and the details of `/readyz` (node, leases) — answers only an admin:
//! the bearer `server.admin_token` when one is configured, else clients on loopback.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::Problem;
use serde_json::json;

use crate::hub::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(prometheus))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// Whether the request may see the hub's insides.
fn admin(state: &AppState, headers: &HeaderMap, client: Option<std::net::SocketAddr>) -> bool {
    let token = &state.config.server.admin_token;
    if token.is_empty() {
        return client.is_some_and(|c| c.ip().to_canonical().is_loopback());
    }
    let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("").trim();
    omnibridge_channel::constant_time_eq(sent.as_bytes(), token.as_bytes())
}

fn client(request: &axum::extract::Request) -> Option<std::net::SocketAddr> {
    request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0)
}

async fn readyz(State(state): State<AppState>, request: axum::extract::Request) -> Result<impl IntoResponse, Problem> {
    let detailed = admin(&state, request.headers(), client(&request));
    match state.db.ping().await {
        Ok(()) if detailed => Ok(Json(json!({
            "status": "ready",
            "database": state.db.backend(),
            "node_id": crate::cluster::node_id(),
            "leases": state.cluster.held(),
            "event_log": {
                "head": state.bus.log().head(),
                "consumers": crate::events::consumer::positions(&state.db).await.unwrap_or_default(),
            },
        }))),
        Ok(()) => Ok(Json(json!({"status": "ready"}))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database does not answer"))
        }
    }
}

async fn prometheus(State(state): State<AppState>, request: axum::extract::Request) -> Result<impl IntoResponse, Problem> {
    if !admin(&state, request.headers(), client(&request)) {
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "admin_only", "metrics need the admin token (server.admin_token)"));
    }
    metrics::gauge!("omnibridge_rate_limit_buckets").set(state.limits.len() as f64);
    let body = state.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

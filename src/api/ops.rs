//! Operational endpoints: liveness, readiness (the database answers) and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use omnibridge_channel::problem::Problem;
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(prometheus))
}

async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    match state.db.ping().await {
        Ok(()) => Ok(Json(json!({
            "status": "ready",
            "database": state.db.backend(),
            "node_id": crate::cluster::node_id(),
            "leases": state.cluster.held(),
        }))),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database does not answer"))
        }
    }
}

async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    metrics::gauge!("omnibridge_rate_limit_buckets").set(state.limits.len() as f64);
    let body = state.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

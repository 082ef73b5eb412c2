//! Operational endpoints: liveness, readiness (the database answers) and Prometheus metrics.
//!
//! `/healthz` and the plain `/readyz` answer everyone (load balancers). What shows the hub's
//! insides — `/metrics` and the details of `/readyz` (node, leases) — answers only an admin:
//! the bearer `server.admin_token` when one is configured, else clients on loopback.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::Problem;
use serde::Serialize;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::Problem as ProblemResponse;
use crate::hub::AppState;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz)).routes(routes!(prometheus))
}

/// The process answers.
#[derive(Serialize, utoipa::ToSchema)]
struct Health {
    /// Always `ok`.
    status: &'static str,
    version: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "healthz", security(()),
    responses((status = 200, description = "Alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// Ready to serve; the details only for an admin (the admin token, or loopback without one).
#[derive(Serialize, utoipa::ToSchema)]
struct Readiness {
    /// Always `ready`.
    status: &'static str,
    /// `sqlite` or `postgres`.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node_id: Option<String>,
    /// The cluster leases this process holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    leases: Option<Value>,
    /// The event log's head and each consumer's position.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    event_log: Option<Value>,
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

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "ops", operation_id = "readyz", security(()),
    responses((status = 200, description = "Ready", body = Readiness), (status = 503, response = ProblemResponse)))]
async fn readyz(State(state): State<AppState>, request: axum::extract::Request) -> Result<Json<Readiness>, Problem> {
    let detailed = admin(&state, request.headers(), client(&request));
    match state.db.ping().await {
        Ok(()) if detailed => Ok(Json(Readiness {
            status: "ready",
            database: Some(state.db.backend()),
            node_id: Some(crate::cluster::node_id().to_string()),
            leases: Some(serde_json::to_value(state.cluster.held()).unwrap_or_default()),
            event_log: Some(serde_json::json!({
                "head": state.bus.log().head(),
                "consumers": crate::events::consumer::positions(&state.db).await.unwrap_or_default(),
            })),
        })),
        Ok(()) => Ok(Json(Readiness { status: "ready", database: None, node_id: None, leases: None, event_log: None })),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            Err(Problem::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", "the database does not answer"))
        }
    }
}

/// Prometheus metrics (the admin token, or loopback without one).
#[utoipa::path(get, path = "/metrics", tag = "ops", operation_id = "metrics", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String), (status = 401, response = ProblemResponse)))]
async fn prometheus(State(state): State<AppState>, request: axum::extract::Request) -> Result<impl IntoResponse, Problem> {
    if !admin(&state, request.headers(), client(&request)) {
        return Err(Problem::new(StatusCode::UNAUTHORIZED, "admin_only", "metrics need the admin token (server.admin_token)"));
    }
    metrics::gauge!("omnibridge_rate_limit_buckets").set(state.limits.len() as f64);
    let body = state.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body))
}

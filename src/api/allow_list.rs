//! Per-tenant IP allow-list for the API and the console: `GET|PUT /v1/ip-allow-list
//! {"cidrs": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7"]}`. An empty list allows every
//! address. A request from elsewhere is refused with 403 and written to the audit log. The
//! address is the connection's peer (a proxy in front must be on the list).

use std::net::IpAddr;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::openapi::Problem;
use crate::api::error::{ApiError, ApiResult};
use crate::hub::AppState;
use crate::store::{self};
use crate::net::ssrf::Cidr;

/// Refuses a caller whose address the tenant's allow-list does not cover.
pub async fn check(state: &AppState, auth: &Auth) -> ApiResult<()> {
    let Some(ip) = auth.ip else { return Ok(()) };
    let list = state.ip_allow.get(&state.db, auth.tenant_id).await?;
    if list.is_empty() || list.iter().any(|c| c.contains(ip)) {
        return Ok(());
    }
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "access.ip_refused", "tenant", Some(auth.tenant_id), Some(&ip.to_string())).await;
    Err(ApiError::IpNotAllowed(ip))
}

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, replace))
}

/// The addresses the tenant's API and console answer.
#[derive(Serialize, utoipa::ToSchema)]
struct AllowList {
    /// Addresses or CIDR networks; empty allows every address.
    cidrs: Vec<String>,
}

/// A new allow-list, replacing the old one.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewAllowList {
    /// Addresses or CIDR networks (at most 200); empty allows every address.
    #[schema(max_items = 200, example = json!(["203.0.113.0/24", "2001:db8::/32"]))]
    cidrs: Vec<String>,
    /// Accept a list that does not cover the caller's own address (they lose access).
    #[serde(default)]
    force: bool,
}

/// The tenant's IP allow-list (admins).
#[utoipa::path(get, path = "/v1/ip-allow-list", tag = "security", operation_id = "getIpAllowList",
    responses((status = 200, description = "The list", body = AllowList), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let stored = store::tenants::ip_allow_list(&state.db, auth.tenant_id).await?;
    let cidrs: Vec<String> = stored.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
    Ok(Json(AllowList { cidrs }))
}

/// Replace the tenant's IP allow-list (admins).
///
/// Requests from other addresses get 403 `ip_not_allowed` and an audit entry. A list that does
/// not cover the caller's own address is refused unless `force` is true.
#[utoipa::path(put, path = "/v1/ip-allow-list", tag = "security", operation_id = "putIpAllowList", request_body = NewAllowList,
    responses((status = 200, description = "The list", body = AllowList), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 422, response = Problem)))]
async fn replace(State(state): State<AppState>, auth: Auth, JsonBody(body): JsonBody<NewAllowList>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    if body.cidrs.len() > 200 {
        return Err(ApiError::invalid("cidrs", "at most 200 entries"));
    }
    let mut parsed = Vec::new();
    for (i, text) in body.cidrs.iter().enumerate() {
        parsed.push(Cidr::parse(text.trim()).ok_or_else(|| ApiError::invalid(&format!("cidrs[{i}]"), format!("{text:?} is not an address or CIDR network")))?);
    }
    let caller: Option<IpAddr> = auth.ip;
    if let Some(ip) = caller
        && !parsed.is_empty()
        && !parsed.iter().any(|c| c.contains(ip))
        && !body.force
    {
        return Err(ApiError::invalid("cidrs", format!("does not include your own address {ip}; send \"force\": true to lock yourself out")));
    }
    let cidrs: Vec<String> = body.cidrs.iter().map(|c| c.trim().to_owned()).collect();
    store::tenants::save_ip_allow_list(&state.db, auth.tenant_id, &serde_json::to_string(&cidrs).unwrap_or_else(|_| "[]".into())).await?;
    state.ip_allow.forget(auth.tenant_id);
    state.cluster.announce(crate::cluster::Change::Tenant(auth.tenant_id)).await;
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "ip_allow_list.update", "tenant", Some(auth.tenant_id), None).await;
    Ok(Json(AllowList { cidrs }))
}

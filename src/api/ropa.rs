//! `GET /v1/ropa?format=json|md|csv`: the tenant's record of processing activities, generated
//! from the live configuration.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::openapi::Problem;
use super::pagination::{ListParams, Params};
use crate::api::error::{ApiError, ApiResult};
use crate::policy::ropa::{self, Ropa};
use crate::hub::AppState;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

#[derive(Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct RopaQuery {
    /// `json` (the default), `md` (Markdown) or `csv`.
    #[param(value_type = Option<RopaFormat>, inline)]
    format: Option<String>,
}

/// How the record comes.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // named in the API description; values travel as strings
enum RopaFormat {
    Json,
    Md,
    Csv,
}

/// Record of processing activities (Art. 30(2); admins).
///
/// Generated from live configuration: processor and controller, processing per channel,
/// subprocessors in use with countries and mechanisms, transfers, retention, security measures.
#[utoipa::path(get, path = "/v1/ropa", tag = "routing", operation_id = "getRopa", params(RopaQuery),
    responses((status = 200, description = "The record", content((Ropa = "application/json"), (String = "text/markdown"), (String = "text/csv"))),
        (status = 401, response = Problem), (status = 403, response = Problem), (status = 422, response = Problem)))]
async fn show(State(state): State<AppState>, auth: Auth, Params(q): Params<RopaQuery>) -> ApiResult<Response> {
    auth.require_admin()?;
    let format = ListParams::of(&q).one_of("format", &["json", "md", "csv"])?.unwrap_or_else(|| "json".into());
    let record = ropa::build(&state.db, &state.policies, &state.config, auth.tenant_id, &|_| {}).await?.ok_or(ApiError::NotFound("tenant"))?;
    Ok(match format.as_str() {
        "md" => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], record.to_markdown()).into_response(),
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], record.to_csv()).into_response(),
        _ => Json(record.to_json()).into_response(),
    })
}

//! Password reset: `POST /v1/auth/password-reset {"email"}` (public; always 202),
//! `POST /v1/operators/{id}/password-reset` (admins), and the page behind the mailed link,
//! `GET|POST /password-reset/{token}` (a form with the new password).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use super::rate_limit::Limit;
use crate::api::error::{ApiError, ApiResult};
use crate::team::password_reset::{self, ResetError};
use crate::hub::AppState;

/// The API routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request)).routes(routes!(for_operator))
}

/// The page behind the mailed link (HTML for people, not part of the API description).
pub fn pages() -> Router<AppState> {
    Router::new().route("/password-reset/{token}", get(page).post(complete))
}

/// Whose password to reset.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    /// The address the operator signs in with.
    #[schema(pattern = "@", max_length = 254)]
    email: String,
}

/// The same answer whether or not the address signs in here.
#[derive(Serialize, utoipa::ToSchema)]
struct ResetAnswer {
    status: &'static str,
}

/// Ask for a password reset link by mail (no key).
///
/// Answers 202 whether or not the address signs in here. Shares the sign-in failure budget of
/// the caller's address (429 beyond it).
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "console", operation_id = "requestPasswordReset", security(()), request_body = ResetRequest,
    responses((status = 202, description = "If the address signs in here, a link is on its way", body = ResetAnswer), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
async fn request(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    JsonBody(body): JsonBody<ResetRequest>,
) -> ApiResult<Response> {
    // The same budget as failed sign-ins from the address: a reset form is a guessing aid too.
    if let Err(wait) = state.limits.take(Limit::SignInFailuresPerIp, &peer.ip().to_string()) {
        return Ok(super::rate_limit::refused(Limit::SignInFailuresPerIp, wait));
    }
    if !body.email.contains('@') || body.email.len() > 254 {
        return Err(ApiError::invalid("email", "must look like name@example.com"));
    }
    let hub = state.clone();
    tokio::spawn(async move {
        if let Err(err) = password_reset::request(&hub, &body.email).await {
            tracing::warn!(error = %err, "a password reset failed");
        }
    });
    Ok((StatusCode::ACCEPTED, axum::Json(ResetAnswer { status: "if the address signs in here, a link is on its way" })).into_response())
}

/// Mail an operator a password reset link (admins): single use, expires in an hour.
#[utoipa::path(post, path = "/v1/operators/{id}/password-reset", tag = "operators", operation_id = "sendPasswordReset", params(("id" = Uuid, Path)),
    responses((status = 202, description = "Sent", body = ResetAnswer), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem)))]
async fn for_operator(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("operator"))?;
    state.db.operator(auth.tenant_id, id).await?.ok_or(ApiError::NotFound("operator"))?;
    if !password_reset::send(&state, auth.tenant_id, id).await? {
        return Err(ApiError::Conflict("the operator is not active or has no email address to send a link to".into()));
    }
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "operator.password_reset_sent", "operator", Some(id), None).await;
    Ok((StatusCode::ACCEPTED, axum::Json(ResetAnswer { status: "sent" })))
}

const GONE: &str = "<h1>This link does not work</h1><p>It was used already, has expired, or was never valid. Ask for a new one.</p>";
const FORM: &str = "<h1>Choose a new password</h1><form method=\"post\"><p><label for=\"password\">New password (12 characters or more)</label><br>\
                    <input id=\"password\" name=\"password\" type=\"password\" minlength=\"12\" maxlength=\"200\" required autocomplete=\"new-password\"></p>\
                    <button type=\"submit\">Set password</button></form>";

fn html(status: StatusCode, body: &str) -> Response {
    super::pages::page(status, "Reset your password", body)
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match password_reset::valid(&state, &token).await {
        Ok(true) => html(StatusCode::OK, FORM),
        Ok(false) => html(StatusCode::GONE, GONE),
        Err(_) => html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>"),
    }
}

async fn complete(State(state): State<AppState>, Path(token): Path<String>, body: axum::body::Bytes) -> Response {
    let password = form_urlencoded::parse(&body).find(|(k, _)| k == "password").map(|(_, v)| v.into_owned()).unwrap_or_default();
    if let Err(err) = super::signin::valid_password(&password) {
        let why = match err {
            ApiError::Invalid { detail, .. } => detail,
            other => other.to_string(),
        };
        return html(StatusCode::UNPROCESSABLE_ENTITY, &format!("<p>{}</p>{FORM}", why.replace('<', "&lt;")));
    }
    let Ok(hash) = super::signin::hash_password(&password) else { return html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>") };
    match password_reset::complete(&state, &token, &hash).await {
        Ok(()) => html(StatusCode::OK, "<h1>Password changed</h1><p>Sign in with it now; every other session was signed out.</p>"),
        Err(ResetError::Gone) => html(StatusCode::GONE, GONE),
        Err(ResetError::Store(_)) => html(StatusCode::SERVICE_UNAVAILABLE, "<h1>Please try again shortly</h1>"),
    }
}

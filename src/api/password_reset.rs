//! Password reset: `POST /v1/auth/password-reset {"email"}` (public; always 202),
//! `POST /v1/operators/{id}/password-reset` (admins), and the page behind the mailed link,
//! `GET|POST /password-reset/{token}` (a form with the new password).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use omnibridge_channel::problem::JsonBody;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Auth;
use super::rate_limit::Limit;
use crate::api::error::{ApiError, ApiResult};
use crate::team::password_reset::{self, ResetError};
use crate::hub::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/auth/password-reset", post(request))
        .route("/v1/operators/{id}/password-reset", post(for_operator))
        .route("/password-reset/{token}", get(page).post(complete))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

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
    Ok((StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "if the address signs in here, a link is on its way"}))).into_response())
}

async fn for_operator(State(state): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<impl IntoResponse> {
    auth.require_admin()?;
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("operator"))?;
    if !password_reset::send(&state, auth.tenant_id, id).await? {
        return Err(ApiError::NotFound("active operator with an email"));
    }
    crate::privacy::audit::record(&state.db, auth.tenant_id, &auth.actor(), "operator.password_reset_sent", "operator", Some(id), None).await;
    Ok((StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "sent"}))))
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

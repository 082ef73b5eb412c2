//! Console sign-in: an operator's email and password (argon2id) open a session held in an
//! HTTP-only, same-site cookie. Requests authenticated by the cookie that change anything must
//! carry the session's CSRF token in `X-CSRF-Token`; API keys (`Authorization: Bearer`) work as
//! before and need none.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::api::error::{ApiError, ApiResult};
use crate::privacy::random_token;
use crate::hub::AppState;
use crate::store;

pub use crate::access::{SESSION_COOKIE, session_cookie, session_hash};
const SESSION_HOURS: i64 = 12;

/// The routes, with their OpenAPI description generated from the handlers below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(session))
}

/// An argon2id hash (PHC string) of a password.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| ApiError::Unavailable(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    argon2::Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| ApiError::Unavailable(e.to_string()))
}

fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Checks a new password: 12 to 200 characters.
pub fn valid_password(password: &str) -> ApiResult<()> {
    if (12..=200).contains(&password.chars().count()) { Ok(()) } else { Err(ApiError::invalid("password", "must be 12 to 200 characters")) }
}

/// An operator's credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    #[schema(format = Password)]
    password: String,
}

/// Who signed in, and the CSRF token to send as `X-CSRF-Token` with every change made
/// through the session.
#[derive(Serialize, utoipa::ToSchema)]
struct SignedIn {
    tenant_id: Uuid,
    operator_id: Uuid,
    /// `admin` or `agent`.
    role: String,
    csrf_token: String,
}

/// Sign in to the console.
///
/// Sets an HTTP-only, same-site session cookie (12 hours). After too many failures the account
/// and the address are locked out for a while (429 with Retry-After).
#[utoipa::path(post, path = "/v1/auth/login", tag = "console", operation_id = "signIn", security(()), request_body = Login,
    responses((status = 200, description = "Signed in", body = SignedIn), (status = 401, response = Problem), (status = 422, response = Problem),
        (status = 429, response = Problem)))]
async fn login(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> ApiResult<Response> {
    use super::rate_limit::Limit;
    let email = body.email.trim().to_lowercase();
    let ip = peer.ip().to_string();
    let pair = format!("{email}|{ip}");
    // Locked out after too many failures: the account from this address, the address, and the
    // account from everywhere (a larger budget, against guessing spread over many addresses).
    let sources = [(Limit::SignInFailuresPerAccountAndIp, pair.as_str()), (Limit::SignInFailuresPerIp, ip.as_str()), (Limit::SignInFailuresPerAccount, email.as_str())];
    for (limit, key) in sources {
        if let Some(wait) = state.limits.locked(limit, key) {
            return Ok(super::rate_limit::refused(limit, wait));
        }
    }
    let candidates = store::sessions::credentials_by_email(&state.db, &email).await?;
    // Every attempt verifies at least one hash, whether the address is unknown, invited without a
    // password yet or active, so timing does not tell which addresses exist.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Gfz2/Y+ltmSPIuVj3c+fkVxwW5Bm0B8dGcwC5yYfYoQ";
    let with_password: Vec<_> = candidates.iter().filter(|c| c.password_hash.is_some()).collect();
    let found = with_password.iter().find(|c| c.password_hash.as_deref().is_some_and(|h| verify_password(&body.password, h))).copied();
    if with_password.is_empty() {
        verify_password(&body.password, DUMMY);
    }
    let Some(operator) = found else {
        for (limit, key) in sources {
            let _ = state.limits.take(limit, key);
        }
        return Err(ApiError::Unauthorized);
    };
    let token = random_token(32);
    let csrf = random_token(24);
    let expires_at = store::now_micros() + SESSION_HOURS * 3600 * 1_000_000;
    store::sessions::insert(&state.db, &session_hash(&token), operator.tenant_id, operator.id, &csrf, expires_at).await?;
    if let Some(agent) = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()) {
        // For the operator's own list of sessions ("Firefox on Linux, since Monday").
        store::sessions::set_user_agent(&state.db, &session_hash(&token), &agent.chars().take(200).collect::<String>()).await?;
    }
    let actor = crate::privacy::audit::Actor { operator_id: Some(operator.id), ..Default::default() };
    crate::privacy::audit::record(&state.db, operator.tenant_id, &actor, "operator.sign_in", "operator", Some(operator.id), None).await;
    let secure = if state.config.public_base_url().starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", SESSION_HOURS * 3600);
    let mut response = Json(SignedIn { tenant_id: operator.tenant_id, operator_id: operator.id, role: operator.role.clone(), csrf_token: csrf }).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::Unavailable(e.to_string()))?);
    Ok(response)
}

/// Sign out: the session ends, and its websocket closes.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "console", operation_id = "signOut", security(()),
    responses((status = 204, description = "Signed out")))]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = session_cookie(&headers) {
        let hash = session_hash(&token);
        let session = store::sessions::find(&state.db, &hash).await?;
        store::sessions::delete(&state.db, &hash).await?;
        // The console's websocket of this session closes too.
        if let Some(session) = session {
            crate::team::operators::Ended::now(&state, session.tenant_id).await;
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).map_err(|e| ApiError::Unavailable(e.to_string()))?);
    Ok(response)
}

/// Who is calling: the key's or the session's tenant, operator and role.
#[derive(Serialize, utoipa::ToSchema)]
struct Session {
    tenant_id: Uuid,
    operator_id: Option<Uuid>,
    name: Option<String>,
    /// `admin`, `agent` or `integration`.
    role: &'static str,
    /// With a session cookie: the token to send as `X-CSRF-Token` with changes.
    csrf_token: Option<String>,
}

/// Who is signed in, and the CSRF token to send with changes.
#[utoipa::path(get, path = "/v1/auth/session", tag = "console", operation_id = "getSession",
    responses((status = 200, description = "The caller", body = Session), (status = 401, response = Problem), (status = 403, response = Problem)))]
async fn session(State(state): State<AppState>, auth: Auth, headers: HeaderMap) -> ApiResult<Json<Session>> {
    let csrf = match session_cookie(&headers) {
        Some(token) => store::sessions::find(&state.db, &session_hash(&token)).await?.map(|s| s.csrf_token),
        None => None,
    };
    let operator = match auth.operator_id {
        Some(id) => state.db.operator(auth.tenant_id, id).await?,
        None => None,
    };
    Ok(Json(Session { tenant_id: auth.tenant_id, operator_id: auth.operator_id, name: operator.as_ref().map(|o| o.name.clone()), role: auth.role.as_str(), csrf_token: csrf }))
}

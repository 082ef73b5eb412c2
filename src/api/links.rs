//! `POST /v1/contacts/{id}/links`: a deep link that lets a known contact continue on another
//! channel (`https://t.me/<bot>?start=<token>`). Opening it sends `/start <token>` to the bot,
//! and the Telegram chat joins this contact instead of becoming a new one. Tokens are random,
//! single use and expiring; only their SHA-256 is stored.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use omnibridge_channel::problem::JsonBody;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::openapi::Problem;
use crate::domain::rfc3339;
use crate::api::error::{ApiError, ApiResult};
use crate::privacy::random_token;
use crate::hub::AppState;
use crate::store;

/// The routes, with their OpenAPI description generated from the handler below.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

const DEFAULT_TTL_SECS: u64 = 24 * 3600;
const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

/// A link for a contact to continue on a channel.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewLink {
    /// A channel of the tenant whose kind has links that start a conversation (Telegram).
    channel_id: Uuid,
    /// How long the link works: 60 s to 7 days (default 1 day).
    #[schema(minimum = 60, maximum = 604800)]
    expires_in_secs: Option<u64>,
}

/// A link that starts a conversation as this contact.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ContactLink)]
struct LinkView {
    /// `https://t.me/<bot>?start=<token>`: single use.
    url: String,
    contact_id: Uuid,
    channel_id: Uuid,
    #[schema(format = DateTime)]
    expires_at: String,
}

/// A deep link that lets a known contact continue on another channel: opening it joins their
/// chat there to this contact instead of making a new one. Single use; it expires.
#[utoipa::path(post, path = "/v1/contacts/{id}/links", tag = "contacts", operation_id = "createContactLink", params(("id" = Uuid, Path)), request_body = NewLink,
    responses((status = 201, description = "The link", body = LinkView), (status = 401, response = Problem), (status = 403, response = Problem),
        (status = 404, response = Problem), (status = 409, response = Problem), (status = 422, response = Problem)))]
async fn create(State(state): State<AppState>, auth: Auth, Path(id): Path<String>, JsonBody(body): JsonBody<NewLink>) -> ApiResult<impl IntoResponse> {
    let contact_id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound("contact"))?;
    store::contacts::contact(&state.db, auth.tenant_id, contact_id).await?.ok_or(ApiError::NotFound("contact"))?;
    let ttl = body.expires_in_secs.unwrap_or(DEFAULT_TTL_SECS);
    if !(60..=MAX_TTL_SECS).contains(&ttl) {
        return Err(ApiError::invalid("expires_in_secs", format!("must be from 60 to {MAX_TTL_SECS}")));
    }
    let channel = state
        .channels
        .get(body.channel_id)
        .await?
        .filter(|c| c.tenant_id == auth.tenant_id)
        .ok_or_else(|| ApiError::unknown("channel_id", "no channel with this id"))?;
    // 24 random bytes: 32 characters of A-Z a-z 0-9 - _, within Telegram's 64 for a start parameter.
    let token = random_token(24);
    // A link names the bot (Telegram's @username), which the channel learns from its provider
    // once and keeps: a channel that has not reached its provider yet cannot make one, whatever
    // the provider's state right now. That is the channel's state (its health says why), so 409.
    let url = state
        .channels
        .start_link(&channel, &token)
        .await
        .map_err(|e| ApiError::Conflict(format!("the channel has not reached its provider yet, so it cannot make links ({e}); its health in GET /v1/channels/{} says why", channel.id)))?
        .ok_or_else(|| ApiError::invalid("channel_id", "this channel has no links that start a conversation"))?;
    let expires_at = store::now_micros() + (ttl as i64) * 1_000_000;
    store::links::insert_link_token(&state.db, &Sha256::digest(token.as_bytes()), auth.tenant_id, channel.id, contact_id, expires_at).await?;
    Ok((
        StatusCode::CREATED,
        Json(LinkView { url, contact_id, channel_id: channel.id, expires_at: rfc3339(expires_at) }),
    ))
}

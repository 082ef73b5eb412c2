//! `POST /hooks/telegram/{channel_id}`: updates Telegram posts to a channel in webhook mode.
//! The request must carry the channel's secret in `X-Telegram-Bot-Api-Secret-Token` (compared
//! in constant time; 403 otherwise, before anything is read into storage). The update is stored
//! once per message (its chat and message id), then Telegram gets 200.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use omnibridge_channel::SinkError;
use omnibridge_channel::problem::Problem;
use omnibridge_telegram::{Mode, secret_matches, update};
use uuid::Uuid;

use super::ProviderHooks;
use crate::channels::telegram;

pub fn router(state: ProviderHooks) -> Router {
    Router::new().route("/hooks/telegram/{channel_id}", post(receive)).with_state(state)
}

async fn receive(State(s): State<ProviderHooks>, Path(channel_id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "no telegram channel in webhook mode with this id");
    let unavailable = || Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly");
    let channel_id = Uuid::parse_str(&channel_id).map_err(|_| not_found())?;
    let channel = s.hub.channels.get(channel_id).await.map_err(|_| unavailable())?.filter(|c| c.kind == omnibridge_telegram::KIND).ok_or_else(not_found)?;
    let settings = telegram::settings_of(&s.hub.keyring, &channel).map_err(|_| unavailable())?;
    let (Mode::Webhook, Some(secret)) = (settings.mode, settings.webhook_secret.as_deref()) else { return Err(not_found()) };
    let given = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !secret_matches(secret, given) {
        tracing::warn!(%channel_id, "a telegram webhook request with a wrong secret token was refused");
        metrics::counter!("omnibridge_provider_signature_failures_total", "provider" => "telegram").increment(1);
        return Err(Problem::new(StatusCode::FORBIDDEN, "invalid_secret_token", "X-Telegram-Bot-Api-Secret-Token does not match"));
    }
    let update: omnibridge_telegram::bot_types::Update = serde_json::from_slice(&body).map_err(|e| Problem::invalid("update", format!("not a Telegram update: {e}")))?;
    if let Some(message) = update::to_inbound(channel.id, &update) {
        s.inbound.accept(message).await.map_err(|err| match err {
            SinkError::Rejected(why) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", why),
            SinkError::Unavailable(_) => unavailable(),
        })?;
    }
    Ok(StatusCode::OK.into_response())
}

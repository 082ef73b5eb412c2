//! The Telegram kind: what the hub needs to know about Telegram channels, and the webhook route
//! Telegram posts updates to in webhook mode.
//!
//! The webhook request must carry the channel's secret in `X-Telegram-Bot-Api-Secret-Token`
//! (compared in constant time; 403 otherwise, before anything is read into storage). The update
//! is stored once per message (its chat and message id), then Telegram gets 200. teloxide's
//! `webhooks-axum` listener is not used: it compares the secret in variable time and queues
//! updates without bound.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::problem::Problem;
use omnibridge_channel::{
    Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, HookContext, HostSetting, Medium, ProcessingRecord, SecretSetting, SettingsError,
    SinkError, categories,
};
use serde_json::Value;
use uuid::Uuid;

use crate::{Mode, TelegramChannel, TelegramConfig, secret_matches, update};

/// A Telegram bot's private chats.
#[derive(Debug, Default, Clone, Copy)]
pub struct TelegramKind;

impl ChannelKind for TelegramKind {
    fn name(&self) -> &'static str {
        crate::KIND
    }

    fn medium(&self) -> Medium {
        Medium::Telegram
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { attachments: true, pulls: true, ..Capabilities::default() }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "bot_token", sent_to: &["api_url"] }, SecretSetting { name: "webhook_secret", sent_to: &[] }]
    }

    fn host_settings(&self) -> &'static [HostSetting] {
        &[HostSetting { name: "api_url", is_url: true }]
    }

    /// Webhook mode needs a secret Telegram repeats on every request: one is generated (64
    /// random characters) when none is given.
    fn settings_schema(&self) -> Value {
        omnibridge_channel::settings_schema_of::<TelegramConfig>()
    }

    fn validate(&self, mut settings: Value) -> Result<Value, SettingsError> {
        let validated = parse_settings::<TelegramConfig>(&settings)?.validate()?;
        if validated.mode == Mode::Webhook
            && validated.webhook_secret.is_none()
            && let Value::Object(map) = &mut settings
        {
            let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
            map.insert("webhook_secret".into(), Value::String(secret));
        }
        Ok(settings)
    }

    fn destination(&self) -> DataDestination {
        DataDestination::Registry
    }

    fn processing_record(&self) -> ProcessingRecord {
        ProcessingRecord {
            processing: "receiving and answering Telegram messages through a bot",
            data_subjects: "Telegram users writing to the controller's bot",
            categories: &[categories::CONTACT_NAME, categories::CONTACT_HANDLE, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS],
        }
    }

    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        let settings = parse_settings::<TelegramConfig>(setup.settings)?.validate()?;
        let webhook = setup.hook_url(self, "");
        let channel = TelegramChannel::new(setup.channel_id, settings, setup.services.http.clone(), setup.services.host.clone(), Some(webhook))?;
        Ok(Arc::new(channel))
    }

    fn routes(&self) -> Option<Router<HookContext>> {
        Some(Router::new().route("/{channel_id}", post(receive)))
    }
}

async fn receive(State(cx): State<HookContext>, Path(channel_id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", "no telegram channel in webhook mode with this id");
    let unavailable = || Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly");
    let channel_id = Uuid::parse_str(&channel_id).map_err(|_| not_found())?;
    let channel = cx.host.channel(crate::KIND, channel_id).await.map_err(|_| unavailable())?.ok_or_else(not_found)?;
    let settings = serde_json::from_value::<TelegramConfig>(channel.settings.clone()).ok().and_then(|c| c.validate().ok()).ok_or_else(unavailable)?;
    let (Mode::Webhook, Some(secret)) = (settings.mode, settings.webhook_secret.as_deref()) else { return Err(not_found()) };
    let given = headers.get("x-telegram-bot-api-secret-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !secret_matches(secret, given) {
        cx.host.signature_refused(crate::KIND, channel_id);
        return Err(Problem::new(StatusCode::FORBIDDEN, "invalid_secret_token", "X-Telegram-Bot-Api-Secret-Token does not match"));
    }
    let update: teloxide::types::Update = serde_json::from_slice(&body).map_err(|e| Problem::invalid("update", format!("not a Telegram update: {e}")))?;
    if let Some(message) = update::to_inbound(channel.id, &update) {
        cx.inbound.accept(message).await.map_err(|err| match err {
            SinkError::Rejected(why) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "rejected", why),
            SinkError::Unavailable(_) => unavailable(),
        })?;
    }
    Ok(StatusCode::OK.into_response())
}

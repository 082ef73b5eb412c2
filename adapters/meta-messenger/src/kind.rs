//! The Messenger and Instagram kinds: what the hub needs to know about a Page's and an Instagram
//! account's conversations, and the callback Meta calls: `GET /hooks/{kind}/{channel}` (the
//! verification handshake) and `POST /hooks/{kind}/{channel}` (notifications).
//!
//! A notification's `X-Hub-Signature-256` is checked against the channel's app secret over the
//! raw body before anything is parsed or stored: unsigned or wrongly signed requests get 401.
//! Every message of the batch is stored (each once, by its `mid`) and every report recorded
//! before Meta gets its 200; a storage failure answers 503 and Meta sends the batch again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::problem::Problem;
use omnibridge_channel::{
    AddressKind, Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, HookContext, HostSetting, HostedChannel, Medium, ProcessingRecord,
    SecretSetting, SettingsError, categories,
};
use omnibridge_meta_graph::handshake;
use omnibridge_meta_graph::intake::{self, unavailable};
use serde_json::Value;
use uuid::Uuid;

use crate::{MessengerChannel, MessengerConfig, webhook};

/// Which of Meta's two messaging products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Messenger,
    Instagram,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Self::Messenger => "messenger",
            Self::Instagram => "instagram",
        }
    }

    /// The webhook's `object`.
    fn object(self) -> &'static str {
        match self {
            Self::Messenger => "page",
            Self::Instagram => "instagram",
        }
    }

    fn medium(self) -> Medium {
        match self {
            Self::Messenger => Medium::Messenger,
            Self::Instagram => Medium::Instagram,
        }
    }

    fn address_kind(self) -> AddressKind {
        self.medium().address_kind()
    }

    /// The longest text one message may carry.
    fn max_text(self) -> usize {
        match self {
            Self::Messenger => 2000,
            Self::Instagram => 1000,
        }
    }
}

/// The standard messaging window, and the human-agent allowance after it.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
pub const HUMAN_AGENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// Facebook Messenger or Instagram Direct.
#[derive(Debug, Clone, Copy)]
pub struct MessengerKind {
    platform: Platform,
}

impl MessengerKind {
    pub fn messenger() -> Self {
        Self { platform: Platform::Messenger }
    }

    pub fn instagram() -> Self {
        Self { platform: Platform::Instagram }
    }
}

impl ChannelKind for MessengerKind {
    fn name(&self) -> &'static str {
        self.platform.name()
    }

    fn medium(&self) -> Medium {
        self.platform.medium()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            attachments: true,
            max_text: Some(self.platform.max_text()),
            reply_window: Some(WINDOW),
            human_agent_window: Some(HUMAN_AGENT_WINDOW),
            fetch_media_at_once: true,
            ..Capabilities::default()
        }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "page_access_token", sent_to: &["graph_base_url"] }, SecretSetting { name: "app_secret", sent_to: &[] }]
    }

    fn host_settings(&self) -> &'static [HostSetting] {
        &[HostSetting { name: "graph_base_url", is_url: true }]
    }

    fn settings_schema(&self) -> Value {
        omnibridge_channel::settings_schema_of::<MessengerConfig>()
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        parse_settings::<MessengerConfig>(&settings)?.validate()?;
        Ok(settings)
    }

    fn destination(&self) -> DataDestination {
        DataDestination::Registry
    }

    fn processing_record(&self) -> ProcessingRecord {
        match self.platform {
            Platform::Messenger => ProcessingRecord {
                processing: "receiving and answering Facebook Messenger conversations with the controller's Page",
                data_subjects: "Facebook users writing to the controller's Page",
                categories: &[categories::CONTACT_HANDLE, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS],
            },
            Platform::Instagram => ProcessingRecord {
                processing: "receiving and answering Instagram Direct conversations with the controller's professional account",
                data_subjects: "Instagram users writing to the controller's account",
                categories: &[categories::CONTACT_HANDLE, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS],
            },
        }
    }

    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        let config = parse_settings::<MessengerConfig>(setup.settings)?.validate()?;
        Ok(Arc::new(MessengerChannel::new(setup.channel_id, self.platform, config, setup.services.http.clone())))
    }

    fn routes(&self) -> Option<Router<HookContext>> {
        let platform = self.platform;
        Some(Router::new().route(
            "/{channel_id}",
            get(move |cx, path, query| verify(platform, cx, path, query)).post(move |cx, path, headers, body| receive(platform, cx, path, headers, body)),
        ))
    }
}


async fn channel(platform: Platform, cx: &HookContext, channel_id: &str) -> Result<(HostedChannel, MessengerConfig), Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "not_found", format!("no {} channel with this id", platform.name()));
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| not_found())?;
    let channel = cx.host.channel(platform.name(), channel_id).await.map_err(|_| unavailable())?.ok_or_else(not_found)?;
    let config = serde_json::from_value::<MessengerConfig>(channel.settings.clone()).ok().and_then(|c| c.validate().ok()).ok_or_else(unavailable)?;
    Ok((channel, config))
}

async fn verify(platform: Platform, State(cx): State<HookContext>, Path(channel_id): Path<String>, Query(query): Query<HashMap<String, String>>) -> Result<Response, Problem> {
    let (_, config) = channel(platform, &cx, &channel_id).await?;
    Ok(handshake::answer(&query, &config.verify_token))
}

async fn receive(platform: Platform, State(cx): State<HookContext>, Path(channel_id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let (channel, config) = channel(platform, &cx, &channel_id).await?;
    intake::check_signature(&cx, platform.name(), channel.id, &config.app_secret, &headers, &body)?;
    let notification: Value = serde_json::from_slice(&body).map_err(|e| Problem::invalid("body", format!("not JSON: {e}")))?;
    let Some(batch) = webhook::parse(channel.id, platform.object(), platform.address_kind(), &config.page_id, &notification) else {
        return Ok((StatusCode::OK, "ignored").into_response());
    };
    if batch.skipped > 0 {
        tracing::info!(channel_id = %channel.id, skipped = batch.skipped, "items for another page or account were skipped");
    }
    intake::hand_over(&cx, channel.id, batch.messages, batch.statuses).await?;
    for mark in batch.watermarks {
        cx.host.report_until(channel.id, &mark.to, mark.status, mark.until_ms).await.map_err(|_| unavailable())?;
    }
    Ok((StatusCode::OK, "EVENT_RECEIVED").into_response())
}

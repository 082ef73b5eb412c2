//! The WhatsApp kind: what the hub needs to know about WhatsApp numbers, and the callback Meta
//! calls: `GET /hooks/whatsapp/{channel}` (the verification handshake) and
//! `POST /hooks/whatsapp/{channel}` (notifications).
//!
//! A notification's `X-Hub-Signature-256` is checked against the channel's app secret over the
//! raw body before anything is parsed or stored: unsigned or wrongly signed requests get 401.
//! Every message of the batch is stored (each once, by its wamid) and every status recorded
//! before Meta gets its 200, so nothing is lost if the hub stops right after answering; a
//! storage failure answers 503 and Meta sends the batch again.
//!
//! Meta calls one URL for all the numbers of an app. Items for another number go to that
//! number's channel when the same tenant has one with the same app secret (the signature just
//! proved the body came from that app); others are left out and logged.

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
    Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, HookContext, HostSetting, HostedChannel, Medium, ProcessingRecord, SecretSetting,
    SettingsError, categories,
};
use omnibridge_meta_graph::handshake;
use omnibridge_meta_graph::intake::{self, unavailable};
use serde_json::Value;
use uuid::Uuid;

use crate::{KIND, WhatsAppChannel, WhatsAppConfig, webhook};

/// The customer-service window: free-form messages only this long after the person last wrote.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);

/// WhatsApp Business numbers through the Cloud API.
#[derive(Debug, Default, Clone, Copy)]
pub struct WhatsAppKind;

impl ChannelKind for WhatsAppKind {
    fn name(&self) -> &'static str {
        KIND
    }

    fn medium(&self) -> Medium {
        Medium::Whatsapp
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            attachments: true,
            max_text: Some(crate::channel::MAX_TEXT),
            reply_window: Some(WINDOW),
            templates: true,
            fetch_media_at_once: true,
            ..Capabilities::default()
        }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "access_token", sent_to: &["graph_base_url"] }, SecretSetting { name: "app_secret", sent_to: &[] }]
    }

    fn host_settings(&self) -> &'static [HostSetting] {
        &[HostSetting { name: "graph_base_url", is_url: true }]
    }

    fn settings_schema(&self) -> Value {
        omnibridge_channel::settings_schema_of::<WhatsAppConfig>()
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        parse_settings::<WhatsAppConfig>(&settings)?.validate()?;
        Ok(settings)
    }

    fn destination(&self) -> DataDestination {
        DataDestination::Registry
    }

    fn processing_record(&self) -> ProcessingRecord {
        ProcessingRecord {
            processing: "receiving and answering WhatsApp messages to the controller's business number (WhatsApp Cloud API)",
            data_subjects: "WhatsApp users writing to the controller's business number",
            categories: &[categories::CONTACT_NAME, categories::CONTACT_PHONE, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS],
        }
    }

    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        let config = parse_settings::<WhatsAppConfig>(setup.settings)?.validate()?;
        Ok(Arc::new(WhatsAppChannel::new(setup.channel_id, config, setup.services.http.clone())))
    }

    fn routes(&self) -> Option<Router<HookContext>> {
        Some(Router::new().route("/{channel_id}", get(verify).post(receive)))
    }
}

fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no whatsapp channel with this id")
}


async fn channel(cx: &HookContext, channel_id: &str) -> Result<(HostedChannel, WhatsAppConfig), Problem> {
    let channel_id = Uuid::parse_str(channel_id).map_err(|_| not_found())?;
    let channel = cx.host.channel(KIND, channel_id).await.map_err(|_| unavailable())?.ok_or_else(not_found)?;
    let config = serde_json::from_value::<WhatsAppConfig>(channel.settings.clone()).ok().and_then(|c| c.validate().ok()).ok_or_else(unavailable)?;
    Ok((channel, config))
}

async fn verify(State(cx): State<HookContext>, Path(channel_id): Path<String>, Query(query): Query<HashMap<String, String>>) -> Result<Response, Problem> {
    let (_, config) = channel(&cx, &channel_id).await?;
    Ok(handshake::answer(&query, &config.verify_token))
}

async fn receive(State(cx): State<HookContext>, Path(channel_id): Path<String>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let (channel, config) = channel(&cx, &channel_id).await?;
    intake::check_signature(&cx, KIND, channel.id, &config.app_secret, &headers, &body)?;
    let notification: Value = serde_json::from_slice(&body).map_err(|e| Problem::invalid("body", format!("not JSON: {e}")))?;
    let Some(batch) = webhook::parse(channel.id, &config.phone_number_id, &config.waba_id, &notification) else {
        return Ok((StatusCode::OK, "ignored").into_response());
    };
    intake::hand_over(&cx, channel.id, batch.messages, batch.statuses).await?;
    for (name, language, status) in batch.templates {
        cx.host.template_status(channel.id, &name, &language, &status).await.map_err(|_| unavailable())?;
    }
    if !batch.other_numbers.is_empty() {
        let mut unrouted = batch.skipped;
        for sibling in cx.host.siblings(KIND, &channel).await.map_err(|_| unavailable())? {
            let Some(other) = serde_json::from_value::<WhatsAppConfig>(sibling.settings.clone()).ok() else { continue };
            if !batch.other_numbers.contains(&other.phone_number_id) || other.app_secret != config.app_secret {
                continue;
            }
            let Some(theirs) = webhook::parse(sibling.id, &other.phone_number_id, &other.waba_id, &notification) else { continue };
            let count = theirs.messages.len() + theirs.statuses.len();
            intake::hand_over(&cx, sibling.id, theirs.messages, theirs.statuses).await?;
            unrouted = unrouted.saturating_sub(count);
        }
        if unrouted > 0 {
            tracing::info!(channel_id = %channel.id, unrouted, "items for a phone number no channel of this tenant has were left out");
        }
    }
    Ok((StatusCode::OK, "EVENT_RECEIVED").into_response())
}

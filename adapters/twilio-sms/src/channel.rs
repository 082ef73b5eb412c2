//! [`TwilioSmsChannel`]: the SDK `Channel` for one Twilio sender (a number or a Messaging
//! Service). Inbound messages arrive as webhooks the hub serves and checks with
//! [`crate::signature`]; this type sends and fetches MMS media.

use std::time::Duration;

use async_trait::async_trait;
use omnibridge_channel::{AdapterError, Channel, DeliveryStatus, FetchedFile, OutboundMessage, Receipt, RecentReceipts, Reconciled};
use uuid::Uuid;

use crate::client::{NewMessage, TwilioClient, TwilioError, UNSUBSCRIBED_RECIPIENT};
use crate::settings::TwilioSmsSettings;

pub const KIND: &str = "twilio_sms";

/// The longest body Twilio accepts (it splits it into segments; more is refused).
pub const MAX_BODY_CHARS: usize = 1600;

/// The largest media item fetched into the hub.
pub const MAX_MEDIA_BYTES: usize = 10 * 1024 * 1024;

/// How long to wait after a 429 that names no delay.
const DEFAULT_RATE_LIMIT_DELAY: Duration = Duration::from_secs(5);

/// How many recent sends are remembered for idempotency.
const REMEMBERED_SENDS: usize = 4096;

pub struct TwilioSmsChannel {
    settings: TwilioSmsSettings,
    client: TwilioClient,
    /// Recent sends: a repeated send answers the first receipt instead of texting again.
    sent: RecentReceipts,
    /// Where Twilio reports delivery status; `?message_id=<hub id>` is added per message so a
    /// callback that arrives before the send's answer is recorded still finds its message.
    status_callback_url: Option<String>,
}

impl TwilioSmsChannel {
    pub fn new(settings: TwilioSmsSettings, http: reqwest::Client, status_callback_url: Option<String>) -> Self {
        let client = TwilioClient::new(http, &settings.api_base_url, &settings.account_sid, &settings.auth_token);
        Self { settings, client, status_callback_url, sent: RecentReceipts::new(REMEMBERED_SENDS) }
    }

    pub fn settings(&self) -> &TwilioSmsSettings {
        &self.settings
    }
}

/// Why a text cannot be one Twilio message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the text is {0} characters; an SMS may have at most {MAX_BODY_CHARS}")]
    TooLong(usize),
    #[error("an SMS needs text")]
    Empty,
}

/// Whether a body fits in one Twilio message.
pub fn check_body(text: &str) -> Result<(), BodyError> {
    let chars = text.chars().count();
    if chars > MAX_BODY_CHARS {
        return Err(BodyError::TooLong(chars));
    }
    if text.trim().is_empty() {
        return Err(BodyError::Empty);
    }
    Ok(())
}

fn classify(err: TwilioError) -> AdapterError {
    match err {
        TwilioError::Api { code: Some(UNSUBSCRIBED_RECIPIENT), message, .. } => AdapterError::RecipientOptedOut(format!("21610 Twilio: {message}")),
        TwilioError::Api { status: 429, retry_after, .. } => AdapterError::RateLimited { retry_after: retry_after.unwrap_or(DEFAULT_RATE_LIMIT_DELAY) },
        TwilioError::Api { status, code, message, .. } if status >= 500 => {
            AdapterError::Transient(match code {
                Some(code) => format!("{code} Twilio answered {status}: {message}"),
                None => format!("Twilio answered {status}: {message}"),
            })
        }
        TwilioError::Api { status: 401 | 403, message, .. } => AdapterError::Config(format!("Twilio refused the credentials: {message}")),
        TwilioError::Api { code, message, .. } => {
            AdapterError::Permanent(match code {
                // The code first: the hub reads it as the failure's code.
                Some(code) => format!("{code} Twilio: {message}"),
                None => format!("Twilio refused the message: {message}"),
            })
        }
        TwilioError::Network(detail) => AdapterError::Transient(detail),
        // Twilio said yes but the answer was unreadable: the message may be out, so no retry.
        TwilioError::Decode(detail) => AdapterError::Permanent(format!("unexpected answer from Twilio: {detail}")),
    }
}

#[async_trait]
impl Channel for TwilioSmsChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        self.client.check_account().await.map_err(classify)
    }

    /// Twilio's Messages API has no idempotency key. A repeat of a send this process made
    /// answers the first receipt; a send whose answer was lost (a crash before the hub recorded
    /// it) is looked up first ([`Channel::reconcile`]).
    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        if let Some(receipt) = self.sent.get(message) {
            return Ok(receipt);
        }
        check_body(&message.text).map_err(|e| AdapterError::Permanent(e.to_string()))?;
        if !message.extras.attachments.is_empty() {
            return Err(AdapterError::Permanent("SMS carries no attachments".into()));
        }
        let callback = self.status_callback_url.as_ref().map(|url| format!("{url}?message_id={}", message.id));
        let resource = self
            .client
            .create_message(&NewMessage {
                to: &message.to.value,
                from: self.settings.from.as_deref().filter(|_| self.settings.messaging_service_sid.is_none()),
                messaging_service_sid: self.settings.messaging_service_sid.as_deref(),
                body: &message.text,
                status_callback: callback.as_deref(),
                media_urls: &[],
            })
            .await
            .map_err(classify)?;
        if resource.status == "failed" || resource.status == "undelivered" {
            let code = resource.error_code.map(|c| format!(" (error {c})")).unwrap_or_default();
            return Err(AdapterError::Permanent(format!("Twilio could not send it{code}: {}", resource.error_message.unwrap_or_default())));
        }
        let receipt = Receipt { external_id: Some(resource.sid), status: DeliveryStatus::Sent };
        self.sent.remember(message, &receipt);
        Ok(receipt)
    }

    /// A send whose answer was lost: Twilio is asked for the newest messages to the person from
    /// this sender, and one with the same text means it went (its sid is the receipt). Nothing
    /// found means Twilio never took it, so it goes. (Two identical texts to one person in the
    /// same minutes are one here: the later is taken for the earlier.)
    async fn reconcile(&self, message: &OutboundMessage) -> Result<Reconciled, AdapterError> {
        let from = self.settings.from.as_deref().filter(|_| self.settings.messaging_service_sid.is_none());
        let recent = self.client.recent_messages(&message.to.value, from).await.map_err(classify)?;
        Ok(match recent.into_iter().find(|m| m.body == message.text && !matches!(m.status.as_str(), "failed" | "undelivered" | "canceled")) {
            Some(found) => Reconciled::Sent(Receipt { external_id: Some(found.sid), status: DeliveryStatus::Sent }),
            None => Reconciled::NotSent,
        })
    }

    async fn fetch_attachment(&self, remote: &str) -> Result<FetchedFile, AdapterError> {
        let (content_type, data) = self.client.fetch_media(remote, MAX_MEDIA_BYTES).await.map_err(classify)?;
        Ok(FetchedFile { content_type, data })
    }
}

/// The path Twilio posts a message's status to (served by the hub).
pub fn status_callback_path(channel_id: Uuid) -> String {
    format!("/hooks/twilio/{channel_id}/status")
}

/// The path Twilio posts inbound messages to (served by the hub; the number's or Messaging
/// Service's "A message comes in" URL).
pub fn inbound_path(channel_id: Uuid) -> String {
    format!("/hooks/twilio/{channel_id}/sms")
}

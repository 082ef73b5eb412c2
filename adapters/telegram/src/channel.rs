//! [`TelegramChannel`]: the SDK `Channel` for one bot.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use omnibridge_channel::{AdapterError, Channel, ChannelHost, DeliveryStatus, FetchedFile, InboundTx, OutboundMessage, Receipt, RecentReceipts, IntakeError, SettingsError, SinkError};
use teloxide::net::Download;
use teloxide::payloads::{GetUpdatesSetters, SetWebhookSetters};
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{ChatId, FileId, InputFile};
use teloxide::{ApiError, Bot, RequestError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::settings::{Mode, TelegramSettings};
use crate::update::{self, ALLOWED};

pub const KIND: &str = "telegram";

/// Seconds a `getUpdates` long poll waits for something to arrive.
const LONG_POLL_SECS: u32 = 25;
/// The Bot API hands out files up to 20 MB.
const MAX_FILE_BYTES: u32 = 20 * 1024 * 1024;
const REMEMBERED_SENDS: usize = 4096;

pub struct TelegramChannel {
    id: Uuid,
    settings: TelegramSettings,
    bot: Bot,
    state: Arc<dyn ChannelHost>,
    /// Where Telegram posts updates in webhook mode.
    webhook_url: Option<String>,
    username: Mutex<Option<String>>,
    sent: RecentReceipts,
}

/// Whether the `X-Telegram-Bot-Api-Secret-Token` a request carries is the channel's secret,
/// compared in constant time.
pub fn secret_matches(expected: &str, given: &str) -> bool {
    omnibridge_channel::constant_time_eq(expected.as_bytes(), given.as_bytes())
}

impl TelegramChannel {
    /// `http` should have no overall timeout: long polls wait up to 25 s.
    pub fn new(id: Uuid, settings: TelegramSettings, http: reqwest::Client, state: Arc<dyn ChannelHost>, webhook_url: Option<String>) -> Result<Self, SettingsError> {
        let api_url = reqwest::Url::parse(&format!("{}/", settings.api_url)).map_err(|e| SettingsError::new("api_url", e.to_string()))?;
        let bot = Bot::with_client(settings.bot_token.clone(), http).set_api_url(api_url);
        Ok(Self { id, settings, bot, state, webhook_url, username: Mutex::new(None), sent: RecentReceipts::new(REMEMBERED_SENDS) })
    }

    pub fn settings(&self) -> &TelegramSettings {
        &self.settings
    }

    /// The bot's @username (asked once with `getMe`), for `https://t.me/<bot>?start=…` links.
    pub async fn username(&self) -> Result<String, AdapterError> {
        if let Some(name) = self.username.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(name);
        }
        let me = self.bot.get_me().await.map_err(classify)?;
        let name = me.username().to_owned();
        *self.username.lock().unwrap_or_else(|e| e.into_inner()) = Some(name.clone());
        Ok(name)
    }

    /// Long polling: drop any webhook, then `getUpdates` from the stored offset, handing each
    /// update to the hub and saving `last update_id + 1` after each batch.
    async fn poll(&self, inbound: &InboundTx, shutdown: &CancellationToken) -> Result<(), IntakeError> {
        self.bot.delete_webhook().await.map_err(|e| format!("deleteWebhook: {}", describe(&e)))?;
        let mut offset: i32 = self.state.cursor(self.id).await.map_err(|e| e.to_string())?.and_then(|c| c.parse().ok()).unwrap_or(0);
        self.state.health(self.id, None).await;
        loop {
            let request = self.bot.get_updates().offset(offset).timeout(LONG_POLL_SECS).allowed_updates(ALLOWED.to_vec());
            let updates = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                result = request.send() => result.map_err(|e| format!("getUpdates: {}", describe(&e)))?,
            };
            let before = offset;
            for u in &updates {
                if let Some(message) = update::to_inbound(self.id, u) {
                    match inbound.accept(message).await {
                        Ok(_) => {}
                        Err(SinkError::Rejected(why)) => tracing::warn!(channel_id = %self.id, update_id = u.id.0, %why, "an update was refused"),
                        Err(SinkError::Unavailable(why)) => {
                            self.save_offset(before, offset).await;
                            return Err(IntakeError(format!("the hub could not take an update: {why}")));
                        }
                    }
                }
                offset = offset.max(u.id.0 as i32 + 1);
            }
            self.save_offset(before, offset).await;
        }
    }

    async fn save_offset(&self, before: i32, offset: i32) {
        if offset != before
            && let Err(err) = self.state.save_cursor(self.id, &offset.to_string()).await
        {
            tracing::error!(channel_id = %self.id, error = %err, "saving the update offset failed");
        }
    }

    /// Webhook mode: register the hub's URL with the secret, then wait.
    async fn register_webhook(&self, shutdown: &CancellationToken) -> Result<(), IntakeError> {
        let url = self.webhook_url.as_deref().ok_or("webhook mode needs the hub's public URL")?;
        let url = reqwest::Url::parse(url).map_err(|e| format!("webhook URL: {e}"))?;
        let secret = self.settings.webhook_secret.clone().ok_or("webhook mode needs a secret")?;
        self.bot.set_webhook(url).secret_token(secret).allowed_updates(ALLOWED.to_vec()).await.map_err(|e| format!("setWebhook: {}", describe(&e)))?;
        self.state.health(self.id, None).await;
        shutdown.cancelled().await;
        Ok(())
    }

    fn chat(message: &OutboundMessage) -> Result<ChatId, AdapterError> {
        message.to.value.parse::<i64>().map(ChatId).map_err(|_| AdapterError::Permanent("the contact's telegram address is not a chat id".into()))
    }
}

/// Descriptions the Bot API gives with 5xx answers.
const SERVER_TROUBLE: &[&str] = &["Internal Server Error", "Bad Gateway", "Service Unavailable", "Gateway Timeout"];

fn classify(err: RequestError) -> AdapterError {
    match err {
        RequestError::RetryAfter(after) => AdapterError::RateLimited { retry_after: after.duration() },
        RequestError::Api(api @ (ApiError::BotBlocked | ApiError::UserDeactivated | ApiError::BotKicked | ApiError::CantInitiateConversation)) => {
            AdapterError::RecipientOptedOut(format!("Telegram: {api}"))
        }
        RequestError::Api(ApiError::InvalidToken) => AdapterError::Config("Telegram refused the bot token".into()),
        // Server trouble (teloxide keeps the description, not the status code): try again.
        RequestError::Api(ApiError::Unknown(description)) if SERVER_TROUBLE.iter().any(|t| description.contains(t)) => {
            AdapterError::Transient(format!("Telegram: {description}"))
        }
        RequestError::Api(api) => AdapterError::Permanent(format!("Telegram: {api}")),
        RequestError::Network(e) => AdapterError::Transient(format!("could not reach Telegram: {}", network(&e))),
        RequestError::Io(e) => AdapterError::Transient(e.to_string()),
        // Not the Bot API's JSON (a proxy's error page): the service is in trouble, not the message.
        RequestError::InvalidJson { .. } => AdapterError::Transient("Telegram answered something other than the Bot API's JSON".into()),
        other => AdapterError::Permanent(format!("Telegram: {other}")),
    }
}

/// A network error without its URL, which carries the bot token.
fn network(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() { kind.to_owned() } else { format!("{kind}: {detail}") }
}

/// A request error in words safe for logs and health (no token-bearing URL).
fn describe(err: &RequestError) -> String {
    match err {
        RequestError::Network(e) => network(e),
        other => other.to_string(),
    }
}

/// A content type for a downloaded file, from its name.
fn content_type_of(path: &str) -> &'static str {
    match path.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        Some("gif") => "image/gif",
        Some("pdf") => "application/pdf",
        Some("mp4") => "video/mp4",
        Some("ogg" | "oga") => "audio/ogg",
        Some("txt") => "text/plain",
        _ => "application/octet-stream",
    }
}

#[async_trait]
impl Channel for TelegramChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        self.username().await.map(|_| ())
    }

    /// A deleted channel in webhook mode unregisters its webhook, so Telegram stops posting to
    /// a URL that no longer answers (and the bot can be used elsewhere, even by long polling).
    async fn retire(&self) -> Result<(), AdapterError> {
        if self.settings.mode == crate::settings::Mode::Webhook {
            self.bot.delete_webhook().await.map_err(classify)?;
        }
        Ok(())
    }

    async fn run(&self, inbound: InboundTx, shutdown: CancellationToken) -> Result<(), AdapterError> {
        let mut backoff = Duration::from_secs(1);
        loop {
            let result = match self.settings.mode {
                Mode::Polling => self.poll(&inbound, &shutdown).await,
                Mode::Webhook => self.register_webhook(&shutdown).await,
            };
            match result {
                Ok(()) => return Ok(()),
                Err(err) => {
                    tracing::warn!(channel_id = %self.id, error = %err, "telegram intake failed; retrying");
                    self.state.health(self.id, Some(err.to_string())).await;
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(300));
        }
    }

    /// The Bot API has no idempotency key: a repeat of a send this process made answers the
    /// first receipt; a send whose answer was lost may reach the chat twice.
    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        if let Some(receipt) = self.sent.get(message) {
            return Ok(receipt);
        }
        let chat = Self::chat(message)?;
        let mut last = None;
        // Plain text, no parse mode: nothing the operator writes is interpreted as markup.
        if !message.text.trim().is_empty() {
            last = Some(self.bot.send_message(chat, message.text.clone()).await.map_err(classify)?.id);
        }
        for file in &message.extras.attachments {
            let input = InputFile::memory(file.data.clone()).file_name(file.filename.clone());
            let sent = if file.content_type.starts_with("image/") {
                self.bot.send_photo(chat, input).await
            } else {
                self.bot.send_document(chat, input).await
            };
            last = Some(sent.map_err(classify)?.id);
        }
        let id = last.ok_or_else(|| AdapterError::Permanent("nothing to send".into()))?;
        let receipt = Receipt { external_id: Some(format!("{}:{}", chat.0, id.0)), status: DeliveryStatus::Sent };
        self.sent.remember(message, &receipt);
        Ok(receipt)
    }

    /// `https://t.me/<bot>?start=<token>`: opening it starts the bot with the token.
    async fn start_link(&self, token: &str) -> Result<Option<String>, AdapterError> {
        Ok(Some(format!("https://t.me/{}?start={token}", self.username().await?)))
    }

    async fn fetch_attachment(&self, remote: &str) -> Result<FetchedFile, AdapterError> {
        let file = self.bot.get_file(FileId(remote.to_owned())).await.map_err(classify)?;
        if file.meta.size > MAX_FILE_BYTES {
            return Err(AdapterError::Permanent("the file is larger than the Bot API hands out".into()));
        }
        let mut data = Vec::with_capacity(file.meta.size as usize);
        self.bot.download_file(&file.path, &mut data).await.map_err(|e| {
            AdapterError::Transient(match e {
                teloxide::DownloadError::Network(e) => format!("downloading the file: {}", network(&e)),
                other => format!("downloading the file: {other}"),
            })
        })?;
        Ok(FetchedFile { content_type: content_type_of(&file.path).to_owned(), data })
    }
}

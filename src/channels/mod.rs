//! Channels at run time: the registry of kinds this build supports, each channel's settings
//! (cached in memory, not read per message) and the adapter instance that serves it.
//!
//! Adding a kind is one adapter crate plus one arm in [`Channels::adapter`] and one in
//! [`settings::validate`].

pub mod email;
pub mod runners;
pub mod settings;
pub mod telegram;
pub mod twilio;
pub mod webchat;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use omnibridge_channel::Channel;
use omnibridge_email::{EmailChannel, MailboxStore};
use omnibridge_telegram::TelegramChannel;
use omnibridge_twilio_sms::TwilioSmsChannel;
use omnibridge_webchat::{VisitorSockets, WebchatChannel};
use uuid::Uuid;

use crate::domain::views::ChannelView;
use crate::domain::rfc3339;
use crate::outbox::EventBus;
use crate::privacy::{Keyring, tenant_sealed};
use crate::store::{ChannelRow, Db, StoreResult};

/// A channel's configuration as the hub uses it.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: String,
    pub name: String,
    pub settings: serde_json::Value,
    /// Sealed secrets (passwords, tokens); opened only to build the adapter.
    pub secrets: Option<Vec<u8>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ChannelInfo {
    pub fn from_row(row: ChannelRow) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id,
            kind: row.kind,
            name: row.name,
            settings: serde_json::from_str(&row.settings).unwrap_or_default(),
            secrets: row.secrets,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    pub fn view(&self) -> ChannelView {
        ChannelView {
            id: self.id,
            kind: self.kind.clone(),
            name: self.name.clone(),
            settings: self.settings.clone(),
            created_at: rfc3339(self.created_at),
            updated_at: rfc3339(self.updated_at),
        }
    }
}

pub struct Channels {
    db: Db,
    keyring: Arc<Keyring>,
    cache: RwLock<HashMap<Uuid, Arc<ChannelInfo>>>,
    webchat: Arc<WebchatChannel>,
    email: Built<EmailChannel>,
    mailbox_store: Arc<dyn MailboxStore>,
    sms: Built<TwilioSmsChannel>,
    telegram: Built<TelegramChannel>,
    channel_state: Arc<dyn omnibridge_channel::ChannelStateStore>,
    /// The HTTP client for provider APIs (connection pools shared by every channel), guarded.
    http: reqwest::Client,
    /// Where adapters that connect by themselves (IMAP, SMTP) may connect.
    guard: omnibridge_channel::AddressGuard,
    /// The hub's public base URL, for the callback URLs providers are given.
    public_url: String,
}

/// A channel's public settings with its opened secrets put back in.
pub fn settings_with_secrets(keyring: &Keyring, info: &ChannelInfo) -> Result<serde_json::Value, String> {
    let mut json = info.settings.clone();
    if let (Some(sealed), serde_json::Value::Object(map)) = (&info.secrets, &mut json) {
        let opened = keyring.open_for_tenant(info.tenant_id, tenant_sealed::CHANNEL_SECRETS, info.id, sealed).map_err(|e| e.to_string())?;
        let secrets: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&opened).map_err(|e| e.to_string())?;
        map.extend(secrets);
    }
    Ok(json)
}

impl Channels {
    /// Shows a web chat visitor that an operator is typing; false when no widget is open.
    pub fn webchat_typing(&self, visitor_id: Uuid, typing: bool) -> bool {
        self.webchat.typing(visitor_id, typing)
    }

    /// Pushes a message another process sent to a visitor whose widget is connected here (no-op
    /// without such a widget).
    pub async fn webchat_relay(&self, message: &omnibridge_channel::OutboundMessage) {
        use omnibridge_channel::Channel;
        let _ = self.webchat.send(message).await;
    }

    /// Asks a web chat visitor the satisfaction question; false when no widget is open.
    pub fn webchat_csat(&self, visitor_id: Uuid, survey_id: Uuid) -> bool {
        self.webchat.csat(visitor_id, survey_id)
    }

    pub fn new(
        db: Db,
        sockets: VisitorSockets,
        keyring: Arc<Keyring>,
        bus: EventBus,
        (http, guard): (reqwest::Client, omnibridge_channel::AddressGuard),
        public_url: String,
    ) -> Self {
        let mailbox_store = Arc::new(email::HubMailboxStore { db: db.clone(), keyring: keyring.clone(), bus });
        let channel_state = Arc::new(telegram::HubChannelState { db: db.clone() });
        Self {
            db,
            keyring,
            cache: RwLock::new(HashMap::new()),
            webchat: Arc::new(WebchatChannel::new(sockets)),
            email: Built::new(),
            mailbox_store,
            sms: Built::new(),
            telegram: Built::new(),
            channel_state,
            http,
            guard,
            public_url,
        }
    }

    /// A live channel by id, from memory when possible.
    pub async fn get(&self, id: Uuid) -> StoreResult<Option<Arc<ChannelInfo>>> {
        if let Some(info) = self.cache.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(Some(info.clone()));
        }
        let Some(row) = self.db.channel_by_id(id).await? else { return Ok(None) };
        let info = Arc::new(ChannelInfo::from_row(row));
        self.cache.write().unwrap_or_else(|e| e.into_inner()).insert(id, info.clone());
        Ok(Some(info))
    }

    /// Forgets a channel after it changed or was deleted.
    pub fn invalidate(&self, id: Uuid) {
        self.cache.write().unwrap_or_else(|e| e.into_inner()).remove(&id);
    }

    /// The adapter that sends on this channel. Only the egress door calls it.
    pub(crate) fn adapter(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        match info.kind.as_str() {
            omnibridge_webchat::KIND => Some(self.webchat.clone()),
            omnibridge_email::KIND => self.email_adapter(info).map(|a| a as Arc<dyn Channel>),
            omnibridge_twilio_sms::KIND => self.sms_adapter(info).map(|a| a as Arc<dyn Channel>),
            omnibridge_telegram::KIND => self.telegram_adapter(info).map(|a| a as Arc<dyn Channel>),
            _ => None,
        }
    }

    /// A Telegram channel's bot, for what is not a send: its username for deep links.
    pub(crate) fn telegram_bot(&self, info: &ChannelInfo) -> Option<Arc<TelegramChannel>> {
        (info.kind == omnibridge_telegram::KIND).then(|| self.telegram_adapter(info)).flatten()
    }

    /// The adapter that fetches files an inbound message left at the provider (MMS media).
    /// Fetching brings data in; nothing about the contact leaves but the provider's own id.
    pub(crate) fn file_source(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        match info.kind.as_str() {
            omnibridge_twilio_sms::KIND => self.sms_adapter(info).map(|a| a as Arc<dyn Channel>),
            omnibridge_telegram::KIND => self.telegram_adapter(info).map(|a| a as Arc<dyn Channel>),
            _ => None,
        }
    }

    /// The adapter whose `run` pulls this channel's inbound messages (for the runners).
    pub(crate) fn receiver(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        match info.kind.as_str() {
            omnibridge_email::KIND => self.email_adapter(info).map(|a| a as Arc<dyn Channel>),
            omnibridge_telegram::KIND => self.telegram_adapter(info).map(|a| a as Arc<dyn Channel>),
            _ => None,
        }
    }

    fn telegram_adapter(&self, info: &ChannelInfo) -> Option<Arc<TelegramChannel>> {
        self.telegram.get_or_build(info, || {
            let settings = telegram::settings_of(&self.keyring, info)?;
            let webhook = format!("{}{}", self.public_url, telegram::webhook_path(info.id));
            TelegramChannel::new(info.id, settings, self.http.clone(), self.channel_state.clone(), Some(webhook))
        })
    }

    fn sms_adapter(&self, info: &ChannelInfo) -> Option<Arc<TwilioSmsChannel>> {
        self.sms.get_or_build(info, || {
            let settings = twilio::settings_of(&self.keyring, info)?;
            let callback = format!("{}{}", twilio::public_base(&settings, &self.public_url), omnibridge_twilio_sms::channel::status_callback_path(info.id));
            Ok(TwilioSmsChannel::new(settings, self.http.clone(), Some(callback)))
        })
    }

    fn email_adapter(&self, info: &ChannelInfo) -> Option<Arc<EmailChannel>> {
        self.email.get_or_build(info, || Ok(EmailChannel::new(info.id, email::settings_of(&self.keyring, info)?, self.mailbox_store.clone(), self.guard.clone())))
    }
}

/// Adapters by channel, each with the `updated_at` of the settings it was built from: a changed
/// channel gets a new adapter on next use.
struct Built<T>(RwLock<HashMap<Uuid, (i64, Arc<T>)>>);

impl<T> Built<T> {
    fn new() -> Self {
        Self(RwLock::new(HashMap::new()))
    }

    fn get_or_build(&self, info: &ChannelInfo, build: impl FnOnce() -> Result<T, String>) -> Option<Arc<T>> {
        if let Some((built_from, adapter)) = self.0.read().unwrap_or_else(|e| e.into_inner()).get(&info.id)
            && *built_from == info.updated_at
        {
            return Some(adapter.clone());
        }
        match build() {
            Ok(adapter) => {
                let adapter = Arc::new(adapter);
                self.0.write().unwrap_or_else(|e| e.into_inner()).insert(info.id, (info.updated_at, adapter.clone()));
                Some(adapter)
            }
            Err(err) => {
                tracing::error!(channel_id = %info.id, kind = %info.kind, error = %err, "channel settings do not load");
                None
            }
        }
    }
}


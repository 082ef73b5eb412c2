//! Channels at run time: the registry of kinds ([`registry`]), each channel's settings (cached in
//! memory, not read per message), the adapter instance serving it, the hub's side of the
//! adapters' port ([`host`]), provider callbacks mounted per kind ([`hooks`]), and the
//! background tasks of channels that pull messages in ([`runners`]).
//!
//! Adding a kind is one adapter crate implementing `ChannelKind` and one line in
//! [`registry`].

pub mod hooks;
pub mod media;
pub mod checkup;
pub mod host;
pub mod registry;
pub mod reports;
pub mod runners;
pub mod settings;
pub mod templates;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};

use omnibridge_channel::{Address, Channel, ChannelKind, ChannelSetup, OutboundMessage, Services};
use tokio::sync::Notify;
use uuid::Uuid;

pub use self::registry::Kinds;
use crate::domain::rfc3339;
use crate::domain::views::ChannelView;
use crate::events::outbox::EventBus;
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

/// Why a channel's stored settings could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SettingsLoadError {
    #[error("the channel's secrets do not open: {0}")]
    Sealed(#[from] crate::privacy::CryptoError),
    #[error("the channel's stored secrets are not a JSON object: {0}")]
    Json(#[from] serde_json::Error),
}

/// A channel's public settings with its opened secrets put back in.
pub fn settings_with_secrets(keyring: &Keyring, info: &ChannelInfo) -> Result<serde_json::Value, SettingsLoadError> {
    let mut json = info.settings.clone();
    if let (Some(sealed), serde_json::Value::Object(map)) = (&info.secrets, &mut json) {
        let opened = keyring.open_for_tenant(info.tenant_id, tenant_sealed::CHANNEL_SECRETS, info.id, sealed)?;
        let secrets: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&opened)?;
        map.extend(secrets);
    }
    Ok(json)
}

/// Undoes what a deleted channel's adapter set up at its provider. A provider that cannot be
/// reached does not keep the channel: the failure is logged for the tenant to clean up.
pub async fn retire(channel_id: Uuid, adapter: &dyn Channel) {
    match tokio::time::timeout(std::time::Duration::from_secs(15), adapter.retire()).await {
        Ok(Ok(())) => tracing::info!(%channel_id, "the deleted channel's provider setup was removed"),
        Ok(Err(err)) => tracing::warn!(%channel_id, error = %err, "removing the deleted channel's provider setup failed"),
        Err(_) => tracing::warn!(%channel_id, "removing the deleted channel's provider setup timed out"),
    }
}

/// An adapter and the `updated_at` of the settings it was built from.
type BuiltAdapter = (i64, Arc<dyn Channel>);

pub struct Channels {
    db: Db,
    keyring: Arc<Keyring>,
    kinds: Arc<Kinds>,
    cache: RwLock<HashMap<Uuid, Arc<ChannelInfo>>>,
    /// Adapters by channel, each with the `updated_at` of the settings it was built from: a
    /// changed channel gets a new adapter on next use.
    built: RwLock<HashMap<Uuid, BuiltAdapter>>,
    services: Services,
    /// The hub's public base URL, for the callback URLs providers are given.
    public_url: String,
    reports: reports::Reports,
}

/// What the channels of a cell are built with.
pub struct ChannelsSetup {
    pub db: Db,
    pub keyring: Arc<Keyring>,
    pub kinds: Arc<Kinds>,
    pub bus: EventBus,
    pub send_wake: Arc<Notify>,
    /// How many times a message is tried before it fails for good.
    pub max_attempts: i64,
    /// The guarded provider HTTP client and the guard for adapters that connect themselves.
    pub http: reqwest::Client,
    pub guard: omnibridge_channel::AddressGuard,
    pub public_url: String,
}

impl Channels {
    pub fn new(setup: ChannelsSetup) -> Arc<Self> {
        Arc::new_cyclic(|channels: &Weak<Channels>| {
            let reports = reports::Reports {
                db: setup.db.clone(),
                keyring: setup.keyring.clone(),
                bus: setup.bus.clone(),
                send_wake: setup.send_wake.clone(),
                max_attempts: setup.max_attempts,
            };
            let host = Arc::new(host::HubChannelHost {
                db: setup.db.clone(),
                keyring: setup.keyring.clone(),
                bus: setup.bus,
                send_wake: setup.send_wake,
                reports: reports.clone(),
                channels: channels.clone(),
            });
            Self {
                db: setup.db,
                keyring: setup.keyring,
                kinds: setup.kinds,
                cache: RwLock::new(HashMap::new()),
                built: RwLock::new(HashMap::new()),
                services: Services { http: setup.http, guard: setup.guard, host },
                public_url: setup.public_url,
                reports,
            }
        })
    }

    /// Where providers' delivery reports are recorded.
    pub fn reports(&self) -> &reports::Reports {
        &self.reports
    }

    pub fn kinds(&self) -> &Arc<Kinds> {
        &self.kinds
    }

    /// The kind of a channel, if this hub knows it.
    pub fn kind_of(&self, info: &ChannelInfo) -> Option<&dyn ChannelKind> {
        self.kinds.get(&info.kind)
    }

    /// The port adapters and their callbacks reach the hub through.
    pub fn host(&self) -> Arc<dyn omnibridge_channel::ChannelHost> {
        self.services.host.clone()
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
        if let Some((built_from, adapter)) = self.built.read().unwrap_or_else(|e| e.into_inner()).get(&info.id)
            && *built_from == info.updated_at
        {
            return Some(adapter.clone());
        }
        let kind = self.kind_of(info)?;
        let built = settings_with_secrets(&self.keyring, info).map_err(|e| e.to_string()).and_then(|settings| {
            let setup = ChannelSetup { channel_id: info.id, tenant_id: info.tenant_id, settings: &settings, public_url: &self.public_url, services: &self.services };
            kind.build(setup).map_err(|e| e.to_string())
        });
        match built {
            Ok(adapter) => {
                self.built.write().unwrap_or_else(|e| e.into_inner()).insert(info.id, (info.updated_at, adapter.clone()));
                Some(adapter)
            }
            Err(err) => {
                tracing::error!(channel_id = %info.id, kind = %info.kind, error = %err, "channel settings do not load");
                None
            }
        }
    }

    /// The adapter that fetches files an inbound message left at the provider (MMS media).
    /// Fetching brings data in; nothing about the contact leaves but the provider's own id.
    pub(crate) fn file_source(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        self.adapter(info)
    }

    /// The adapter that lists the provider's message templates, for kinds that keep them.
    pub(crate) fn template_source(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        self.kind_of(info).filter(|k| k.capabilities().templates).and_then(|_| self.adapter(info))
    }

    /// The adapter whose `run` pulls this channel's inbound messages (for the runners).
    pub(crate) fn receiver(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        self.kind_of(info).filter(|k| k.capabilities().pulls).and_then(|_| self.adapter(info))
    }

    /// Whether the hub itself holds the person's sessions on this channel (web chat).
    pub fn has_live_sessions(&self, info: &ChannelInfo) -> bool {
        self.kind_of(info).is_some_and(|k| k.capabilities().live_sessions)
    }

    /// The adapter of a channel whose sessions the hub holds: what reaches them carries no data
    /// to a third party (typing, a survey question, a reply relayed between processes).
    fn live(&self, info: &ChannelInfo) -> Option<Arc<dyn Channel>> {
        self.has_live_sessions(info).then(|| self.adapter(info)).flatten()
    }

    /// Shows the person that an operator is typing; false when no session of theirs is open.
    pub fn typing(&self, info: &ChannelInfo, to: &Address, typing: bool) -> bool {
        self.live(info).is_some_and(|a| a.typing(to, typing))
    }

    /// Asks the person the satisfaction question in their session; false when none is open.
    pub fn offer_survey(&self, info: &ChannelInfo, to: &Address, survey_id: Uuid) -> bool {
        self.live(info).is_some_and(|a| a.offer_survey(to, survey_id))
    }

    /// Pushes a message another process sent (and the egress door passed there) to the
    /// person's sessions held here; nothing when there are none.
    pub async fn relay(&self, info: &ChannelInfo, message: &OutboundMessage) {
        if let Some(adapter) = self.live(info) {
            let _ = adapter.send(message).await;
        }
    }

    /// A link opening a conversation with the channel that carries `token`, for kinds that
    /// have them (a Telegram deep link).
    pub async fn start_link(&self, info: &ChannelInfo, token: &str) -> Result<Option<String>, omnibridge_channel::AdapterError> {
        match self.adapter(info) {
            Some(adapter) => adapter.start_link(token).await,
            None => Ok(None),
        }
    }
}

//! The hub's side of the web chat port: visitor sessions and the visitor's view of their
//! conversation, over the store and the keyring.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use omnibridge_channel::{Address, AddressKind, Technical};
use omnibridge_webchat::{Presence, SessionRequest, TokenHash, TranscriptSent, Visitor, WebchatSettings, WidgetBackend, WidgetError, WidgetMessage, WidgetSetup};
use uuid::Uuid;

use crate::hub::AppState;
use crate::privacy::{CryptoError, DataKey, KeyError};
use crate::domain::events::{self, Event};
use crate::domain::rfc3339;
use crate::consent::{self, NewConsent};
use crate::events::outbox::UnitOfWork;
use crate::events::present::{self, fields};
use crate::store::contacts::IdentityStatus;
use crate::store::{self, MessageRow, NewContact};
use crate::inbox::transcripts::{TranscriptError, Transcripts};

const HISTORY_LIMIT: usize = 500;

pub struct HubWidgetBackend {
    /// The cell's hub: store, keys, channels, the bus, and what transcripts need.
    hub: AppState,
    options: WidgetOptions,
}

/// What the web chat backend is configured with.
pub struct WidgetOptions {
    /// The purposes a visitor may tick (`consent.purposes`).
    pub purposes: Vec<String>,
    /// How long a visitor token works after its session opened (`widget.session_days`).
    pub session_ttl: Duration,
    /// The hub's public base URL, for transcript confirmation links.
    pub public_url: String,
}

impl HubWidgetBackend {
    /// The backend over a cell's hub.
    pub fn new(hub: AppState, options: WidgetOptions) -> Self {
        Self { hub, options }
    }

    /// The visitor's contact's data key. A destroyed one means the contact was erased, and with
    /// it the visitor's session: its token no longer works.
    async fn key_of(&self, visitor: &Visitor) -> Result<DataKey, WidgetError> {
        match self.hub.keyring.data_key(&self.hub.db, visitor.tenant_id, visitor.contact_id).await {
            Ok(key) => Ok(key),
            Err(KeyError::Crypto(CryptoError::KeyDestroyed)) => {
                self.hub.visitor_sessions.forget_contact(visitor.contact_id);
                Err(WidgetError::Unauthorized)
            }
            Err(err) => Err(Self::unavailable(err)),
        }
    }

    /// A session ends with its channel (deleted), whether the session is cached here or not
    /// (a channel's sessions stay stored after it). One that ends with its contact (erased) is
    /// gone from the store and from every process's cache (`Hub::contacts_changed`).
    async fn still_open(&self, visitor: &Visitor) -> Result<(), WidgetError> {
        if self.hub.channels.get(visitor.channel_id).await.map_err(Self::unavailable)?.is_none() {
            self.hub.visitor_sessions.forget_channel(visitor.channel_id);
            return Err(WidgetError::Unauthorized);
        }
        Ok(())
    }

    fn unavailable(err: impl std::fmt::Display) -> WidgetError {
        WidgetError::Unavailable(err.to_string())
    }

    /// Messages as the visitor sees them, with the names of the operators who wrote them.
    async fn widget_messages(&self, visitor: &Visitor, rows: &[MessageRow], key: &DataKey) -> Result<Vec<WidgetMessage>, WidgetError> {
        let mut names: HashMap<Uuid, String> = HashMap::new();
        for id in rows.iter().filter(|r| r.author_type == "operator").filter_map(|r| r.author_id) {
            if !names.contains_key(&id)
                && let Some(operator) = self.hub.db.operator(visitor.tenant_id, id).await.map_err(Self::unavailable)?
            {
                names.insert(id, operator.name);
            }
        }
        rows.iter()
            .map(|row| {
                let mut m = self.widget_message(row, key)?;
                m.author_name = row.author_id.and_then(|id| names.get(&id).cloned());
                Ok(m)
            })
            .collect()
    }

    fn widget_message(&self, row: &MessageRow, key: &DataKey) -> Result<WidgetMessage, WidgetError> {
        let text = key.open(fields::MESSAGE_TEXT, row.id, &row.text).map_err(Self::unavailable)?;
        Ok(WidgetMessage {
            seq: row.created_at,
            id: row.id,
            conversation_id: row.conversation_id,
            direction: row.direction.clone(),
            text,
            author: row.author_type.clone(),
            author_name: None,
            attachments: Vec::new(),
            status: (row.direction == "out").then(|| row.status.clone()),
            created_at: rfc3339(row.created_at),
        })
    }
}

#[async_trait]
impl WidgetBackend for HubWidgetBackend {
    async fn open_session(
        &self,
        channel_id: Uuid,
        request: SessionRequest,
        technical: Technical,
        token: TokenHash,
    ) -> Result<Visitor, WidgetError> {
        let channel = self.hub.channels.get(channel_id).await.map_err(Self::unavailable)?;
        let channel = channel.filter(|c| c.kind == omnibridge_webchat::KIND).ok_or(WidgetError::UnknownChannel)?;
        let tenant_id = channel.tenant_id;
        let (contact_id, visitor_id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut work = UnitOfWork::begin(&self.hub.db, &self.hub.bus).await.map_err(Self::unavailable)?;
        let key = self.hub.keyring.create_data_key(work.tx(), tenant_id, contact_id).await.map_err(Self::unavailable)?;
        let seal = |what, value: Option<&str>| key.seal_opt(what, contact_id, value).map_err(Self::unavailable);
        let name = seal(fields::CONTACT_NAME, request.name.as_deref().map(str::trim))?;
        let email_address = request.email.as_deref().map(|e| Address::new(AddressKind::Email, e));
        let email = seal(fields::CONTACT_EMAIL, email_address.as_ref().map(|a| a.value.as_str()))?;
        let contact = NewContact { id: contact_id, tenant_id, name: name.as_deref(), email: email.as_deref(), phone: None };
        let contact = store::contacts::insert_contact(work.tx(), &contact).await.map_err(Self::unavailable)?;

        // The visitor id is an address only this visitor's browser writes from: verified.
        let visitor_address = Address::new(AddressKind::Webchat, &visitor_id.to_string());
        let index = self.hub.keyring.blind_index(tenant_id, &visitor_address);
        let sealed = key.seal(fields::IDENTITY_ADDRESS, contact_id, &visitor_address.value).map_err(Self::unavailable)?;
        store::contacts::insert_identity(work.tx(), tenant_id, contact_id, visitor_address.kind.as_str(), &index, &sealed, IdentityStatus::Verified)
            .await
            .map_err(Self::unavailable)?;
        // A typed-in email is only claimed: mail from the address never reaches this visitor,
        // and whoever holds it verified keeps it (a merge suggestion, never a merge).
        if let Some(address) = &email_address {
            let index = self.hub.keyring.blind_index(tenant_id, address);
            let sealed = key.seal(fields::IDENTITY_ADDRESS, contact_id, &address.value).map_err(Self::unavailable)?;
            store::merges::claim_address(work.tx(), tenant_id, contact_id, address.kind.as_str(), &index, &sealed).await.map_err(Self::unavailable)?;
        }
        let ip = seal(fields::TECHNICAL_IP, technical.ip.as_deref())?;
        let ua = seal(fields::TECHNICAL_USER_AGENT, technical.user_agent.as_deref())?;
        store::visitors::insert(work.tx(), &token.0, tenant_id, channel_id, contact_id, visitor_id, ip.as_deref(), ua.as_deref())
            .await
            .map_err(Self::unavailable)?;
        let identities = store::contacts::identities_in_range(work.tx(), tenant_id, contact_id, contact_id).await.map_err(Self::unavailable)?;
        let view = present::contact(&contact, &identities, &key).map_err(Self::unavailable)?;
        let created = Event::new(tenant_id, events::CONTACT_CREATED, Some(contact_id), &view);
        // Consent from the session: a grant per purpose ticked in the pre-chat checkbox, with the
        // notice shown; Global Privacy Control / Do Not Track withdraws marketing and outranks a
        // marketing tick. The session row keeps the (sealed) IP and user agent; the ledger names it.
        let address = Address::new(AddressKind::Webchat, &visitor_id.to_string());
        let index = self.hub.keyring.blind_index(tenant_id, &address);
        struct Signal {
            purpose: String,
            action: &'static str,
            method: &'static str,
            evidence: serde_json::Value,
            notice_url: Option<String>,
            notice_version: Option<String>,
        }
        let mut signals = Vec::new();
        if let Some(ticked) = &request.consent {
            for purpose in &ticked.purposes {
                if !self.options.purposes.contains(purpose) {
                    let detail = format!("purposes are {}", self.options.purposes.join(", "));
                    return Err(WidgetError::Invalid { field: "consent.purposes", detail });
                }
                if !(technical.do_not_track && purpose == consent::purposes::MARKETING) {
                    let evidence = serde_json::json!({"session": visitor_id, "form_url": ticked.form_url});
                    signals.push(Signal {
                        purpose: purpose.clone(),
                        action: consent::actions::GRANT,
                        method: consent::methods::WIDGET_CHECKBOX,
                        evidence,
                        notice_url: ticked.notice_url.clone(),
                        notice_version: Some(ticked.notice_version.clone()),
                    });
                }
            }
        }
        if technical.do_not_track {
            let evidence = serde_json::json!({"signal": "Sec-GPC or DNT", "session": visitor_id});
            signals.push(Signal {
                purpose: consent::purposes::MARKETING.into(),
                action: consent::actions::WITHDRAW,
                method: consent::methods::PROVIDER_SIGNAL,
                evidence,
                notice_url: None,
                notice_version: None,
            });
        }
        let mut recorded = Vec::with_capacity(signals.len());
        for Signal { purpose, action, method, evidence, notice_url, notice_version } in signals {
            let id = Uuid::now_v7();
            recorded.push(NewConsent {
                id,
                tenant_id,
                contact_id: Some(contact_id),
                channel: omnibridge_channel::Medium::Webchat.as_str(),
                address_index: index.clone(),
                address: Some(key.seal(fields::CONSENT_ADDRESS, id, &address.value).map_err(Self::unavailable)?),
                sender_scope: Some(format!("channel:{channel_id}")),
                purpose,
                action,
                legal_basis: consent::legal_bases::CONSENT,
                method,
                evidence,
                actor: "contact".into(),
                notice_url,
                notice_version,
            });
        }
        work.append(Some(&key), created).await.map_err(Self::unavailable)?;
        let (_, changed) = consent::record(work.tx(), &key, &recorded).await.map_err(Self::unavailable)?;
        work.appended(changed);
        work.commit().await.map_err(Self::unavailable)?;
        Ok(Visitor { visitor_id, channel_id, tenant_id, contact_id })
    }

    /// Offline outside the channel's business hours (with its away message); else online when
    /// an active operator of the tenant is online, away when none is.
    async fn setup(&self, channel_id: Uuid) -> Result<WidgetSetup, WidgetError> {
        let channel = self.hub.channels.get(channel_id).await.map_err(Self::unavailable)?.filter(|c| c.kind == omnibridge_webchat::KIND).ok_or(WidgetError::UnknownChannel)?;
        let settings: WebchatSettings = serde_json::from_value(channel.settings.clone()).unwrap_or_default();
        let hours = store::hours::get(&self.hub.db, channel_id).await.map_err(Self::unavailable)?;
        let hours: Option<crate::inbox::hours::BusinessHours> = hours.and_then(|h| serde_json::from_str(&h).ok());
        if let Some(hours) = hours
            && !hours.is_open(store::now_micros())
        {
            return Ok(WidgetSetup { settings, presence: Presence::Offline, away_message: Some(hours.away_message) });
        }
        let team = store::team::availability(&self.hub.db, channel.tenant_id).await.map_err(Self::unavailable)?;
        let online = team.iter().any(|o| o.availability == "online" && o.deactivated_at.is_none() && o.deleted_at.is_none());
        Ok(WidgetSetup { settings, presence: if online { Presence::Online } else { Presence::Away }, away_message: None })
    }

    async fn allowed_origins(&self, channel_id: Uuid) -> Result<Vec<String>, WidgetError> {
        let channel = self.hub.channels.get(channel_id).await.map_err(Self::unavailable)?;
        Ok(channel
            .filter(|c| c.kind == omnibridge_webchat::KIND)
            .and_then(|c| c.settings["allowed_origins"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|o| o.as_str().map(|o| o.trim_end_matches('/').to_owned()))
            .collect())
    }

    async fn authenticate(&self, token: TokenHash) -> Result<Visitor, WidgetError> {
        let cached = self.hub.visitor_sessions.get(&token);
        if let Some(visitor) = cached {
            self.still_open(&visitor).await?;
            return Ok(visitor);
        }
        let opened_after = store::now_micros() - self.options.session_ttl.as_micros() as i64;
        let row = store::visitors::by_token(&self.hub.db, &token.0, opened_after).await.map_err(Self::unavailable)?.ok_or(WidgetError::Unauthorized)?;
        let visitor = Visitor { visitor_id: row.visitor_id, channel_id: row.channel_id, tenant_id: row.tenant_id, contact_id: row.contact_id };
        self.still_open(&visitor).await?;
        self.hub.visitor_sessions.insert(token, visitor.clone());
        Ok(visitor)
    }

    async fn history(&self, visitor: &Visitor, before: Option<Uuid>, limit: usize) -> Result<Vec<WidgetMessage>, WidgetError> {
        let rows = store::messages::visible_to_visitor(&self.hub.db, visitor.contact_id, visitor.channel_id, before, limit)
            .await
            .map_err(Self::unavailable)?;
        let key = self.key_of(visitor).await?;
        self.widget_messages(visitor, &rows, &key).await
    }

    async fn history_after(&self, visitor: &Visitor, after: i64) -> Result<Vec<WidgetMessage>, WidgetError> {
        let rows = store::messages::visible_to_visitor_after(&self.hub.db, visitor.contact_id, visitor.channel_id, after, HISTORY_LIMIT)
            .await
            .map_err(Self::unavailable)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key_of(visitor).await?;
        self.widget_messages(visitor, &rows, &key).await
    }

    async fn message(&self, visitor: &Visitor, message_id: Uuid) -> Result<Option<WidgetMessage>, WidgetError> {
        let row = store::messages::get(&self.hub.db, visitor.tenant_id, message_id).await.map_err(Self::unavailable)?;
        let Some(row) = row.filter(|r| r.contact_id == visitor.contact_id && !r.private) else { return Ok(None) };
        let key = self.key_of(visitor).await?;
        Ok(self.widget_messages(visitor, std::slice::from_ref(&row), &key).await?.pop())
    }

    async fn send_transcript(&self, visitor: &Visitor, email: Option<String>) -> Result<TranscriptSent, WidgetError> {
        let chat = self.hub.channels.get(visitor.channel_id).await.map_err(Self::unavailable)?.ok_or(WidgetError::UnknownChannel)?;
        let transcripts = Transcripts::of(&self.hub, &self.options.public_url);
        transcripts.for_visitor(visitor, &chat, email).await.map_err(|e| match e {
            TranscriptError::Invalid { field, detail } => WidgetError::Invalid { field, detail },
            TranscriptError::Refused { code, detail } => WidgetError::Refused { code, detail },
            TranscriptError::RateLimited(retry_after) => WidgetError::RateLimited { retry_after },
            TranscriptError::Unavailable(why) => WidgetError::Unavailable(why),
        })
    }

    async fn answer_csat(&self, visitor: &Visitor, survey_id: Uuid, score: u8, comment: Option<String>) -> Result<(), WidgetError> {
        let survey = store::csat::for_contact(&self.hub.db, visitor.contact_id, survey_id)
            .await
            .map_err(Self::unavailable)?
            .ok_or(WidgetError::Unknown { field: "survey_id", detail: "no such survey of yours".into() })?;
        let sealed = match comment.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            Some(text) => {
                let key = self.key_of(visitor).await?;
                Some(key.seal("csat.comment", survey.id, text).map_err(Self::unavailable)?)
            }
            None => None,
        };
        if !store::csat::answer(&self.hub.db, survey.id, i64::from(score), sealed.as_deref()).await.map_err(Self::unavailable)? {
            return Err(WidgetError::Refused { code: "already_answered", detail: "this survey was answered already".into() });
        }
        Ok(())
    }
}

//! Conversation transcripts by email: asked for by the visitor in the widget, or by an operator
//! (`POST /v1/conversations/{id}/transcript`). A transcript leaves as one outbound system
//! message (purpose `transcripts`) on an email channel, in the conversation — so it passes the
//! consent check, the routing policy and the door like any reply, and is in the transfer log.
//!
//! A visitor's transcript carries text the visitor wrote, so it goes only to an address the
//! visitor proved is theirs — else the widget would be a relay that mails anything anywhere from
//! the tenant's own mailbox. The contact's verified address is proof enough; any other address
//! first gets a confirmation mail (fixed wording, no visitor text) whose single-use link, opened
//! and confirmed, queues the transcript. Subject and sender never carry visitor text. Requests
//! are rate-limited per visitor and per IP address (the HTTP layer) and per channel (here).

use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::{Address, AddressKind, Medium};
use omnibridge_webchat::TranscriptSent;
use sha2::Digest;
use uuid::Uuid;

use crate::limits::{Limit, RateLimits};
use crate::channels::{ChannelInfo, Channels};
use crate::outgoing::{self, Draft};
use crate::egress::preflight::Outgoing;
use crate::egress::{Door, EgressError};
use crate::events::outbox::{EventBus, UnitOfWork};
use crate::events::present::fields;
use crate::privacy::{DataKey, Keyring};
use crate::store::contacts::IdentityStatus;
use crate::store::{self, Db};

/// The purpose transcripts are sent for, as the consent ledger names it.
const PURPOSE: &str = "transcripts";
/// How long a confirmation link works.
const CONFIRMATION_TTL: Duration = Duration::from_secs(24 * 3600);
const TRANSCRIPT_SUBJECT: &str = "Your conversation transcript";
const CONFIRMATION_SUBJECT: &str = "Confirm your address for the chat transcript";
/// The most messages a visitor's transcript holds.
const VISITOR_LINES: usize = 500;

/// Why a transcript cannot go.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// Consent, policy or configuration says no (`code` as in the API).
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    #[error("too many transcripts requested here; try again in {0:?}")]
    RateLimited(Duration),
    #[error("{0}")]
    Unavailable(String),
}

fn unavailable(e: impl std::fmt::Display) -> TranscriptError {
    TranscriptError::Unavailable(e.to_string())
}

/// Where an operator's transcript goes.
pub enum Recipient {
    /// The contact's address on record (verified first).
    OnRecord,
    /// An address the operator typed (kept as a claimed identity of the contact).
    Given(String),
    /// One identity of the contact.
    Identity(Uuid),
}

/// What a transcript needs from the hub.
pub struct Transcripts<'a> {
    pub db: &'a Db,
    pub keyring: &'a Keyring,
    pub channels: &'a Channels,
    pub door: &'a Door,
    pub bus: &'a EventBus,
    pub send_wake: &'a Arc<tokio::sync::Notify>,
    pub limits: &'a RateLimits,
    /// The hub's public base URL, for confirmation links.
    pub public_url: &'a str,
}

/// One line of a transcript: who (`in` is the contact), when, what.
pub struct Line {
    pub direction: String,
    pub at: String,
    pub text: String,
}

/// The hash a confirmation token is stored as.
pub fn token_hash(token: &str) -> Vec<u8> {
    sha2::Sha256::digest(token.as_bytes()).to_vec()
}

impl<'a> Transcripts<'a> {
    /// Over a cell's hub; `public_url` is the hub's public base URL.
    pub fn of(hub: &'a crate::hub::Hub, public_url: &'a str) -> Self {
        Self {
            db: &hub.db,
            keyring: &hub.keyring,
            channels: &hub.channels,
            door: &hub.door,
            bus: &hub.bus,
            send_wake: &hub.send_wake,
            limits: &hub.limits,
            public_url,
        }
    }
}

impl Transcripts<'_> {
    /// Whether channels of this kind carry mail.
    fn is_mail(&self, kind: &str) -> bool {
        self.channels.kinds().get(kind).is_some_and(|k| k.medium() == Medium::Email)
    }

    /// The email channel transcripts leave by: `transcript_channel_id` of `source` (a web chat
    /// channel), else the tenant's first email channel.
    async fn channel(&self, tenant_id: Uuid, source: Option<&ChannelInfo>) -> Result<Arc<ChannelInfo>, TranscriptError> {
        let chosen = source.and_then(|s| s.settings.get("transcript_channel_id")).and_then(|v| v.as_str()).and_then(|v| v.parse::<Uuid>().ok());
        let id = match chosen {
            Some(id) => Some(id),
            None => self.db.channels(tenant_id, None, 200).await.map_err(unavailable)?.into_iter().find(|c| self.is_mail(&c.kind)).map(|c| c.id),
        };
        let refused = || TranscriptError::Refused { code: "unavailable", detail: "transcripts by email are not offered here: no email channel".into() };
        let channel = self.channels.get(id.ok_or_else(refused)?).await.map_err(unavailable)?.ok_or_else(refused)?;
        if !self.is_mail(&channel.kind) || channel.tenant_id != tenant_id {
            return Err(refused());
        }
        Ok(channel)
    }

    /// The door's questions, before anything is queued: restriction, consent for transcripts
    /// to the address, age, the routing policy for the channel.
    async fn preflight(&self, tenant_id: Uuid, contact_id: Uuid, channel: &ChannelInfo, address: &Address) -> Result<(), TranscriptError> {
        let outgoing = Outgoing { tenant_id, contact_id, channel, purpose: PURPOSE, attachments: false, to: Some(address), template: false, human: false };
        self.door.preflight(&outgoing).await.map_err(|err| {
            let code = match &err {
                EgressError::ConsentMissing(_) => "consent_missing",
                EgressError::Restricted(_) => "restricted",
                EgressError::PolicyBlocked { .. } => "policy_blocked",
                EgressError::WindowClosed { .. } => "window_closed",
                _ => return unavailable(err),
            };
            let detail = match err {
                EgressError::PolicyBlocked { reason, .. } => reason,
                other => other.to_string(),
            };
            TranscriptError::Refused { code, detail }
        })
    }

    /// Queues one automatic message on `channel` in `work`, addressed to `identity`.
    async fn queue(&self, work: &mut UnitOfWork, key: &DataKey, conversation_id: Uuid, channel: &ChannelInfo, identity: Uuid, (subject, text): (&str, &str)) -> Result<(), TranscriptError> {
        let draft = Draft { identity: Some(identity), subject: Some(subject), ..Draft::automatic(channel.tenant_id, conversation_id, channel.id, key, text, PURPOSE) };
        outgoing::queue(work, self.send_wake, draft).await.map_err(unavailable)?;
        Ok(())
    }

    /// Queues an operator's transcript of `lines` to the contact.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        conversation_id: Uuid,
        source: Option<&ChannelInfo>,
        title: &str,
        lines: &[Line],
        recipient: Recipient,
    ) -> Result<(), TranscriptError> {
        if lines.is_empty() {
            return Err(TranscriptError::Invalid { field: "conversation", detail: "there is nothing to send yet".into() });
        }
        let channel = self.channel(tenant_id, source).await?;
        let key = self.keyring.data_key(self.db, tenant_id, contact_id).await.map_err(unavailable)?;
        let (address, identity) = match recipient {
            Recipient::Identity(id) => {
                let row = store::contacts::identity(self.db, contact_id, id).await.map_err(unavailable)?;
                let row = row.ok_or_else(|| TranscriptError::Invalid { field: "email", detail: "no such address of the contact".into() })?;
                (key.open(fields::IDENTITY_ADDRESS, contact_id, &row.address).map_err(unavailable)?, Some(id))
            }
            Recipient::OnRecord => match store::contacts::identity_for_kind(self.db, tenant_id, contact_id, AddressKind::Email.as_str()).await.map_err(unavailable)? {
                Some(row) => (key.open(fields::IDENTITY_ADDRESS, contact_id, &row.address).map_err(unavailable)?, Some(row.id)),
                None => return Err(TranscriptError::Invalid { field: "email", detail: "where should the transcript go?".into() }),
            },
            Recipient::Given(given) => (given, None),
        };
        let address = Address::new(AddressKind::Email, &address);
        self.preflight(tenant_id, contact_id, &channel, &address).await?;
        let mut work = UnitOfWork::begin(self.db, self.bus).await.map_err(unavailable)?;
        let identity = match identity {
            Some(id) => id,
            None => self.claim(work.tx(), &key, tenant_id, &address).await?,
        };
        self.queue(&mut work, &key, conversation_id, &channel, identity, (TRANSCRIPT_SUBJECT, &transcript_text(title, lines))).await?;
        work.commit().await.map_err(unavailable)?;
        Ok(())
    }

    /// The contact's identity for `address`, claimed now if it has none.
    async fn claim(&self, tx: &mut store::Tx, key: &DataKey, tenant_id: Uuid, address: &Address) -> Result<Uuid, TranscriptError> {
        let index = self.keyring.blind_index(tenant_id, address);
        let sealed = key.seal(fields::IDENTITY_ADDRESS, key.contact_id, &address.value).map_err(unavailable)?;
        store::merges::claim_address(tx, tenant_id, key.contact_id, AddressKind::Email.as_str(), &index, &sealed).await.map_err(unavailable)
    }

    /// A web chat visitor's "email me this transcript": straight to an address the visitor
    /// proved (the contact's verified address, or one confirmed before), else a confirmation
    /// link to the address (`email`, or the one typed into the pre-chat form).
    pub async fn for_visitor(&self, visitor: &omnibridge_webchat::Visitor, chat: &ChannelInfo, email: Option<String>) -> Result<TranscriptSent, TranscriptError> {
        let (tenant_id, contact_id) = (visitor.tenant_id, visitor.contact_id);
        if let Err(wait) = self.limits.take(Limit::TranscriptsPerChannel, &chat.id.to_string()) {
            return Err(TranscriptError::RateLimited(wait));
        }
        let key = self.keyring.data_key(self.db, tenant_id, contact_id).await.map_err(unavailable)?;
        let lines = visitor_lines(self.db, &key, contact_id, chat.id).await?;
        let Some(conversation_id) = lines.last().map(|(c, _)| *c) else {
            return Err(TranscriptError::Invalid { field: "email", detail: "there is nothing to send yet".into() });
        };
        let channel = self.channel(tenant_id, Some(chat)).await?;
        let wanted = email.as_deref().map(|e| Address::new(AddressKind::Email, e));
        // The contact's addresses, each with whether the visitor proved it.
        let mut proven = None;
        let mut claimed = None;
        for row in store::contacts::identities_of_kind(self.db, contact_id, AddressKind::Email.as_str()).await.map_err(unavailable)? {
            let value = Address::new(AddressKind::Email, &key.open(fields::IDENTITY_ADDRESS, contact_id, &row.address).map_err(unavailable)?).value;
            if wanted.as_ref().is_some_and(|w| w.value != value) {
                continue;
            }
            let is_proven = row.status == IdentityStatus::Verified.as_str()
                || store::confirmations::confirmed(self.db, contact_id, row.id).await.map_err(unavailable)?;
            if is_proven && proven.is_none() {
                proven = Some((row.id, value));
            } else if claimed.is_none() {
                claimed = Some((row.id, value));
            }
        }
        if let Some((identity, value)) = proven {
            self.preflight(tenant_id, contact_id, &channel, &Address::new(AddressKind::Email, &value)).await?;
            let text = transcript_text(&format!("Your conversation with {}:", chat.name), &lines.into_iter().map(|(_, l)| l).collect::<Vec<_>>());
            let mut work = UnitOfWork::begin(self.db, self.bus).await.map_err(unavailable)?;
            self.queue(&mut work, &key, conversation_id, &channel, identity, (TRANSCRIPT_SUBJECT, &text)).await?;
            work.commit().await.map_err(unavailable)?;
            return Ok(TranscriptSent::Queued);
        }
        let address = match (wanted, claimed) {
            (Some(address), _) => address,
            (None, Some((_, value))) => Address::new(AddressKind::Email, &value),
            (None, None) => return Err(TranscriptError::Invalid { field: "email", detail: "where should the transcript go?".into() }),
        };
        self.preflight(tenant_id, contact_id, &channel, &address).await?;
        let token = crate::privacy::random_token(32);
        let link = format!("{}/transcripts/confirm/{token}", self.public_url);
        // Fixed words: nothing the visitor wrote or typed, not even their name.
        let text = format!(
            "Someone asked for the transcript of a chat with {} to be sent to this address.\n\n\
             To receive it, open this link within 24 hours and confirm:\n{link}\n\n\
             If it was not you, ignore this mail: nothing else will be sent.",
            chat.name
        );
        let mut work = UnitOfWork::begin(self.db, self.bus).await.map_err(unavailable)?;
        let identity = self.claim(work.tx(), &key, tenant_id, &address).await?;
        let hash = token_hash(&token);
        let expires_at = store::now_micros() + CONFIRMATION_TTL.as_micros() as i64;
        let confirmation = store::confirmations::NewConfirmation {
            token_hash: &hash,
            tenant_id,
            contact_id,
            identity_id: identity,
            channel_id: chat.id,
            conversation_id,
            expires_at,
        };
        store::confirmations::insert(work.tx(), &confirmation).await.map_err(unavailable)?;
        self.queue(&mut work, &key, conversation_id, &channel, identity, (CONFIRMATION_SUBJECT, &text)).await?;
        work.commit().await.map_err(unavailable)?;
        Ok(TranscriptSent::ConfirmationSent)
    }

    /// The confirmation link was opened and confirmed: the address is the visitor's (verified,
    /// unless another contact holds it verified), and the transcript goes to it. `None` when the
    /// token is unknown, used or expired.
    pub async fn confirm(&self, token: &str) -> Result<Option<()>, TranscriptError> {
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        let Some(row) = store::confirmations::redeem(&mut tx, &token_hash(token)).await.map_err(unavailable)? else {
            return Ok(None);
        };
        store::contacts::verify_identity(&mut tx, row.identity_id).await.map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        let chat = self.channels.get(row.channel_id).await.map_err(unavailable)?;
        let key = self.keyring.data_key(self.db, row.tenant_id, row.contact_id).await.map_err(unavailable)?;
        let lines: Vec<Line> = visitor_lines(self.db, &key, row.contact_id, row.channel_id).await?.into_iter().map(|(_, l)| l).collect();
        let title = format!("Your conversation with {}:", chat.as_ref().map(|c| c.name.as_str()).unwrap_or("us"));
        self.send(row.tenant_id, row.contact_id, row.conversation_id, chat.as_deref(), &title, &lines, Recipient::Identity(row.identity_id)).await?;
        Ok(Some(()))
    }
}

/// What the visitor sees of their conversation on the chat channel, by conversation.
async fn visitor_lines(db: &Db, key: &DataKey, contact_id: Uuid, channel_id: Uuid) -> Result<Vec<(Uuid, Line)>, TranscriptError> {
    let rows = store::messages::visible_to_visitor(db, contact_id, channel_id, None, VISITOR_LINES).await.map_err(unavailable)?;
    rows.iter()
        .map(|m| {
            let text = key.open(fields::MESSAGE_TEXT, m.id, &m.text).map_err(unavailable)?;
            Ok((m.conversation_id, Line { direction: m.direction.clone(), at: crate::domain::rfc3339(m.created_at), text }))
        })
        .collect()
}

fn transcript_text(title: &str, lines: &[Line]) -> String {
    let mut text = format!("{title}\n\n");
    for l in lines {
        let who = if l.direction == "in" { "You" } else { "Agent" };
        text.push_str(&format!("[{}] {who}: {}\n", l.at, l.text));
    }
    text
}

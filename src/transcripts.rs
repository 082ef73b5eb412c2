//! Conversation transcripts by email: asked for by the visitor in the widget, or by an operator
//! (`POST /v1/conversations/{id}/transcript`). The transcript leaves as one outbound system
//! message (purpose `transcripts`) on an email channel, in the conversation — so it passes the
//! consent check, the routing policy and the door like any reply, and is in the transfer log.

use std::sync::Arc;

use omnibridge_channel::{Address, AddressKind};
use uuid::Uuid;

use crate::channels::{ChannelInfo, Channels};
use crate::present::fields;
use crate::privacy::Keyring;
use crate::store::{self, Db, NewMessage};

/// Why a transcript cannot go.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// Consent, policy or configuration says no (`code` as in the API).
    #[error("{detail}")]
    Refused { code: &'static str, detail: String },
    #[error("{0}")]
    Unavailable(String),
}

fn unavailable(e: impl std::fmt::Display) -> TranscriptError {
    TranscriptError::Unavailable(e.to_string())
}

/// What a transcript needs from the hub.
pub struct Transcripts<'a> {
    pub db: &'a Db,
    pub keyring: &'a Keyring,
    pub channels: &'a Channels,
    pub policies: &'a crate::policy::Policies,
    pub send_wake: &'a Arc<tokio::sync::Notify>,
}

/// One line of a transcript: who (`in` is the contact), when, what.
pub struct Line {
    pub direction: String,
    pub at: String,
    pub text: String,
}

impl Transcripts<'_> {
    /// The email channel transcripts leave by: `transcript_channel_id` of `source` (a web chat
    /// channel), else the tenant's first email channel.
    async fn channel(&self, tenant_id: Uuid, source: Option<&ChannelInfo>) -> Result<Arc<ChannelInfo>, TranscriptError> {
        let chosen = source.and_then(|s| s.settings.get("transcript_channel_id")).and_then(|v| v.as_str()).and_then(|v| v.parse::<Uuid>().ok());
        let id = match chosen {
            Some(id) => Some(id),
            None => self.db.channels(tenant_id, None, 200).await.map_err(unavailable)?.into_iter().find(|c| c.kind == omnibridge_email::KIND).map(|c| c.id),
        };
        let refused = || TranscriptError::Refused { code: "unavailable", detail: "transcripts by email are not offered here: no email channel".into() };
        let channel = self.channels.get(id.ok_or_else(refused)?).await.map_err(unavailable)?.ok_or_else(refused)?;
        if channel.kind != omnibridge_email::KIND || channel.tenant_id != tenant_id {
            return Err(refused());
        }
        Ok(channel)
    }

    /// Queues the transcript of `lines` to the contact (at `email`, kept as a claimed identity,
    /// or the address on record).
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        tenant_id: Uuid,
        contact_id: Uuid,
        conversation_id: Uuid,
        source: Option<&ChannelInfo>,
        title: &str,
        lines: &[Line],
        email: Option<String>,
    ) -> Result<(), TranscriptError> {
        if lines.is_empty() {
            return Err(TranscriptError::Invalid { field: "conversation", detail: "there is nothing to send yet".into() });
        }
        let channel = self.channel(tenant_id, source).await?;
        let key = self.keyring.data_key(self.db, tenant_id, contact_id).await.map_err(unavailable)?;
        let known = store::contacts::identity_for_kind(self.db, tenant_id, contact_id, "email").await.map_err(unavailable)?;
        let address = match (&known, email) {
            (Some(identity), _) => key.open(fields::IDENTITY_ADDRESS, contact_id, &identity.address).map_err(unavailable)?,
            (None, Some(given)) => given,
            (None, None) => return Err(TranscriptError::Invalid { field: "email", detail: "where should the transcript go?".into() }),
        };
        let address = Address::new(AddressKind::Email, &address);
        let index = self.keyring.blind_index(tenant_id, &address);
        if let Some(reason) = crate::consent::refusal(self.db, tenant_id, "email", &index, "transcripts").await.map_err(unavailable)? {
            return Err(TranscriptError::Refused { code: "consent_missing", detail: reason });
        }
        let destination = crate::policy::Destination::channel(&self.policies.registry(), &channel.kind, channel.id, &channel.settings);
        let categories = crate::policy::channel_categories(&channel.kind, false);
        let verdict = self.policies.decide(self.db, tenant_id, &destination, &categories, true).await.map_err(unavailable)?;
        if verdict.decision == crate::policy::Decision::Block {
            return Err(TranscriptError::Refused { code: "policy_blocked", detail: verdict.reason.unwrap_or_default() });
        }
        let mut text = format!("{title}\n\n");
        for l in lines {
            let who = if l.direction == "in" { "You" } else { "Agent" };
            text.push_str(&format!("[{}] {who}: {}\n", l.at, l.text));
        }
        let mut tx = self.db.begin().await.map_err(unavailable)?;
        if known.is_none() {
            let sealed = key.seal(fields::IDENTITY_ADDRESS, contact_id, &address.value).map_err(unavailable)?;
            store::contacts::insert_identity(&mut tx, tenant_id, contact_id, "email", &index, &sealed, "claimed").await.map_err(unavailable)?;
        }
        let id = Uuid::now_v7();
        let sealed = key.seal(fields::MESSAGE_TEXT, id, &text).map_err(unavailable)?;
        let new = NewMessage::automatic(id, tenant_id, conversation_id, contact_id, channel.id, &sealed, "transcripts");
        store::messages::insert(&mut tx, &new).await.map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        self.send_wake.notify_one();
        Ok(())
    }
}

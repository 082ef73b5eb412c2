//! Customer satisfaction (CSAT): when a conversation is resolved, the contact is asked one
//! question — 1 to 5, and a comment if they like. Web chat visitors see it in the widget; on
//! other channels the hub sends a link (`/csat/{token}`) if the contact's consent allows a
//! message. Answers appear in `/v1/stats` per channel and operator.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::events::WorkError;
use crate::events::present::fields;
use crate::privacy::random_token;
use crate::hub::AppState;
use crate::outgoing::{self, Draft};
use crate::egress::preflight::Outgoing;
use crate::events::outbox::UnitOfWork;
use crate::store::{self, ConversationRow};

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Offers the survey for a conversation being resolved, in the unit of work that resolves it:
/// the survey (and the link message, where one is sent) commit with the resolution or not at
/// all. A live widget is shown the question once the unit has committed.
pub async fn offer(hub: &AppState, work: &mut UnitOfWork, conversation: &ConversationRow) -> Result<(), WorkError> {
    let Some(channel) = hub.channels.get(conversation.channel_id).await? else { return Ok(()) };
    if store::privacy::is_restricted(&hub.db, conversation.contact_id).await? {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let token = random_token(24);
    let key = hub.keyring.data_key(&hub.db, conversation.tenant_id, conversation.contact_id).await?;
    let live = hub.channels.has_live_sessions(&channel);
    let outgoing = Outgoing {
        tenant_id: conversation.tenant_id,
        contact_id: conversation.contact_id,
        channel: &channel,
        purpose: crate::consent::purposes::SERVICE,
        attachments: false,
        to: None,
        template: false,
        human: false,
    };
    let link_allowed = !live && hub.door.preflight(&outgoing).await.is_ok();
    if !live && !link_allowed {
        return Ok(()); // no message the contact has not agreed to
    }
    store::csat::insert(work.tx(), id, conversation.tenant_id, conversation.id, conversation.contact_id, channel.id, conversation.assignee_id, &token_hash(&token))
        .await
        ?;
    if link_allowed {
        let text = format!("How did we do? Rate your conversation from 1 to 5: {}/csat/{token}", hub.config.public_base_url());
        let draft = Draft::automatic(conversation.tenant_id, conversation.id, channel.id, &key, &text, crate::consent::purposes::SERVICE);
        outgoing::queue(work, &hub.send_wake, draft).await?;
    } else if let Some(address_kind) = hub.channels.kind_of(&channel).map(|k| k.address_kind())
        && let Some(identity) =
            store::contacts::identity_for_kind(&hub.db, conversation.tenant_id, conversation.contact_id, address_kind.as_str()).await?
    {
        let address = key.open(fields::IDENTITY_ADDRESS, conversation.contact_id, &identity.address)?;
        let hub = hub.clone();
        work.then(move || {
            hub.channels.offer_survey(&channel, &omnibridge_channel::Address::new(address_kind, &address), id);
        });
    }
    Ok(())
}

/// Records an answer (1–5, optional comment sealed under the contact's key); false when the
/// survey was answered already.
pub async fn answer(hub: &AppState, survey: &store::csat::SurveyRow, score: i64, comment: Option<&str>) -> Result<bool, WorkError> {
    let sealed = match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(text) => {
            let key = hub.keyring.data_key(&hub.db, survey.tenant_id, survey.contact_id).await?;
            Some(key.seal("csat.comment", survey.id, text)?)
        }
        None => None,
    };
    Ok(store::csat::answer(&hub.db, survey.id, score, sealed.as_deref()).await?)
}

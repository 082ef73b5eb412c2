//! Customer satisfaction (CSAT): when a conversation is resolved, the contact is asked one
//! question — 1 to 5, and a comment if they like. Web chat visitors see it in the widget; on
//! other channels the hub sends a link (`/csat/{token}`) if the contact's consent allows a
//! message. Answers appear in `/v1/stats` per channel and operator.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::present::fields;
use crate::privacy::random_token;
use crate::state::AppState;
use crate::store::{self, ConversationRow, NewMessage};

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Offers the survey for a conversation that was just resolved.
pub async fn offer(hub: &AppState, conversation: &ConversationRow) -> Result<(), String> {
    let Some(channel) = hub.channels.get(conversation.channel_id).await.map_err(|e| e.to_string())? else { return Ok(()) };
    if store::privacy::is_restricted(&hub.db, conversation.contact_id).await.map_err(|e| e.to_string())? {
        return Ok(());
    }
    let id = Uuid::now_v7();
    let token = random_token(24);
    let key = hub.keyring.data_key(&hub.db, conversation.tenant_id, conversation.contact_id).await.map_err(|e| e.to_string())?;
    let is_webchat = channel.kind == omnibridge_webchat::KIND;
    let link_allowed = !is_webchat
        && crate::api::messages::require_consent(hub, conversation.tenant_id, conversation.contact_id, &channel, crate::consent::purposes::SERVICE)
            .await
            .is_ok();
    if !is_webchat && !link_allowed {
        return Ok(()); // no message the contact has not agreed to
    }
    let mut tx = hub.db.begin().await.map_err(|e| e.to_string())?;
    store::csat::insert(&mut tx, id, conversation.tenant_id, conversation.id, conversation.contact_id, channel.id, conversation.assignee_id, &token_hash(&token))
        .await
        .map_err(|e| e.to_string())?;
    if link_allowed {
        let text = format!("How did we do? Rate your conversation from 1 to 5: {}/csat/{token}", hub.config.public_base_url());
        let message_id = Uuid::now_v7();
        let sealed = key.seal(fields::MESSAGE_TEXT, message_id, &text).map_err(|e| e.to_string())?;
        let new = NewMessage::automatic(message_id, conversation.tenant_id, conversation.id, conversation.contact_id, channel.id, &sealed, crate::consent::purposes::SERVICE);
        store::messages::insert(&mut tx, &new).await.map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    if link_allowed {
        hub.send_wake.notify_one();
    } else if let Some(identity) = store::contacts::identity_for_kind(&hub.db, conversation.tenant_id, conversation.contact_id, "webchat").await.map_err(|e| e.to_string())? {
        let visitor = key.open(fields::IDENTITY_ADDRESS, conversation.contact_id, &identity.address).map_err(|e| e.to_string())?;
        if let Ok(visitor_id) = visitor.parse::<Uuid>() {
            hub.channels.webchat_csat(visitor_id, id);
        }
    }
    Ok(())
}

/// Records an answer (1–5, optional comment sealed under the contact's key); false when the
/// survey was answered already.
pub async fn answer(hub: &AppState, survey: &store::csat::SurveyRow, score: i64, comment: Option<&str>) -> Result<bool, String> {
    let sealed = match comment.map(str::trim).filter(|c| !c.is_empty()) {
        Some(text) => {
            let key = hub.keyring.data_key(&hub.db, survey.tenant_id, survey.contact_id).await.map_err(|e| e.to_string())?;
            Some(key.seal("csat.comment", survey.id, text).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    store::csat::answer(&hub.db, survey.id, score, sealed.as_deref()).await.map_err(|e| e.to_string())
}

//! Turning stored rows into the views clients see: decrypting personal fields with the
//! contact's data key on the way out.

use crate::domain::rfc3339;
use crate::domain::views::{ContactView, ConversationView, IdentityView, MessageView};
use crate::privacy::{CryptoError, DataKey};
use crate::store::{ContactRow, ConversationRow, IdentityRow, MessageRow};

/// Sealing labels: which column a ciphertext belongs to (part of its associated data).
pub mod fields {
    pub const CONTACT_NAME: &str = "contact.name";
    pub const CONTACT_EMAIL: &str = "contact.email";
    pub const CONTACT_PHONE: &str = "contact.phone";
    pub const IDENTITY_ADDRESS: &str = "identity.address";
    pub const MESSAGE_TEXT: &str = "message.text";
    /// A template send's template and parameters (JSON).
    pub const MESSAGE_TEMPLATE: &str = "message.template";
    pub const CONVERSATION_SUBJECT: &str = "conversation.subject";
    pub const ATTACHMENT_FILENAME: &str = "attachment.filename";
    pub const ATTACHMENT_DATA: &str = "attachment.data";
    pub const TECHNICAL_IP: &str = "technical.ip";
    pub const CONSENT_ADDRESS: &str = "consent.address";
    pub const TECHNICAL_USER_AGENT: &str = "technical.user_agent";
    /// A conversation participant's address (sealed with the participant's id).
    pub const PARTICIPANT_ADDRESS: &str = "participant.address";
    /// A further recipient's address of one message (sealed with the recipient row's id).
    pub const RECIPIENT_ADDRESS: &str = "recipient.address";
}

pub fn message(row: &MessageRow, key: &DataKey) -> Result<MessageView, CryptoError> {
    let text = key.open(fields::MESSAGE_TEXT, row.id, &row.text)?;
    Ok(message_with_text(row, text))
}

pub fn message_with_text(row: &MessageRow, text: String) -> MessageView {
    MessageView {
        id: row.id,
        conversation_id: row.conversation_id,
        contact_id: row.contact_id,
        channel_id: row.channel_id,
        direction: row.direction.clone(),
        author: row.author_type.clone(),
        author_id: row.author_id,
        text,
        private: row.private,
        purpose: row.purpose.clone(),
        status: row.status.clone(),
        external_id: row.external_id.clone(),
        error: row.error.clone(),
        failure: row.failure().map(Into::into),
        send_at: row.send_at.map(rfc3339),
        attachments: Vec::new(),
        quote_start: None,
        reply_to: None,
        recipients: Vec::new(),
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
    }
}

/// Why views could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum PresentError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Adds attachments and quote offsets to message views (one query each for a whole page).
pub async fn with_details(db: &crate::store::Db, views: &mut [MessageView], key: &DataKey) -> Result<(), PresentError> {
    let ids: Vec<uuid::Uuid> = views.iter().map(|v| v.id).collect();
    let attachments = crate::store::attachments::for_messages(db, &ids).await?;
    let quotes = crate::store::attachments::quotes_for(db, &ids).await?;
    let replies = crate::store::messages::quoted_for(db, &ids).await?;
    // Only outbound mail has further recipients.
    let outbound: Vec<uuid::Uuid> = views.iter().filter(|v| v.direction == "out" && !v.private).map(|v| v.id).collect();
    let recipients = crate::store::participants::recipients_of(db, &outbound).await?;
    for view in views.iter_mut() {
        for r in recipients.iter().filter(|r| r.message_id == view.id) {
            view.recipients.push(recipient(r, key)?);
        }
        for a in attachments.iter().filter(|a| a.message_id == view.id) {
            view.attachments.push(attachment(a, key)?);
        }
        view.quote_start = quotes.iter().find(|(id, _)| *id == view.id).map(|(_, q)| *q as usize);
        view.reply_to = replies.iter().find(|(id, _)| *id == view.id).map(|(_, q)| *q);
    }
    Ok(())
}

pub fn recipient(r: &crate::store::participants::RecipientRow, key: &DataKey) -> Result<crate::domain::views::RecipientView, CryptoError> {
    Ok(crate::domain::views::RecipientView {
        role: r.role.clone(),
        kind: omnibridge_channel::AddressKind::Email.as_str(),
        address: key.open(fields::RECIPIENT_ADDRESS, r.id, &r.address)?,
        status: r.status.clone(),
        reason: r.reason.clone(),
    })
}

pub fn participant(p: &crate::store::participants::ParticipantRow, key: &DataKey) -> Result<crate::domain::views::ParticipantView, CryptoError> {
    Ok(crate::domain::views::ParticipantView {
        id: p.id,
        kind: omnibridge_channel::AddressKind::Email.as_str(),
        address: key.open(fields::PARTICIPANT_ADDRESS, p.id, &p.address)?,
        source: p.source.clone(),
        created_at: rfc3339(p.created_at),
    })
}

pub fn attachment(a: &crate::store::attachments::AttachmentMeta, key: &DataKey) -> Result<crate::domain::views::AttachmentView, CryptoError> {
    Ok(crate::domain::views::AttachmentView {
        id: a.id,
        filename: key.open_opt(fields::ATTACHMENT_FILENAME, a.id, a.filename.as_deref())?,
        content_type: a.content_type.clone(),
        size: a.size,
        stored: a.has_data,
    })
}

pub fn conversation(row: &ConversationRow) -> ConversationView {
    ConversationView {
        id: row.id,
        contact_id: row.contact_id,
        channel_id: row.channel_id,
        status: row.status.clone(),
        assignee_id: row.assignee_id,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        last_message_at: rfc3339(row.last_message_at),
        labels: None,
        custom_attributes: None,
    }
}

/// Identity addresses are sealed against their contact's id (the identity's own id is assigned by
/// the insert).
pub fn identity(row: &IdentityRow, key: &DataKey) -> Result<IdentityView, CryptoError> {
    Ok(IdentityView {
        id: row.id,
        kind: row.kind.clone(),
        address: key.open(fields::IDENTITY_ADDRESS, row.contact_id, &row.address)?,
        status: row.status.clone(),
        created_at: rfc3339(row.created_at),
    })
}

pub fn contact(row: &ContactRow, identities: &[IdentityRow], key: &DataKey) -> Result<ContactView, CryptoError> {
    let id = row.id;
    Ok(ContactView {
        id,
        name: key.open_opt(fields::CONTACT_NAME, id, row.name.as_deref())?,
        email: key.open_opt(fields::CONTACT_EMAIL, id, row.email.as_deref())?,
        phone: key.open_opt(fields::CONTACT_PHONE, id, row.phone.as_deref())?,
        under_minimum_age: row.under_minimum_age,
        identities: identities.iter().map(|i| identity(i, key)).collect::<Result<_, _>>()?,
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        labels: None,
        custom_attributes: None,
    })
}

/// RFC 4180 quoting, and a leading `'` before what a spreadsheet would run as a formula.
pub fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) { format!("'{value}") } else { value.to_owned() };
    if value.contains([',', '"', '\r', '\n']) { format!("\"{}\"", value.replace('"', "\"\"")) } else { value }
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
    }
}

//! Mail as people write it: a conversation's other participants, and who a reply goes to.
//!
//! People copy colleagues into support mail. Every `To` and `Cc` address of the contact's mail
//! beyond the channel's own becomes a participant of the conversation, and so does any address
//! an operator copies in. An operator's reply goes to the contact with every participant in
//! copy (reply-all) unless the operator names the copies; blind copies go with one message
//! only. Each further recipient is written down with the message; the door decides for each
//! of them when the message leaves (their consent, a restriction, an undeliverable address,
//! the routing policy) and records a transfer for each.
//!
//! Addresses are sealed under the conversation's contact's key, as everything else in the
//! conversation; their blind index lets a participant's own rights requests find them.

use omnibridge_channel::{Address, AddressKind, ChannelKind};
use uuid::Uuid;

use crate::domain::views::{ParticipantView, RecipientView};
use crate::events::present::{self, PresentError, fields};
use crate::privacy::{CryptoError, DataKey, Keyring};
use crate::store::participants::{self, NewParticipant};
use crate::store::{Conn, StoreError, Tx};

/// The most participants one conversation keeps (a mail to a whole list names hundreds).
pub const MAX_PARTICIPANTS: usize = 50;
/// The most copies, and blind copies, one message may name.
pub const MAX_COPIES: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ParticipantError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// What an operator's request to add a participant came to.
pub enum Added {
    /// Added now.
    New(ParticipantView),
    /// There already.
    Existing(ParticipantView),
    /// The conversation has as many participants as it may keep.
    Full,
}

impl From<PresentError> for ParticipantError {
    fn from(err: PresentError) -> Self {
        match err {
            PresentError::Store(e) => Self::Store(e),
            PresentError::Crypto(e) => Self::Crypto(e),
        }
    }
}

/// Who an outbound mail goes to besides the contact.
#[derive(Debug, Clone, Default)]
pub struct Copies {
    /// The copies the operator named; `None` is reply-all (every participant).
    pub cc: Option<Vec<String>>,
    pub bcc: Vec<String>,
    /// A forward: this address instead of the contact.
    pub to: Option<String>,
}

/// The addresses of an inbound mail that become participants: its recipients other than the
/// sender and the channel's own addresses, normalized, each once.
pub fn named_in_mail(kind: &dyn ChannelKind, settings: &serde_json::Value, sender: &str, recipients: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for raw in recipients {
        let address = Address::new(AddressKind::Email, raw).value;
        if address == sender || !crate::domain::is_email(&address) || kind.own_address(settings, &address) || out.contains(&address) {
            continue;
        }
        out.push(address);
    }
    out.truncate(MAX_PARTICIPANTS);
    out
}

/// A participant row for `address` (normalized) in a conversation of the contact of `key`.
pub fn sealed(keyring: &Keyring, key: &DataKey, tenant_id: Uuid, conversation_id: Uuid, address: &str, source: &'static str) -> Result<NewParticipant, CryptoError> {
    let id = Uuid::now_v7();
    Ok(NewParticipant {
        id,
        tenant_id,
        conversation_id,
        address_index: keyring.blind_index(tenant_id, &Address::new(AddressKind::Email, address)),
        address: key.seal(fields::PARTICIPANT_ADDRESS, id, address)?,
        source,
    })
}

/// Adds addresses to a conversation (those it has already stay as they are), up to
/// [`MAX_PARTICIPANTS`]; returns how many were added.
pub async fn add(tx: &mut Tx, keyring: &Keyring, key: &DataKey, tenant_id: Uuid, conversation_id: Uuid, addresses: &[String], source: &'static str) -> Result<usize, ParticipantError> {
    if addresses.is_empty() {
        return Ok(0);
    }
    let room = MAX_PARTICIPANTS.saturating_sub(participants::count(&mut *tx, conversation_id).await? as usize);
    let rows = addresses.iter().take(room).map(|a| sealed(keyring, key, tenant_id, conversation_id, a, source)).collect::<Result<Vec<_>, _>>()?;
    Ok(participants::add_many(tx, &rows).await?.len())
}

/// An operator copies `address` (normalized) into a conversation from now on.
pub async fn add_by_operator(tx: &mut Tx, keyring: &Keyring, key: &DataKey, tenant_id: Uuid, conversation_id: Uuid, address: &str) -> Result<Added, ParticipantError> {
    let index = keyring.blind_index(tenant_id, &Address::new(AddressKind::Email, address));
    let existing = participants::for_conversation(&mut *tx, conversation_id).await?;
    if let Some(found) = existing.iter().find(|p| p.address_index == index) {
        return Ok(Added::Existing(present::participant(found, key)?));
    }
    if existing.len() >= MAX_PARTICIPANTS {
        return Ok(Added::Full);
    }
    let row = sealed(keyring, key, tenant_id, conversation_id, address, "operator")?;
    participants::add_many(&mut *tx, std::slice::from_ref(&row)).await?;
    let added = participants::for_conversation(&mut *tx, conversation_id).await?;
    let found = added.iter().find(|p| p.id == row.id).ok_or(ParticipantError::Store(StoreError::Sqlx(sqlx::Error::RowNotFound)))?;
    Ok(Added::New(present::participant(found, key)?))
}

/// A conversation's participants as the API shows them.
pub async fn list<'a>(conn: impl Into<Conn<'a>>, key: &DataKey, conversation_id: Uuid) -> Result<Vec<ParticipantView>, ParticipantError> {
    let rows = participants::for_conversation(conn, conversation_id).await?;
    Ok(rows.iter().map(|p| present::participant(p, key)).collect::<Result<_, _>>()?)
}

/// Writes down who an operator's mail goes to besides the contact: a forward's addressee, the
/// copies (every participant unless the operator named them; named ones join the
/// conversation), the blind copies. Returns them as the message view shows them.
pub async fn address_message(
    tx: &mut Tx,
    keyring: &Keyring,
    key: &DataKey,
    tenant_id: Uuid,
    conversation_id: Uuid,
    message_id: Uuid,
    copies: &Copies,
) -> Result<Vec<RecipientView>, ParticipantError> {
    let mut wanted: Vec<(&'static str, String)> = Vec::new();
    if let Some(to) = &copies.to {
        wanted.push(("to", to.clone()));
    }
    let cc = match &copies.cc {
        Some(named) => {
            add(tx, keyring, key, tenant_id, conversation_id, named, "operator").await?;
            named.clone()
        }
        // A forward goes to its addressee only.
        None if copies.to.is_some() => Vec::new(),
        None => list(&mut *tx, key, conversation_id).await?.into_iter().map(|p| p.address).collect(),
    };
    wanted.extend(cc.into_iter().map(|a| ("cc", a)));
    wanted.extend(copies.bcc.iter().map(|a| ("bcc", a.clone())));
    let mut seen: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut views = Vec::new();
    for (role, address) in wanted {
        if seen.contains(&address) {
            continue;
        }
        seen.push(address.clone());
        let id = Uuid::now_v7();
        let index = keyring.blind_index(tenant_id, &Address::new(AddressKind::Email, &address));
        rows.push((id, role, index, key.seal(fields::RECIPIENT_ADDRESS, id, &address)?));
        views.push(RecipientView { role: role.into(), kind: AddressKind::Email.as_str(), address, status: "pending".into(), reason: None });
    }
    participants::add_recipients(tx, tenant_id, message_id, &rows).await?;
    Ok(views)
}

/// Checks addresses an operator typed (`cc`, `bcc`): plain mail addresses, normalized, each
/// once, at most [`MAX_COPIES`]. The error names the entry.
pub fn valid_addresses(field: &str, list: &[String]) -> Result<Vec<String>, (String, String)> {
    if list.len() > MAX_COPIES {
        return Err((field.to_owned(), format!("at most {MAX_COPIES} addresses")));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let address = Address::new(AddressKind::Email, raw).value;
        if !crate::domain::is_email(&address) {
            return Err((format!("{field}[{i}]"), "must be a mail address such as ana@example.com".into()));
        }
        if !out.contains(&address) {
            out.push(address);
        }
    }
    Ok(out)
}

//! Finding a contact by what an operator types — an email address, a phone number, part of a
//! name — without storing any of it in the clear. Addresses are found through their keyed
//! blind index (exact, normalized); names through the keyed search index (words and their
//! beginnings, over all contacts), topped up by opening the names of the most recent contacts,
//! which also finds a name by its middle and a contact the index has not reached yet.

use omnibridge_channel::{Address, AddressKind};
use uuid::Uuid;

use crate::events::present::fields;
use crate::privacy::Keyring;
use crate::search::{Found, Search, SearchError};
use crate::store::search::{SearchFilter, Target};
use crate::store::{self, Db, StoreError};

/// How many of the most recent contacts a name search looks through.
const NAME_SCAN: usize = 2000;

/// The contacts `query` names, best first, at most `limit`.
pub async fn search(db: &Db, keyring: &Keyring, tenant_id: Uuid, query: &str, limit: usize) -> Result<Vec<Uuid>, StoreError> {
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let digits = query.chars().filter(char::is_ascii_digit).count();
    let phone_like = digits >= 6 && query.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let kinds: &[AddressKind] = if query.contains('@') {
        &[AddressKind::Email]
    } else if phone_like {
        &[AddressKind::Phone, AddressKind::Whatsapp]
    } else {
        &[]
    };
    if !kinds.is_empty() {
        let indexes: Vec<(AddressKind, Vec<u8>)> = kinds.iter().map(|k| (*k, keyring.blind_index(tenant_id, &Address::new(*k, query)))).collect();
        let keys: Vec<(Uuid, &str, &[u8])> = indexes.iter().map(|(k, i)| (tenant_id, k.as_str(), i.as_slice())).collect();
        // A contact may hold the number as a phone and as WhatsApp: each contact once, in order.
        let mut found: Vec<Uuid> = Vec::new();
        for row in store::contacts::identities_by_indexes(db, &keys, false).await? {
            if !found.contains(&row.contact_id) && found.len() < limit {
                found.push(row.contact_id);
            }
        }
        return Ok(found);
    }
    let mut found = indexed_names(db, keyring, tenant_id, query, limit).await?;
    if found.len() >= limit {
        return Ok(found);
    }
    let needle = query.to_lowercase();
    for row in store::contacts::recent(db, tenant_id, NAME_SCAN).await? {
        if found.contains(&row.id) {
            continue;
        }
        let Some(sealed) = row.name.as_deref() else { continue };
        let Ok(key) = keyring.data_key(db, tenant_id, row.id).await else { continue };
        let Ok(name) = key.open(fields::CONTACT_NAME, row.id, sealed) else { continue };
        if name.to_lowercase().contains(&needle) {
            found.push(row.id);
            if found.len() >= limit {
                break;
            }
        }
    }
    Ok(found)
}

/// Contacts whose name (or other indexed detail) has every word of `query`, newest first.
/// A query the index cannot take (one letter, too many words) finds nothing here.
async fn indexed_names(db: &Db, keyring: &Keyring, tenant_id: Uuid, query: &str, limit: usize) -> Result<Vec<Uuid>, StoreError> {
    let search = Search { tenant_id, text: query, target: Target::Contacts, filter: SearchFilter::default(), cursor: None, limit };
    match crate::search::run(db, keyring, search).await {
        Ok(results) => Ok(results.items.into_iter().filter_map(|f| if let Found::Contact { contact, .. } = f { Some(contact.id) } else { None }).collect()),
        Err(SearchError::Store(e)) => Err(e),
        Err(SearchError::Query(_) | SearchError::Key(_) | SearchError::Crypto(_)) => Ok(Vec::new()),
    }
}

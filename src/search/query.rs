//! Running a search: what was typed becomes hashed terms, the index gives candidate documents
//! newest first (read from the rarest term, the others checked per entry), the candidates'
//! text is opened with their contacts' keys as any read does, checked where the index cannot
//! decide (long words, phrases) and marked up for display.

use std::collections::HashSet;

use uuid::Uuid;

use super::terms::{self, Fragment, Query};
use crate::domain::views::{ContactView, ConversationView, MessageView};
use crate::events::present::{self, fields};
use crate::privacy::{CryptoError, KeyError, Keyring};
use crate::store::search::{self as index_store, Hit, SearchFilter, Target};
use crate::store::{self, Db, StoreError};

/// Above this many entries a term counts as common (only the order of terms depends on it).
const COUNT_CAP: i64 = 20_000;
/// Candidate rounds before a page is returned short (with a cursor to go on).
const ROUNDS: usize = 6;
/// Characters of a highlighted excerpt.
const EXCERPT: usize = 160;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("{0}")]
    Query(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// One search.
pub struct Search<'a> {
    pub tenant_id: Uuid,
    pub text: &'a str,
    pub target: Target,
    pub filter: SearchFilter,
    /// The document number the previous page ended before.
    pub cursor: Option<i64>,
    pub limit: usize,
}

/// One search result: a message, a conversation or a contact, with an excerpt around the first
/// match, in order, its matching words marked.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schema(as = SearchResult)]
pub enum Found {
    Message { message: Box<MessageView>, highlight: Vec<Fragment> },
    Conversation {
        conversation: ConversationView,
        /// The newest matching message (none when only the subject matched).
        message_id: Option<Uuid>,
        /// Where it matched: `text` or `subject`.
        #[schema(value_type = String, pattern = "^(text|subject)$")]
        field: &'static str,
        highlight: Vec<Fragment>,
    },
    Contact { contact: ContactView, highlight: Vec<Fragment> },
}

pub struct Results {
    pub items: Vec<Found>,
    pub next_cursor: Option<i64>,
}

/// Runs a search.
pub async fn run(db: &Db, keyring: &Keyring, search: Search<'_>) -> Result<Results, SearchError> {
    let query = Query::parse(search.text);
    let lookups: Vec<&str> = match (&search.target, &query.phone) {
        (Target::Contacts, Some(phone)) => vec![phone.as_str()],
        _ => query.terms.iter().map(|t| t.lookup.as_str()).collect(),
    };
    if lookups.is_empty() {
        return Err(SearchError::Query("type at least two letters or digits (one CJK character)"));
    }
    if lookups.len() > 12 {
        return Err(SearchError::Query("too many words: at most 12"));
    }
    let hasher = keyring.search_hasher(search.tenant_id);
    let mut hashed: Vec<(i64, i64)> = Vec::with_capacity(lookups.len());
    for lookup in &lookups {
        let term = if search.target == Target::Contacts { hasher.contact_term(lookup) } else { hasher.term(lookup) };
        let count = if lookups.len() > 1 { index_store::count_capped(db, term, COUNT_CAP).await? } else { 0 };
        hashed.push((count, term));
    }
    hashed.sort();
    let terms: Vec<i64> = hashed.into_iter().map(|(_, t)| t).collect();
    let phone_only = search.target == Target::Contacts && query.phone.is_some();

    let mut items = Vec::new();
    let mut seen_conversations: HashSet<Uuid> = HashSet::new();
    let mut cursor = search.cursor;
    let batch = search.limit * 2 + 1;
    let mut exhausted = false;
    for _ in 0..ROUNDS {
        let hits = index_store::matching(db, search.tenant_id, search.target, &terms, &search.filter, cursor, batch).await?;
        exhausted = hits.len() < batch;
        let hits = match search.target {
            Target::Conversations => fresh_conversations(db, &terms, search.cursor, hits, &mut seen_conversations).await?,
            _ => hits,
        };
        let mut last = None;
        for hit in &hits {
            last = Some(hit.doc);
            if let Some(found) = present_hit(db, keyring, search.tenant_id, search.target, &query, phone_only, hit).await? {
                items.push(found);
                if items.len() == search.limit {
                    break;
                }
            }
        }
        if let Some(last) = last {
            cursor = Some(last);
        }
        if items.len() == search.limit || exhausted {
            break;
        }
    }
    let next_cursor = if items.len() == search.limit || !exhausted { cursor } else { None };
    Ok(Results { items, next_cursor })
}

/// Conversation hits whose conversation shows for the first time: not earlier on this page
/// and not on an earlier page (its newest match is above the request's cursor).
async fn fresh_conversations(db: &Db, terms: &[i64], request_cursor: Option<i64>, hits: Vec<Hit>, seen: &mut HashSet<Uuid>) -> Result<Vec<Hit>, StoreError> {
    let mut fresh: Vec<Hit> = Vec::new();
    for hit in hits {
        let Some(id) = hit.conversation_id else { continue };
        if seen.insert(id) {
            fresh.push(hit);
        }
    }
    let Some(cursor) = request_cursor else { return Ok(fresh) };
    let ids: Vec<Uuid> = fresh.iter().filter_map(|h| h.conversation_id).collect();
    let shown: HashSet<Uuid> = index_store::with_match_from(db, &ids, terms, cursor).await?.into_iter().collect();
    Ok(fresh.into_iter().filter(|h| h.conversation_id.is_none_or(|c| !shown.contains(&c))).collect())
}

/// A hit opened, checked and presented; `None` when the opened text does not really match or
/// its key is gone.
async fn present_hit(db: &Db, keyring: &Keyring, tenant_id: Uuid, target: Target, query: &Query, phone_only: bool, hit: &Hit) -> Result<Option<Found>, SearchError> {
    let key = match keyring.data_key(db, tenant_id, hit.contact_id).await {
        Ok(key) => key,
        Err(KeyError::Crypto(CryptoError::KeyDestroyed)) | Err(KeyError::Missing(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match (hit.kind.as_str(), hit.message_id, hit.conversation_id) {
        ("message", Some(message_id), _) => {
            let Some(row) = store::messages::get(db, tenant_id, message_id).await? else { return Ok(None) };
            let text = key.open(fields::MESSAGE_TEXT, row.id, &row.text)?;
            if !query.confirms(&text) {
                return Ok(None);
            }
            let highlight = terms::highlight(&text, query, EXCERPT);
            if target == Target::Conversations {
                let Some(conversation) = store::conversations::get(db, tenant_id, row.conversation_id).await? else { return Ok(None) };
                return Ok(Some(Found::Conversation { conversation: present::conversation(&conversation), message_id: Some(row.id), field: "text", highlight }));
            }
            let mut views = vec![present::message_with_text(&row, text)];
            present::with_details(db, &mut views, &key).await.map_err(|e| match e {
                present::PresentError::Store(e) => SearchError::Store(e),
                present::PresentError::Crypto(e) => SearchError::Crypto(e),
            })?;
            let Some(message) = views.pop() else { return Ok(None) };
            Ok(Some(Found::Message { message: Box::new(message), highlight }))
        }
        ("subject", _, Some(conversation_id)) => {
            let Some(row) = store::conversations::get(db, tenant_id, conversation_id).await? else { return Ok(None) };
            let Some(subject) = index_store::subjects(db, &[conversation_id]).await?.pop() else { return Ok(None) };
            let subject = key.open(fields::CONVERSATION_SUBJECT, conversation_id, &subject.subject)?;
            if !query.confirms(&subject) {
                return Ok(None);
            }
            Ok(Some(Found::Conversation { conversation: present::conversation(&row), message_id: None, field: "subject", highlight: terms::highlight(&subject, query, EXCERPT) }))
        }
        ("contact", _, _) => {
            let (contacts, identities) = store::contacts::with_identities(db, tenant_id, &[hit.contact_id]).await?;
            let Some(row) = contacts.first() else { return Ok(None) };
            let contact = present::contact(row, &identities, &key)?;
            let mut shown: Vec<String> = [&contact.name, &contact.email, &contact.phone].into_iter().flatten().cloned().collect();
            for identity in &contact.identities {
                if !shown.contains(&identity.address) {
                    shown.push(identity.address.clone());
                }
            }
            let text = shown.join(" · ");
            if !phone_only && !query.confirms(&text) {
                return Ok(None);
            }
            Ok(Some(Found::Contact { highlight: terms::highlight(&text, query, EXCERPT), contact }))
        }
        _ => Ok(None),
    }
}

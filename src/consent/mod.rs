//! Consent: what each person allowed on each medium, as a tamper-evident ledger.
//!
//! Every change is an event appended to `consent_events` and never altered. Each tenant's events
//! form one hash chain: an event's hash is SHA-256 over the previous hash and the event's
//! canonical bytes, so an edited, inserted or removed row breaks the chain. The current state of
//! an address is derived from its events, newest last; the egress door asks [`refusal`] before
//! every send.
//!
//! Events are keyed by medium (`sms`, `email`, `telegram`, `webchat`: whichever provider carries
//! it) and by the address's blind index, which survives the contact's erasure, so an opt-out
//! outlives "forget me".

use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::consent::{self as rows, ConsentRow};
use crate::store::{Conn, StoreResult, Tx, now_micros};

/// Purposes a message is sent for.
pub mod purposes {
    /// Answering the contact: replies in a conversation they started.
    pub const SERVICE: &str = "service";
    pub const MARKETING: &str = "marketing";
    /// An event that covers every purpose (an SMS STOP).
    pub const ALL: &str = "*";
}

/// What a consent event does.
pub mod actions {
    pub const GRANT: &str = "grant";
    pub const WITHDRAW: &str = "withdraw";
    pub const OBJECT: &str = "object";
    pub const RESTRICT: &str = "restrict";
}

/// How a consent event was collected.
pub mod methods {
    pub const SMS_KEYWORD: &str = "sms_keyword";
    pub const PROVIDER_SIGNAL: &str = "provider_signal";
    pub const EMAIL_UNSUBSCRIBE: &str = "email_unsubscribe";
    pub const TELEGRAM_COMMAND: &str = "telegram_command";
    /// A STOP written on a messenger (WhatsApp, Messenger, Instagram).
    pub const MESSENGER_KEYWORD: &str = "messenger_keyword";
    pub const WIDGET_CHECKBOX: &str = "widget_checkbox";
    pub const API: &str = "api";
    pub const OPERATOR: &str = "operator";
    /// A data-subject request (Art. 21 objection) carried out by the hub.
    pub const PRIVACY_REQUEST: &str = "privacy_request";

    /// The ledger's spelling of a method an adapter names, if it is one.
    pub fn known(method: &str) -> Option<&'static str> {
        [SMS_KEYWORD, PROVIDER_SIGNAL, EMAIL_UNSUBSCRIBE, TELEGRAM_COMMAND, MESSENGER_KEYWORD, WIDGET_CHECKBOX, API, OPERATOR].into_iter().find(|m| *m == method)
    }
}

/// The lawful basis an event rests on (GDPR Art. 6(1)).
pub mod legal_bases {
    pub const CONSENT: &str = "consent";
    pub const CONTRACT: &str = "contract";
    pub const LEGITIMATE_INTEREST: &str = "legitimate_interest";
    pub const LEGAL_OBLIGATION: &str = "legal_obligation";
}

/// The hash before a tenant's first event.
pub const GENESIS: [u8; 32] = [0; 32];

/// A consent event to append.
#[derive(Debug, Clone)]
pub struct NewConsent {
    /// Chosen by the caller, so `address` can be sealed bound to the row.
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub contact_id: Option<Uuid>,
    /// The medium: `sms`, `email`, `telegram`, `webchat`.
    pub channel: &'static str,
    pub address_index: Vec<u8>,
    /// The address, sealed under the contact's key (`consent.address`, bound to `id`).
    pub address: Option<Vec<u8>>,
    /// Which of the tenant's senders it concerns (a number, a Messaging Service), if one.
    pub sender_scope: Option<String>,
    /// One of the tenant's purposes (`consent.purposes`), or `*`.
    pub purpose: String,
    pub action: &'static str,
    pub legal_basis: &'static str,
    pub method: &'static str,
    /// Ids that prove it (the inbound message, the provider's message and error code); never
    /// free text from the person.
    pub evidence: serde_json::Value,
    /// `contact` or the operator, key or system component that recorded it.
    pub actor: String,
    pub notice_url: Option<String>,
    pub notice_version: Option<String>,
}

impl NewConsent {
    /// The provider says the recipient opted out (an enforced SMS STOP, a blocked bot, a
    /// WhatsApp "stop promotions"): a withdrawal for `purpose` on the sending channel, with the
    /// failed message and the provider's error as evidence.
    #[allow(clippy::too_many_arguments)]
    pub fn provider_withdrawal(
        keyring: &crate::privacy::Keyring,
        key: &crate::privacy::DataKey,
        tenant_id: Uuid,
        contact_id: Uuid,
        channel_id: Uuid,
        medium: &'static str,
        to: &omnibridge_channel::Address,
        purpose: &str,
        message_id: Uuid,
        provider_error: &str,
    ) -> Result<Self, crate::privacy::CryptoError> {
        let id = Uuid::now_v7();
        Ok(Self {
            id,
            tenant_id,
            contact_id: Some(contact_id),
            channel: medium,
            address_index: keyring.blind_index(tenant_id, to),
            address: Some(key.seal(crate::events::present::fields::CONSENT_ADDRESS, id, &to.value)?),
            sender_scope: Some(format!("channel:{channel_id}")),
            purpose: purpose.into(),
            action: actions::WITHDRAW,
            legal_basis: legal_bases::CONSENT,
            method: methods::PROVIDER_SIGNAL,
            evidence: json!({"message_id": message_id, "provider_error": provider_error}),
            actor: "provider".into(),
            notice_url: None,
            notice_version: None,
        })
    }
}

/// An event as the API and webhooks show it (the address opened with the contact's key).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
#[schema(as = ConsentEvent)]
pub struct ConsentView {
    pub id: Uuid,
    pub seq: i64,
    pub contact_id: Option<Uuid>,
    pub channel: String,
    pub address: Option<String>,
    pub purpose: String,
    pub action: String,
    pub legal_basis: String,
    pub method: String,
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    pub notice_url: Option<String>,
    pub notice_version: Option<String>,
    pub actor: String,
    pub created_at: String,
}

pub fn view(row: &ConsentRow, key: Option<&crate::privacy::DataKey>) -> ConsentView {
    let address = key.and_then(|k| k.open_opt(crate::events::present::fields::CONSENT_ADDRESS, row.id, row.address.as_deref()).ok().flatten());
    ConsentView {
        id: row.id,
        seq: row.seq,
        contact_id: row.contact_id,
        channel: row.channel.clone(),
        address,
        purpose: row.purpose.clone(),
        action: row.action.clone(),
        legal_basis: row.legal_basis.clone(),
        method: row.method.clone(),
        evidence: serde_json::from_str(&row.evidence).unwrap_or_default(),
        notice_url: row.notice_url.clone(),
        notice_version: row.notice_version.clone(),
        actor: row.actor.clone(),
        created_at: crate::domain::rfc3339(row.created_at),
    }
}

/// `consent.changed` for each appended event.
pub fn changed_events(rows: &[ConsentRow], key: Option<&crate::privacy::DataKey>) -> Vec<crate::domain::events::Event> {
    rows.iter()
        .map(|r| crate::domain::events::Event::new(r.tenant_id, crate::domain::events::CONSENT_CHANGED, r.contact_id, &view(r, key)))
        .collect()
}

/// The bytes an event's hash covers: every column but the hash itself, in a fixed order.
pub fn canonical_bytes(r: &ConsentRow) -> Vec<u8> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    json!([
        r.id,
        r.tenant_id,
        r.seq,
        r.contact_id,
        r.channel,
        hex(&r.address_index),
        r.address.as_deref().map(hex),
        r.sender_scope,
        r.purpose,
        r.action,
        r.legal_basis,
        r.method,
        r.evidence,
        r.notice_url,
        r.notice_version,
        r.actor,
        r.created_at,
    ])
    .to_string()
    .into_bytes()
}

/// SHA-256(previous hash ‖ canonical bytes).
pub fn chain_hash(prev_hash: &[u8], row: &ConsentRow) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    hasher.update(canonical_bytes(row));
    hasher.finalize().to_vec()
}

/// Appends events in the caller's transaction, chaining each onto its tenant's chain.
pub async fn append(tx: &mut Tx, events: &[NewConsent]) -> StoreResult<Vec<ConsentRow>> {
    let mut written = Vec::with_capacity(events.len());
    let mut tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id).collect();
    tenants.sort();
    tenants.dedup();
    let now = now_micros();
    for tenant_id in tenants {
        let (mut seq, mut prev_hash) = rows::lock_head(tx, tenant_id, &GENESIS).await?;
        for e in events.iter().filter(|e| e.tenant_id == tenant_id) {
            seq += 1;
            let mut row = ConsentRow {
                id: e.id,
                tenant_id,
                seq,
                contact_id: e.contact_id,
                channel: e.channel.to_owned(),
                address_index: e.address_index.clone(),
                address: e.address.clone(),
                sender_scope: e.sender_scope.clone(),
                purpose: e.purpose.clone(),
                action: e.action.to_owned(),
                legal_basis: e.legal_basis.to_owned(),
                method: e.method.to_owned(),
                evidence: e.evidence.to_string(),
                notice_url: e.notice_url.clone(),
                notice_version: e.notice_version.clone(),
                actor: e.actor.clone(),
                created_at: now,
                prev_hash: prev_hash.clone(),
                hash: Vec::new(),
            };
            row.hash = chain_hash(&prev_hash, &row);
            rows::insert(tx, &row).await?;
            prev_hash = row.hash.clone();
            written.push(row);
        }
        rows::set_head(tx, tenant_id, seq, &prev_hash).await?;
    }
    Ok(written)
}

/// Appends events about one contact (sealed with their `key`) and their `consent.changed` in
/// the caller's transaction: the rows written, and the events to publish once it commits.
pub async fn record(
    tx: &mut Tx,
    key: &crate::privacy::DataKey,
    events: &[NewConsent],
) -> Result<(Vec<ConsentRow>, Vec<crate::domain::events::Event>), crate::events::outbox::AppendError> {
    let rows = append(tx, events).await?;
    let mut changed = changed_events(&rows, Some(key));
    for event in &mut changed {
        crate::events::outbox::append(&mut *tx, Some(key), event).await?;
    }
    Ok((rows, changed))
}

/// Why nothing may be sent for `purpose` to an address with this history, if it may not.
///
/// An event applies to its own purpose, and an event for every purpose (`*`) to all of them;
/// the newest applicable event decides. A withdrawal, objection or restriction blocks; a grant
/// allows. With no applicable event, marketing is refused (it needs an explicit grant) and
/// every other purpose is allowed (answering someone who wrote to us).
pub fn decide(history: &[ConsentRow], purpose: &str) -> Option<String> {
    let Some(latest) = history.iter().rev().find(|e| e.purpose == purpose || e.purpose == purposes::ALL) else {
        return (purpose == purposes::MARKETING).then(|| "consent_missing: marketing needs the recipient's explicit consent, and there is none".to_owned());
    };
    match latest.action.as_str() {
        actions::GRANT => None,
        action => {
            let scope = if latest.purpose == purposes::ALL { "every purpose".to_owned() } else { format!("{} messages", latest.purpose) };
            let how = match latest.method.as_str() {
                methods::SMS_KEYWORD => " by SMS keyword",
                methods::PROVIDER_SIGNAL => " (reported by the provider)",
                _ => "",
            };
            let done = match action {
                actions::OBJECT => "objected to",
                actions::RESTRICT => "restricted",
                _ => "withdrew consent for",
            };
            Some(format!("consent_missing: the recipient {done} {scope} on {}{how}", latest.channel))
        }
    }
}

/// The first event that breaks a tenant's chain, if one does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub seq: i64,
    pub id: Option<Uuid>,
    pub reason: String,
}

/// A tenant's chain checked event by event, in `seq` order, so a long chain never has to be in
/// memory at once: every sequence number present, every `prev_hash` the hash before it, every
/// `hash` recomputed from the row; then the head. An edited row, an inserted or removed one, or
/// lost events at the end all show.
pub struct ChainCheck {
    prev: Vec<u8>,
    count: i64,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self { prev: GENESIS.to_vec(), count: 0 }
    }
}

impl ChainCheck {
    pub fn feed(&mut self, e: &ConsentRow) -> Result<(), Break> {
        let expected_seq = self.count + 1;
        let broken = |reason: &str| Break { seq: e.seq, id: Some(e.id), reason: reason.to_owned() };
        if e.seq != expected_seq {
            return Err(Break { seq: expected_seq, id: Some(e.id), reason: format!("event {expected_seq} is missing (found {} instead)", e.seq) });
        }
        if e.prev_hash != self.prev {
            return Err(broken("its prev_hash is not the previous event's hash (an event before it was changed or removed)"));
        }
        if chain_hash(&self.prev, e) != e.hash {
            return Err(broken("its contents do not match its hash (the event was edited)"));
        }
        self.prev = e.hash.clone();
        self.count = expected_seq;
        Ok(())
    }

    pub fn finish(self, head: Option<(i64, Vec<u8>)>) -> Result<usize, Break> {
        let count = self.count;
        match head {
            Some((seq, hash)) if seq != count || hash != self.prev => {
                Err(Break { seq: count + 1, id: None, reason: format!("the chain ends at event {count} but its head says {seq}: events were removed") })
            }
            None if count > 0 => Err(Break { seq: 1, id: None, reason: "events exist without a chain head".into() }),
            _ => Ok(count as usize),
        }
    }
}

/// Checks a tenant's whole chain (events in `seq` order) against its head.
pub fn verify_chain(events: &[ConsentRow], head: Option<(i64, Vec<u8>)>) -> Result<usize, Break> {
    let mut check = ChainCheck::default();
    for e in events {
        check.feed(e)?;
    }
    check.finish(head)
}

/// Verifies one tenant's chain in the database, a page of events at a time.
pub async fn verify(db: &crate::store::Db, tenant_id: Uuid) -> StoreResult<Result<usize, Break>> {
    const PAGE: usize = 5_000;
    let head = rows::head(db, tenant_id).await?;
    let mut check = ChainCheck::default();
    let mut after = 0;
    loop {
        let page = rows::for_tenant_after(db, tenant_id, after, PAGE).await?;
        for e in &page {
            if let Err(broken) = check.feed(e) {
                return Ok(Err(broken));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = last.seq,
            _ => break,
        }
    }
    Ok(check.finish(head))
}

/// Why marketing to this contact is refused whatever they consented to: an operator flagged
/// them as under the minimum age.
pub async fn age_refusal<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid, purpose: &str, minimum_age: u8) -> StoreResult<Option<String>> {
    if purpose != purposes::MARKETING || !crate::store::contacts::is_under_minimum_age(conn, contact_id).await? {
        return Ok(None);
    }
    Ok(Some(format!("consent_missing: the contact is under the minimum age for marketing ({minimum_age})")))
}

/// Why the door must refuse a send for `purpose` to this address on this medium, if it must.
pub async fn refusal<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, channel: &str, address_index: &[u8], purpose: &str) -> StoreResult<Option<String>> {
    let history = rows::for_address(conn, tenant_id, channel, address_index).await?;
    Ok(decide(&history, purpose))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, purpose: &str, action: &str) -> ConsentRow {
        ConsentRow {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            seq,
            contact_id: None,
            channel: "sms".into(),
            address_index: vec![1],
            address: None,
            sender_scope: None,
            purpose: purpose.into(),
            action: action.into(),
            legal_basis: "consent".into(),
            method: methods::SMS_KEYWORD.into(),
            evidence: "{}".into(),
            notice_url: None,
            notice_version: None,
            actor: "contact".into(),
            created_at: 0,
            prev_hash: GENESIS.to_vec(),
            hash: Vec::new(),
        }
    }

    fn chain(events: Vec<ConsentRow>) -> Vec<ConsentRow> {
        let mut prev = GENESIS.to_vec();
        events
            .into_iter()
            .map(|mut e| {
                e.prev_hash = prev.clone();
                e.hash = chain_hash(&prev, &e);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn verification_finds_the_first_broken_event() {
        let events = chain(vec![event(1, purposes::ALL, actions::WITHDRAW), event(2, purposes::SERVICE, actions::GRANT), event(3, purposes::MARKETING, actions::GRANT)]);
        let head = Some((3, events[2].hash.clone()));
        assert_eq!(verify_chain(&events, head.clone()), Ok(3));
        let mut edited = events.clone();
        edited[1].action = actions::WITHDRAW.into();
        assert_eq!(verify_chain(&edited, head.clone()).map_err(|b| b.seq), Err(2));
        let removed = vec![events[0].clone(), events[2].clone()];
        assert_eq!(verify_chain(&removed, head.clone()).map_err(|b| b.seq), Err(2));
        assert_eq!(verify_chain(&events[..2], head).map_err(|b| b.seq), Err(3), "a removed last event shows against the head");
    }

    #[test]
    fn marketing_needs_a_grant_and_service_does_not() {
        assert!(decide(&[], purposes::MARKETING).is_some_and(|r| r.starts_with("consent_missing")));
        assert_eq!(decide(&[], "transcripts"), None);
        assert_eq!(decide(&[event(1, purposes::MARKETING, actions::GRANT)], purposes::MARKETING), None);
        assert!(decide(&[event(1, purposes::ALL, actions::RESTRICT)], purposes::SERVICE).is_some_and(|r| r.contains("restricted")));
    }

    /// The reference model: replay the whole history, purpose by purpose.
    fn reference(history: &[(usize, usize)], purpose: usize) -> bool {
        const PURPOSES: [&str; 3] = [purposes::SERVICE, purposes::MARKETING, purposes::ALL];
        const ACTIONS: [&str; 4] = [actions::GRANT, actions::WITHDRAW, actions::OBJECT, actions::RESTRICT];
        let mut allowed = PURPOSES[purpose] != purposes::MARKETING;
        for &(p, a) in history {
            if PURPOSES[p] == PURPOSES[purpose] || PURPOSES[p] == purposes::ALL {
                allowed = ACTIONS[a] == actions::GRANT;
            }
        }
        allowed
    }

    proptest::proptest! {
        #[test]
        fn enforcement_equals_replaying_the_history(history in proptest::collection::vec((0usize..3, 0usize..4), 0..30), purpose in 0usize..2) {
            const PURPOSES: [&str; 3] = [purposes::SERVICE, purposes::MARKETING, purposes::ALL];
            const ACTIONS: [&str; 4] = [actions::GRANT, actions::WITHDRAW, actions::OBJECT, actions::RESTRICT];
            let rows: Vec<ConsentRow> = history.iter().enumerate().map(|(i, &(p, a))| event(i as i64 + 1, PURPOSES[p], ACTIONS[a])).collect();
            proptest::prop_assert_eq!(decide(&rows, PURPOSES[purpose]).is_none(), reference(&history, purpose));
        }
    }

    #[test]
    fn stop_blocks_everything_and_start_reopens_service_only() {
        let stop = event(1, purposes::ALL, actions::WITHDRAW);
        assert!(decide(std::slice::from_ref(&stop), purposes::SERVICE).is_some_and(|r| r.starts_with("consent_missing")));
        assert!(decide(std::slice::from_ref(&stop), purposes::MARKETING).is_some());
        let history = [stop, event(2, purposes::SERVICE, actions::GRANT)];
        assert_eq!(decide(&history, purposes::SERVICE), None);
        assert!(decide(&history, purposes::MARKETING).is_some());
    }

    #[test]
    fn no_history_allows_and_the_newest_applicable_event_decides() {
        assert_eq!(decide(&[], purposes::SERVICE), None);
        let history = [event(1, purposes::MARKETING, actions::GRANT), event(2, purposes::SERVICE, actions::OBJECT)];
        assert_eq!(decide(&history, purposes::MARKETING), None);
        assert!(decide(&history, purposes::SERVICE).is_some_and(|r| r.contains("objected")));
    }

    #[test]
    fn the_hash_covers_every_column() {
        let row = event(1, purposes::ALL, actions::WITHDRAW);
        let hash = chain_hash(&GENESIS, &row);
        let mut edited = row.clone();
        edited.action = actions::GRANT.into();
        assert_ne!(chain_hash(&GENESIS, &edited), hash);
        let mut moved = row.clone();
        moved.seq = 2;
        assert_ne!(chain_hash(&GENESIS, &moved), hash);
        assert_ne!(chain_hash(&[1; 32], &row), hash, "the previous hash is part of it");
    }
}

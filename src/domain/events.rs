//! Events: what happened, as integrations and operator consoles receive it. Each event is
//! written to the outbox in the transaction that made it true.

use serde::Serialize;
use uuid::Uuid;

pub const CONVERSATION_CREATED: &str = "conversation.created";
pub const CONVERSATION_UPDATED: &str = "conversation.updated";
pub const MESSAGE_RECEIVED: &str = "message.received";
/// An inbound message was edited by its author (Telegram): the new text.
pub const MESSAGE_UPDATED: &str = "message.updated";
pub const MESSAGE_SENT: &str = "message.sent";
pub const MESSAGE_DELIVERED: &str = "message.delivered";
pub const MESSAGE_FAILED: &str = "message.failed";
pub const CONTACT_CREATED: &str = "contact.created";
pub const CONTACT_UPDATED: &str = "contact.updated";
/// A consent event was recorded (a grant, a withdrawal, an SMS STOP, an unsubscribe).
pub const CONSENT_CHANGED: &str = "consent.changed";
/// A contact's data was erased (Art. 17): only its id remains, in this event.
pub const CONTACT_ERASED: &str = "contact.erased";
/// Two contacts were merged into one: identities and conversations moved (`data.moved`).
pub const CONTACT_MERGED: &str = "contact.merged";
/// A merge was undone: what moved went back to the other contact.
pub const CONTACT_UNMERGED: &str = "contact.unmerged";
/// A contact's processing was restricted (Art. 18) or the restriction lifted (`data.restricted`).
pub const CONTACT_RESTRICTED: &str = "contact.restricted";
/// A data-subject request was carried out (or failed).
pub const PRIVACY_REQUEST_COMPLETED: &str = "privacy_request.completed";
/// The subprocessor registry changed: an addition announced, one in effect, updated, retired.
pub const SUBPROCESSORS_CHANGED: &str = "subprocessors.changed";
/// A label was defined, renamed or recoloured, or deleted (taken off everything): `data` is the
/// label, so integrations keep their copy of the tenant's vocabulary.
pub const LABEL_CREATED: &str = "label.created";
pub const LABEL_UPDATED: &str = "label.updated";
pub const LABEL_DELETED: &str = "label.deleted";
/// Operational: an endpoint was disabled (410 Gone, or failing for too long).
pub const ENDPOINT_DISABLED: &str = "endpoint.disabled";
/// Operational: a webhook delivery used up its retry schedule.
pub const ATTEMPT_EXHAUSTED: &str = "message.attempt.exhausted";
/// Operational: a webhook delivery succeeded after failing.
pub const ATTEMPT_RECOVERED: &str = "message.attempt.recovered";

/// Every event type the hub emits today.
pub const ALL: &[&str] = &[
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    MESSAGE_RECEIVED,
    MESSAGE_UPDATED,
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    CONTACT_CREATED,
    CONTACT_UPDATED,
    CONSENT_CHANGED,
    CONTACT_ERASED,
    CONTACT_RESTRICTED,
    CONTACT_MERGED,
    CONTACT_UNMERGED,
    PRIVACY_REQUEST_COMPLETED,
    SUBPROCESSORS_CHANGED,
    LABEL_CREATED,
    LABEL_UPDATED,
    LABEL_DELETED,
    ENDPOINT_DISABLED,
    ATTEMPT_EXHAUSTED,
    ATTEMPT_RECOVERED,
];

/// What an event says, and what its `data` is, for integrators (the API description's
/// `webhooks`).
pub fn describe(name: &str) -> &'static str {
    match name {
        CONVERSATION_CREATED => "A conversation began (a contact wrote, or an operator started one): data is the conversation.",
        CONVERSATION_UPDATED => "A conversation's status, assignee, channel, labels or attributes changed, or another was merged into it: data is the conversation as it is now.",
        MESSAGE_RECEIVED => "A contact wrote: data is the message, with its attachments.",
        MESSAGE_UPDATED => "A contact edited a message they sent (Telegram): data is the message with its new text.",
        MESSAGE_SENT => "An outbound message left: the provider took it (data is the message, status sent).",
        MESSAGE_DELIVERED => "The provider reported an outbound message delivered (or read): data is the message.",
        MESSAGE_FAILED => "An outbound message failed: data is the message, with failure {class, code, reason, provider}.",
        CONTACT_CREATED => "A contact was created: data is the contact with its identities.",
        CONTACT_UPDATED => "A contact's fields, identities, labels or attributes changed: data is the contact as it is now.",
        CONSENT_CHANGED => "A consent event was recorded (a grant, a withdrawal, an SMS STOP, an unsubscribe): data is the event with its proof.",
        CONTACT_ERASED => "A contact was erased: data.contact_id, erased_at, request_id. Delete what you hold about them.",
        CONTACT_RESTRICTED => "A contact's processing was restricted (data.restricted true) or the restriction lifted; while restricted no other event about them is sent.",
        CONTACT_MERGED => "Two contacts were merged: data is the merge (contact_id survives, other_id was merged into it, moved lists what moved, reason, merged_by).",
        CONTACT_UNMERGED => "A merge was undone: data.id (the merge), contact_id, other_id, moved (what went back), undone_at, undone_by.",
        PRIVACY_REQUEST_COMPLETED => "A data-subject request was carried out: data.id, type, status, contact_id, completed_at.",
        SUBPROCESSORS_CHANGED => "The subprocessor registry changed: data.changes lists each entry with change = added | announced (with effective_at) | in_effect | updated | retired | removed.",
        LABEL_CREATED => "A label was defined: data is the label {id, name, color}.",
        LABEL_UPDATED => "A label was renamed or recoloured: data is the label {id, name, color} as it is now.",
        LABEL_DELETED => "A label was deleted and taken off every conversation and contact: data is the label as it was.",
        ENDPOINT_DISABLED => "Operational: one of your endpoints was disabled (it answered 410 Gone, or failed for too long): data.endpoint_id, reason, disabled_at.",
        ATTEMPT_EXHAUSTED => "Operational: a delivery used up its retry schedule: data.endpoint_id, delivery_id, msg_id, event_type, attempts, last_status_code.",
        ATTEMPT_RECOVERED => "Operational: a delivery that had failed succeeded: data.endpoint_id, delivery_id, msg_id, event_type, attempts, last_status_code.",
        _ => "An event of the hub.",
    }
}

/// Events about the webhook machinery itself; they carry no personal data, and a failure to
/// deliver one does not raise another.
pub const OPERATIONAL: &[&str] = &[ENDPOINT_DISABLED, ATTEMPT_EXHAUSTED, ATTEMPT_RECOVERED];

/// An event with its plaintext payload, as it travels in memory after commit.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub seq: i64,
    pub tenant_id: Uuid,
    pub event_type: &'static str,
    /// The contact the payload is about; its data key seals the stored payload.
    pub contact_id: Option<Uuid>,
    /// The conversation the event belongs to, if any; `data.sequence` orders its events.
    pub conversation_id: Option<Uuid>,
    pub created_at: i64,
    /// `{"type", "timestamp", "data"}`, serialized once.
    pub payload: std::sync::Arc<str>,
    /// Committed by another hub process and relayed here for this process's websockets only:
    /// the work the event triggers is done where it was committed.
    pub remote: bool,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a T,
}

/// Event data with the conversation's sequence number in front.
#[derive(Serialize)]
struct Sequenced<'a, T: Serialize> {
    sequence: i64,
    #[serde(flatten)]
    data: &'a T,
}

/// The envelope as stored for an event whose `data.text` is kept only in its message's row.
#[derive(Serialize)]
struct ByReference<'a, T: Serialize> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a T,
    text_ref: bool,
}

impl Event {
    /// The payload to store for this conversation event when its `data.text` is the text of
    /// the message `data.id` (sealed in the message's row under the same key): `data` as given
    /// (with its text left empty) and `"text_ref": true`, so the text is not stored twice.
    /// Readers put the message's text back (`crate::events::outbox::open_stored`).
    pub fn stored_by_reference<T: Serialize>(&self, sequence: i64, data_without_text: &T) -> String {
        let envelope = ByReference {
            event_type: self.event_type,
            timestamp: super::rfc3339(self.created_at),
            data: &Sequenced { sequence, data: data_without_text },
            text_ref: true,
        };
        serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".into())
    }

    /// An event that belongs to no conversation.
    pub fn new<T: Serialize>(tenant_id: Uuid, event_type: &'static str, contact_id: Option<Uuid>, data: &T) -> Self {
        Self::build(tenant_id, event_type, contact_id, None, data)
    }

    /// An event in a conversation: `data` gets the conversation's next `sequence` (from
    /// [`Sequences`]), so consumers can order what arrives out of order.
    pub fn in_conversation<T: Serialize>(
        tenant_id: Uuid,
        event_type: &'static str,
        contact_id: Uuid,
        conversation_id: Uuid,
        sequence: i64,
        data: &T,
    ) -> Self {
        Self::build(tenant_id, event_type, Some(contact_id), Some(conversation_id), &Sequenced { sequence, data })
    }

    fn build<T: Serialize>(
        tenant_id: Uuid,
        event_type: &'static str,
        contact_id: Option<Uuid>,
        conversation_id: Option<Uuid>,
        data: &T,
    ) -> Self {
        let created_at = super::now_micros();
        let envelope = Envelope { event_type, timestamp: super::rfc3339(created_at), data };
        let payload = serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".into());
        Self { id: Uuid::now_v7(), seq: 0, tenant_id, event_type, contact_id, conversation_id, created_at, payload: payload.into(), remote: false }
    }
}

/// Sequence numbers reserved for a transaction's events, per conversation. Reserving bumps the
/// conversation's counter inside the transaction, so numbers are unique and increase in commit
/// order of each conversation's writers.
#[derive(Debug, Default)]
pub struct Sequences {
    next: std::collections::HashMap<Uuid, i64>,
}

impl Sequences {
    /// From the counters' values after reserving `counts[id]` numbers for each conversation.
    pub fn from_reserved(last: impl IntoIterator<Item = (Uuid, i64)>, counts: &std::collections::HashMap<Uuid, i64>) -> Self {
        let next = last.into_iter().map(|(id, last)| (id, last - counts.get(&id).copied().unwrap_or(1) + 1)).collect();
        Self { next }
    }

    /// The next number for the conversation (0 if none was reserved, which callers avoid).
    pub fn next(&mut self, conversation_id: Uuid) -> i64 {
        match self.next.get_mut(&conversation_id) {
            Some(n) => {
                *n += 1;
                *n - 1
            }
            None => 0,
        }
    }
}

/// The static name of an event type read back from storage.
pub fn known(name: &str) -> Option<&'static str> {
    ALL.iter().copied().find(|t| *t == name)
}

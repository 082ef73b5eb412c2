//! Events: what happened, as integrations and operator consoles receive it. Each event is
//! written to the outbox in the transaction that made it true.

use serde::Serialize;
use uuid::Uuid;

pub const CONVERSATION_CREATED: &str = "conversation.created";
pub const CONVERSATION_UPDATED: &str = "conversation.updated";
pub const MESSAGE_RECEIVED: &str = "message.received";
pub const MESSAGE_SENT: &str = "message.sent";
pub const MESSAGE_DELIVERED: &str = "message.delivered";
pub const MESSAGE_FAILED: &str = "message.failed";
pub const CONTACT_CREATED: &str = "contact.created";
pub const CONTACT_UPDATED: &str = "contact.updated";

/// Every event type the hub emits today.
pub const ALL: &[&str] = &[
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    MESSAGE_RECEIVED,
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    CONTACT_CREATED,
    CONTACT_UPDATED,
];

/// An event with its plaintext payload, as it travels in memory after commit.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub seq: i64,
    pub tenant_id: Uuid,
    pub event_type: &'static str,
    /// The contact the payload is about; its data key seals the stored payload.
    pub contact_id: Option<Uuid>,
    pub created_at: i64,
    /// `{"type", "timestamp", "data"}`, serialized once.
    pub payload: std::sync::Arc<str>,
}

#[derive(Serialize)]
struct Envelope<'a, T: Serialize> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    data: &'a T,
}

impl Event {
    pub fn new<T: Serialize>(tenant_id: Uuid, event_type: &'static str, contact_id: Option<Uuid>, data: &T) -> Self {
        let created_at = super::now_micros();
        let envelope = Envelope { event_type, timestamp: super::rfc3339(created_at), data };
        let payload = serde_json::to_string(&envelope).unwrap_or_else(|_| "{}".into());
        Self { id: Uuid::now_v7(), seq: 0, tenant_id, event_type, contact_id, created_at, payload: payload.into() }
    }
}

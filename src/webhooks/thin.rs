//! Thin payloads: the event envelope with only ids and non-personal metadata in `data`, for
//! endpoints that would rather fetch what they need through the API (data minimisation; access
//! then goes through authenticated, auditable calls).

use serde_json::{Map, Value};

/// Fields of `data` that carry no personal data.
const KEPT: &[&str] = &[
    "id", "sequence", "status", "direction", "kind", "channel_kind", "purpose", "private", "author_type", "created_at", "updated_at",
    "last_message_at", "event_type", "attempts", "disabled", "reason", "msg_id",
];

/// Projects a full event payload to its thin form. Keys ending in `_id` are kept too.
pub fn project(payload: &[u8]) -> Vec<u8> {
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(payload) else {
        return b"{}".to_vec();
    };
    let data = match envelope.remove("data") {
        Some(Value::Object(data)) => data,
        _ => Map::new(),
    };
    let thin: Map<String, Value> = data
        .into_iter()
        .filter(|(k, v)| (KEPT.contains(&k.as_str()) || k.ends_with("_id")) && !v.is_object() && !v.is_array())
        .collect();
    envelope.insert("data".into(), Value::Object(thin));
    envelope.insert("thin".into(), Value::Bool(true));
    serde_json::to_vec(&envelope).unwrap_or_else(|_| b"{}".to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_ids_and_metadata_only() {
        let full = br#"{"type":"message.received","timestamp":"2026-11-23T10:00:00Z","data":{"sequence":3,"id":"m1",
            "conversation_id":"c1","contact_id":"p1","text":"my card is 4111","author_name":"Ada","status":"received",
            "attachments":[{"id":"a"}]}}"#;
        let thin: Value = serde_json::from_slice(&project(full)).unwrap();
        assert_eq!(thin["type"], "message.received");
        assert_eq!(thin["data"]["sequence"], 3);
        assert_eq!(thin["data"]["conversation_id"], "c1");
        assert!(thin["data"].get("text").is_none());
        assert!(thin["data"].get("author_name").is_none());
        assert!(thin["data"].get("attachments").is_none());
        assert_eq!(thin["thin"], true);
    }
}

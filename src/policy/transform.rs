//! Finding the data categories in a JSON payload, and rewriting them as a verdict says.
//!
//! Payloads are the API's own views, so field names say what a value is: `text` is message
//! content, `email` a contact's email, an identity's `address` whatever its `kind` says. One
//! walker serves both jobs, so what is classified is exactly what can be redacted.

use serde_json::Value;

use super::rules::Action;
use crate::domain::categories;

/// The category of `key` in an object (whose other fields give context).
fn category_of(key: &str, object: &serde_json::Map<String, Value>) -> Option<&'static str> {
    Some(match key {
        "text" | "caption" => categories::MESSAGE_CONTENT,
        "name" | "display_name" | "author_name" => categories::CONTACT_NAME,
        "email" => categories::CONTACT_EMAIL,
        "phone" => categories::CONTACT_PHONE,
        "filename" => categories::MESSAGE_ATTACHMENTS,
        "ip" => categories::TECHNICAL_IP,
        "user_agent" => categories::TECHNICAL_USER_AGENT,
        "contact_id" => categories::CONTACT_ID,
        "address" => match object.get("kind").or_else(|| object.get("medium")).and_then(Value::as_str) {
            Some("email") => categories::CONTACT_EMAIL,
            Some("phone" | "sms") => categories::CONTACT_PHONE,
            _ => categories::CONTACT_HANDLE,
        },
        _ => return None,
    })
}

fn walk(value: &mut Value, visit: &mut dyn FnMut(&'static str, &mut Value)) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let category = category_of(&key, map);
                let Some(v) = map.get_mut(&key) else { continue };
                match category {
                    Some(c) if !v.is_null() && !v.is_object() && !v.is_array() => visit(c, v),
                    _ => walk(v, visit),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

/// The categories a payload carries, in a stable order.
pub fn categories_in(value: &Value) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    let mut copy = value.clone();
    walk(&mut copy, &mut |c, _| {
        if !found.contains(&c) {
            found.push(c);
        }
    });
    found.sort_by_key(|c| categories::ALL.iter().position(|x| x == c));
    found
}

/// Applies the per-category actions: `redact` sets the field to null, `pseudonymize` replaces
/// it with `token(category, value)`. Returns whether anything changed.
pub fn apply(value: &mut Value, actions: &[(&'static str, Action)], token: &dyn Fn(&str, &str) -> String) -> bool {
    let mut changed = false;
    walk(value, &mut |c, v| match actions.iter().find(|(x, _)| *x == c).map(|(_, a)| *a) {
        Some(Action::Redact | Action::Block) => {
            *v = Value::Null;
            changed = true;
        }
        Some(Action::Pseudonymize) => {
            let plain = match &*v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            *v = Value::String(token(c, &plain));
            changed = true;
        }
        _ => {}
    });
    changed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn contact_event() -> Value {
        json!({"type": "contact.created", "data": {"id": "c1", "name": "Ada", "email": "ada@example.com", "phone": "+4915112345678",
            "identities": [{"kind": "email", "address": "ada@example.com"}, {"kind": "telegram", "address": "42"}]}})
    }

    #[test]
    fn finds_what_a_payload_carries() {
        let found = categories_in(&contact_event());
        assert_eq!(found, vec![categories::CONTACT_NAME, categories::CONTACT_EMAIL, categories::CONTACT_PHONE, categories::CONTACT_HANDLE]);
        let message = json!({"data": {"contact_id": "c", "text": "hi", "attachments": [{"filename": "a.pdf"}], "error": null}});
        assert_eq!(categories_in(&message), vec![categories::CONTACT_ID, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS]);
        assert!(categories_in(&json!({"type": "endpoint.disabled", "data": {"endpoint_id": "e"}})).is_empty());
    }

    #[test]
    fn redacts_and_pseudonymizes_every_occurrence() {
        let mut v = contact_event();
        let actions = [(categories::CONTACT_EMAIL, Action::Redact), (categories::CONTACT_PHONE, Action::Pseudonymize)];
        assert!(apply(&mut v, &actions, &|c, plain| format!("pseu_{}_{}", c.len(), plain.len())));
        assert_eq!(v["data"]["email"], Value::Null);
        assert_eq!(v["data"]["identities"][0]["address"], Value::Null);
        assert_eq!(v["data"]["phone"], "pseu_13_14");
        assert_eq!(v["data"]["identities"][1]["address"], "42");
        assert_eq!(v["data"]["name"], "Ada");
        let text = v.to_string();
        assert!(!text.contains("ada@example.com") && !text.contains("12345678"));
        assert!(!apply(&mut v, &[(categories::CONTACT_NAME, Action::Allow)], &|_, _| String::new()));
    }
}

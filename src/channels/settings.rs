//! Per-kind channel settings: parsed into typed structs (unknown keys are errors that name the
//! field), split into what may be shown and what must be stored encrypted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// The kinds a channel may be created with.
pub const KINDS: &[&str] = &["webchat"];

/// Validated settings: `public` is stored and shown; `secrets`, if any, is stored sealed and
/// never returned.
pub struct Validated {
    pub public: Value,
    pub secrets: Option<Value>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebchatSettings {
    /// Origins allowed to embed the widget (empty: any).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Shown to visitors when the chat opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
}

pub fn validate(kind: &str, settings: Option<Value>) -> Result<Validated, ApiError> {
    let settings = settings.unwrap_or(Value::Object(Default::default()));
    match kind {
        "webchat" => {
            let parsed: WebchatSettings = parse(settings)?;
            Ok(Validated { public: serde_json::to_value(parsed).unwrap_or_default(), secrets: None })
        }
        _ => Err(ApiError::invalid("kind", format!("unsupported channel kind {kind:?}; supported: {}", KINDS.join(", ")))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(settings: Value) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(&settings).unwrap_or_default();
    omnibridge_channel::problem::parse_json(&bytes).map_err(|p| match p.field {
        Some(inner) => {
            let detail = p.detail.strip_prefix(&format!("{inner}: ")).unwrap_or(&p.detail).to_owned();
            ApiError::invalid(&format!("settings.{inner}"), detail)
        }
        None => ApiError::invalid("settings", p.detail),
    })
}

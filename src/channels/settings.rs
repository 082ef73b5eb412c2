//! Per-kind channel settings: parsed into typed structs (unknown keys are errors that name the
//! field), split into what may be shown and what must be stored encrypted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// The kinds a channel may be created with.
pub const KINDS: &[&str] = &["webchat", "email", "twilio_sms", "telegram"];

/// Email settings that are secrets: stored sealed, never returned.
const EMAIL_SECRETS: &[&str] = &["imap_password", "smtp_password"];

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
            for (i, origin) in parsed.allowed_origins.iter().enumerate() {
                let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
                if rest.is_none_or(|host| host.is_empty() || host.trim_end_matches('/').contains(['/', '?', '#', ' '])) {
                    return Err(ApiError::invalid(&format!("settings.allowed_origins[{i}]"), "must be an origin such as https://shop.example (scheme, host, optional port; no path)"));
                }
            }
            Ok(Validated { public: serde_json::to_value(parsed).unwrap_or_default(), secrets: None })
        }
        "email" => {
            let config: omnibridge_email::EmailConfig = parse(settings.clone())?;
            config.validate().map_err(invalid_setting)?;
            Ok(split_secrets(settings, EMAIL_SECRETS))
        }
        omnibridge_twilio_sms::KIND => {
            let config: omnibridge_twilio_sms::TwilioSmsConfig = parse(settings.clone())?;
            config.validate().map_err(invalid_setting)?;
            Ok(split_secrets(settings, omnibridge_twilio_sms::settings::SECRETS))
        }
        omnibridge_telegram::KIND => {
            let mut settings = settings;
            let config: omnibridge_telegram::TelegramConfig = parse(settings.clone())?;
            let validated = config.validate().map_err(invalid_setting)?;
            // Webhook mode needs a secret Telegram repeats on every request: 64 random characters.
            if validated.mode == omnibridge_telegram::Mode::Webhook
                && validated.webhook_secret.is_none()
                && let Value::Object(map) = &mut settings
            {
                map.insert("webhook_secret".into(), Value::String(crate::privacy::random_token(48)));
            }
            Ok(split_secrets(settings, omnibridge_telegram::settings::SECRETS))
        }
        _ => Err(ApiError::invalid("kind", format!("unsupported channel kind {kind:?}; supported: {}", KINDS.join(", ")))),
    }
}

fn invalid_setting(e: omnibridge_channel::SettingsError) -> ApiError {
    ApiError::invalid(&format!("settings.{}", e.field), e.detail)
}

/// Takes the secret keys out of `settings`: they are stored sealed and never shown.
fn split_secrets(mut public: Value, secret_keys: &[&str]) -> Validated {
    let mut secrets = serde_json::Map::new();
    if let Value::Object(map) = &mut public {
        for key in secret_keys {
            if let Some(value) = map.remove(*key) {
                secrets.insert((*key).to_owned(), value);
            }
        }
    }
    Validated { public, secrets: Some(Value::Object(secrets)) }
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

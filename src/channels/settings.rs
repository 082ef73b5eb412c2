//! Per-kind channel settings: parsed into typed structs (unknown keys are errors that name the
//! field), split into what may be shown and what must be stored encrypted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ApiError;

/// The kinds a channel may be created with.
pub const KINDS: &[&str] = &["webchat", "email", "twilio_sms", "telegram"];

/// Email settings that are secrets: stored sealed, never returned.
const EMAIL_SECRETS: &[&str] = &["imap_password", "smtp_password"];

/// Which settings name where an email secret is sent.
const EMAIL_SECRETS_BOUND_TO: &[(&str, &[&str])] = &[("imap_password", &["imap_host"]), ("smtp_password", &["smtp_host"])];

/// For each secret of a kind, the settings naming the host it is sent to.
fn secrets_bound_to(kind: &str) -> &'static [(&'static str, &'static [&'static str])] {
    match kind {
        "email" => EMAIL_SECRETS_BOUND_TO,
        omnibridge_twilio_sms::KIND => omnibridge_twilio_sms::settings::SECRETS_BOUND_TO,
        omnibridge_telegram::KIND => omnibridge_telegram::settings::SECRETS_BOUND_TO,
        _ => &[],
    }
}

/// The settings naming a host the channel connects to: (field, is a URL).
fn destinations(kind: &str) -> &'static [(&'static str, bool)] {
    match kind {
        "email" => &[("imap_host", false), ("smtp_host", false)],
        omnibridge_twilio_sms::KIND => &[("api_base_url", true)],
        omnibridge_telegram::KIND => &[("api_url", true)],
        _ => &[],
    }
}

/// Refuses settings whose hosts are (or resolve to) addresses the outbound guard forbids, naming
/// the field. A host that does not resolve now is left to the channel's health to report; the
/// guard checks again on every connection.
pub async fn vet_destinations(kind: &str, public: &Value, policy: &crate::webhooks::ssrf::AddressPolicy) -> Result<(), ApiError> {
    for (field, is_url) in destinations(kind) {
        let Some(text) = public.get(*field).and_then(Value::as_str) else { continue };
        let (host, port) = if *is_url {
            match reqwest::Url::parse(text) {
                Ok(url) => (url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned(), url.port_or_known_default().unwrap_or(443)),
                Err(_) => continue,
            }
        } else {
            (text.to_owned(), 0)
        };
        let refused = |ip: std::net::IpAddr| {
            ApiError::invalid(&format!("settings.{field}"), format!("{host} is (or resolves to) {ip}, a private or reserved address; allow it with outbound.allow_private_cidrs if intended"))
        };
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            if !policy.permits(ip) {
                return Err(refused(ip));
            }
            continue;
        }
        if let Ok(addrs) = tokio::net::lookup_host((host.as_str(), port)).await
            && let Some(bad) = addrs.map(|a| a.ip()).find(|ip| !policy.permits(*ip))
        {
            return Err(refused(bad));
        }
    }
    Ok(())
}

/// A change of settings that leaves secrets out keeps their stored values — unless the change
/// moves a secret to another host: then it must be given again, so a stored password never
/// follows the channel to a server its owner did not send it to.
pub fn keep_stored_secrets(kind: &str, current_public: &Value, stored_secrets: &serde_json::Map<String, Value>, change: &mut Value) -> Result<(), ApiError> {
    let Value::Object(change) = change else { return Ok(()) };
    for (secret, value) in stored_secrets {
        if change.contains_key(secret) {
            continue;
        }
        let moved = secrets_bound_to(kind)
            .iter()
            .filter(|(s, _)| s == secret)
            .flat_map(|(_, bound)| bound.iter())
            .find(|field| change.get(**field) != current_public.get(**field));
        if let Some(field) = moved {
            return Err(ApiError::invalid(&format!("settings.{secret}"), format!("{field} changed: give {secret} again (a stored secret is never sent to a new host)")));
        }
        change.insert(secret.clone(), value.clone());
    }
    Ok(())
}

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

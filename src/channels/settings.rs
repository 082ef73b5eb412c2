//! Channel settings: checked by their kind (unknown keys are errors that name the setting),
//! split into what may be shown and what must be stored encrypted, and vetted for the hosts
//! they name.

use omnibridge_channel::ChannelKind;
use serde_json::Value;

use super::Kinds;
use omnibridge_channel::SettingsError;

/// Refuses settings whose hosts are (or resolve to) addresses the outbound guard forbids, naming
/// the field. A host that does not resolve now is left to the channel's health to report; the
/// guard checks again on every connection.
pub async fn vet_destinations(kind: &dyn ChannelKind, public: &Value, policy: &crate::net::ssrf::AddressPolicy) -> Result<(), SettingsError> {
    for setting in kind.host_settings() {
        let field = setting.name;
        let Some(text) = public.get(field).and_then(Value::as_str) else { continue };
        let (host, port) = if setting.is_url {
            match reqwest::Url::parse(text) {
                Ok(url) => (url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned(), url.port_or_known_default().unwrap_or(443)),
                Err(_) => continue,
            }
        } else {
            (text.to_owned(), 0)
        };
        let refused = |ip: std::net::IpAddr| {
            SettingsError::new(format!("settings.{field}"), format!("{host} is (or resolves to) {ip}, a private or reserved address; allow it with outbound.allow_private_cidrs if intended"))
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
pub fn keep_stored_secrets(kind: &dyn ChannelKind, current_public: &Value, stored_secrets: &serde_json::Map<String, Value>, change: &mut Value) -> Result<(), SettingsError> {
    let Value::Object(change) = change else { return Ok(()) };
    for (secret, value) in stored_secrets {
        if change.contains_key(secret) {
            continue;
        }
        let moved = kind
            .secret_settings()
            .iter()
            .filter(|s| s.name == secret)
            .flat_map(|s| s.sent_to.iter())
            .find(|field| change.get(**field) != current_public.get(**field));
        if let Some(field) = moved {
            return Err(SettingsError::new(format!("settings.{secret}"), format!("{field} changed: give {secret} again (a stored secret is never sent to a new host)")));
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

/// The kind a channel is created with, or a 422 naming `kind` and the kinds there are.
pub fn kind<'a>(kinds: &'a Kinds, name: &str) -> Result<&'a dyn ChannelKind, SettingsError> {
    kinds.get(name).ok_or_else(|| SettingsError::new("kind", format!("unsupported channel kind {name:?}; supported: {}", kinds.names().join(", "))))
}

/// Checks a channel's settings with its kind, and splits the secrets off.
pub fn validate(kind: &dyn ChannelKind, settings: Option<Value>) -> Result<Validated, SettingsError> {
    let settings = kind.validate(settings.unwrap_or(Value::Object(Default::default()))).map_err(invalid_setting)?;
    let secrets: Vec<&str> = kind.secret_settings().iter().map(|s| s.name).collect();
    if secrets.is_empty() {
        return Ok(Validated { public: settings, secrets: None });
    }
    Ok(split_secrets(settings, &secrets))
}

/// A kind's settings error, named as the API sees the field (`settings.…`).
fn invalid_setting(e: SettingsError) -> SettingsError {
    if e.field.is_empty() {
        return SettingsError::new("settings", e.detail);
    }
    SettingsError::new(format!("settings.{}", e.field), e.detail)
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

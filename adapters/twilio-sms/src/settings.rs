//! An SMS channel's settings, as tenants give them (`POST /v1/channels {"kind": "twilio_sms",
//! "settings": {…}}`), and the validated form the channel uses.

use omnibridge_channel::{SettingsError, is_e164};
use serde::Deserialize;

/// Twilio's API host; a region's is `https://api.<edge>.<region>.twilio.com` (e.g.
/// `https://api.dublin.ie1.twilio.com`).
pub const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";

/// Twilio's regions and their API hosts.
pub const REGIONS: &[(&str, &str)] =
    &[("us1", DEFAULT_API_BASE_URL), ("ie1", "https://api.dublin.ie1.twilio.com"), ("au1", "https://api.sydney.au1.twilio.com")];

/// The settings a tenant gives, secrets included (the hub seals those and never returns them).
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TwilioSmsConfig {
    #[schema(pattern = "^AC[0-9a-fA-F]{32}$")]
    pub account_sid: String,
    /// The primary auth token: signs Twilio's requests and authenticates ours. Sealed; never
    /// returned.
    #[schema(write_only)]
    pub auth_token: String,
    /// A second token accepted on incoming requests while the primary is being rotated.
    #[serde(default)]
    #[schema(write_only)]
    pub secondary_auth_token: Option<String>,
    /// The sending number (E.164), or …
    #[serde(default)]
    pub from: Option<String>,
    /// … a Messaging Service that picks the number from its pool.
    #[serde(default)]
    #[schema(pattern = "^MG[0-9a-fA-F]{32}$")]
    pub messaging_service_sid: Option<String>,
    /// Twilio's region: `us1` (default), `ie1` (Ireland, EU data residency) or `au1`. Regions
    /// are isolated: the account's credentials and API host are per region.
    #[serde(default)]
    pub region: Option<String>,
    /// Unset: the region's API host.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// The base URL Twilio calls us at, when it differs from the hub's own public URL (a proxy
    /// in front); signatures are computed over it.
    #[serde(default)]
    pub public_base_url: Option<String>,
    /// The answer to HELP/INFO: program name and how to reach support (CTIA).
    #[serde(default)]
    pub help_reply: Option<String>,
}

/// The settings after validation.
#[derive(Clone)]
pub struct TwilioSmsSettings {
    pub account_sid: String,
    pub auth_token: String,
    pub secondary_auth_token: Option<String>,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub region: String,
    /// Without a trailing slash.
    pub api_base_url: String,
    /// Without a trailing slash.
    pub public_base_url: Option<String>,
    pub help_reply: Option<String>,
}

impl TwilioSmsSettings {
    /// The tokens a signature may be made with: primary first.
    pub fn auth_tokens(&self) -> Vec<&str> {
        std::iter::once(self.auth_token.as_str()).chain(self.secondary_auth_token.as_deref()).collect()
    }
}

fn twilio_sid(field: &'static str, value: &str, prefix: &str) -> Result<(), SettingsError> {
    let hex = value.strip_prefix(prefix).unwrap_or_default();
    if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(SettingsError::new(field, format!("must be {prefix} followed by 32 hexadecimal digits")))
    }
}

fn base_url(field: &'static str, value: &str) -> Result<String, SettingsError> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("https://").or_else(|| trimmed.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(trimmed.to_owned()),
        _ => Err(SettingsError::new(field, "must be an http(s) URL without query or fragment")),
    }
}

impl TwilioSmsConfig {
    pub fn validate(self) -> Result<TwilioSmsSettings, SettingsError> {
        twilio_sid("account_sid", &self.account_sid, "AC")?;
        let token_ok = |t: &str| !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_graphic());
        if !token_ok(&self.auth_token) {
            return Err(SettingsError::new("auth_token", "must be the account's auth token"));
        }
        if self.secondary_auth_token.as_deref().is_some_and(|t| !token_ok(t)) {
            return Err(SettingsError::new("secondary_auth_token", "must be the account's secondary auth token"));
        }
        if let Some(from) = &self.from
            && !is_e164(from)
        {
            return Err(SettingsError::new("from", "must be a phone number in E.164 form, like +14155550100"));
        }
        if let Some(sid) = &self.messaging_service_sid {
            twilio_sid("messaging_service_sid", sid, "MG")?;
        }
        if self.from.is_none() && self.messaging_service_sid.is_none() {
            return Err(SettingsError::new("from", "either from or messaging_service_sid is required"));
        }
        if self.help_reply.as_deref().is_some_and(|h| h.trim().is_empty() || h.chars().count() > crate::MAX_BODY_CHARS) {
            return Err(SettingsError::new("help_reply", format!("must be 1 to {} characters", crate::MAX_BODY_CHARS)));
        }
        let region = self.region.unwrap_or_else(|| "us1".into());
        let Some((_, region_host)) = REGIONS.iter().find(|(r, _)| *r == region) else {
            return Err(SettingsError::new("region", "must be us1, ie1 or au1"));
        };
        Ok(TwilioSmsSettings {
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            secondary_auth_token: self.secondary_auth_token,
            from: self.from,
            messaging_service_sid: self.messaging_service_sid,
            api_base_url: base_url("api_base_url", self.api_base_url.as_deref().unwrap_or(region_host))?,
            region,
            public_base_url: self.public_base_url.as_deref().map(|u| base_url("public_base_url", u)).transpose()?,
            help_reply: self.help_reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> Result<TwilioSmsSettings, SettingsError> {
        serde_json::from_value::<TwilioSmsConfig>(json).map_err(|e| SettingsError::new("?", e.to_string()))?.validate()
    }

    const SID: &str = "AC0123456789abcdef0123456789abcdef";

    #[test]
    fn a_number_or_a_messaging_service_is_enough() {
        let s = config(serde_json::json!({"account_sid": SID, "auth_token": "t", "from": "+14155550100"})).expect("valid");
        assert_eq!(s.api_base_url, DEFAULT_API_BASE_URL);
        let s = config(serde_json::json!({"account_sid": SID, "auth_token": "t", "messaging_service_sid": "MG0123456789abcdef0123456789abcdef",
            "api_base_url": "https://api.dublin.ie1.twilio.com/"}))
        .expect("valid");
        assert_eq!(s.api_base_url, "https://api.dublin.ie1.twilio.com");
    }

    #[test]
    fn each_bad_setting_is_named() {
        let field = |json| config(json).expect_err("invalid").field;
        assert_eq!(field(serde_json::json!({"account_sid": "AC1", "auth_token": "t", "from": "+14155550100"})), "account_sid");
        assert_eq!(field(serde_json::json!({"account_sid": SID, "auth_token": "", "from": "+14155550100"})), "auth_token");
        assert_eq!(field(serde_json::json!({"account_sid": SID, "auth_token": "t", "from": "4155550100"})), "from");
        assert_eq!(field(serde_json::json!({"account_sid": SID, "auth_token": "t"})), "from");
        assert_eq!(field(serde_json::json!({"account_sid": SID, "auth_token": "t", "messaging_service_sid": "MG1"})), "messaging_service_sid");
        assert_eq!(field(serde_json::json!({"account_sid": SID, "auth_token": "t", "from": "+14155550100", "api_base_url": "ftp://x"})), "api_base_url");
        assert_eq!(
            field(serde_json::json!({"account_sid": SID, "auth_token": "t", "from": "+14155550100", "public_base_url": "https://x/?a"})),
            "public_base_url"
        );
    }
}

omnibridge_channel::debug_redacted!(TwilioSmsConfig {
    account_sid, from, messaging_service_sid, region, api_base_url, public_base_url, help_reply,
} secret { auth_token, secondary_auth_token });
omnibridge_channel::debug_redacted!(TwilioSmsSettings {
    account_sid, from, messaging_service_sid, region, api_base_url, public_base_url, help_reply,
} secret { auth_token, secondary_auth_token });

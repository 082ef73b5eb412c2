//! What a tenant configures for a WhatsApp number, checked field by field.

use omnibridge_channel::SettingsError;
use omnibridge_meta_graph::settings::{check_graph, check_id, check_secret, default_base_url, default_version};
use serde::Deserialize;

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// The business phone number's id (not the number itself).
    pub phone_number_id: String,
    /// The WhatsApp Business Account the number belongs to (its templates live there).
    pub waba_id: String,
    /// A system-user or business token with `whatsapp_business_messaging`; sealed.
    #[schema(write_only)]
    pub access_token: String,
    /// The Meta app's secret, which signs every webhook; sealed.
    #[schema(write_only)]
    pub app_secret: String,
    /// The token Meta repeats when the callback URL is verified.
    pub verify_token: String,
    #[serde(default = "default_base_url")]
    pub graph_base_url: String,
    #[serde(default = "default_version")]
    pub graph_api_version: String,
}

omnibridge_channel::debug_redacted!(WhatsAppConfig { phone_number_id, waba_id, verify_token, graph_base_url, graph_api_version } secret { access_token, app_secret });

impl WhatsAppConfig {
    pub fn validate(self) -> Result<Self, SettingsError> {
        check_id("phone_number_id", &self.phone_number_id)?;
        check_id("waba_id", &self.waba_id)?;
        check_secret("access_token", &self.access_token, 16)?;
        check_secret("app_secret", &self.app_secret, 8)?;
        check_secret("verify_token", &self.verify_token, 8)?;
        check_graph(&self.graph_base_url, &self.graph_api_version)?;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> serde_json::Value {
        serde_json::json!({"phone_number_id": "106540352242922", "waba_id": "102290129340398", "access_token": "EAAG-a-long-token-123", "app_secret": "8f4c2b1e9d7a", "verify_token": "s3cr3t-verify"})
    }

    #[test]
    fn defaults_and_named_errors() {
        let ok: WhatsAppConfig = serde_json::from_value(config()).unwrap();
        let ok = ok.validate().unwrap();
        assert_eq!(ok.graph_base_url, "https://graph.facebook.com");
        assert_eq!(ok.graph_api_version, "v21.0");
        assert!(!format!("{ok:?}").contains("EAAG"));
        for (field, value) in [("phone_number_id", "+1555"), ("waba_id", ""), ("access_token", "short"), ("verify_token", "x"), ("graph_base_url", "ftp://x"), ("graph_api_version", "21")] {
            let mut c = config();
            c[field] = serde_json::json!(value);
            let err = serde_json::from_value::<WhatsAppConfig>(c).unwrap().validate().unwrap_err();
            assert_eq!(err.field, field);
        }
    }
}

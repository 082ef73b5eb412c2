//! What a tenant configures for a Page or an Instagram account, checked field by field.

use omnibridge_channel::SettingsError;
use omnibridge_meta_graph::settings::{check_graph, check_id, check_secret, default_base_url, default_version};
use serde::Deserialize;

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessengerConfig {
    /// The Facebook Page's id; for Instagram the professional account's id.
    pub page_id: String,
    /// The Page access token (Instagram: the token of the Page linked to the account); sealed.
    #[schema(write_only)]
    pub page_access_token: String,
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

omnibridge_channel::debug_redacted!(MessengerConfig { page_id, verify_token, graph_base_url, graph_api_version } secret { page_access_token, app_secret });

impl MessengerConfig {
    pub fn validate(self) -> Result<Self, SettingsError> {
        check_id("page_id", &self.page_id)?;
        check_secret("page_access_token", &self.page_access_token, 16)?;
        check_secret("app_secret", &self.app_secret, 8)?;
        check_secret("verify_token", &self.verify_token, 8)?;
        check_graph(&self.graph_base_url, &self.graph_api_version)?;
        Ok(self)
    }
}

//! The SMS kind: what the hub needs to know about Twilio channels, and their callbacks.

use std::sync::Arc;

use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::{
    Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, HookContext, HostSetting, Medium, ProcessingRecord, SecretSetting, SettingsError,
    categories,
};
use serde_json::Value;

use crate::{MAX_BODY_CHARS, TwilioSmsChannel, TwilioSmsConfig};

/// SMS and MMS through Twilio.
#[derive(Debug, Default, Clone, Copy)]
pub struct TwilioSmsKind;

impl ChannelKind for TwilioSmsKind {
    fn name(&self) -> &'static str {
        crate::KIND
    }

    fn hook_name(&self) -> &'static str {
        "twilio"
    }

    fn medium(&self) -> Medium {
        Medium::Sms
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { max_text: Some(MAX_BODY_CHARS), ..Capabilities::default() }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "auth_token", sent_to: &["api_base_url"] }, SecretSetting { name: "secondary_auth_token", sent_to: &["api_base_url"] }]
    }

    fn host_settings(&self) -> &'static [HostSetting] {
        &[HostSetting { name: "api_base_url", is_url: true }]
    }

    fn settings_schema(&self) -> Value {
        omnibridge_channel::settings_schema_of::<TwilioSmsConfig>()
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        parse_settings::<TwilioSmsConfig>(&settings)?.validate()?;
        Ok(settings)
    }

    fn check_text(&self, text: &str) -> Result<(), SettingsError> {
        crate::channel::check_body(text).map_err(|why| SettingsError::new("text", why.to_string()))
    }

    fn destination(&self) -> DataDestination {
        DataDestination::Registry
    }

    fn processing_record(&self) -> ProcessingRecord {
        ProcessingRecord {
            processing: "receiving and sending SMS/MMS",
            data_subjects: "people texting the controller's numbers",
            categories: &[categories::CONTACT_PHONE, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS],
        }
    }

    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        let settings = parse_settings::<TwilioSmsConfig>(setup.settings)?.validate()?;
        let base = crate::hooks::public_base(&settings, setup.public_url);
        let callback = format!("{base}{}", crate::channel::status_callback_path(setup.channel_id));
        Ok(Arc::new(TwilioSmsChannel::new(settings, setup.services.http.clone(), Some(callback))))
    }

    fn routes(&self) -> Option<axum::Router<HookContext>> {
        Some(crate::hooks::routes())
    }
}

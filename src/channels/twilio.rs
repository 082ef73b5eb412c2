//! The hub's side of the SMS channel: the settings (with opened secrets) a Twilio channel was
//! configured with, for the adapter and for checking the signatures of Twilio's requests.

use omnibridge_twilio_sms::{TwilioSmsConfig, TwilioSmsSettings};

use super::ChannelInfo;
use crate::privacy::Keyring;

/// The typed settings of an SMS channel: public settings plus its opened secrets.
pub fn settings_of(keyring: &Keyring, info: &ChannelInfo) -> Result<TwilioSmsSettings, String> {
    let config: TwilioSmsConfig = serde_json::from_value(super::settings_with_secrets(keyring, info)?).map_err(|e| format!("stored settings: {e}"))?;
    config.validate().map_err(|e| e.to_string())
}

/// The base URL Twilio reaches this channel at: the channel's own setting, else the hub's.
pub fn public_base(settings: &TwilioSmsSettings, hub_public_url: &str) -> String {
    settings.public_base_url.clone().unwrap_or_else(|| hub_public_url.trim_end_matches('/').to_owned())
}

//! The email kind: what the hub needs to know about mailbox channels.

use std::sync::Arc;

use omnibridge_channel::kind::parse_settings;
use omnibridge_channel::{
    Capabilities, Channel, ChannelKind, ChannelSetup, DataDestination, HostSetting, Medium, ProcessingRecord, SecretSetting, SettingsError, categories,
};
use serde_json::Value;

use crate::{EmailChannel, EmailConfig};

/// A mailbox: IMAP in, SMTP out through the tenant's own relay.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmailKind;

impl ChannelKind for EmailKind {
    fn name(&self) -> &'static str {
        crate::KIND
    }

    fn medium(&self) -> Medium {
        Medium::Email
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { attachments: true, threading: true, pulls: true, unsubscribe_link: true, ..Capabilities::default() }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "imap_password", sent_to: &["imap_host"] }, SecretSetting { name: "smtp_password", sent_to: &["smtp_host"] }]
    }

    fn host_settings(&self) -> &'static [HostSetting] {
        &[HostSetting { name: "imap_host", is_url: false }, HostSetting { name: "smtp_host", is_url: false }]
    }

    fn validate(&self, settings: Value) -> Result<Value, SettingsError> {
        parse_settings::<EmailConfig>(&settings)?.validate()?;
        Ok(settings)
    }

    fn destination(&self) -> DataDestination {
        DataDestination::TenantRelay {
            country_setting: "relay_country",
            mechanism_setting: "relay_transfer_mechanism",
            operator_setting: "relay_operator",
            host_setting: "smtp_host",
        }
    }

    fn processing_record(&self) -> ProcessingRecord {
        ProcessingRecord {
            processing: "receiving mail by IMAP and answering by SMTP",
            data_subjects: "people writing to the controller's mailbox",
            categories: &[categories::CONTACT_NAME, categories::CONTACT_EMAIL, categories::MESSAGE_CONTENT, categories::MESSAGE_ATTACHMENTS],
        }
    }

    /// With a reply domain, `local+TAG@reply_domain` (local being the sender address's) routes
    /// mail back to the hub.
    fn reply_address(&self, settings: &Value, tag: &str) -> Option<String> {
        let domain = settings.get("reply_domain")?.as_str()?;
        let from = settings.get("from_address")?.as_str()?;
        let local = from.split('@').next()?.split('+').next()?;
        Some(format!("{local}+{tag}@{domain}"))
    }

    fn reply_tag(&self, settings: &Value, recipient: &str) -> Option<String> {
        let domain = settings.get("reply_domain")?.as_str()?;
        let (local, host) = recipient.rsplit_once('@')?;
        host.eq_ignore_ascii_case(domain).then(|| local.split_once('+').map(|(_, tag)| tag.to_owned())).flatten()
    }

    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        let settings = parse_settings::<EmailConfig>(setup.settings)?.validate()?;
        Ok(Arc::new(EmailChannel::new(setup.channel_id, settings, setup.services.host.clone(), setup.services.guard.clone())))
    }
}

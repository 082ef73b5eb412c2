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
        Capabilities { attachments: true, threading: true, pulls: true, unsubscribe_link: true, carbon_copies: true, ..Capabilities::default() }
    }

    fn secret_settings(&self) -> &'static [SecretSetting] {
        &[SecretSetting { name: "imap_password", sent_to: &["imap_host"] }, SecretSetting { name: "smtp_password", sent_to: &["smtp_host"] }]
    }

    fn host_settings(&self) -> &'static [HostSetting] {
        &[HostSetting { name: "imap_host", is_url: false }, HostSetting { name: "smtp_host", is_url: false }]
    }

    fn settings_schema(&self) -> Value {
        omnibridge_channel::settings_schema_of::<EmailConfig>()
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

    /// The sender address, the mailbox's login when it is an address, and tagged reply
    /// addresses are the channel's own; every other recipient of a mail is a participant.
    fn own_address(&self, settings: &Value, address: &str) -> bool {
        let same = |name: &str| settings.get(name).and_then(Value::as_str).is_some_and(|own| own.trim().eq_ignore_ascii_case(address.trim()));
        same("from_address") || same("imap_username") || self.reply_tag(settings, address).is_some() || {
            // `local+anything@domain` of the sender address is the mailbox too.
            let from = settings.get("from_address").and_then(Value::as_str).unwrap_or_default();
            match (from.rsplit_once('@'), address.rsplit_once('@')) {
                (Some((own_local, own_domain)), Some((local, domain))) => {
                    domain.eq_ignore_ascii_case(own_domain) && local.split('+').next().is_some_and(|l| l.eq_ignore_ascii_case(own_local))
                }
                _ => false,
            }
        }
    }

    fn signature(&self, settings: &Value) -> Option<String> {
        settings.get("signature").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
    }

    fn build(&self, setup: ChannelSetup<'_>) -> Result<Arc<dyn Channel>, SettingsError> {
        let settings = parse_settings::<EmailConfig>(setup.settings)?.validate()?;
        Ok(Arc::new(EmailChannel::new(setup.channel_id, settings, setup.services.host.clone(), setup.services.guard.clone())))
    }
}

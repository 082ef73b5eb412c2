//! The hub's own mail to operators: team invitations and daily summaries, and the task that
//! sends them.
//!
//! It leaves through the configured system relay (`[mail]`) or, without one, through the SMTP
//! server of the tenant's first mailbox channel — the relay the tenant already chose for its
//! mail — and, like every egress, only once the door allowed and recorded the transfer to that
//! relay ([`crate::egress::Door::operator_mail`]).

use omnibridge_email::TlsMode;
use omnibridge_email::settings::SmtpSettings;
use omnibridge_email::smtp::{self, OutgoingMail, Transport};
use uuid::Uuid;

use crate::channels::{ChannelInfo, settings_with_secrets};
use crate::config::MailConfig;
use crate::egress::{Destination, Door};
use crate::privacy::Keyring;
use crate::store::{Db, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no way to send mail: configure [mail] smtp_host or give the tenant an email channel")]
    NoRelay,
    #[error("the email channel's settings cannot be used: {0}")]
    Settings(String),
    #[error("{0}")]
    Send(String),
    /// The egress door did not let the mail out (the tenant's routing policy).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One mail to one operator.
pub struct OperatorMail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// Extra headers (`List-Unsubscribe`, `Auto-Submitted`).
    pub headers: Vec<(&'static str, String)>,
}

/// A tenant's way out for operator mail, ready to send several.
pub struct Mailer {
    tenant_id: Uuid,
    transport: Transport,
    from_address: String,
    from_name: Option<String>,
    /// Where the mail goes first (the system relay, or the tenant's mail relay): what the door
    /// decides about and records.
    destination: Destination,
    door: Door,
}

impl Mailer {
    /// The system relay when one is configured, else the tenant's first email channel.
    /// The system relay is the hub's own configuration; a tenant's channel goes through `guard`.
    pub async fn for_tenant(db: &Db, keyring: &Keyring, door: &Door, config: &MailConfig, guard: &omnibridge_channel::AddressGuard, tenant_id: Uuid) -> Result<Self, MailError> {
        if !config.smtp_host.is_empty() {
            let settings = SmtpSettings {
                host: config.smtp_host.clone(),
                port: config.smtp_port,
                tls: match config.smtp_tls.as_str() {
                    "implicit" => TlsMode::Implicit,
                    "none" => TlsMode::None,
                    _ => TlsMode::Starttls,
                },
                username: (!config.smtp_username.is_empty()).then(|| config.smtp_username.clone()),
                password: (!config.smtp_password.is_empty()).then(|| config.smtp_password.clone()),
                ca_pem: None,
            };
            let transport = smtp::transport(&settings, &omnibridge_channel::AddressGuard::permit_all()).await.map_err(|e| MailError::Settings(e.to_string()))?;
            let from_name = (!config.from_name.is_empty()).then(|| config.from_name.clone());
            let destination = Destination {
                kind: "mail",
                name: "hub:mail-relay".into(),
                countries: Vec::new(),
                mechanism: None,
                registry_id: None,
                third_party: false,
            };
            return Ok(Self { tenant_id, transport, from_address: config.from_address.clone(), from_name, destination, door: door.clone() });
        }
        let channels = db.channels(tenant_id, None, 1000).await?;
        let kinds = door.policies().kinds();
        let is_mailbox = |kind: &str| kinds.get(kind).is_some_and(|k| k.medium() == omnibridge_channel::Medium::Email);
        let Some(row) = channels.into_iter().find(|c| is_mailbox(&c.kind)) else { return Err(MailError::NoRelay) };
        let info = ChannelInfo::from_row(row);
        let settings = settings_with_secrets(keyring, &info).map_err(|e| MailError::Settings(e.to_string()))?;
        let settings = omnibridge_channel::kind::parse_settings::<omnibridge_email::EmailConfig>(&settings)
            .and_then(|c| c.validate())
            .map_err(|e| MailError::Settings(e.to_string()))?;
        let transport = smtp::transport(&settings.smtp, guard).await.map_err(|e| MailError::Settings(e.to_string()))?;
        let destination = door.policies().channel_destination(&info.kind, info.id, &info.settings);
        Ok(Self { tenant_id, transport, from_address: settings.from_address, from_name: settings.from_name, destination, door: door.clone() })
    }

    /// Sends one mail, once the egress door allowed (and recorded) the transfer to the relay.
    pub async fn send(&self, mail: &OperatorMail) -> Result<(), MailError> {
        self.door.operator_mail(self.tenant_id, &self.destination).await.map_err(|e| MailError::Refused(e.to_string()))?;
        let domain = self.from_address.rsplit('@').next().unwrap_or("omnibridge.invalid");
        let mut headers = vec![("Auto-Submitted", "auto-generated".to_owned())];
        headers.extend(mail.headers.iter().cloned());
        let outgoing = OutgoingMail {
            message_id: format!("{}@{domain}", Uuid::now_v7()),
            from_address: self.from_address.clone(),
            from_name: self.from_name.clone(),
            reply_to: None,
            to: mail.to.clone(),
            cc: Vec::new(),
            bcc: Vec::new(),
            subject: mail.subject.clone(),
            text: mail.text.clone(),
            thread_refs: Vec::new(),
            headers,
            attachments: Vec::new(),
        };
        smtp::send(&self.transport, &outgoing).await.map_err(|e| MailError::Send(e.to_string()))
    }
}

/// The tenants' mailers for one round of sending, each built once.
pub struct Mailers<'a> {
    db: &'a Db,
    keyring: &'a Keyring,
    door: &'a Door,
    config: &'a MailConfig,
    guard: omnibridge_channel::AddressGuard,
    built: std::collections::HashMap<Uuid, Result<Mailer, MailError>>,
}

impl<'a> Mailers<'a> {
    pub fn new(db: &'a Db, keyring: &'a Keyring, door: &'a Door, config: &'a crate::config::Config) -> Self {
        let guard = crate::net::outbound::guard(std::sync::Arc::new(crate::net::ssrf::AddressPolicy::new(config.outbound.allow_list())));
        Self { db, keyring, door, config: &config.mail, guard, built: std::collections::HashMap::new() }
    }

    /// The tenant's mailer, or why there is none.
    pub async fn of(&mut self, tenant_id: Uuid) -> Result<&Mailer, String> {
        if !self.built.contains_key(&tenant_id) {
            let built = Mailer::for_tenant(self.db, self.keyring, self.door, self.config, &self.guard, tenant_id).await;
            self.built.insert(tenant_id, built);
        }
        match self.built.get(&tenant_id) {
            Some(Ok(mailer)) => Ok(mailer),
            Some(Err(why)) => Err(why.to_string()),
            None => Err("no mailer".into()),
        }
    }
}

/// Sends invitations as operators are imported (woken by `wake`), retries failed ones, and
/// sends the daily summaries when they are due.
pub async fn run(db: Db, keyring: std::sync::Arc<Keyring>, door: Door, config: std::sync::Arc<crate::config::Config>, wake: std::sync::Arc<tokio::sync::Notify>, stop: tokio_util::sync::CancellationToken) {
    let every = std::time::Duration::from_secs(config.team.mail_retry_secs.max(1));
    loop {
        match crate::team::invitations::send_pending(&db, &keyring, &door, &config, None).await {
            Ok(crate::team::invitations::Sent { sent, failed }) if sent + failed > 0 => tracing::info!(sent, failed, "invitation mails"),
            Ok(_) => {}
            Err(err) => tracing::error!(error = %err, "sending invitation mails failed"),
        }
        match crate::team::summary::send_due(&db, &keyring, &door, &config).await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "daily summaries"),
            Err(err) => tracing::error!(error = %err, "sending daily summaries failed"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

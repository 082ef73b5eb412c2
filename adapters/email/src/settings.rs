//! A mailbox channel's settings, as tenants give them (`POST /v1/channels {"kind": "email",
//! "settings": {…}}`), and the typed form the IMAP and SMTP code uses.

use std::time::Duration;

use omnibridge_channel::SettingsError;
use serde::Deserialize;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS (IMAP 143, submission 587).
    Starttls,
    /// No TLS: only for a server on the same host or in tests.
    None,
}

/// The settings a tenant gives, secrets included (the hub seals them and never returns them).
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub imap_host: String,
    pub imap_port: u16,
    #[schema(inline)]
    pub imap_tls: TlsMode,
    pub imap_username: String,
    /// Sealed; never returned.
    #[schema(write_only)]
    pub imap_password: String,
    #[serde(default = "default_mailbox")]
    #[schema(default = "INBOX")]
    pub imap_mailbox: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    #[schema(inline)]
    pub smtp_tls: TlsMode,
    pub smtp_username: Option<String>,
    /// Sealed; never returned.
    #[schema(write_only)]
    pub smtp_password: Option<String>,
    pub from_address: String,
    pub from_name: Option<String>,
    /// `local+TOKEN@reply_domain` reply addresses when set.
    pub reply_domain: Option<String>,
    /// Seconds between checks when the server has no IDLE.
    pub poll_interval_secs: Option<u64>,
    /// PEM certificates to trust besides the public roots (a private CA or a self-signed server).
    pub tls_ca_pem: Option<String>,
    /// Where the SMTP relay processes mail (ISO 3166-1 alpha-2), who runs it, and the transfer
    /// mechanism when that is outside the tenant's region: the hub's routing policy decides on
    /// them before any mail leaves.
    pub relay_country: Option<String>,
    pub relay_operator: Option<String>,
    pub relay_transfer_mechanism: Option<String>,
    /// Closing lines added under every operator's reply (after the operator's own signature).
    pub signature: Option<String>,
}

fn default_mailbox() -> String {
    "INBOX".into()
}

#[derive(Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: String,
    pub mailbox: String,
    pub extra_roots: Vec<CertificateDer<'static>>,
}

#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct EmailSettings {
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
    pub from_address: String,
    pub from_name: Option<String>,
    pub reply_domain: Option<String>,
    pub poll_interval: Duration,
}

/// The longest signature a mailbox may have.
pub const MAX_SIGNATURE_CHARS: usize = 2000;

fn invalid(field: &'static str, detail: impl Into<String>) -> SettingsError {
    SettingsError::new(field, detail)
}

fn valid_address(text: &str) -> bool {
    let mut parts = text.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && d.contains('.') && !text.contains(char::is_whitespace))
}

impl EmailConfig {
    /// Checks every field and builds the typed settings; the first problem names its field.
    pub fn validate(self) -> Result<EmailSettings, SettingsError> {
        for (field, host) in [("imap_host", &self.imap_host), ("smtp_host", &self.smtp_host)] {
            if host.trim().is_empty() || host.contains(char::is_whitespace) {
                return Err(invalid(field, "must be a host name or address"));
            }
        }
        for (field, port) in [("imap_port", self.imap_port), ("smtp_port", self.smtp_port)] {
            if port == 0 {
                return Err(invalid(field, "must be a port from 1 to 65535"));
            }
        }
        if self.imap_username.is_empty() {
            return Err(invalid("imap_username", "must not be empty"));
        }
        if self.imap_mailbox.trim().is_empty() {
            return Err(invalid("imap_mailbox", "must not be empty"));
        }
        if !valid_address(&self.from_address) {
            return Err(invalid("from_address", "must be an email address"));
        }
        if self.smtp_username.is_some() != self.smtp_password.is_some() {
            return Err(invalid("smtp_password", "smtp_username and smtp_password come together"));
        }
        if let Some(domain) = &self.reply_domain
            && (!domain.contains('.') || domain.contains(['@', ' ']))
        {
            return Err(invalid("reply_domain", "must be a domain such as reply.example.com"));
        }
        if let Some(c) = &self.relay_country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(invalid("relay_country", "must be an ISO 3166-1 alpha-2 code such as \"DE\" or \"US\""));
        }
        if self.relay_operator.as_deref().is_some_and(|o| o.trim().is_empty() || o.chars().count() > 200) {
            return Err(invalid("relay_operator", "must be 1 to 200 characters"));
        }
        if let Some(m) = &self.relay_transfer_mechanism
            && !["adequacy", "dpf", "scc", "bcr", "none"].contains(&m.as_str())
        {
            return Err(invalid("relay_transfer_mechanism", "must be one of adequacy, dpf, scc, bcr, none"));
        }
        if self.signature.as_deref().is_some_and(|s| s.chars().count() > MAX_SIGNATURE_CHARS) {
            return Err(invalid("signature", format!("must be at most {MAX_SIGNATURE_CHARS} characters")));
        }
        let poll = self.poll_interval_secs.unwrap_or(60);
        if !(5..=3600).contains(&poll) {
            return Err(invalid("poll_interval_secs", "must be from 5 to 3600"));
        }
        let extra_roots = match &self.tls_ca_pem {
            None => Vec::new(),
            Some(pem) => {
                let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<_, _>>().map_err(|_| invalid("tls_ca_pem", "must be PEM certificates"))?;
                if certs.is_empty() {
                    return Err(invalid("tls_ca_pem", "must hold at least one PEM certificate"));
                }
                certs
            }
        };
        Ok(EmailSettings {
            imap: ImapSettings {
                host: self.imap_host.trim().to_owned(),
                port: self.imap_port,
                tls: self.imap_tls,
                username: self.imap_username,
                password: self.imap_password,
                mailbox: self.imap_mailbox.trim().to_owned(),
                extra_roots,
            },
            smtp: SmtpSettings {
                host: self.smtp_host.trim().to_owned(),
                port: self.smtp_port,
                tls: self.smtp_tls,
                username: self.smtp_username,
                password: self.smtp_password,
                ca_pem: self.tls_ca_pem,
            },
            from_address: self.from_address.trim().to_lowercase(),
            from_name: self.from_name,
            reply_domain: self.reply_domain,
            poll_interval: Duration::from_secs(poll),
        })
    }
}

omnibridge_channel::debug_redacted!(EmailConfig {
    imap_host, imap_port, imap_tls, imap_username, imap_mailbox, smtp_host, smtp_port, smtp_tls, smtp_username, from_address, from_name,
    reply_domain, poll_interval_secs, relay_country, relay_operator, relay_transfer_mechanism, signature,
} secret { imap_password, smtp_password, tls_ca_pem });
omnibridge_channel::debug_redacted!(ImapSettings { host, port, tls, username, mailbox } secret { password, extra_roots });
omnibridge_channel::debug_redacted!(SmtpSettings { host, port, tls, username, ca_pem } secret { password });

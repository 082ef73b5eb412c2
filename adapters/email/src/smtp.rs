//! SMTP out with lettre: one reply as a proper email reply (own `Message-ID`, `In-Reply-To`,
//! `References`), text plus HTML, and errors sorted into retry-later (4xx, connection) and
//! give-up (5xx, with the server's words).

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use omnibridge_channel::AdapterError;

use crate::settings::{SmtpSettings, TlsMode};

/// One mail to send.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Without angle brackets.
    pub message_id: String,
    pub from_address: String,
    pub from_name: Option<String>,
    pub reply_to: Option<String>,
    pub to: String,
    /// Copies, visible to every recipient.
    pub cc: Vec<String>,
    /// Blind copies: in the envelope only, never in the headers.
    pub bcc: Vec<String>,
    pub subject: String,
    pub text: String,
    /// Message-IDs this mail answers, newest first (without brackets).
    pub thread_refs: Vec<String>,
    /// Extra headers (`Auto-Submitted`, `List-Unsubscribe`, …).
    pub headers: Vec<(&'static str, String)>,
    pub attachments: Vec<omnibridge_channel::OutboundAttachment>,
}

pub type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The longest one send may take, connection and all.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A pooled transport for the settings, connecting to the address the host resolved to now
/// (checked by the guard; TLS still verifies the host's name).
pub async fn transport(settings: &SmtpSettings, guard: &omnibridge_channel::AddressGuard) -> Result<Transport, AdapterError> {
    let checked = crate::net::resolve(&settings.host, settings.port, guard).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => AdapterError::Config(format!("smtp_host: {e}")),
        _ => AdapterError::Transient(format!("cannot resolve {}: {e}", settings.host)),
    })?;
    let server = checked.first().map(|a| a.ip().to_string()).unwrap_or_else(|| settings.host.clone());
    let tls_parameters = || -> Result<TlsParameters, AdapterError> {
        let mut builder = TlsParameters::builder(settings.host.clone());
        if let Some(pem) = &settings.ca_pem {
            let cert = Certificate::from_pem(pem.as_bytes()).map_err(|e| AdapterError::Config(format!("tls_ca_pem: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        builder.build_rustls().map_err(|e| AdapterError::Config(format!("SMTP TLS: {e}")))
    };
    let tls = match settings.tls {
        TlsMode::Implicit => Tls::Wrapper(tls_parameters()?),
        TlsMode::Starttls => Tls::Required(tls_parameters()?),
        TlsMode::None => Tls::None,
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server)
        .port(settings.port)
        .tls(tls)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let (Some(user), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

fn mailbox(address: &str, name: Option<&str>, field: &str) -> Result<Mailbox, AdapterError> {
    let address = address.parse().map_err(|e| AdapterError::Permanent(format!("{field} {address:?} is not an address: {e}")))?;
    Ok(Mailbox::new(name.map(str::to_owned), address))
}

/// The HTML alternative of a plain-text reply: escaped, line breaks kept.
fn html_of(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    format!("<!doctype html><html><body><div style=\"white-space: pre-wrap\">{}</div></body></html>", escaped.replace('\n', "<br>\n"))
}

/// Builds the RFC 5322 message.
pub fn build(mail: &OutgoingMail) -> Result<Message, AdapterError> {
    let mut builder = Message::builder()
        .from(mailbox(&mail.from_address, mail.from_name.as_deref(), "from")?)
        .to(mailbox(&mail.to, None, "to")?)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}>", mail.message_id)));
    for cc in &mail.cc {
        builder = builder.cc(mailbox(cc, None, "cc")?);
    }
    // lettre puts `Bcc` addresses in the envelope and leaves the header out of the message.
    for bcc in &mail.bcc {
        builder = builder.bcc(mailbox(bcc, None, "bcc")?);
    }
    if let Some(reply_to) = &mail.reply_to {
        builder = builder.reply_to(mailbox(reply_to, None, "reply-to")?);
    }
    if let Some(parent) = mail.thread_refs.first() {
        builder = builder.in_reply_to(format!("<{parent}>"));
        // References: oldest first, the direct parent last.
        let refs: Vec<String> = mail.thread_refs.iter().rev().map(|r| format!("<{r}>")).collect();
        builder = builder.references(refs.join(" "));
    }
    for (name, value) in &mail.headers {
        builder = builder.raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(name), value.clone()));
    }
    let body = MultiPart::alternative_plain_html(mail.text.clone(), html_of(&mail.text));
    let body = if mail.attachments.is_empty() {
        body
    } else {
        let mut mixed = MultiPart::mixed().multipart(body);
        for a in &mail.attachments {
            let content_type = ContentType::parse(&a.content_type)
                .map_err(|_| AdapterError::Permanent(format!("attachment {:?}: bad content type {:?}", a.filename, a.content_type)))?;
            mixed = mixed.singlepart(Attachment::new(a.filename.clone()).body(a.data.clone(), content_type));
        }
        mixed
    };
    builder.multipart(body).map_err(|e| AdapterError::Permanent(format!("cannot build the mail: {e}")))
}

/// Sends one mail. 4xx and connection problems are transient; 5xx are permanent and carry the
/// server's reply.
pub async fn send(transport: &Transport, mail: &OutgoingMail) -> Result<(), AdapterError> {
    let message = build(mail)?;
    // Each SMTP command has its own timeout; this bounds the whole exchange too.
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
        Err(_) => Err(AdapterError::Transient(format!("SMTP: no answer within {} s", SEND_TIMEOUT.as_secs()))),
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) if e.is_permanent() => Err(AdapterError::Permanent(format!("the SMTP server refused the mail: {e}"))),
        Ok(Err(e)) => Err(AdapterError::Transient(format!("SMTP: {e}"))),
    }
}

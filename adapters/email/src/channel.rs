//! The email channel: a mailbox importer (IMAP IDLE, polling fallback, reconnect with backoff)
//! and SMTP sending, behind the SDK's `Channel` trait.
//!
//! What must outlive the process — where the importer stands in the mailbox (`uidvalidity:uid`),
//! mail that could not be parsed, bounces of our own mail — goes through the SDK's
//! [`ChannelHost`] port, which the hub implements. Mail that becomes a conversation goes to the `InboundSink`, like every channel's.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use omnibridge_channel::{
    AdapterError, Address, AddressKind, Channel, ChannelHost, IntakeError, DeliveryReport, DeliveryStatus, InboundAttachment, InboundExtras, InboundMessage, InboundTx,
    OutboundMessage, Receipt, RecentReceipts, Reconciled, Sender, SinkError, Technical,
};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::imap::{self, Cursor, Fetched, Session};
use crate::parse::{self, MailKind, ParsedMail};
use crate::settings::EmailSettings;
use crate::smtp::{self, OutgoingMail, Transport};
use omnibridge_channel::AddressGuard;

pub const KIND: &str = "email";
/// Mails fetched per round.
const FETCH_BATCH: usize = 50;
/// Attachments larger than this are recorded (name, type, size) without their content.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Longest IDLE before re-checking (servers drop IDLE after 30 minutes; RFC 2177).
const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

pub struct EmailChannel {
    pub channel_id: Uuid,
    settings: EmailSettings,
    store: Arc<dyn ChannelHost>,
    transport: Mutex<Option<Transport>>,
    /// Which addresses the mail servers may resolve to.
    guard: AddressGuard,
    /// Recent sends: a repeated send of a message answers the first receipt, not a second mail.
    sent: RecentReceipts,
}

/// Sends remembered per channel for idempotency.
const REMEMBERED_SENDS: usize = 4096;

impl EmailChannel {
    pub fn new(channel_id: Uuid, settings: EmailSettings, store: Arc<dyn ChannelHost>, guard: AddressGuard) -> Self {
        Self { channel_id, settings, store, transport: Mutex::new(None), guard, sent: RecentReceipts::new(REMEMBERED_SENDS) }
    }

    /// The domain our Message-IDs use: the sender address's.
    fn id_domain(&self) -> &str {
        self.settings.from_address.rsplit('@').next().unwrap_or("omnibridge.invalid")
    }

    /// One connected session: import what is there, then wait (IDLE or poll) and repeat.
    async fn session(&self, inbound: &InboundTx, shutdown: &CancellationToken) -> Result<(), IntakeError> {
        let mut session = imap::connect(&self.settings.imap, &self.guard).await.map_err(|e| e.to_string())?;
        let idle = imap::supports_idle(&mut session).await.map_err(|e| e.to_string())?;
        self.store.health(self.channel_id, None).await;
        loop {
            while self.import_round(&mut session, inbound).await? == FETCH_BATCH {}
            if idle {
                let wait = self.settings.poll_interval.clamp(Duration::from_secs(1), MAX_IDLE);
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    result = imap::idle(session, wait) => session = result.map_err(|e| e.to_string())?,
                }
            } else {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                }
            }
        }
    }

    /// Fetches and handles one batch above the cursor; returns how many mails it fetched.
    async fn import_round(&self, session: &mut Session, inbound: &InboundTx) -> Result<usize, IntakeError> {
        let stored = self.store.cursor(self.channel_id).await.map_err(|e| e.to_string())?.and_then(|c| parse_cursor(&c)).unwrap_or_default();
        let (mut cursor, mails) =
            imap::fetch_new(session, &self.settings.imap.mailbox, stored, FETCH_BATCH).await.map_err(|e| e.to_string())?;
        if stored.uid_validity != 0 && cursor.uid_validity != stored.uid_validity {
            tracing::warn!(channel_id = %self.channel_id, "UIDVALIDITY changed: rescanning the mailbox (Message-IDs prevent duplicates)");
        }
        if cursor != stored {
            self.save_cursor(cursor).await?;
        }
        let fetched = mails.len();
        for mail in mails {
            self.handle(&mail, cursor.uid_validity, inbound).await?;
            cursor.last_uid = mail.uid;
            self.save_cursor(cursor).await?;
        }
        Ok(fetched)
    }

    /// Imports one mail. Only a hub that cannot take it now (`Unavailable`) stops the round; the
    /// cursor then stays before this mail.
    async fn handle(&self, mail: &Fetched, uid_validity: u32, inbound: &InboundTx) -> Result<(), IntakeError> {
        if let Some(size) = mail.too_large {
            let reason = format!("{size} bytes, larger than the {} the importer takes; only its header is kept", imap::MAX_MAIL_BYTES);
            return self.quarantine(mail, &reason).await;
        }
        let parsed = match parse::parse(&mail.raw) {
            Ok(parsed) => parsed,
            Err(e) => return self.quarantine(mail, &e.to_string()).await,
        };
        match &parsed.kind {
            MailKind::Conversation => {}
            MailKind::Automatic { reason } => {
                tracing::debug!(channel_id = %self.channel_id, uid = mail.uid, reason, "automatic mail: not a conversation");
                return Ok(());
            }
            MailKind::Bounce(bounce) => {
                let Some(original) = bounce.original_message_id.clone() else {
                    let error = format!("a bounce that names no message of ours: {}", bounce.reason);
                    return self.quarantine(mail, &error).await;
                };
                // The code first, as the hub reads it: "5.1.1 bounced: 550 5.1.1 user unknown".
                let words = match &bounce.status {
                    Some(status) => format!("{status} bounced: {}", bounce.reason),
                    None => format!("bounced: {}", bounce.reason),
                };
                let report = if bounce.delayed {
                    // The server keeps trying: history only.
                    DeliveryReport { message_id: None, provider_id: Some(original), status: DeliveryStatus::Sent, failure: None, gave_up: false }
                } else {
                    let failure = if bounce.is_transient() { AdapterError::Transient(words) } else { AdapterError::Permanent(words) };
                    // The receiving server retried already before bouncing: no blind resend.
                    DeliveryReport { message_id: None, provider_id: Some(original), status: DeliveryStatus::Failed, failure: Some(failure), gave_up: true }
                };
                return self.store.report(self.channel_id, report).await.map_err(IntakeError::from);
            }
        }
        let fallback_id = format!("uid-{uid_validity}-{}@{}", mail.uid, self.settings.imap.mailbox);
        match inbound.accept(to_inbound(self.channel_id, parsed, fallback_id)).await {
            Ok(_) => Ok(()),
            Err(SinkError::Rejected(reason)) => self.quarantine(mail, &reason).await,
            Err(SinkError::Unavailable(reason)) => Err(IntakeError(format!("the hub cannot take mail now: {reason}"))),
        }
    }

    async fn save_cursor(&self, cursor: Cursor) -> Result<(), IntakeError> {
        let text = format!("{}:{}", cursor.uid_validity, cursor.last_uid);
        self.store.save_cursor(self.channel_id, &text).await.map_err(IntakeError::from)
    }

    /// A mail that could not be imported: kept raw with the reason, for people to look at.
    async fn quarantine(&self, mail: &Fetched, reason: &str) -> Result<(), IntakeError> {
        self.store.quarantine(self.channel_id, i64::from(mail.uid), &mail.raw, reason).await.map_err(IntakeError::from)
    }

    async fn transport(&self) -> Result<Transport, AdapterError> {
        let mut slot = self.transport.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let t = smtp::transport(&self.settings.smtp, &self.guard).await?;
        *slot = Some(t.clone());
        Ok(t)
    }
}

/// A stored mailbox position, `uidvalidity:uid`.
fn parse_cursor(text: &str) -> Option<Cursor> {
    let (validity, uid) = text.split_once(':')?;
    Some(Cursor { uid_validity: validity.parse().ok()?, last_uid: uid.parse().ok()? })
}

/// The hub's view of a parsed mail.
pub fn to_inbound(channel_id: Uuid, parsed: ParsedMail, fallback_id: String) -> InboundMessage {
    let attachments = parsed
        .attachments
        .into_iter()
        .map(|a| {
            let size = a.data.len();
            let data = if size <= MAX_ATTACHMENT_BYTES { a.data } else { Vec::new() };
            InboundAttachment { filename: a.filename, content_type: a.content_type, data, size, remote: None }
        })
        .collect();
    InboundMessage {
        channel_id,
        external_id: parsed.message_id.unwrap_or(fallback_id),
        sender: Sender { address: Address::new(AddressKind::Email, &parsed.from_address), display_name: parsed.from_name },
        text: parsed.text,
        technical: Technical::default(),
        extras: InboundExtras {
            thread_refs: parsed.thread_refs,
            recipients: parsed.recipients,
            subject: parsed.subject,
            quote_start: parsed.quote_start,
            attachments,
            no_auto_reply: parsed.no_auto_reply,
            ..InboundExtras::default()
        },
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    async fn healthcheck(&self) -> Result<(), AdapterError> {
        let mut session = imap::connect(&self.settings.imap, &self.guard).await.map_err(|e| AdapterError::Transient(e.to_string()))?;
        let _ = session.logout().await;
        Ok(())
    }

    /// Imports mail until `shutdown`; reconnects with backoff (1 s doubling to 5 min) whenever
    /// the connection or the server fails, and reports the last error as the channel's health.
    async fn run(&self, inbound: InboundTx, shutdown: CancellationToken) -> Result<(), AdapterError> {
        let mut backoff = Duration::from_secs(1);
        while !shutdown.is_cancelled() {
            match self.session(&inbound, &shutdown).await {
                Ok(()) => break,
                Err(error) => {
                    tracing::warn!(channel_id = %self.channel_id, %error, "mailbox import failed; reconnecting");
                    self.store.health(self.channel_id, Some(error.to_string())).await;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        Ok(())
    }

    /// Sends a reply. The Message-ID is derived from the hub's message id, so a retried send
    /// carries the same one (receivers and our own threading see one message).
    async fn send(&self, message: &OutboundMessage) -> Result<Receipt, AdapterError> {
        if message.to.kind != AddressKind::Email {
            return Err(AdapterError::Permanent(format!("cannot email a {} address", message.to.kind.as_str())));
        }
        if let Some(receipt) = self.sent.get(message) {
            return Ok(receipt);
        }
        let message_id = format!("{}@{}", message.id.simple(), self.id_domain());
        let subject = message.extras.subject.clone().unwrap_or_else(|| "Your message".into());
        let subject = if message.extras.thread_refs.is_empty() || subject.to_ascii_lowercase().starts_with("re:") {
            subject
        } else {
            format!("Re: {subject}")
        };
        let mut headers = Vec::new();
        if message.extras.automatic {
            headers.push(("Auto-Submitted", "auto-replied".to_owned()));
        }
        if let Some(url) = &message.extras.unsubscribe_url {
            let mailto = message.extras.unsubscribe_mailto.as_ref().map(|m| format!(", <mailto:{m}>")).unwrap_or_default();
            headers.push(("List-Unsubscribe", format!("<{url}>{mailto}")));
            headers.push(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click".to_owned()));
        }
        let mail = OutgoingMail {
            message_id: message_id.clone(),
            from_address: self.settings.from_address.clone(),
            from_name: self.settings.from_name.clone(),
            reply_to: message.extras.reply_to.clone(),
            to: message.to.value.clone(),
            cc: message.extras.cc.clone(),
            bcc: message.extras.bcc.clone(),
            subject,
            text: message.text.clone(),
            thread_refs: message.extras.thread_refs.clone(),
            headers,
            attachments: message.extras.attachments.clone(),
        };
        smtp::send(&self.transport().await?, &mail).await?;
        let receipt = Receipt { external_id: Some(message_id), status: DeliveryStatus::Sent };
        self.sent.remember(message, &receipt);
        Ok(receipt)
    }

    /// SMTP cannot be asked whether a mail went; but the Message-ID is the key: a repeat
    /// carries the same one, and mail clients and our own threading show one message.
    async fn reconcile(&self, _message: &OutboundMessage) -> Result<Reconciled, AdapterError> {
        Ok(Reconciled::NotSent)
    }
}

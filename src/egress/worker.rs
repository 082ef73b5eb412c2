//! The send worker: claims queued outbound messages, passes each through the door, and records
//! the outcome with its events in one transaction. Woken at once when a message is queued, and
//! on a timer for retries and for claims a dead process left to expire.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use omnibridge_channel::{AdapterError, DeliveryStatus, OutboundAttachment, OutboundExtras, OutboundMessage, Receipt, Reconciled};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::window::{Allowance, Window};
use super::{Copy, Door, EgressError, Recipient, Transfer};
use uuid::Uuid;
use crate::events::WorkError;
use crate::events::outbox::UnitOfWork;
use crate::consent::{self, NewConsent};
use crate::channels::{ChannelInfo, Channels};
use crate::domain::delivery::{Failure, FailureClass, Status};
use crate::domain::events::{self, Event};
use omnibridge_channel::ChannelKind;

use crate::domain::rfc3339;
use crate::events::outbox::{self, EventBus};
use crate::events::present::{self, fields};
use crate::privacy::Keyring;
use crate::store::{self, Db, QueuedMessage};

/// Why a copy to a marked address is left out.
const UNDELIVERABLE: &str = "undeliverable: the address bounced repeatedly on this channel";

/// A further recipient of a mail, opened.
struct OpenRecipient {
    id: Uuid,
    role: String,
    address: String,
}

/// Who holds a copy's address.
enum Holder {
    /// The contact whose verified address it is, if any.
    Contact(Option<Uuid>),
    Undeliverable,
}

/// The purpose of one-click unsubscribe link tokens.
pub const UNSUBSCRIBE: &str = "unsubscribe";
/// Before the token in a mailto unsubscribe address: `local+unsubscribe-TOKEN@reply_domain`.
pub const UNSUBSCRIBE_PREFIX: &str = "unsubscribe-";

pub struct SendWorker {
    pub db: Db,
    pub door: Door,
    pub keyring: Arc<Keyring>,
    pub channels: Arc<Channels>,
    pub bus: EventBus,
    pub wake: Arc<Notify>,
    pub batch: usize,
    pub lease: Duration,
    pub poll_interval: Duration,
    pub max_attempts: i64,
    /// The hub's public base URL, for links in outbound mail.
    pub public_url: String,
}

/// How one attempt ended.
enum Outcome {
    Done(Receipt),
    /// A transient failure with attempts left: queued again after the delay.
    Retry { failure: Failure, after: Duration },
    Failed(Failure),
    /// The provider says the recipient opted out: the message fails and the ledger records the
    /// withdrawal, so nothing else is tried until they opt back in.
    /// `purpose` is what they stopped: everything, or marketing only.
    OptedOut { failure: Failure, medium: &'static str, to: omnibridge_channel::Address, purpose: &'static str },
    /// The provider's answer to an earlier attempt was lost and the provider cannot be asked.
    Unknown(Failure),
}

/// A message ready to go: what the adapter gets, and the transfer the door records.
struct Prepared {
    message: OutboundMessage,
    transfer: Transfer,
    /// Mail's further recipients for the door to decide, with their recipient rows.
    copies: Vec<(Uuid, Copy)>,
    /// Further recipients settled before the door: (recipient row, what became of them).
    settled: Vec<RecipientOutcome>,
    adapter: Arc<dyn omnibridge_channel::Channel>,
    medium: &'static str,
    provider: &'static str,
}

/// What became of one further recipient of a mail: `None` they got it, else why not.
type RecipientOutcome = (Uuid, Option<String>);

impl SendWorker {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            // Sends a dead process left without an answer: asked about before anything else.
            match store::messages::claim_unanswered(&self.db, self.lease.as_micros() as i64, self.batch).await {
                Ok(claimed) => {
                    join_all(claimed.into_iter().map(|q| self.reconcile(q))).await;
                }
                Err(err) => tracing::error!(error = %err, "claiming unanswered sends failed"),
            }
            loop {
                match store::messages::claim_queued(&self.db, self.lease.as_micros() as i64, self.batch).await {
                    Ok(claimed) if claimed.is_empty() => break,
                    Ok(claimed) => {
                        join_all(claimed.into_iter().map(|q| self.deliver(q))).await;
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "claiming outbound messages failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
            }
        }
    }

    async fn deliver(&self, queued: QueuedMessage) {
        let (outcome, recipients) = match self.prepare(&queued).await {
            Ok(prepared) => self.send(&queued, prepared).await,
            Err(outcome) => (outcome, Vec::new()),
        };
        if let Err(err) = self.record(&queued, outcome, &recipients).await {
            // The lease expires and the send is reconciled before anything is resent.
            tracing::error!(message_id = %queued.id, error = %err, "recording a send outcome failed");
        }
    }

    /// A send whose answer was never recorded: the provider says whether it arrived (then it is
    /// recorded as sent), that it did not or that repeating it is harmless (then it goes), or
    /// cannot say (then it is `unknown`, for a person to decide — never resent blindly).
    async fn reconcile(&self, queued: QueuedMessage) {
        let (outcome, recipients) = match self.prepare(&queued).await {
            Ok(prepared) => match prepared.adapter.reconcile(&prepared.message).await {
                Ok(Reconciled::Sent(receipt)) => (Outcome::Done(receipt), Vec::new()),
                Ok(Reconciled::NotSent) => self.send(&queued, prepared).await,
                Ok(Reconciled::Unknown) => (Outcome::Unknown(Failure {
                    class: FailureClass::Permanent,
                    code: Some("answer_lost".into()),
                    reason: "the provider's answer to this send was lost and it cannot be asked; the message may have arrived — retry only if it did not".into(),
                    provider: prepared.provider.into(),
                }), Vec::new()),
                Err(err) if err.is_retryable() => {
                    // Ask again once the lease runs out.
                    tracing::warn!(message_id = %queued.id, error = %err, "reconciling a send failed; asking again later");
                    return;
                }
                Err(err) => (Outcome::Failed(Failure::from_adapter(&err, prepared.provider)), Vec::new()),
            },
            Err(outcome) => (outcome, Vec::new()),
        };
        tracing::info!(message_id = %queued.id, "a send without a recorded answer was reconciled");
        if let Err(err) = self.record(&queued, outcome, &recipients).await {
            tracing::error!(message_id = %queued.id, error = %err, "recording a reconciled send failed");
        }
    }

    /// Everything the send needs, opened and checked; or why it cannot go.
    async fn prepare(&self, q: &QueuedMessage) -> Result<Prepared, Outcome> {
        let channel = match self.channels.get(q.channel_id).await {
            Ok(Some(channel)) => channel,
            Ok(None) => return Err(Outcome::Failed(Failure::hub("channel_deleted", "the channel was deleted"))),
            Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
        };
        let (Some(kind), Some(adapter)) = (self.channels.kind_of(&channel), self.channels.adapter(&channel)) else {
            return Err(Outcome::Failed(Failure::hub("channel_unavailable", format!("no adapter for channel kind {}", channel.kind))));
        };
        // Mail may go to further people (copies), or to someone else instead (a forward).
        let recipients = if kind.capabilities().carbon_copies {
            match self.recipients(q).await {
                Ok(recipients) => recipients,
                Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
            }
        } else {
            Vec::new()
        };
        let forward_to = recipients.iter().find(|r| r.role == "to");
        let (text, to) = match forward_to {
            Some(r) => match self.open_text(q).await {
                Ok(text) => (text, omnibridge_channel::Address::new(kind.address_kind(), &r.address)),
                Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
            },
            None => {
                let (text, to, identity_id) = match self.open_message(q, kind.address_kind()).await {
                    Ok(Some(found)) => found,
                    Ok(None) => return Err(Outcome::Failed(Failure::hub("no_address", "the contact has no address on this channel"))),
                    Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
                };
                match self.undeliverable(q, identity_id).await {
                    Ok(false) => {}
                    Ok(true) => {
                        return Err(Outcome::Failed(Failure::hub("undeliverable", "the address bounced repeatedly on this channel and is marked undeliverable until the person writes from it again")));
                    }
                    Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
                }
                (text, to)
            }
        };
        let mut extras = match self.extras(q, &channel, kind).await {
            Ok(extras) => extras,
            Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
        };
        extras.attempt = u32::try_from(q.resends).unwrap_or(u32::MAX);
        if forward_to.is_some() {
            // A forward starts a thread of its own with its addressee.
            extras.thread_refs.clear();
        }
        if let Err(err) = self.template_and_quote(q, &mut extras).await {
            return Err(self.retry_or_fail(q, err.to_string()));
        }
        // The window may have closed while the message waited.
        match Window::of(&self.db, kind, q.contact_id, q.channel_id).await {
            Ok(Some(window)) if extras.template.is_none() => match window.allowance(store::now_micros(), q.author_type == "operator") {
                Allowance::Free => {}
                Allowance::HumanAgent => extras.human_agent = true,
                Allowance::TemplateOnly => return Err(Outcome::Failed(Failure::hub("window_closed", window.refusal(kind).to_string()))),
            },
            Ok(_) => {}
            Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
        }
        // Channels that show an author (the widget) name the operator who wrote it.
        let author_name = match (q.author_type.as_str(), q.author_id, kind.capabilities().live_sessions) {
            ("operator", Some(id), true) => self.db.operator(q.tenant_id, id).await.ok().flatten().map(|o| o.name),
            _ => None,
        };
        let message = OutboundMessage {
            id: q.id,
            channel_id: q.channel_id,
            conversation_id: q.conversation_id,
            to,
            text,
            created_at: rfc3339(q.created_at),
            author_name,
            extras,
        };
        let medium = kind.medium().as_str();
        let has_files = !message.extras.attachments.is_empty();
        let transfer = |contact_id: Option<Uuid>, address_index: Vec<u8>| Transfer {
            tenant_id: q.tenant_id,
            contact_id,
            message_id: Some(q.id),
            destination: self.door.policies().channel_destination(&channel.kind, channel.id, &channel.settings),
            categories: self.door.policies().channel_categories(&channel.kind, has_files),
            recipient: Some(Recipient { medium, address_index, purpose: q.purpose.clone() }),
        };
        // The contact (or a forward's addressee), then each further recipient on their own.
        let primary = transfer(Some(q.contact_id), self.keyring.blind_index(q.tenant_id, &message.to));
        let (mut copies, mut settled) = (Vec::new(), Vec::new());
        for r in recipients {
            let address = omnibridge_channel::Address::new(kind.address_kind(), &r.address);
            if r.role == "to" || address == message.to {
                settled.push((r.id, None));
                continue;
            }
            let index = self.keyring.blind_index(q.tenant_id, &address);
            match self.copy_holder(q, kind.address_kind(), &index).await {
                Ok(Holder::Undeliverable) => settled.push((r.id, Some(UNDELIVERABLE.into()))),
                Ok(Holder::Contact(holder)) => copies.push((r.id, Copy { address: address.value, blind: r.role == "bcc", transfer: transfer(holder, index) })),
                Err(err) => return Err(self.retry_or_fail(q, err.to_string())),
            }
        }
        Ok(Prepared { message, transfer: primary, copies, settled, adapter, medium, provider: kind.hook_name() })
    }

    /// A mail's further recipients (copies, blind copies, a forward's addressee), opened.
    async fn recipients(&self, q: &QueuedMessage) -> Result<Vec<OpenRecipient>, WorkError> {
        let rows = store::participants::recipients_of(&self.db, &[q.id]).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.keyring.data_key(&self.db, q.tenant_id, q.contact_id).await?;
        rows.into_iter()
            .map(|r| Ok(OpenRecipient { address: key.open(fields::RECIPIENT_ADDRESS, r.id, &r.address)?, id: r.id, role: r.role }))
            .collect()
    }

    /// Who holds a copy's address as their own (whose restriction the door asks about), or
    /// that the address is marked undeliverable on the channel.
    async fn copy_holder(&self, q: &QueuedMessage, address_kind: omnibridge_channel::AddressKind, index: &[u8]) -> Result<Holder, WorkError> {
        let found = store::contacts::identities_by_indexes(&self.db, &[(q.tenant_id, address_kind.as_str(), index)], true).await?;
        let Some(holder) = found.first() else { return Ok(Holder::Contact(None)) };
        if let Some(identity) = store::contacts::identity_for_kind(&self.db, q.tenant_id, holder.contact_id, address_kind.as_str()).await?
            && store::undeliverable::marked_at(&self.db, q.channel_id, identity.id).await?.is_some()
        {
            return Ok(Holder::Undeliverable);
        }
        Ok(Holder::Contact(Some(holder.contact_id)))
    }

    /// Through the door (consent, policy and restriction checked as the message leaves, not
    /// when it was written) to the provider; with what became of each further recipient.
    async fn send(&self, q: &QueuedMessage, prepared: Prepared) -> (Outcome, Vec<RecipientOutcome>) {
        let Prepared { message, transfer, copies, mut settled, adapter, medium, provider } = prepared;
        let sent = if copies.is_empty() && settled.is_empty() {
            self.door.send(&transfer, adapter.as_ref(), &message).await
        } else {
            let (rows, copies): (Vec<Uuid>, Vec<Copy>) = copies.into_iter().unzip();
            self.door.send_with_copies(&transfer, &copies, adapter.as_ref(), &message).await.map(|(receipt, left_out)| {
                settled.extend(rows.into_iter().zip(left_out));
                receipt
            })
        };
        let outcome = self.outcome(q, sent, message, medium, provider);
        if !matches!(outcome, Outcome::Done(_)) {
            settled.clear();
        }
        (outcome, settled)
    }

    /// How one attempt ended, from the door's answer.
    fn outcome(&self, q: &QueuedMessage, sent: Result<Receipt, EgressError>, message: OutboundMessage, medium: &'static str, provider: &'static str) -> Outcome {
        match sent {
            Ok(receipt) => Outcome::Done(receipt),
            Err(EgressError::ConsentMissing(reason)) => Outcome::Failed(Failure::hub("consent_missing", reason)),
            Err(EgressError::Restricted(reason)) => Outcome::Failed(Failure::hub("restricted", reason)),
            Err(err @ EgressError::PolicyBlocked { .. }) => Outcome::Failed(Failure::hub("policy_blocked", err.to_string())),
            Err(EgressError::WindowClosed { reason, .. }) => Outcome::Failed(Failure::hub("window_closed", reason)),
            Err(EgressError::Adapter(err @ AdapterError::RecipientOptedOut(_))) => {
                Outcome::OptedOut { failure: Failure::from_adapter(&err, provider), medium, to: message.to, purpose: consent::purposes::ALL }
            }
            Err(EgressError::Adapter(err @ AdapterError::MarketingOptedOut(_))) => {
                Outcome::OptedOut { failure: Failure::from_adapter(&err, provider), medium, to: message.to, purpose: consent::purposes::MARKETING }
            }
            Err(EgressError::Adapter(err @ AdapterError::RateLimited { retry_after })) if q.attempts < self.max_attempts => {
                Outcome::Retry { failure: Failure::from_adapter(&err, provider), after: retry_after }
            }
            Err(EgressError::Adapter(err)) if err.is_retryable() => self.retry_or_fail_with(q, Failure::from_adapter(&err, provider)),
            Err(EgressError::Adapter(err)) => Outcome::Failed(Failure::from_adapter(&err, provider)),
            Err(err @ (EgressError::Store(_) | EgressError::Keys(_))) => self.retry_or_fail(q, err.to_string()),
        }
    }

    /// Whether the address is marked undeliverable on the channel. A person who wrote from it
    /// since it was marked shows it works again: the mark goes.
    async fn undeliverable(&self, q: &QueuedMessage, identity_id: uuid::Uuid) -> Result<bool, WorkError> {
        let Some(marked_at) = store::undeliverable::marked_at(&self.db, q.channel_id, identity_id).await? else { return Ok(false) };
        let wrote_since = store::messages::last_inbound_at(&self.db, q.contact_id, q.channel_id).await?.is_some_and(|wrote| wrote > marked_at);
        if wrote_since {
            store::undeliverable::clear(&self.db, q.channel_id, q.contact_id).await?;
            return Ok(false);
        }
        Ok(true)
    }

    /// The message text, decrypted.
    async fn open_text(&self, q: &QueuedMessage) -> Result<String, WorkError> {
        let key = self.keyring.data_key(&self.db, q.tenant_id, q.contact_id).await?;
        Ok(key.open(fields::MESSAGE_TEXT, q.id, &q.text)?)
    }

    /// The message text and the contact's address on the channel's kind (and its identity),
    /// decrypted.
    async fn open_message(&self, q: &QueuedMessage, address_kind: omnibridge_channel::AddressKind) -> Result<Option<(String, omnibridge_channel::Address, uuid::Uuid)>, WorkError> {
        let key = self.keyring.data_key(&self.db, q.tenant_id, q.contact_id).await?;
        let text = key.open(fields::MESSAGE_TEXT, q.id, &q.text)?;
        // A message addressed to one identity (a transcript to a confirmed address) goes there
        // or nowhere; others go to the contact's best address on the kind, verified first.
        let identity = match q.recipient_identity_id {
            Some(id) => store::contacts::identity(&self.db, q.contact_id, id).await?.filter(|i| i.kind == address_kind.as_str()),
            None => store::contacts::identity_for_kind(&self.db, q.tenant_id, q.contact_id, address_kind.as_str()).await?,
        };
        let Some(identity) = identity else { return Ok(None) };
        let value = key.open(fields::IDENTITY_ADDRESS, q.contact_id, &identity.address)?;
        Ok(Some((text, omnibridge_channel::Address { kind: address_kind, value }, identity.id)))
    }

    /// What the channel needs beyond the text, as its kind can carry it: files; for threading
    /// kinds (mail) the threading ids, the subject, the reply address and the unsubscribe link.
    async fn extras(&self, q: &QueuedMessage, channel: &ChannelInfo, kind: &dyn ChannelKind) -> Result<OutboundExtras, WorkError> {
        let capabilities = kind.capabilities();
        if !capabilities.attachments && !capabilities.threading {
            return Ok(OutboundExtras::default());
        }
        let key = self.keyring.data_key(&self.db, q.tenant_id, q.contact_id).await?;
        let mut attachments = Vec::new();
        for a in store::attachments::full_for_message(&self.db, q.id).await? {
            let Some(sealed) = &a.data else { continue };
            attachments.push(OutboundAttachment {
                filename: key.open_opt(fields::ATTACHMENT_FILENAME, a.id, a.filename.as_deref())?.unwrap_or_default(),
                content_type: a.content_type.clone(),
                data: key.open_bytes(fields::ATTACHMENT_DATA, a.id, sealed)?,
            });
        }
        if !capabilities.threading {
            return Ok(OutboundExtras { attachments, ..OutboundExtras::default() });
        }
        // Mail: the conversation's earlier mail ids (threading headers), the subject the thread
        // started with, the reply address, and for marketing an unsubscribe link.
        let thread_refs = store::mailboxes::thread_ids(&self.db, q.conversation_id, q.channel_id, 20).await?;
        let sealed_subject = store::mailboxes::subject(&self.db, q.conversation_id).await?;
        let subject = key.open_opt(fields::CONVERSATION_SUBJECT, q.conversation_id, sealed_subject.as_deref())?;
        // The hub's own messages may carry their own subject (a transcript, a confirmation).
        let subject = q.subject.clone().or(subject);
        // Addresses the kind tags (`local+TAG@reply_domain`) route replies back to the hub.
        let reply_to = kind.reply_address(&channel.settings, &self.keyring.reply_token(q.tenant_id, q.channel_id, q.conversation_id));
        // Marketing mail offers one-click unsubscribe (RFC 8058) …
        let marketing = q.purpose == crate::consent::purposes::MARKETING && capabilities.unsubscribe_link;
        let unsubscribe_url = marketing.then(|| {
            let token = self.keyring.link_token(UNSUBSCRIBE, q.tenant_id, q.channel_id, q.contact_id);
            format!("{}{}", self.public_url, omnibridge_channel::kind::hook_path(kind, q.channel_id, &format!("/unsubscribe/{token}")))
        });
        // … and a mailto: writing to it unsubscribes (the ingest batch reads it).
        let unsubscribe_mailto = marketing
            .then(|| kind.reply_address(&channel.settings, &format!("{UNSUBSCRIBE_PREFIX}{}", self.keyring.link_token(UNSUBSCRIBE, q.tenant_id, q.channel_id, q.contact_id))))
            .flatten();
        // The hub's own messages (away notices, HELP answers, transcripts) are automatic mail
        // (RFC 3834 Auto-Submitted), so other robots do not answer them.
        let automatic = q.author_type == "system";
        Ok(OutboundExtras { thread_refs, subject, reply_to, automatic, unsubscribe_url, unsubscribe_mailto, attachments, ..OutboundExtras::default() })
    }

    /// A template send's template and parameters (opened), and the provider id of the message
    /// this one quotes.
    async fn template_and_quote(&self, q: &QueuedMessage, extras: &mut OutboundExtras) -> Result<(), WorkError> {
        if let Some(sealed) = &q.template {
            let key = self.keyring.data_key(&self.db, q.tenant_id, q.contact_id).await?;
            let json = key.open(fields::MESSAGE_TEMPLATE, q.id, sealed)?;
            extras.template = serde_json::from_str(&json).ok();
        }
        if let Some(quoted) = q.quoted_id {
            extras.quoted = store::messages::get(&self.db, q.tenant_id, quoted).await?.and_then(|m| m.external_id);
        }
        Ok(())
    }

    /// A failure inside the hub (the store, the keys): worth another attempt.
    fn retry_or_fail(&self, q: &QueuedMessage, error: String) -> Outcome {
        let failure = Failure { class: FailureClass::Transient, code: Some("hub_unavailable".into()), reason: error, provider: "hub".into() };
        self.retry_or_fail_with(q, failure)
    }

    fn retry_or_fail_with(&self, q: &QueuedMessage, failure: Failure) -> Outcome {
        if q.attempts >= self.max_attempts {
            return Outcome::Failed(failure);
        }
        // 1 s, 2 s, 4 s … capped at 5 minutes.
        let after = Duration::from_secs(1u64 << q.attempts.clamp(0, 8) as u32).min(Duration::from_secs(300));
        Outcome::Retry { failure, after }
    }

    async fn record(&self, q: &QueuedMessage, outcome: Outcome, recipients: &[RecipientOutcome]) -> Result<(), WorkError> {
        let key = self.keyring.data_key(&self.db, q.tenant_id, q.contact_id).await?;
        let mut work = UnitOfWork::begin(&self.db, &self.bus).await?;
        let (status, external_id, failure, next) = match &outcome {
            Outcome::Done(receipt) => (receipt.status.as_str(), receipt.external_id.as_deref(), None, None),
            Outcome::Retry { failure, after } => (Status::Queued.as_str(), None, Some(failure), Some(store::now_micros() + after.as_micros() as i64)),
            Outcome::Failed(failure) | Outcome::OptedOut { failure, .. } => (Status::Failed.as_str(), None, Some(failure), None),
            Outcome::Unknown(failure) => (Status::Unknown.as_str(), None, Some(failure), None),
        };
        if let Outcome::OptedOut { medium, to, purpose, failure } = &outcome {
            let withdrawal = NewConsent::provider_withdrawal(&self.keyring, &key, q.tenant_id, q.contact_id, q.channel_id, medium, to, purpose, q.id, &failure.reason)?;
            let (_, changed) = consent::record(work.tx(), &key, &[withdrawal]).await?;
            work.appended(changed);
        }
        store::messages::record_attempt(work.tx(), q.id, status, external_id, failure, next).await?;
        for (id, left_out) in recipients {
            let status = if left_out.is_some() { "refused" } else { "sent" };
            store::participants::set_outcome(work.tx(), *id, status, left_out.as_deref()).await?;
        }
        // Every change of status is a `message.updated`, with the status and the reason.
        let event_types: &[&'static str] = match &outcome {
            Outcome::Done(r) if r.status == DeliveryStatus::Delivered => &[events::MESSAGE_UPDATED, events::MESSAGE_SENT, events::MESSAGE_DELIVERED],
            Outcome::Done(_) => &[events::MESSAGE_UPDATED, events::MESSAGE_SENT],
            Outcome::Failed(_) | Outcome::OptedOut { .. } => &[events::MESSAGE_UPDATED, events::MESSAGE_FAILED],
            Outcome::Retry { .. } | Outcome::Unknown(_) => &[events::MESSAGE_UPDATED],
        };
        let row = store::messages::get(work.tx(), q.tenant_id, q.id).await?.ok_or(WorkError::Vanished("the message"))?;
        let view = present::message(&row, &key)?;
        for event_type in event_types {
            let sequence = outbox::next_sequence(work.tx(), q.conversation_id).await?;
            let event = Event::in_conversation(q.tenant_id, event_type, q.contact_id, q.conversation_id, sequence, &view);
            work.append(Some(&key), event).await?;
        }
        work.commit().await?;
        // Statuses that overtook this answer waited for the provider's id.
        if let Outcome::Done(Receipt { external_id: Some(external_id), .. }) = &outcome {
            let channel = self.channels.get(q.channel_id).await?;
            let kind = channel.as_deref().and_then(|c| self.channels.kind_of(c));
            self.channels.reports().apply_waiting(q.tenant_id, q.id, q.channel_id, external_id, kind).await?;
        }
        match &outcome {
            Outcome::Done(_) => metrics::counter!("omnibridge_messages_sent_total").increment(1),
            Outcome::Failed(_) | Outcome::OptedOut { .. } => metrics::counter!("omnibridge_messages_failed_total").increment(1),
            Outcome::Unknown(_) => metrics::counter!("omnibridge_messages_unknown_total").increment(1),
            Outcome::Retry { .. } => metrics::counter!("omnibridge_send_retries_total").increment(1),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn provider_errors_are_kept_without_addresses() {
        assert_eq!(crate::domain::without_addresses("550 5.1.1 <ana@example.com>: Recipient address rejected"), "550 5.1.1 <[address]>: Recipient address rejected");
        assert_eq!(crate::domain::without_addresses("The 'To' number +14155550100 is not valid"), "The 'To' number [number] is not valid");
        assert_eq!(crate::domain::without_addresses("552 5.2.2 Mailbox full"), "552 5.2.2 Mailbox full");
    }
}

//! The one door out.
//!
//! Every byte of personal data that leaves the hub passes [`Door::send`]: it decides (first the
//! recipient's consent for the message's purpose on that medium, from the consent ledger; then
//! the tenant's routing policy for that destination and those data categories, from
//! [`crate::policy`]), writes a transfer record of what went where, on what grounds and what
//! was held back, and only then calls the adapter. The send worker in [`worker`] is the only
//! caller for channel sends; adapters are not reachable from anywhere else.
//!
//! Webhook deliveries go through [`Door::authorize_many`]: it decides and records a whole batch
//! of transfers in one statement and hands out a [`Grant`] for each allowed one: a [`Permit`]
//! and the body as it may leave (fields redacted or pseudonymized per rule). The webhook HTTP
//! client's only way to send takes a permit, and only this module can make one.

pub mod preflight;
pub mod window;
pub mod worker;

use std::sync::Arc;

use omnibridge_channel::{AdapterError, Channel, OutboundMessage, Receipt};
use uuid::Uuid;

use crate::consent;
pub use crate::policy::Destination;
use crate::policy::rules::Action;
use crate::policy::{Decision, Policies, Verdict, transform};
use crate::privacy::Keyring;
use crate::store::{self, Db, NewTransfer, StoreError};

/// One transfer: what is about to leave, about whom.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub tenant_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub destination: Destination,
    pub categories: Vec<&'static str>,
    /// For a message to a person: whose consent it needs, for what.
    pub recipient: Option<Recipient>,
}

/// A further recipient of a mail (a copy or a blind copy) and the transfer to them.
#[derive(Debug, Clone)]
pub struct Copy {
    pub address: String,
    pub blind: bool,
    pub transfer: Transfer,
}

/// The person a message is for, as the consent ledger knows them.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The medium (`sms`, `email`, …).
    pub medium: &'static str,
    /// The blind index of their address.
    pub address_index: Vec<u8>,
    /// Why the message is sent (`service`, `marketing`).
    pub purpose: String,
}

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The recipient's consent does not allow it (the text starts with `consent_missing:`).
    #[error("{0}")]
    ConsentMissing(String),
    /// The contact's processing is restricted (Art. 18).
    #[error("{0}")]
    Restricted(String),
    /// The tenant's routing policy does not allow it.
    #[error("policy_blocked: {reason} ({rule})")]
    PolicyBlocked { rule: String, reason: String },
    /// The channel's reply window has closed (the text starts with `window_closed:`); when it
    /// closed (microseconds), if the person ever wrote.
    #[error("{reason}")]
    WindowClosed { reason: String, closed_at: Option<i64> },
    /// The contact's keys could not be opened.
    #[error("the contact's keys are unavailable: {0}")]
    Keys(String),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error("could not record the transfer: {0}")]
    Store(#[from] StoreError),
}

/// Why nothing goes to a restricted contact.
pub const RESTRICTED: &str = "restricted: the contact's processing is restricted (GDPR Art. 18) until the restriction is lifted";

/// Proof that the door allowed (and recorded) one transfer.
#[derive(Debug)]
pub struct Permit {
    _private: (),
}

/// A transfer the policy blocked: the reason and the rule that decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Blocked(pub String);

/// An allowed webhook transfer: the permit and the body as it may leave.
#[derive(Debug)]
pub struct Grant {
    pub permit: Permit,
    pub body: Vec<u8>,
}

#[derive(Clone)]
pub struct Door {
    db: Db,
    policies: Arc<Policies>,
    keyring: Arc<Keyring>,
    /// Contacts flagged under this age get no marketing.
    minimum_age: u8,
}

impl Door {
    pub fn new(db: Db, policies: Arc<Policies>, keyring: Arc<Keyring>) -> Self {
        Self { db, policies, keyring, minimum_age: 16 }
    }

    pub fn policies(&self) -> &Arc<Policies> {
        &self.policies
    }

    /// The age under which flagged contacts get no marketing (`consent.minimum_age`).
    pub fn with_minimum_age(self, minimum_age: u8) -> Self {
        Self { minimum_age, ..self }
    }

    /// The recipient's consent first (a refusal names the withdrawal), then the routing policy;
    /// a channel send needs its categories as they are (`required`).
    async fn decide_send(&self, transfer: &Transfer) -> Result<Verdict, StoreError> {
        if let Some(contact_id) = transfer.contact_id
            && store::privacy::is_restricted(&self.db, contact_id).await?
        {
            return Ok(Verdict::refused(&transfer.categories, "restriction", RESTRICTED.into()));
        }
        if let Some(r) = &transfer.recipient {
            let mut refusal = consent::refusal(&self.db, transfer.tenant_id, r.medium, &r.address_index, &r.purpose).await?;
            if refusal.is_none()
                && let Some(contact_id) = transfer.contact_id
            {
                refusal = consent::age_refusal(&self.db, contact_id, &r.purpose, self.minimum_age).await?;
            }
            if let Some(reason) = refusal {
                return Ok(Verdict::refused(&transfer.categories, "consent", reason));
            }
        }
        self.policies.decide(&self.db, transfer.tenant_id, &transfer.destination, &transfer.categories, true).await
    }

    /// Decides, records, and — if allowed — sends.
    pub async fn send(&self, transfer: &Transfer, adapter: &dyn Channel, message: &OutboundMessage) -> Result<Receipt, EgressError> {
        let verdict = self.decide_send(transfer).await?;
        self.record_alone(std::slice::from_ref(transfer), std::slice::from_ref(&verdict)).await?;
        Self::refusal(verdict)?;
        Ok(adapter.send(message).await?)
    }

    /// [`Door::send`] for mail with further recipients (copies, blind copies): the contact's
    /// transfer decides whether the message goes at all; each further recipient is decided on
    /// their own (their consent, a restriction, the routing policy) and recorded as a transfer
    /// of their own; only those allowed are on the message the adapter gets. Returns, per
    /// further recipient, why they were left out (`None`: they got it).
    pub async fn send_with_copies(&self, transfer: &Transfer, copies: &[Copy], adapter: &dyn Channel, message: &OutboundMessage) -> Result<(Receipt, Vec<Option<String>>), EgressError> {
        let verdict = self.decide_send(transfer).await?;
        let mut transfers = vec![transfer.clone()];
        let mut verdicts = vec![verdict.clone()];
        if verdict.decision != Decision::Block {
            for copy in copies {
                verdicts.push(self.decide_send(&copy.transfer).await?);
                transfers.push(copy.transfer.clone());
            }
        }
        self.record_alone(&transfers, &verdicts).await?;
        Self::refusal(verdict)?;
        let mut message = message.clone();
        let mut left_out = Vec::with_capacity(copies.len());
        for (copy, verdict) in copies.iter().zip(verdicts.into_iter().skip(1)) {
            match Self::refusal(verdict) {
                Ok(()) if copy.blind => message.extras.bcc.push(copy.address.clone()),
                Ok(()) => message.extras.cc.push(copy.address.clone()),
                Err(refused) => {
                    left_out.push(Some(refused.to_string()));
                    continue;
                }
            }
            left_out.push(None);
        }
        Ok((adapter.send(&message).await?, left_out))
    }

    /// A blocking verdict as the error that names why.
    fn refusal(verdict: Verdict) -> Result<(), EgressError> {
        match (verdict.decision, verdict.reason) {
            (Decision::Block, Some(reason)) if verdict.rule == "consent" => Err(EgressError::ConsentMissing(reason)),
            (Decision::Block, Some(reason)) if verdict.rule == "restriction" => Err(EgressError::Restricted(reason)),
            (Decision::Block, reason) => Err(EgressError::PolicyBlocked { rule: verdict.rule, reason: reason.unwrap_or_default() }),
            _ => Ok(()),
        }
    }

    /// Decides and records a batch of transfers in its own transaction: for each allowed one a
    /// grant with the body as it may leave, for each blocked one the reason.
    pub async fn authorize_many(&self, transfers: &[Transfer], bodies: Vec<Vec<u8>>) -> Result<Vec<Result<Grant, Blocked>>, StoreError> {
        let mut tx = self.db.begin().await?;
        let grants = self.authorize_in(&mut tx, transfers, bodies).await?;
        tx.commit().await?;
        Ok(grants)
    }

    /// [`Door::authorize_many`] in the caller's transaction: the webhook worker records the
    /// transfers together with the claim of the deliveries they are for, so a rolled-back claim
    /// leaves no record of a transfer that did not happen.
    pub async fn authorize_in(&self, tx: &mut store::Tx, transfers: &[Transfer], bodies: Vec<Vec<u8>>) -> Result<Vec<Result<Grant, Blocked>>, StoreError> {
        let mut verdicts = Vec::with_capacity(transfers.len());
        for t in transfers {
            verdicts.push(self.policies.decide(&self.db, t.tenant_id, &t.destination, &t.categories, false).await?);
        }
        self.record(tx, transfers, &verdicts).await?;
        Ok(transfers
            .iter()
            .zip(verdicts)
            .zip(bodies)
            .map(|((t, v), body)| match v.decision {
                Decision::Allow => Ok(Grant { permit: Permit { _private: () }, body }),
                Decision::Transform => Ok(Grant { permit: Permit { _private: () }, body: self.rewrite(t.tenant_id, &v, body) }),
                Decision::Block => Err(Blocked(format!("{} ({})", v.reason.unwrap_or_default(), v.rule))),
            })
            .collect())
    }

    /// Mail the hub sends a tenant's own operators (invitations, password resets, daily
    /// summaries): decided by the tenant's routing policy for the relay it leaves through, and
    /// recorded like every other transfer. It carries the operator's address and the hub's text.
    pub async fn operator_mail(&self, tenant_id: Uuid, destination: &Destination) -> Result<(), EgressError> {
        let transfer = Transfer {
            tenant_id,
            contact_id: None,
            message_id: None,
            destination: destination.clone(),
            categories: vec![crate::domain::categories::CONTACT_EMAIL, crate::domain::categories::MESSAGE_CONTENT],
            recipient: None,
        };
        let verdict = self.policies.decide(&self.db, tenant_id, &transfer.destination, &transfer.categories, true).await?;
        self.record_alone(std::slice::from_ref(&transfer), std::slice::from_ref(&verdict)).await?;
        Self::refusal(verdict)
    }

    /// An export of a contact's data (an access request's bundle) to the controller: decided,
    /// recorded and rewritten like any other transfer.
    pub async fn export(&self, tenant_id: Uuid, contact_id: Uuid, request_id: Uuid, body: Vec<u8>) -> Result<Vec<u8>, EgressError> {
        let mut categories = serde_json::from_slice::<serde_json::Value>(&body).map(|v| transform::categories_in(&v)).unwrap_or_default();
        if !categories.contains(&crate::domain::categories::CONTACT_ID) {
            categories.insert(0, crate::domain::categories::CONTACT_ID);
        }
        let transfer = Transfer {
            tenant_id,
            contact_id: Some(contact_id),
            message_id: None,
            destination: Destination {
                kind: "export",
                name: format!("export:{request_id}"),
                countries: Vec::new(),
                mechanism: None,
                registry_id: None,
                third_party: false,
            },
            categories,
            recipient: None,
        };
        match self.authorize_many(std::slice::from_ref(&transfer), vec![body]).await?.pop() {
            Some(Ok(grant)) => Ok(grant.body),
            Some(Err(Blocked(reason))) => Err(EgressError::PolicyBlocked { rule: "policy".into(), reason }),
            None => Err(EgressError::PolicyBlocked { rule: "policy".into(), reason: "no decision".into() }),
        }
    }

    /// The body with the verdict's redactions and pseudonyms applied.
    fn rewrite(&self, tenant_id: Uuid, verdict: &Verdict, body: Vec<u8>) -> Vec<u8> {
        let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(&body) else { return body };
        let token = |category: &str, plain: &str| self.keyring.pseudonym(tenant_id, category, plain);
        if transform::apply(&mut value, &verdict.actions, &token) { serde_json::to_vec(&value).unwrap_or(body) } else { body }
    }

    /// [`Door::record`] in a transaction of its own.
    async fn record_alone(&self, transfers: &[Transfer], verdicts: &[Verdict]) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        self.record(&mut tx, transfers, verdicts).await?;
        tx.commit().await
    }

    /// Writes one transfer record per (transfer, decision), in one statement.
    async fn record(&self, tx: &mut store::Tx, transfers: &[Transfer], verdicts: &[Verdict]) -> Result<(), StoreError> {
        let json = |list: Vec<&'static str>| serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        let lists: Vec<(String, String, String, String)> = transfers
            .iter()
            .zip(verdicts)
            .map(|(t, v)| {
                let removed = if v.decision == Decision::Block { t.categories.clone() } else { v.with(Action::Redact) };
                (json(v.sent()), json(removed), json(v.with(Action::Pseudonymize)), t.destination.countries.join(","))
            })
            .collect();
        let rows: Vec<NewTransfer> = transfers
            .iter()
            .zip(verdicts)
            .zip(&lists)
            .map(|((t, v), (sent, removed, pseudonymized, countries))| {
                NewTransfer {
                    tenant_id: t.tenant_id,
                    contact_id: t.contact_id,
                    message_id: t.message_id,
                    destination_kind: t.destination.kind,
                    destination: &t.destination.name,
                    country: (!countries.is_empty()).then_some(countries.as_str()),
                    mechanism: t.destination.mechanism.as_deref(),
                    data_categories: sent,
                    categories_removed: removed,
                    categories_pseudonymized: pseudonymized,
                    decision: v.decision.as_str(),
                    reason: v.reason.as_deref(),
                    rule: Some(v.rule.as_str()),
                }
            })
            .collect();
        store::transfers::insert_many(tx, &rows).await
    }
}

//! The one door out.
//!
//! Every byte of personal data that leaves the hub passes [`Door::send`]: it decides (first the
//! recipient's consent for the message's purpose on that medium, from the consent ledger; the
//! routing policy plugs in next), writes a transfer record of what went where and on what
//! grounds, and only then calls the adapter. The send worker in [`worker`] is
//! the only caller for channel sends; adapters are not reachable from anywhere else.
//!
//! Webhook deliveries go through [`Door::authorize_many`]: it records a whole batch of transfers
//! in one statement and hands out a [`Permit`] for each allowed one. The webhook HTTP client's
//! only way to send takes a permit, and only this module can make one.

pub mod reports;
pub mod worker;

use omnibridge_channel::{AdapterError, Channel, OutboundMessage, Receipt};
use uuid::Uuid;

use crate::consent;
use crate::store::{self, Db, NewTransfer, StoreError};

/// Where personal data is about to go.
#[derive(Debug, Clone)]
pub struct Destination {
    /// `channel` (a channel send) or, later, `webhook`, `export`.
    pub kind: &'static str,
    /// A stable name: `webchat:<channel id>`, a subprocessor id, an endpoint id.
    pub name: String,
    /// Country where the recipient processes the data, when known.
    pub country: Option<String>,
    /// Transfer mechanism (`adequacy`, `scc`, …) when the destination is outside the region.
    pub mechanism: Option<String>,
}

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Block { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("blocked by policy: {0}")]
    Blocked(String),
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    #[error("could not record the transfer: {0}")]
    Store(#[from] StoreError),
}

/// Proof that the door allowed (and recorded) one transfer.
#[derive(Debug)]
pub struct Permit {
    _private: (),
}

#[derive(Clone)]
pub struct Door {
    db: Db,
    /// Contacts flagged under this age get no marketing.
    minimum_age: u8,
}

impl Door {
    pub fn new(db: Db) -> Self {
        Self { db, minimum_age: 16 }
    }

    /// The age under which flagged contacts get no marketing (`consent.minimum_age`).
    pub fn with_minimum_age(self, minimum_age: u8) -> Self {
        Self { minimum_age, ..self }
    }

    /// The policy decision for a transfer. Every destination is allowed for now; the record is
    /// written either way, so the log is complete from the first message.
    pub fn decide(&self, _transfer: &Transfer) -> Decision {
        Decision::Allow
    }

    /// The recipient's consent first (a refusal names the withdrawal), then the policy.
    async fn decide_send(&self, transfer: &Transfer) -> Result<Decision, StoreError> {
        if let Some(r) = &transfer.recipient {
            if let Some(reason) = consent::refusal(&self.db, transfer.tenant_id, r.medium, &r.address_index, &r.purpose).await? {
                return Ok(Decision::Block { reason });
            }
            if let Some(contact_id) = transfer.contact_id
                && let Some(reason) = consent::age_refusal(&self.db, contact_id, &r.purpose, self.minimum_age).await?
            {
                return Ok(Decision::Block { reason });
            }
        }
        Ok(self.decide(transfer))
    }

    /// Decides, records, and — if allowed — sends.
    pub async fn send(&self, transfer: &Transfer, adapter: &dyn Channel, message: &OutboundMessage) -> Result<Receipt, EgressError> {
        let decision = self.decide_send(transfer).await?;
        self.record(std::slice::from_ref(transfer), std::slice::from_ref(&decision)).await?;
        match decision {
            Decision::Allow => Ok(adapter.send(message).await?),
            Decision::Block { reason } => Err(EgressError::Blocked(reason)),
        }
    }

    /// Decides and records a batch of transfers in one statement; a permit for each allowed one.
    pub async fn authorize_many(&self, transfers: &[Transfer]) -> Result<Vec<Result<Permit, String>>, StoreError> {
        let decisions: Vec<Decision> = transfers.iter().map(|t| self.decide(t)).collect();
        self.record(transfers, &decisions).await?;
        Ok(decisions
            .into_iter()
            .map(|d| match d {
                Decision::Allow => Ok(Permit { _private: () }),
                Decision::Block { reason } => Err(reason),
            })
            .collect())
    }

    /// Writes one transfer record per (transfer, decision), in one transaction.
    async fn record(&self, transfers: &[Transfer], decisions: &[Decision]) -> Result<(), StoreError> {
        let categories: Vec<String> =
            transfers.iter().map(|t| serde_json::to_string(&t.categories).unwrap_or_else(|_| "[]".into())).collect();
        let rows: Vec<NewTransfer> = transfers
            .iter()
            .zip(decisions)
            .zip(&categories)
            .map(|((t, d), categories)| {
                let (decision, reason) = match d {
                    Decision::Allow => ("allow", None),
                    Decision::Block { reason } => ("block", Some(reason.as_str())),
                };
                NewTransfer {
                    tenant_id: t.tenant_id,
                    contact_id: t.contact_id,
                    message_id: t.message_id,
                    destination_kind: t.destination.kind,
                    destination: &t.destination.name,
                    country: t.destination.country.as_deref(),
                    mechanism: t.destination.mechanism.as_deref(),
                    data_categories: categories,
                    decision,
                    reason,
                }
            })
            .collect();
        let mut tx = self.db.begin().await?;
        store::transfers::insert_many(&mut tx, &rows).await?;
        tx.commit().await
    }
}

//! The audit log: who read or changed personal data, when, from where (GDPR Art. 5(2), 28(3)(h)).
//!
//! Reads of contacts, conversations and messages through the API, exports, erasures,
//! rectifications, restrictions, consent, policy and retention changes and key creation each
//! append one entry. Entries hold ids and the caller's address, never the data itself.

use std::net::IpAddr;

use uuid::Uuid;

use crate::store::{self, Db};

/// Who did it: an API key (and its operator), from an address; or the command line.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub key_id: Option<Uuid>,
    pub operator_id: Option<Uuid>,
    pub ip: Option<IpAddr>,
}

/// Appends one entry. A failure is logged and not passed on: the audit log must not turn a
/// read into an error, and a lost entry shows as an error in the logs.
pub async fn record(db: &Db, tenant_id: Uuid, actor: &Actor, action: &str, target_kind: &str, target_id: Option<Uuid>, detail: Option<&str>) {
    let ip = actor.ip.map(|ip| ip.to_string());
    let entry = store::privacy::NewAudit {
        tenant_id,
        key_id: actor.key_id,
        operator_id: actor.operator_id,
        ip: ip.as_deref(),
        action,
        target_kind,
        target_id,
        detail,
    };
    if let Err(err) = store::privacy::insert_audit(db, &entry).await {
        tracing::error!(error = %err, action, "writing the audit log failed");
    }
}

//! Who may act, and how that ends: API keys (issued with a name, a role and an optional expiry,
//! shown once, stored hashed, listed, revoked) and the operator lifecycle (deactivate, reactivate,
//! delete, change role, sign out everywhere).
//!
//! Ending access takes effect everywhere within a second: keys are re-checked against the
//! database at least every second by each process ([`crate::api::auth`]), console sessions on
//! every request, and open websockets re-check their credentials as soon as this process — or,
//! through a cluster announcement, any other — ends someone's access ([`Ended`]).

use serde::Serialize;
use uuid::Uuid;

use crate::events::outbox::UnitOfWork;
use crate::access::issue_key;
use crate::domain::Role;
use crate::domain::events::{self, Event};
use crate::privacy::audit::{self, Actor};
use crate::store::keys::ApiKeyInfo;
use crate::store::{self, Db};

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// An id in the input that names nothing (active) in the tenant.
    #[error("{field}: {detail}")]
    Unknown { field: &'static str, detail: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Key(#[from] crate::privacy::KeyError),
    #[error(transparent)]
    Append(#[from] crate::events::outbox::AppendError),
    #[error("no randomness available: {0}")]
    Random(getrandom::Error),
}

/// A key to issue.
pub struct NewKey<'a> {
    pub name: Option<&'a str>,
    pub role: Role,
    pub operator_id: Option<Uuid>,
    /// Microseconds since the epoch.
    pub expires_at: Option<i64>,
}

/// A new key: the secret is shown now and never again.
#[derive(Debug, Serialize)]
pub struct CreatedKey {
    pub key_id: Uuid,
    pub api_key: String,
}

/// Issues a key.
pub async fn create_key(db: &Db, tenant_id: Uuid, new: &NewKey<'_>, actor: &Actor) -> Result<CreatedKey, AccessError> {
    if db.tenant(tenant_id).await?.is_none() {
        return Err(AccessError::NotFound("tenant"));
    }
    if let Some(name) = new.name
        && (name.trim().is_empty() || name.chars().count() > 100)
    {
        return Err(AccessError::Invalid { field: "name", detail: "must be 1 to 100 characters, not only spaces".into() });
    }
    if new.expires_at.is_some_and(|at| at <= store::now_micros()) {
        return Err(AccessError::Invalid { field: "expires_at", detail: "must be in the future".into() });
    }
    if let Some(operator) = new.operator_id {
        let status = db.operator_status(tenant_id, operator).await?;
        if !status.is_some_and(|s| s.deactivated_at.is_none() && s.deleted_at.is_none()) {
            return Err(AccessError::Unknown { field: "operator_id", detail: "no active operator with this id in the tenant".into() });
        }
    }
    let key = issue_key().map_err(AccessError::Random)?;
    let row = db.insert_api_key(tenant_id, new.operator_id, new.role.as_str(), &key.hash, &key.prefix, (new.name.map(str::trim), new.expires_at)).await?;
    audit::record(db, tenant_id, actor, "key.create", "api_key", Some(row.id), Some(&format!("role {}", new.role.as_str()))).await;
    Ok(CreatedKey { key_id: row.id, api_key: key.secret })
}

/// A tenant's keys, revoked ones too.
pub async fn list_keys(db: &Db, tenant_id: Uuid) -> Result<Vec<ApiKeyInfo>, AccessError> {
    Ok(db.api_keys(tenant_id).await?)
}

/// Revokes a key. The caller tells the hub ([`Ended`]) when one is running.
pub async fn revoke_key(db: &Db, tenant_id: Uuid, key_id: Uuid, actor: &Actor) -> Result<(), AccessError> {
    if !db.revoke_api_key(tenant_id, key_id).await? {
        return Err(AccessError::NotFound("api key"));
    }
    audit::record(db, tenant_id, actor, "key.revoke", "api_key", Some(key_id), None).await;
    Ok(())
}

/// The operator, if they exist and are not deleted.
async fn operator(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<store::keys::OperatorStatus, AccessError> {
    db.operator_status(tenant_id, id).await?.filter(|o| o.deleted_at.is_none()).ok_or(AccessError::NotFound("operator"))
}

/// Refuses to leave a tenant without an active admin.
async fn keep_an_admin(db: &Db, tenant_id: Uuid, losing: &store::keys::OperatorStatus) -> Result<(), AccessError> {
    if losing.role == Role::Admin.as_str() && losing.deactivated_at.is_none() && db.active_admins(tenant_id).await? <= 1 {
        return Err(AccessError::Conflict("this is the tenant's last active admin; make someone else admin first".into()));
    }
    Ok(())
}

/// The conversations an operator held, moved to `to` (or back to the queue), each with its
/// `conversation.updated` event in the same transaction. Returns the events to publish.
async fn hand_over(hub: &crate::hub::Hub, tx: &mut store::Tx, tenant_id: Uuid, from: Uuid, to: Option<Uuid>) -> Result<Vec<Event>, AccessError> {
    let held = store::team::held_conversations(&mut *tx, tenant_id, from).await?;
    let mut out = Vec::with_capacity(held.len());
    for conversation in held {
        let Some(row) = store::conversations::update(&mut *tx, tenant_id, conversation.id, &conversation.status, to).await? else { continue };
        let key = hub.keyring.data_key(&mut *tx, tenant_id, row.contact_id).await?;
        let view = crate::events::present::conversation(&row);
        let sequence = crate::events::outbox::next_sequence(&mut *tx, row.id).await?;
        let mut event = Event::in_conversation(tenant_id, events::CONVERSATION_UPDATED, row.contact_id, row.id, sequence, &view);
        crate::events::outbox::append(&mut *tx, Some(&key), &mut event).await?;
        out.push(event);
    }
    Ok(out)
}

/// Deactivates an operator: no sign-in, their sessions and keys stop working and their open
/// websockets close at once; the conversations they held go to `reassign_to` (an active
/// operator of the tenant) or back to the queue. Returns how many conversations moved.
pub async fn deactivate(hub: &crate::hub::Hub, tenant_id: Uuid, id: Uuid, reassign_to: Option<Uuid>, actor: &Actor) -> Result<usize, AccessError> {
    let status = operator(&hub.db, tenant_id, id).await?;
    not_oneself(actor, id, "deactivate")?;
    if status.deactivated_at.is_some() {
        return Ok(0);
    }
    keep_an_admin(&hub.db, tenant_id, &status).await?;
    if let Some(to) = reassign_to {
        let target = hub.db.operator_status(tenant_id, to).await?;
        if to == id || !target.is_some_and(|t| t.deactivated_at.is_none() && t.deleted_at.is_none()) {
            return Err(AccessError::Invalid { field: "reassign_to", detail: "must be another active operator of the tenant".into() });
        }
    }
    let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
    store::team::set_deactivated(work.tx(), tenant_id, id, true).await?;
    store::sessions::delete_all(work.tx(), tenant_id, id).await?;
    let moved = hand_over(hub, work.tx(), tenant_id, id, reassign_to).await?;
    let count = moved.len();
    work.appended(moved);
    work.commit().await?;
    audit::record(&hub.db, tenant_id, actor, "operator.deactivate", "operator", Some(id), Some(&format!("{count} conversation(s) handed over"))).await;
    Ended::now(hub, tenant_id).await;
    Ok(count)
}

/// Lets a deactivated operator back in (they sign in again; their keys work again).
pub async fn reactivate(hub: &crate::hub::Hub, tenant_id: Uuid, id: Uuid, actor: &Actor) -> Result<(), AccessError> {
    operator(&hub.db, tenant_id, id).await?;
    let mut tx = hub.db.begin().await?;
    store::team::set_deactivated(&mut tx, tenant_id, id, false).await?;
    tx.commit().await?;
    audit::record(&hub.db, tenant_id, actor, "operator.reactivate", "operator", Some(id), None).await;
    Ok(())
}

/// Deletes an operator: their personal data (name, email, password) is erased, their keys are
/// revoked and sessions ended, their conversations go back to the queue; what they wrote keeps
/// its author, shown as a former operator.
/// An admin does not lock themselves out: deactivating, deleting or demoting the operator making
/// the request is left to another admin.
fn not_oneself(actor: &Actor, id: Uuid, what: &str) -> Result<(), AccessError> {
    if actor.operator_id == Some(id) {
        return Err(AccessError::Conflict(format!("an operator cannot {what} themselves; ask another admin")));
    }
    Ok(())
}

pub async fn delete(hub: &crate::hub::Hub, tenant_id: Uuid, id: Uuid, actor: &Actor) -> Result<(), AccessError> {
    let status = operator(&hub.db, tenant_id, id).await?;
    not_oneself(actor, id, "delete")?;
    keep_an_admin(&hub.db, tenant_id, &status).await?;
    let mut work = UnitOfWork::begin(&hub.db, &hub.bus).await?;
    store::team::erase_operator(work.tx(), tenant_id, id).await?;
    store::sessions::delete_all(work.tx(), tenant_id, id).await?;
    let moved = hand_over(hub, work.tx(), tenant_id, id, None).await?;
    work.appended(moved);
    work.commit().await?;
    audit::record(&hub.db, tenant_id, actor, "operator.delete", "operator", Some(id), None).await;
    Ended::now(hub, tenant_id).await;
    Ok(())
}

/// Changes an operator's role (admin or agent); the tenant keeps at least one active admin.
pub async fn change_role(hub: &crate::hub::Hub, tenant_id: Uuid, id: Uuid, role: Role, actor: &Actor) -> Result<(), AccessError> {
    if role == Role::Integration {
        return Err(AccessError::Invalid { field: "role", detail: "must be admin or agent".into() });
    }
    let status = operator(&hub.db, tenant_id, id).await?;
    if status.role == role.as_str() {
        return Ok(());
    }
    if role != Role::Admin {
        not_oneself(actor, id, "demote")?;
        keep_an_admin(&hub.db, tenant_id, &status).await?;
    }
    let mut tx = hub.db.begin().await?;
    store::team::set_role(&mut tx, tenant_id, id, role.as_str()).await?;
    tx.commit().await?;
    audit::record(&hub.db, tenant_id, actor, "operator.role", "operator", Some(id), Some(role.as_str())).await;
    // Open sockets re-check who they serve.
    Ended::now(hub, tenant_id).await;
    Ok(())
}

/// Ends every console session of an operator (sign out everywhere).
pub async fn sign_out_everywhere(hub: &crate::hub::Hub, tenant_id: Uuid, id: Uuid, actor: &Actor) -> Result<u64, AccessError> {
    operator(&hub.db, tenant_id, id).await?;
    let ended = store::sessions::delete_all(&hub.db, tenant_id, id).await?;
    audit::record(&hub.db, tenant_id, actor, "operator.sign_out_everywhere", "operator", Some(id), Some(&format!("{ended} session(s)"))).await;
    Ended::now(hub, tenant_id).await;
    Ok(ended)
}

/// Someone's access ended in a tenant: cached keys of the tenant are dropped, open websockets
/// re-check their credentials, and the other processes on the database are told to do the same.
pub struct Ended;

impl Ended {
    pub async fn now(hub: &crate::hub::Hub, tenant_id: Uuid) {
        Self::here(hub, tenant_id);
        hub.cluster.announce(crate::cluster::Change::Access(tenant_id)).await;
    }

    /// In this process only (an announcement from another process).
    pub fn here(hub: &crate::hub::Hub, tenant_id: Uuid) {
        hub.auth_cache.forget_tenant(tenant_id);
        let _ = hub.revocations.send(tenant_id);
    }
}

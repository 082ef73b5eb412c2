//! Data-subject requests, erasure, restriction, retention purges and the audit log.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct RequestRow {
        id: Uuid, tenant_id: Uuid, kind: String, contact_id: Option<Uuid>, status: String, detail: String,
        result: Option<String>, requested_by: Option<Uuid>, created_at: i64, due_at: i64, completed_at: Option<i64>
    }
}

const REQUEST_COLUMNS: &str = "id, tenant_id, kind, contact_id, status, detail, result, requested_by, created_at, due_at, completed_at";

pub async fn insert_request(db: &Db, r: &RequestRow) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO privacy_requests (id, tenant_id, kind, contact_id, status, detail, result, requested_by, created_at, due_at, completed_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(r.id)
        .bind(r.tenant_id)
        .bind(&r.kind)
        .bind(r.contact_id)
        .bind(&r.status)
        .bind(&r.detail)
        .bind(&r.result)
        .bind(r.requested_by)
        .bind(r.created_at)
        .bind(r.due_at)
        .bind(r.completed_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await
}

pub async fn request(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<RequestRow>> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM privacy_requests WHERE tenant_id = $1 AND id = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(id).fetch_optional(p).await)?)
}

/// A tenant's requests, oldest first; `overdue_at`: only those still pending past their due date.
pub async fn requests(db: &Db, tenant_id: Uuid, status: Option<&str>, overdue_at: Option<i64>, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<RequestRow>> {
    let sql = format!(
        "SELECT {REQUEST_COLUMNS} FROM privacy_requests WHERE tenant_id = $1 AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR (status = 'pending' AND due_at < $3)) AND ($4 IS NULL OR id > $4) ORDER BY id LIMIT $5"
    );
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(tenant_id)
        .bind(status)
        .bind(overdue_at)
        .bind(after)
        .bind(limit as i64 + 1)
        .fetch_all(p)
        .await)?)
}

/// Requests waiting to be carried out, oldest first.
pub async fn pending_requests(db: &Db, limit: usize) -> StoreResult<Vec<RequestRow>> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM privacy_requests WHERE status = 'pending' ORDER BY id LIMIT $1");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(limit as i64).fetch_all(p).await)?)
}

/// Marks a request done (only while pending: a request is carried out once).
pub async fn finish_request(tx: &mut Tx, id: Uuid, status: &str, result: &str) -> StoreResult<bool> {
    // A rectification's corrected values are needed until it is carried out, and not after.
    const SQL: &str = "UPDATE privacy_requests SET status = $2, result = $3, completed_at = $4, \
                       detail = CASE WHEN kind = 'rectification' THEN '{}' ELSE detail END WHERE id = $1 AND status = 'pending'";
    let n = on_conn!(Conn::from(tx), |c| sqlx::query(SQL).bind(id).bind(status).bind(result).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// What an erasure removed, per kind of row.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Erased {
    pub messages: u64,
    pub attachments: u64,
    pub conversations: u64,
    pub identities: u64,
    pub visitor_sessions: u64,
    pub events: u64,
    pub webhook_deliveries: u64,
    pub webhook_attempts: u64,
    pub data_key_destroyed: bool,
    /// Contacts that had been merged into this one: the same person, erased with it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub merged_contacts: Vec<Uuid>,
}

/// Deletes every row about a contact and destroys its data key, in the caller's transaction.
/// What stays: the consent ledger's events (their address is sealed under the destroyed key, so
/// only the keyed blind index remains: the tombstone that keeps opt-outs), transfer records and
/// audit entries (ids only), and the wrapped-key row, emptied, as the erasure's record.
pub async fn erase_contact(tx: &mut Tx, tenant_id: Uuid, contact_id: Uuid) -> StoreResult<Erased> {
    let mut erased = Erased::default();
    let mut run = async |sql: &'static str| -> StoreResult<u64> {
        Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query(sql).bind(tenant_id).bind(contact_id).execute(c).await.map(|r| r.rows_affected()))?)
    };
    erased.webhook_attempts = run(
        "DELETE FROM webhook_attempts WHERE tenant_id = $1 AND (contact_id = $2 OR delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE tenant_id = $1 AND contact_id = $2))",
    )
    .await?;
    erased.webhook_deliveries = run("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND contact_id = $2").await?;
    erased.events = run("DELETE FROM outbox WHERE tenant_id = $1 AND contact_id = $2").await?;
    erased.attachments = run("DELETE FROM attachments WHERE tenant_id = $1 AND contact_id = $2").await?;
    run("DELETE FROM message_technical WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND contact_id = $2)").await?;
    run("DELETE FROM message_quotes WHERE message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND contact_id = $2)").await?;
    erased.messages = run("DELETE FROM messages WHERE tenant_id = $1 AND contact_id = $2").await?;
    erased.conversations = run("DELETE FROM conversations WHERE tenant_id = $1 AND contact_id = $2").await?;
    erased.visitor_sessions = run("DELETE FROM visitor_sessions WHERE tenant_id = $1 AND contact_id = $2").await?;
    run("DELETE FROM link_tokens WHERE tenant_id = $1 AND contact_id = $2").await?;
    // What requests and merges said about the person: corrected values, why two were one.
    run("UPDATE privacy_requests SET detail = '{}' WHERE tenant_id = $1 AND contact_id = $2 AND kind = 'rectification'").await?;
    run("UPDATE contact_merges SET reason = '' WHERE tenant_id = $1 AND (contact_id = $2 OR other_id = $2)").await?;
    run("DELETE FROM merge_suggestions WHERE tenant_id = $1 AND (contact_id = $2 OR other_id = $2)").await?;
    // Where the person was copied into someone else's mail: their address goes from those
    // conversations and messages (found by the blind index of their addresses).
    run("DELETE FROM conversation_participants WHERE tenant_id = $1 AND address_index IN \
         (SELECT address_index FROM identities WHERE tenant_id = $1 AND contact_id = $2)").await?;
    run("DELETE FROM message_recipients WHERE tenant_id = $1 AND address_index IN \
         (SELECT address_index FROM identities WHERE tenant_id = $1 AND contact_id = $2)").await?;
    erased.identities = run("DELETE FROM identities WHERE tenant_id = $1 AND contact_id = $2").await?;
    run("DELETE FROM contacts WHERE tenant_id = $1 AND id = $2").await?;
    const DESTROY: &str = "UPDATE data_keys SET wrapped = NULL, destroyed_at = $3 WHERE tenant_id = $1 AND contact_id = $2 AND wrapped IS NOT NULL";
    let destroyed = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(DESTROY)
        .bind(tenant_id)
        .bind(contact_id)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    erased.data_key_destroyed = destroyed == 1;
    Ok(erased)
}

pub async fn set_restricted<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, contact_id: Uuid, flag: bool) -> StoreResult<bool> {
    const SQL: &str = "UPDATE contacts SET restricted = $3 WHERE tenant_id = $1 AND id = $2";
    let n = on_conn!(conn.into(), |c| sqlx::query(SQL).bind(tenant_id).bind(contact_id).bind(flag).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn is_restricted<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "SELECT restricted FROM contacts WHERE id = $1";
    let flag: Option<bool> = on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(contact_id).fetch_optional(c).await)?;
    Ok(flag.unwrap_or(false))
}

/// Which of these contacts are restricted.
pub async fn restricted_among<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!("SELECT id FROM contacts WHERE restricted AND id IN ({})", conn.dialect().list(ids.len(), 1));
    Ok(on_conn!(conn, |p| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str()));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?)
}

row_struct! {
    pub struct RetentionRow {
        messages_days: Option<i64>, closed_conversations_days: Option<i64>, technical_data_days: Option<i64>,
        webhook_payload_days: Option<i64>, audit_days: Option<i64>
    }
}

pub async fn retention(db: &Db, tenant_id: Uuid) -> StoreResult<Option<RetentionRow>> {
    const SQL: &str = "SELECT messages_days, closed_conversations_days, technical_data_days, webhook_payload_days, audit_days \
                       FROM tenant_retention WHERE tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_optional(p).await)?)
}

pub async fn save_retention(tx: &mut Tx, tenant_id: Uuid, r: &RetentionRow) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO tenant_retention (tenant_id, messages_days, closed_conversations_days, technical_data_days, \
                       webhook_payload_days, audit_days, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id) DO UPDATE SET \
                       messages_days = EXCLUDED.messages_days, closed_conversations_days = EXCLUDED.closed_conversations_days, \
                       technical_data_days = EXCLUDED.technical_data_days, webhook_payload_days = EXCLUDED.webhook_payload_days, \
                       audit_days = EXCLUDED.audit_days, updated_at = EXCLUDED.updated_at";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL)
        .bind(tenant_id)
        .bind(r.messages_days)
        .bind(r.closed_conversations_days)
        .bind(r.technical_data_days)
        .bind(r.webhook_payload_days)
        .bind(r.audit_days)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// One category a purge removes: rows of a tenant older than a cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeKind {
    Messages,
    ClosedConversations,
    TechnicalData,
    WebhookPayloads,
    Audit,
}

impl PurgeKind {
    pub const ALL: [PurgeKind; 5] = [Self::Messages, Self::ClosedConversations, Self::TechnicalData, Self::WebhookPayloads, Self::Audit];

    pub fn name(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::ClosedConversations => "closed_conversations",
            Self::TechnicalData => "technical_data",
            Self::WebhookPayloads => "webhook_payloads",
            Self::Audit => "audit",
        }
    }

    /// The kind a name (as [`PurgeKind::name`] gives it) stands for.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// How many rows a purge would remove ($1 tenant, $2 cut-off).
    fn count(self) -> &'static str {
        match self {
            Self::Messages => "SELECT COUNT(*) FROM messages WHERE tenant_id = $1 AND created_at < $2 AND status NOT IN ('queued', 'sending', 'scheduled')",
            Self::ClosedConversations => "SELECT COUNT(*) FROM conversations WHERE tenant_id = $1 AND status = 'resolved' AND updated_at < $2",
            Self::TechnicalData => {
                "SELECT (SELECT COUNT(*) FROM message_technical WHERE tenant_id = $1 AND message_id IN \
                 (SELECT id FROM messages WHERE tenant_id = $1 AND created_at < $2)) + (SELECT COUNT(*) FROM visitor_sessions \
                 WHERE tenant_id = $1 AND created_at < $2 AND (ip IS NOT NULL OR user_agent IS NOT NULL))"
            }
            Self::WebhookPayloads => "SELECT COUNT(*) FROM outbox WHERE tenant_id = $1 AND created_at < $2 AND dispatched",
            Self::Audit => "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND created_at < $2",
        }
    }

    /// The statements that remove them, children first.
    fn statements(self) -> &'static [&'static str] {
        match self {
            Self::Messages => &[
                "DELETE FROM attachments WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND created_at < $2 AND status NOT IN ('queued', 'sending', 'scheduled'))",
                "DELETE FROM message_technical WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND created_at < $2 AND status NOT IN ('queued', 'sending', 'scheduled'))",
                "DELETE FROM message_quotes WHERE message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND created_at < $2 AND status NOT IN ('queued', 'sending', 'scheduled'))",
                "DELETE FROM messages WHERE tenant_id = $1 AND created_at < $2 AND status NOT IN ('queued', 'sending', 'scheduled')",
            ],
            Self::ClosedConversations => &[
                "DELETE FROM attachments WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND conversation_id IN \
                 (SELECT id FROM conversations WHERE tenant_id = $1 AND status = 'resolved' AND updated_at < $2))",
                "DELETE FROM message_technical WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND conversation_id IN \
                 (SELECT id FROM conversations WHERE tenant_id = $1 AND status = 'resolved' AND updated_at < $2))",
                "DELETE FROM message_quotes WHERE message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND conversation_id IN \
                 (SELECT id FROM conversations WHERE tenant_id = $1 AND status = 'resolved' AND updated_at < $2))",
                "DELETE FROM messages WHERE tenant_id = $1 AND conversation_id IN \
                 (SELECT id FROM conversations WHERE tenant_id = $1 AND status = 'resolved' AND updated_at < $2)",
                "DELETE FROM conversations WHERE tenant_id = $1 AND status = 'resolved' AND updated_at < $2",
            ],
            Self::TechnicalData => &[
                "DELETE FROM message_technical WHERE tenant_id = $1 AND message_id IN (SELECT id FROM messages WHERE tenant_id = $1 AND created_at < $2)",
                "UPDATE visitor_sessions SET ip = NULL, user_agent = NULL WHERE tenant_id = $1 AND created_at < $2 AND (ip IS NOT NULL OR user_agent IS NOT NULL)",
            ],
            Self::WebhookPayloads => &[
                "DELETE FROM outbox WHERE tenant_id = $1 AND created_at < $2 AND dispatched",
                "UPDATE webhook_attempts SET response_body = NULL WHERE tenant_id = $1 AND created_at < $2 AND response_body IS NOT NULL",
            ],
            Self::Audit => &["DELETE FROM audit_log WHERE tenant_id = $1 AND created_at < $2"],
        }
    }
}

/// Counts (`dry_run`) or removes one category of a tenant's rows older than `before`; returns
/// how many rows it concerns.
pub async fn purge(db: &Db, tenant_id: Uuid, kind: PurgeKind, before: i64, dry_run: bool) -> StoreResult<u64> {
    let counted: i64 = on_db!(db, |p| sqlx::query_scalar(kind.count()).bind(tenant_id).bind(before).fetch_one(p).await)?;
    if dry_run || counted == 0 {
        return Ok(counted.max(0) as u64);
    }
    let mut tx = db.begin().await?;
    for sql in kind.statements() {
        on_conn!(Conn::from(&mut tx), |c| sqlx::query(*sql).bind(tenant_id).bind(before).execute(c).await.map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(counted as u64)
}

/// Every tenant with retention settings.
pub async fn all_retention(db: &Db) -> StoreResult<Vec<(Uuid, RetentionRow)>> {
    const SQL: &str = "SELECT tenant_id, messages_days, closed_conversations_days, technical_data_days, webhook_payload_days, audit_days \
                       FROM tenant_retention ORDER BY tenant_id";
    let rows: Vec<TenantRetention> = on_db!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (r.tenant_id, RetentionRow {
                messages_days: r.messages_days,
                closed_conversations_days: r.closed_conversations_days,
                technical_data_days: r.technical_data_days,
                webhook_payload_days: r.webhook_payload_days,
                audit_days: r.audit_days,
            })
        })
        .collect())
}

row_struct! {
    struct TenantRetention {
        tenant_id: Uuid, messages_days: Option<i64>, closed_conversations_days: Option<i64>, technical_data_days: Option<i64>,
        webhook_payload_days: Option<i64>, audit_days: Option<i64>
    }
}

/// One audit entry.
pub struct NewAudit<'a> {
    pub tenant_id: Uuid,
    pub key_id: Option<Uuid>,
    pub operator_id: Option<Uuid>,
    pub ip: Option<&'a str>,
    pub action: &'a str,
    pub target_kind: &'a str,
    pub target_id: Option<Uuid>,
    pub detail: Option<&'a str>,
}

row_struct! {
    pub struct AuditRow {
        id: Uuid, tenant_id: Uuid, key_id: Option<Uuid>, operator_id: Option<Uuid>, ip: Option<String>, action: String,
        target_kind: String, target_id: Option<Uuid>, detail: Option<String>, created_at: i64
    }
}

pub async fn insert_audit<'a>(conn: impl Into<Conn<'a>>, a: &NewAudit<'_>) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO audit_log (id, tenant_id, key_id, operator_id, ip, action, target_kind, target_id, detail, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    on_conn!(conn.into(), |c| sqlx::query(SQL)
        .bind(Uuid::now_v7())
        .bind(a.tenant_id)
        .bind(a.key_id)
        .bind(a.operator_id)
        .bind(a.ip)
        .bind(a.action)
        .bind(a.target_kind)
        .bind(a.target_id)
        .bind(a.detail)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A tenant's audit entries, oldest first, optionally about one target or of one action.
pub async fn audit(db: &Db, tenant_id: Uuid, target_id: Option<Uuid>, action: Option<&str>, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<AuditRow>> {
    const SQL: &str = "SELECT id, tenant_id, key_id, operator_id, ip, action, target_kind, target_id, detail, created_at FROM audit_log \
                       WHERE tenant_id = $1 AND ($2 IS NULL OR target_id = $2) AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR id > $4) \
                       ORDER BY id LIMIT $5";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).bind(target_id).bind(action).bind(after).bind(limit as i64 + 1).fetch_all(p).await)?)
}

/// Deletes every row of a tenant, in one transaction: offboarding (the tables are listed once,
/// in [`super::tenant_data::TABLES`]).
pub async fn delete_tenant(tx: &mut Tx, tenant_id: Uuid) -> StoreResult<u64> {
    super::tenant_data::delete(tx, tenant_id).await
}

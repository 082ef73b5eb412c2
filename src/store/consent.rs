//! The consent ledger's rows: appended, never updated or deleted.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, Tx, on_conn};

row_struct! {
    pub struct ConsentRow {
        id: Uuid, tenant_id: Uuid, seq: i64, contact_id: Option<Uuid>, channel: String, address_index: Vec<u8>,
        address: Option<Vec<u8>>, sender_scope: Option<String>, purpose: String, action: String, legal_basis: String,
        method: String, evidence: String, notice_url: Option<String>, notice_version: Option<String>, actor: String,
        created_at: i64, prev_hash: Vec<u8>, hash: Vec<u8>,
    }
}

const COLUMNS: &str = "id, tenant_id, seq, contact_id, channel, address_index, address, sender_scope, purpose, action, legal_basis, \
                       method, evidence, notice_url, notice_version, actor, created_at, prev_hash, hash";

/// The end of a tenant's chain (sequence number and hash; `(0, genesis)` for a new chain),
/// locked until the transaction ends so no other appender forks the chain.
pub async fn lock_head(tx: &mut Tx, tenant_id: Uuid, genesis: &[u8]) -> StoreResult<(i64, Vec<u8>)> {
    // The no-op update takes the row lock on PostgreSQL (and returns the latest committed head
    // after waiting for a concurrent appender); SQLite's write transaction is already exclusive.
    const SQL: &str = "INSERT INTO consent_heads (tenant_id, seq, hash) VALUES ($1, 0, $2) \
                       ON CONFLICT (tenant_id) DO UPDATE SET seq = consent_heads.seq RETURNING seq, hash";
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_as::<_, (i64, Vec<u8>)>(SQL).bind(tenant_id).bind(genesis).fetch_one(c).await)?)
}

pub async fn set_head(tx: &mut Tx, tenant_id: Uuid, seq: i64, hash: &[u8]) -> StoreResult<()> {
    const SQL: &str = "UPDATE consent_heads SET seq = $2, hash = $3 WHERE tenant_id = $1";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL).bind(tenant_id).bind(seq).bind(hash).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn insert(tx: &mut Tx, r: &ConsentRow) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO consent_events ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    );
    on_conn!(Conn::from(tx), |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(r.id)
        .bind(r.tenant_id)
        .bind(r.seq)
        .bind(r.contact_id)
        .bind(&r.channel)
        .bind(&r.address_index)
        .bind(&r.address)
        .bind(&r.sender_scope)
        .bind(&r.purpose)
        .bind(&r.action)
        .bind(&r.legal_basis)
        .bind(&r.method)
        .bind(&r.evidence)
        .bind(&r.notice_url)
        .bind(&r.notice_version)
        .bind(&r.actor)
        .bind(r.created_at)
        .bind(&r.prev_hash)
        .bind(&r.hash)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Every event about one address on one medium, oldest first.
pub async fn for_address<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, channel: &str, address_index: &[u8]) -> StoreResult<Vec<ConsentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM consent_events WHERE tenant_id = $1 AND channel = $2 AND address_index = $3 ORDER BY seq");
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(channel)
        .bind(address_index)
        .fetch_all(c)
        .await)?)
}

/// A page of a tenant's events after sequence number `after`, in order.
pub async fn for_tenant_after(db: &super::Db, tenant_id: Uuid, after: i64, limit: usize) -> StoreResult<Vec<ConsentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM consent_events WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3");
    Ok(super::on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(after).bind(limit as i64).fetch_all(p).await)?)
}

/// The end of a tenant's chain, if it has one.
pub async fn head(db: &super::Db, tenant_id: Uuid) -> StoreResult<Option<(i64, Vec<u8>)>> {
    const SQL: &str = "SELECT seq, hash FROM consent_heads WHERE tenant_id = $1";
    Ok(super::on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_optional(p).await)?)
}

/// A contact's events, oldest first.
pub async fn for_contact(db: &super::Db, tenant_id: Uuid, contact_id: Uuid) -> StoreResult<Vec<ConsentRow>> {
    let sql = format!("SELECT {COLUMNS} FROM consent_events WHERE tenant_id = $1 AND contact_id = $2 ORDER BY seq");
    Ok(super::on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(contact_id).fetch_all(p).await)?)
}

//! `tenant_exports`: tenant exports requested through the API, and where each one stands.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Db, StoreResult, now_micros, on_db};

row_struct! {
    pub struct ExportRow {
        id: Uuid,
        tenant_id: Uuid,
        status: String,
        error: Option<String>,
        bytes: Option<i64>,
        row_count: Option<i64>,
        requested_by: Option<Uuid>,
        created_at: i64,
        completed_at: Option<i64>,
        expires_at: Option<i64>,
    }
}

const COLUMNS: &str = "id, tenant_id, status, error, bytes, row_count, requested_by, created_at, completed_at, expires_at";

pub async fn insert(db: &Db, id: Uuid, tenant_id: Uuid, requested_by: Option<Uuid>) -> StoreResult<ExportRow> {
    const SQL: &str = "INSERT INTO tenant_exports (id, tenant_id, status, requested_by, created_at) VALUES ($1, $2, 'pending', $3, $4)";
    on_db!(db, |p| sqlx::query(SQL).bind(id).bind(tenant_id).bind(requested_by).bind(now_micros()).execute(p).await.map(|_| ()))?;
    Ok(get(db, tenant_id, id).await?.expect("just inserted"))
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ExportRow>> {
    let sql = format!("SELECT {COLUMNS} FROM tenant_exports WHERE tenant_id = $1 AND id = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(p).await)?)
}

/// Looked up by id alone (a download link names the export, not the tenant).
pub async fn by_id(db: &Db, id: Uuid) -> StoreResult<Option<ExportRow>> {
    let sql = format!("SELECT {COLUMNS} FROM tenant_exports WHERE id = $1");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)?)
}

/// A tenant's exports, newest first.
pub async fn list(db: &Db, tenant_id: Uuid, before: Option<Uuid>, limit: usize) -> StoreResult<Vec<ExportRow>> {
    let sql = format!("SELECT {COLUMNS} FROM tenant_exports WHERE tenant_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(before).bind(limit as i64 + 1).fetch_all(p).await)?)
}

pub async fn finish(db: &Db, id: Uuid, bytes: i64, row_count: i64, expires_at: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE tenant_exports SET status = 'ready', bytes = $2, row_count = $3, completed_at = $4, expires_at = $5 WHERE id = $1 AND status = 'pending'";
    on_db!(db, |p| sqlx::query(SQL).bind(id).bind(bytes).bind(row_count).bind(now_micros()).bind(expires_at).execute(p).await.map(|_| ()))?;
    Ok(())
}

pub async fn fail(db: &Db, id: Uuid, error: &str) -> StoreResult<()> {
    const SQL: &str = "UPDATE tenant_exports SET status = 'failed', error = $2, completed_at = $3 WHERE id = $1 AND status = 'pending'";
    on_db!(db, |p| sqlx::query(SQL).bind(id).bind(error).bind(now_micros()).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Ready exports whose link has expired, and pending ones older than `stale_before` (their
/// process stopped while writing them): marked, and returned so their files go.
pub async fn expire(db: &Db, now: i64, stale_before: i64) -> StoreResult<Vec<(Uuid, Uuid)>> {
    const FIND: &str = "SELECT tenant_id, id FROM tenant_exports WHERE (status = 'ready' AND expires_at <= $1) OR (status = 'pending' AND created_at < $2)";
    let found: Vec<(Uuid, Uuid)> = on_db!(db, |p| sqlx::query_as(FIND).bind(now).bind(stale_before).fetch_all(p).await)?;
    const MARK: &str = "UPDATE tenant_exports SET status = CASE WHEN status = 'ready' THEN 'expired' ELSE 'failed' END, \
                        error = CASE WHEN status = 'ready' THEN error ELSE 'the hub stopped while writing it' END WHERE id = $1";
    for (_, id) in &found {
        on_db!(db, |p| sqlx::query(MARK).bind(*id).execute(p).await.map(|_| ()))?;
    }
    Ok(found)
}

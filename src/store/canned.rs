//! Canned responses: replies operators reuse.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

row_struct! {
    pub struct CannedRow { id: Uuid, tenant_id: Uuid, shortcut: String, text: String, created_at: i64, updated_at: i64 }
}

const COLUMNS: &str = "id, tenant_id, shortcut, text, created_at, updated_at";

pub async fn list(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<CannedRow>> {
    let sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE tenant_id = $1 ORDER BY shortcut LIMIT 1000");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).fetch_all(p).await)?)
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<CannedRow>> {
    let sql = format!("SELECT {COLUMNS} FROM canned_responses WHERE tenant_id = $1 AND id = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(id).fetch_optional(p).await)?)
}

/// Inserts or replaces (same id) a canned response.
pub async fn save(db: &Db, row: &CannedRow) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO canned_responses (id, tenant_id, shortcut, text, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                       ON CONFLICT (id) DO UPDATE SET shortcut = EXCLUDED.shortcut, text = EXCLUDED.text, updated_at = EXCLUDED.updated_at";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(row.id)
        .bind(row.tenant_id)
        .bind(&row.shortcut)
        .bind(&row.text)
        .bind(row.created_at)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await
}

pub async fn delete(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "DELETE FROM canned_responses WHERE tenant_id = $1 AND id = $2";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(tenant_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

//! Operators' availability and capacity, and the choice of whom to assign next.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct Availability { id: Uuid, availability: String, capacity: i64, daily_summary: bool }
}

pub async fn availability(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<Availability>> {
    const SQL: &str = "SELECT id, availability, capacity, daily_summary FROM operators WHERE tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

pub async fn set_availability(db: &Db, tenant_id: Uuid, id: Uuid, availability: &str, capacity: i64, daily_summary: bool) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operators SET availability = $3, capacity = $4, daily_summary = $5 WHERE tenant_id = $1 AND id = $2";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(tenant_id)
        .bind(id)
        .bind(availability)
        .bind(capacity)
        .bind(daily_summary)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// The online operator to assign next: below capacity (open and pending conversations), the
/// one assigned longest ago (round robin). Marks them assigned now, in `tx`.
pub async fn next_assignee(tx: &mut Tx, tenant_id: Uuid) -> StoreResult<Option<Uuid>> {
    const PICK: &str = "SELECT o.id FROM operators o WHERE o.tenant_id = $1 AND o.availability = 'online' \
                        AND (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = $1 AND c.assignee_id = o.id AND c.status IN ('open', 'pending')) < o.capacity \
                        ORDER BY COALESCE(o.last_assigned_at, 0), o.id LIMIT 1";
    const MARK: &str = "UPDATE operators SET last_assigned_at = $2 WHERE id = $1";
    let picked: Option<Uuid> = on_conn!(Conn::from(&mut *tx), |c| sqlx::query_scalar(PICK).bind(tenant_id).fetch_optional(c).await)?;
    if let Some(id) = picked {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(MARK).bind(id).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(picked)
}

//! Channels' business hours, and the once-per-conversation away notice.

use uuid::Uuid;

use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn};

pub async fn get<'a>(conn: impl Into<Conn<'a>>, channel_id: Uuid) -> StoreResult<Option<String>> {
    const SQL: &str = "SELECT document FROM business_hours WHERE channel_id = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(channel_id).fetch_optional(c).await)?)
}

pub async fn save(db: &Db, tenant_id: Uuid, channel_id: Uuid, document: &str) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO business_hours (channel_id, tenant_id, document, updated_at) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT (channel_id) DO UPDATE SET document = EXCLUDED.document, updated_at = EXCLUDED.updated_at";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(channel_id).bind(tenant_id).bind(document).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

/// Marks the conversation told; false if it already was (so it is told once).
pub async fn claim_away_notice(tx: &mut Tx, conversation_id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "UPDATE conversations SET away_notified_at = $2 WHERE id = $1 AND away_notified_at IS NULL";
    let n = on_conn!(Conn::from(tx), |c| sqlx::query(SQL).bind(conversation_id).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

//! Pulling channels' cursors and deep-link tokens.

use uuid::Uuid;

use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

pub async fn cursor(db: &Db, channel_id: Uuid) -> StoreResult<Option<String>> {
    const SQL: &str = "SELECT cursor FROM channel_cursors WHERE channel_id = $1";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).bind(channel_id).fetch_optional(p).await)?)
}

pub async fn save_cursor(db: &Db, channel_id: Uuid, cursor: &str) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO channel_cursors (channel_id, cursor, updated_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (channel_id) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = EXCLUDED.updated_at";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(channel_id).bind(cursor).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

pub async fn insert_link_token(db: &Db, token_hash: &[u8], tenant_id: Uuid, channel_id: Uuid, contact_id: Uuid, expires_at: i64) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO link_tokens (token_hash, tenant_id, channel_id, contact_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(token_hash)
        .bind(tenant_id)
        .bind(channel_id)
        .bind(contact_id)
        .bind(expires_at)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await
}

/// Uses a token: the contact it names, if it is for this channel, unexpired and unused; it is
/// used up in the caller's transaction.
pub async fn redeem_link_token(tx: &mut Tx, token_hash: &[u8], channel_id: Uuid) -> StoreResult<Option<Uuid>> {
    const SQL: &str = "UPDATE link_tokens SET used_at = $3 WHERE token_hash = $1 AND channel_id = $2 AND used_at IS NULL AND expires_at > $3 \
                       RETURNING contact_id";
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_scalar(SQL).bind(token_hash).bind(channel_id).bind(now_micros()).fetch_optional(c).await)?)
}

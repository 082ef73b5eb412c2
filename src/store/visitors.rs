//! Web chat visitor sessions, found by the hash of the visitor's token.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, now_micros, on_conn};

row_struct! {
    pub struct VisitorRow { tenant_id: Uuid, channel_id: Uuid, contact_id: Uuid, visitor_id: Uuid }
}

#[allow(clippy::too_many_arguments)]
pub async fn insert<'a>(
    conn: impl Into<Conn<'a>>,
    token_hash: &[u8],
    tenant_id: Uuid,
    channel_id: Uuid,
    contact_id: Uuid,
    visitor_id: Uuid,
    ip: Option<&[u8]>,
    user_agent: Option<&[u8]>,
) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO visitor_sessions (token_hash, tenant_id, channel_id, contact_id, visitor_id, ip, user_agent, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_conn!(conn.into(), |c| sqlx::query(SQL)
        .bind(token_hash)
        .bind(tenant_id)
        .bind(channel_id)
        .bind(contact_id)
        .bind(visitor_id)
        .bind(ip)
        .bind(user_agent)
        .bind(now_micros())
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The session a token names, unless it opened before `opened_after` (expired).
pub async fn by_token<'a>(conn: impl Into<Conn<'a>>, token_hash: &[u8], opened_after: i64) -> StoreResult<Option<VisitorRow>> {
    const SQL: &str = "SELECT v.tenant_id, v.channel_id, v.contact_id, v.visitor_id FROM visitor_sessions v \
                       JOIN channels ch ON ch.id = v.channel_id AND ch.deleted_at IS NULL WHERE v.token_hash = $1 AND v.created_at > $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(token_hash).bind(opened_after).fetch_optional(c).await)?)
}

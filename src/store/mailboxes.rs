//! Email channel state: importer cursors, quarantined mail, channel health, thread lookups.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

row_struct! {
    pub struct QuarantineRow { id: Uuid, tenant_id: Uuid, channel_id: Uuid, uid: i64, raw: Vec<u8>, error: String, created_at: i64 }
}

pub async fn quarantine(db: &Db, row: &QuarantineRow) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO email_quarantine (id, tenant_id, channel_id, uid, raw, error, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(row.id)
        .bind(row.tenant_id)
        .bind(row.channel_id)
        .bind(row.uid)
        .bind(&row.raw)
        .bind(&row.error)
        .bind(row.created_at)
        .execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

/// A channel's quarantined mail, newest first, before the cursor; `limit + 1` rows.
pub async fn quarantined(db: &Db, channel_id: Uuid, before: Option<Uuid>, limit: usize) -> StoreResult<Vec<QuarantineRow>> {
    const SQL: &str = "SELECT id, tenant_id, channel_id, uid, raw, error, created_at FROM email_quarantine \
                       WHERE channel_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(channel_id).bind(before).bind(limit as i64 + 1).fetch_all(p).await)?)
}

pub async fn set_health(db: &Db, channel_id: Uuid, last_error: Option<&str>) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO channel_health (channel_id, last_error, updated_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (channel_id) DO UPDATE SET last_error = EXCLUDED.last_error, updated_at = EXCLUDED.updated_at";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(channel_id).bind(last_error).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

/// (last error, when) for a channel, if anything was reported.
pub async fn health(db: &Db, channel_id: Uuid) -> StoreResult<Option<(Option<String>, i64)>> {
    const SQL: &str = "SELECT last_error, updated_at FROM channel_health WHERE channel_id = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(channel_id).fetch_optional(p).await)?)
}

/// Every channel of a kind, across tenants: what the hub starts background work for.
pub async fn channels_of_kind(db: &Db, kind: &str) -> StoreResult<Vec<Uuid>> {
    const SQL: &str = "SELECT id FROM channels WHERE kind = $1 ORDER BY id";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).bind(kind).fetch_all(p).await)?)
}

/// The provider ids of a conversation's messages on a channel, newest first: what an email
/// reply puts in `In-Reply-To` and `References`.
pub async fn thread_ids<'a>(conn: impl Into<Conn<'a>>, conversation_id: Uuid, channel_id: Uuid, limit: usize) -> StoreResult<Vec<String>> {
    const SQL: &str = "SELECT external_id FROM messages WHERE conversation_id = $1 AND channel_id = $2 \
                       AND external_id IS NOT NULL ORDER BY id DESC LIMIT $3";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(conversation_id).bind(channel_id).bind(limit as i64).fetch_all(c).await)?)
}

pub async fn set_subject<'a>(conn: impl Into<Conn<'a>>, conversation_id: Uuid, sealed: &[u8]) -> StoreResult<()> {
    const SQL: &str = "UPDATE conversations SET subject = $2 WHERE id = $1 AND subject IS NULL";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(conversation_id).bind(sealed).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn subject<'a>(conn: impl Into<Conn<'a>>, conversation_id: Uuid) -> StoreResult<Option<Vec<u8>>> {
    const SQL: &str = "SELECT subject FROM conversations WHERE id = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar::<_, Option<Vec<u8>>>(SQL).bind(conversation_id).fetch_optional(c).await)?.flatten())
}


/// Forgets quarantined mail older than `before` (microseconds); how many went.
pub async fn purge_quarantine(db: &Db, before: i64) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM email_quarantine WHERE created_at < $1";
    Ok(on_db!(db, |p| sqlx::query(SQL).bind(before).execute(p).await.map(|r| r.rows_affected()))?)
}

/// A tenant's quarantined mail: (id, sealed raw mail).
pub async fn quarantine_of_tenant<'a>(conn: impl Into<super::Conn<'a>>, tenant_id: Uuid) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
    const SQL: &str = "SELECT id, raw FROM email_quarantine WHERE tenant_id = $1";
    Ok(super::on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).fetch_all(c).await)?)
}

pub async fn delete_quarantined<'a>(conn: impl Into<super::Conn<'a>>, ids: &[Uuid]) -> StoreResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let conn: super::Conn = conn.into();
    let sql = format!("DELETE FROM email_quarantine WHERE id IN ({})", conn.dialect().list(ids.len(), 1));
    Ok(super::on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?)
}

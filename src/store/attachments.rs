//! Attachments of messages, and where quoted history starts in a message's text.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, on_conn};

row_struct! {
    /// An attachment without its content.
    pub struct AttachmentMeta {
        id: Uuid, message_id: Uuid, contact_id: Uuid, filename: Option<Vec<u8>>, content_type: String, size: i64, has_data: bool,
    }
}

row_struct! {
    pub struct AttachmentRow {
        id: Uuid, tenant_id: Uuid, message_id: Uuid, contact_id: Uuid, filename: Option<Vec<u8>>, content_type: String, size: i64,
        data: Option<Vec<u8>>, remote: Option<String>, created_at: i64,
    }
}

pub async fn insert_many<'a>(conn: impl Into<Conn<'a>>, rows: &[AttachmentRow]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO attachments (id, tenant_id, message_id, contact_id, filename, content_type, size, data, remote, created_at) VALUES {}",
        conn.dialect().tuples(rows.len(), 10, 1)
    );
    on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in rows {
            q = q
                .bind(r.id)
                .bind(r.tenant_id)
                .bind(r.message_id)
                .bind(r.contact_id)
                .bind(&r.filename)
                .bind(&r.content_type)
                .bind(r.size)
                .bind(&r.data)
                .bind(&r.remote)
                .bind(r.created_at);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// The attachments of these messages, without content.
pub async fn for_messages<'a>(conn: impl Into<Conn<'a>>, message_ids: &[Uuid]) -> StoreResult<Vec<AttachmentMeta>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "SELECT id, message_id, contact_id, filename, content_type, size, (data IS NOT NULL OR remote IS NOT NULL) AS has_data FROM attachments \
         WHERE message_id IN ({}) ORDER BY id",
        conn.dialect().list(message_ids.len(), 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in message_ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// A message's attachments with their (sealed) content, oldest first.
pub async fn full_for_message<'a>(conn: impl Into<Conn<'a>>, message_id: Uuid) -> StoreResult<Vec<AttachmentRow>> {
    const SQL: &str = "SELECT id, tenant_id, message_id, contact_id, filename, content_type, size, data, remote, created_at FROM attachments \
                       WHERE message_id = $1 ORDER BY id";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(message_id).fetch_all(c).await)?)
}

pub async fn get<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<AttachmentRow>> {
    const SQL: &str = "SELECT id, tenant_id, message_id, contact_id, filename, content_type, size, data, remote, created_at FROM attachments \
                       WHERE tenant_id = $1 AND id = $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

pub async fn insert_quotes<'a>(conn: impl Into<Conn<'a>>, quotes: &[(Uuid, i64)]) -> StoreResult<()> {
    if quotes.is_empty() {
        return Ok(());
    }
    let conn: Conn = conn.into();
    let sql = format!("INSERT INTO message_quotes (message_id, quote_start) VALUES {}", conn.dialect().tuples(quotes.len(), 2, 1));
    on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, start) in quotes {
            q = q.bind(*id).bind(*start);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub async fn quotes_for<'a>(conn: impl Into<Conn<'a>>, message_ids: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!("SELECT message_id, quote_start FROM message_quotes WHERE message_id IN ({})", conn.dialect().list(message_ids.len(), 1));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in message_ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// Keeps content fetched from the provider (sealed) for an attachment that had only a remote
/// reference, so the next download needs no fetch.
pub async fn store_fetched<'a>(conn: impl Into<Conn<'a>>, id: Uuid, sealed: &[u8], content_type: &str, size: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE attachments SET data = $2, content_type = $3, size = $4 WHERE id = $1 AND data IS NULL";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(sealed).bind(content_type).bind(size).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

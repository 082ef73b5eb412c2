//! The transfer log: one row per egress decision.

use uuid::Uuid;

use super::{Conn, StoreResult, now_micros, on_conn};

pub struct NewTransfer<'a> {
    pub tenant_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub destination_kind: &'a str,
    pub destination: &'a str,
    pub country: Option<&'a str>,
    pub mechanism: Option<&'a str>,
    /// JSON array of data category names.
    pub data_categories: &'a str,
    pub decision: &'a str,
    pub reason: Option<&'a str>,
}

/// Records many transfers in one statement.
pub async fn insert_many<'a>(conn: impl Into<Conn<'a>>, rows: &[NewTransfer<'_>]) -> StoreResult<()> {
    let conn: Conn = conn.into();
    let dialect = conn.dialect();
    let now = now_micros();
    let mut conn = conn;
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO transfers (id, tenant_id, contact_id, message_id, destination_kind, destination, country, \
             mechanism, data_categories, decision, reason, created_at) VALUES {}",
            dialect.tuples(chunk.len(), 12, 1)
        );
        let conn = match &mut conn {
            Conn::Pool(db) => Conn::Pool(db),
            Conn::Tx(tx) => Conn::Tx(tx),
        };
        on_conn!(conn, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for t in chunk {
                q = q
                    .bind(Uuid::now_v7())
                    .bind(t.tenant_id)
                    .bind(t.contact_id)
                    .bind(t.message_id)
                    .bind(t.destination_kind)
                    .bind(t.destination)
                    .bind(t.country)
                    .bind(t.mechanism)
                    .bind(t.data_categories)
                    .bind(t.decision)
                    .bind(t.reason)
                    .bind(now);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// How many transfers were recorded for a message (for tests and audits).
pub async fn count_for_message<'a>(conn: impl Into<Conn<'a>>, message_id: Uuid) -> StoreResult<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM transfers WHERE message_id = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(message_id).fetch_one(c).await)?)
}

//! The transfer log: one row per egress decision.

use uuid::Uuid;

use super::rows::{Page, row_struct};
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

pub struct NewTransfer<'a> {
    pub tenant_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub message_id: Option<Uuid>,
    pub destination_kind: &'a str,
    pub destination: &'a str,
    pub country: Option<&'a str>,
    pub mechanism: Option<&'a str>,
    /// JSON array of the data categories that left as they are.
    pub data_categories: &'a str,
    /// JSON arrays of the categories removed (redacted or blocked) and pseudonymized.
    pub categories_removed: &'a str,
    pub categories_pseudonymized: &'a str,
    /// `allow`, `transform` or `block`.
    pub decision: &'a str,
    pub reason: Option<&'a str>,
    /// The rule or default that decided.
    pub rule: Option<&'a str>,
}

row_struct! {
    pub struct TransferRow {
        id: Uuid, tenant_id: Uuid, contact_id: Option<Uuid>, message_id: Option<Uuid>, destination_kind: String, destination: String,
        country: Option<String>, mechanism: Option<String>, data_categories: String, categories_removed: String,
        categories_pseudonymized: String, decision: String, reason: Option<String>, rule: Option<String>, created_at: i64
    }
}

const COLUMNS: &str = "id, tenant_id, contact_id, message_id, destination_kind, destination, country, mechanism, data_categories, \
                       categories_removed, categories_pseudonymized, decision, reason, rule, created_at";

/// Filters for the transfer log.
#[derive(Debug, Default, Clone)]
pub struct TransferFilter {
    pub contact_id: Option<Uuid>,
    pub destination: Option<String>,
    pub since: Option<i64>,
}

/// One page of a tenant's transfer log, oldest first.
pub async fn list(db: &Db, tenant_id: Uuid, filter: &TransferFilter, cursor: Option<Uuid>, limit: usize) -> StoreResult<Page<TransferRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM transfers WHERE tenant_id = $1 AND ($2 IS NULL OR contact_id = $2) AND ($3 IS NULL OR destination = $3) \
         AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR id > $5) ORDER BY id LIMIT $6"
    );
    let rows: Vec<TransferRow> = on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(tenant_id)
        .bind(filter.contact_id)
        .bind(filter.destination.as_deref())
        .bind(filter.since)
        .bind(cursor)
        .bind(limit as i64 + 1)
        .fetch_all(p)
        .await)?;
    Ok(Page::from_rows(rows, limit, |r| r.id))
}

/// The distinct destinations a tenant's data actually went to (allowed transfers).
pub async fn destinations_used(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<String>> {
    const SQL: &str = "SELECT DISTINCT destination FROM transfers WHERE tenant_id = $1 AND decision <> 'block' ORDER BY destination";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).bind(tenant_id).fetch_all(p).await)?)
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
             mechanism, data_categories, categories_removed, categories_pseudonymized, decision, reason, rule, created_at) VALUES {}",
            dialect.tuples(chunk.len(), 15, 1)
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
                    .bind(t.categories_removed)
                    .bind(t.categories_pseudonymized)
                    .bind(t.decision)
                    .bind(t.reason)
                    .bind(t.rule)
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

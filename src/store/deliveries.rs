//! What providers reported about sent messages, each report kept (`delivery_reports`): the
//! history of a message's delivery, and reports waiting for a send's own answer to name their
//! message.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, Tx, now_micros, on_conn};

row_struct! {
    pub struct DeliveryReportRow {
        id: Uuid, message_id: Option<Uuid>, channel_id: Uuid, external_id: Option<String>, status: String, error: Option<String>,
        applied: bool, received_at: i64,
    }
}

pub struct NewReport<'a> {
    pub message_id: Option<Uuid>,
    pub channel_id: Uuid,
    pub external_id: Option<&'a str>,
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub applied: bool,
}

pub async fn insert<'a>(conn: impl Into<Conn<'a>>, report: &NewReport<'_>) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO delivery_reports (id, message_id, channel_id, external_id, status, error, applied, received_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_conn!(conn.into(), |c| sqlx::query(SQL)
        .bind(Uuid::now_v7())
        .bind(report.message_id)
        .bind(report.channel_id)
        .bind(report.external_id)
        .bind(report.status)
        .bind(report.error)
        .bind(report.applied)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A message's reports, oldest first.
pub async fn for_message<'a>(conn: impl Into<Conn<'a>>, message_id: Uuid) -> StoreResult<Vec<DeliveryReportRow>> {
    const SQL: &str = "SELECT id, message_id, channel_id, external_id, status, error, applied, received_at FROM delivery_reports \
                       WHERE message_id = $1 ORDER BY received_at, id";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(message_id).fetch_all(c).await)?)
}

/// Takes the reports that waited for this provider id (removing them), oldest first.
pub async fn take_waiting(tx: &mut Tx, channel_id: Uuid, external_id: &str) -> StoreResult<Vec<DeliveryReportRow>> {
    const SELECT: &str = "SELECT id, message_id, channel_id, external_id, status, error, applied, received_at FROM delivery_reports \
                          WHERE channel_id = $1 AND external_id = $2 AND message_id IS NULL ORDER BY received_at, id";
    const DELETE: &str = "DELETE FROM delivery_reports WHERE channel_id = $1 AND external_id = $2 AND message_id IS NULL";
    let rows: Vec<DeliveryReportRow> = on_conn!(Conn::from(&mut *tx), |c| sqlx::query_as(SELECT).bind(channel_id).bind(external_id).fetch_all(c).await)?;
    if !rows.is_empty() {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(DELETE).bind(channel_id).bind(external_id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(rows)
}

/// Forgets reports that waited longer than `before` (microseconds) for their message.
pub async fn purge_waiting<'a>(conn: impl Into<Conn<'a>>, before: i64) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM delivery_reports WHERE message_id IS NULL AND received_at < $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query(SQL).bind(before).execute(c).await.map(|r| r.rows_affected()))?)
}

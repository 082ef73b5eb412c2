//! The transactional outbox: events written in the same transaction as the state they describe.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, on_conn};

row_struct! {
    pub struct EventRow {
        seq: i64, id: Uuid, tenant_id: Uuid, event_type: String, contact_id: Option<Uuid>, payload: Vec<u8>, created_at: i64,
    }
}

/// The node (hub process) appending: recorded with each event, so other nodes know whose it is.
fn origin() -> Uuid {
    crate::domain::node_id()
}

row_struct! {
    /// An event as another node reads it, with the node that committed it.
    pub struct OriginRow {
        seq: i64, id: Uuid, tenant_id: Uuid, event_type: String, contact_id: Option<Uuid>, payload: Vec<u8>, created_at: i64, origin: Option<Uuid>,
    }
}

/// (seq, id) of the events other nodes committed after `seq`, oldest first (for the cluster
/// bridge: it opens only the ones it has not handed on yet).
pub async fn others_since(db: &super::Db, seq: i64, me: Uuid, limit: usize) -> StoreResult<Vec<(i64, Uuid)>> {
    const SQL: &str = "SELECT seq, id FROM outbox WHERE seq > $1 AND (origin IS NULL OR origin <> $2) ORDER BY seq LIMIT $3";
    Ok(super::on_db!(db, |p| sqlx::query_as(SQL).bind(seq).bind(me).bind(limit as i64).fetch_all(p).await)?)
}

/// These events, whole, oldest first.
pub async fn by_ids(db: &super::Db, ids: &[Uuid]) -> StoreResult<Vec<OriginRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT seq, id, tenant_id, event_type, contact_id, payload, created_at, origin FROM outbox WHERE id IN ({}) ORDER BY seq",
        Conn::from(db).dialect().list(ids.len(), 1)
    );
    Ok(super::on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?)
}

pub async fn max_seq(db: &super::Db) -> StoreResult<i64> {
    const SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM outbox";
    Ok(super::on_db!(db, |p| sqlx::query_scalar(SQL).fetch_one(p).await)?)
}

/// An event to append; `payload` is sealed when `contact_id` is set.
pub struct NewEvent<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub event_type: &'a str,
    pub contact_id: Option<Uuid>,
    pub payload: &'a [u8],
    pub created_at: i64,
}

pub async fn append<'a>(conn: impl Into<Conn<'a>>, e: &NewEvent<'_>) -> StoreResult<i64> {
    const SQL: &str = "INSERT INTO outbox (id, tenant_id, event_type, contact_id, payload, created_at, origin) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar(SQL)
        .bind(e.id)
        .bind(e.tenant_id)
        .bind(e.event_type)
        .bind(e.contact_id)
        .bind(e.payload)
        .bind(e.created_at)
        .bind(origin())
        .fetch_one(c)
        .await)?)
}

/// A tenant's events after `seq`, oldest first: how a reconnecting listener catches up.
pub async fn after<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, seq: i64, limit: usize) -> StoreResult<Vec<EventRow>> {
    const SQL: &str = "SELECT seq, id, tenant_id, event_type, contact_id, payload, created_at FROM outbox \
                       WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(seq).bind(limit as i64).fetch_all(c).await)?)
}

/// Appends many events in one statement; returns (id, seq) for each.
pub async fn append_many<'a>(conn: impl Into<Conn<'a>>, events: &[NewEvent<'_>]) -> StoreResult<Vec<(Uuid, i64)>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO outbox (id, tenant_id, event_type, contact_id, payload, created_at, origin) VALUES {} RETURNING id, seq",
        conn.dialect().tuples(events.len(), 7, 1)
    );
    let origin = origin();
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for e in events {
            q = q.bind(e.id).bind(e.tenant_id).bind(e.event_type).bind(e.contact_id).bind(e.payload).bind(e.created_at).bind(origin);
        }
        q.fetch_all(c).await
    })?)
}

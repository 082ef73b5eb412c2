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

/// (seq, id, origin) of the events committed after `seq`, oldest first: what the log's tail
/// looks at before reading whole only the events it does not hold in memory already.
pub async fn positions_after(db: &super::Db, seq: i64, limit: usize) -> StoreResult<Vec<(i64, Uuid, Option<Uuid>)>> {
    const SQL: &str = "SELECT seq, id, origin FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2";
    Ok(super::on_db!(db, |p| sqlx::query_as(SQL).bind(seq).bind(limit as i64).fetch_all(p).await)?)
}

const WHOLE: &str = "seq, id, tenant_id, event_type, contact_id, payload, created_at, origin";

/// These events, whole, oldest first.
pub async fn by_seqs(db: &super::Db, seqs: &[i64]) -> StoreResult<Vec<OriginRow>> {
    if seqs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {WHOLE} FROM outbox WHERE seq IN ({}) ORDER BY seq", Conn::from(db).dialect().list(seqs.len(), 1));
    Ok(super::on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
        for seq in seqs {
            q = q.bind(*seq);
        }
        q.fetch_all(p).await
    })?)
}

/// Every tenant's events after `seq`, whole, oldest first: a reader behind what the log holds in
/// memory catches up here.
pub async fn all_after(db: &super::Db, seq: i64, limit: usize) -> StoreResult<Vec<OriginRow>> {
    let sql = format!("SELECT {WHOLE} FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2");
    Ok(super::on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(seq).bind(limit as i64).fetch_all(p).await)?)
}

/// A tenant's events after `seq`, whole, oldest first, of the given types (all when empty).
pub async fn tenant_after(db: &super::Db, tenant_id: Uuid, seq: i64, types: &[&str], limit: usize) -> StoreResult<Vec<OriginRow>> {
    let dialect = Conn::from(db).dialect();
    // Placeholders in the order they are bound: tenant, position, types…, limit.
    let filter = if types.is_empty() { String::new() } else { format!(" AND event_type IN ({})", dialect.list(types.len(), 3)) };
    let limit_at = 3 + types.len();
    let sql = format!(
        "SELECT {WHOLE} FROM outbox WHERE tenant_id = {} AND seq > {}{filter} ORDER BY seq LIMIT {}",
        dialect.list(1, 1),
        dialect.list(1, 2),
        dialect.list(1, limit_at)
    );
    Ok(super::on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(seq);
        for t in types {
            q = q.bind(*t);
        }
        q.bind(limit as i64).fetch_all(p).await
    })?)
}

pub async fn max_seq(db: &super::Db) -> StoreResult<i64> {
    const SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM outbox";
    Ok(super::on_db!(db, |p| sqlx::query_scalar(SQL).fetch_one(p).await)?)
}

/// The last sequence number retention removed: positions before it cannot be resumed from.
pub async fn purged_through(db: &super::Db) -> StoreResult<i64> {
    const SQL: &str = "SELECT purged_through FROM event_log_horizon WHERE id = 1";
    Ok(super::on_db!(db, |p| sqlx::query_scalar::<_, i64>(SQL).fetch_optional(p).await)?.unwrap_or(0))
}

/// Removes the oldest events: those created before `cutoff` and at or below `keep_after` (the
/// slowest durable consumer's position), as one prefix of the log, at most `limit` per call.
/// Records how far the log is purged; returns how many events went.
/// What one purge step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// Removed this many events (0: nothing was past retention).
    Removed(u64),
    /// Expired events remain that a durable consumer has not handled yet.
    HeldBack,
}

pub async fn purge_prefix(db: &super::Db, cutoff: i64, keep_after: i64, limit: usize) -> StoreResult<Purged> {
    const LAST: &str = "SELECT MAX(seq) FROM (SELECT seq FROM outbox WHERE seq <= $1 ORDER BY seq LIMIT $2) AS oldest";
    const FIRST_KEPT: &str = "SELECT MIN(seq) FROM outbox WHERE created_at >= $1";
    const DELETE: &str = "DELETE FROM outbox WHERE seq <= $1";
    const HORIZON: &str = "UPDATE event_log_horizon SET purged_through = $1 WHERE id = 1 AND purged_through < $1";
    // Everything below the first event still within the retention period, and below the
    // consumers, is old enough to go.
    let first_kept: Option<i64> = super::on_db!(db, |p| sqlx::query_scalar(FIRST_KEPT).bind(cutoff).fetch_one(p).await)?;
    let expired_through = first_kept.map_or(i64::MAX, |first| first - 1);
    let bound = expired_through.min(keep_after);
    let through: Option<i64> = super::on_db!(db, |p| sqlx::query_scalar(LAST).bind(bound).bind(limit as i64).fetch_one(p).await)?;
    let Some(through) = through else {
        // Nothing left up to the bound; when a consumer set it, expired events may lie beyond.
        if keep_after < expired_through {
            const BEYOND: &str = "SELECT MIN(seq) FROM outbox WHERE seq > $1 AND seq <= $2";
            let beyond: Option<i64> = super::on_db!(db, |p| sqlx::query_scalar(BEYOND).bind(keep_after).bind(expired_through).fetch_one(p).await)?;
            if beyond.is_some() {
                return Ok(Purged::HeldBack);
            }
        }
        return Ok(Purged::Removed(0));
    };
    let mut tx = db.begin().await?;
    let removed = on_conn!(Conn::from(&mut tx), |c| sqlx::query(DELETE).bind(through).execute(c).await.map(|r| r.rows_affected()))?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(HORIZON).bind(through).execute(c).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(Purged::Removed(removed))
}

/// PostgreSQL: every transaction that appends events takes this lock (released at its commit),
/// so events become visible in the order of their sequence numbers — a reader that has seen
/// event N never finds an event below N appearing later. SQLite has one writer at a time and
/// needs none.
const APPEND_ORDER_LOCK: i64 = 0x6f62_6f75_7462_6f78;

async fn hold_append_order(tx: &mut super::Tx) -> StoreResult<()> {
    if let super::Tx::Pg(t) = tx {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_ORDER_LOCK).execute(&mut **t).await?;
    }
    Ok(())
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

pub async fn append(tx: &mut super::Tx, e: &NewEvent<'_>) -> StoreResult<i64> {
    hold_append_order(tx).await?;
    const SQL: &str = "INSERT INTO outbox (id, tenant_id, event_type, contact_id, payload, created_at, origin) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq";
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_scalar(SQL)
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

/// Appends many events in one statement; returns (id, seq) for each.
pub async fn append_many(tx: &mut super::Tx, events: &[NewEvent<'_>]) -> StoreResult<Vec<(Uuid, i64)>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    hold_append_order(tx).await?;
    let conn = Conn::from(tx);
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

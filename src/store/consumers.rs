//! Durable consumers' positions in the event log: each consumer's last handled sequence number,
//! moved in the same transaction as the work it did.

use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

/// Locks the consumer's position for this transaction and returns it; `None` when another hub
/// process holds it (PostgreSQL: it is working through the same events). A consumer without a
/// position yet starts at the end of the log.
pub async fn lock(tx: &mut Tx, name: &str) -> StoreResult<Option<i64>> {
    const START: &str = "INSERT INTO event_consumers (name, seq, updated_at) SELECT $1, COALESCE(MAX(seq), 0), $2 FROM outbox WHERE TRUE \
                         ON CONFLICT (name) DO NOTHING";
    const PG: &str = "SELECT seq FROM event_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED";
    const SQLITE: &str = "SELECT seq FROM event_consumers WHERE name = $1";
    let found: Option<i64> = match tx {
        Tx::Pg(t) => sqlx::query_scalar(PG).bind(name).fetch_optional(&mut **t).await?,
        Tx::Sqlite(t, _) => sqlx::query_scalar(SQLITE).bind(name).fetch_optional(&mut **t).await?,
    };
    if found.is_some() {
        return Ok(found);
    }
    let inserted = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(START).bind(name).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    if inserted == 0 {
        return Ok(None); // another process created it meanwhile and holds it
    }
    Ok(match tx {
        Tx::Pg(t) => sqlx::query_scalar(PG).bind(name).fetch_optional(&mut **t).await?,
        Tx::Sqlite(t, _) => sqlx::query_scalar(SQLITE).bind(name).fetch_optional(&mut **t).await?,
    })
}

/// Moves the consumer's position (in the transaction that did the work).
pub async fn advance(tx: &mut Tx, name: &str, seq: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE event_consumers SET seq = $2, updated_at = $3 WHERE name = $1 AND seq < $2";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL).bind(name).bind(seq).bind(now_micros()).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Every consumer's position: (name, seq, updated_at), by name.
pub async fn all(db: &Db) -> StoreResult<Vec<(String, i64, i64)>> {
    const SQL: &str = "SELECT name, seq, updated_at FROM event_consumers ORDER BY name";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)?)
}

/// The slowest consumer's position: retention keeps every event after it.
pub async fn slowest(db: &Db) -> StoreResult<Option<i64>> {
    const SQL: &str = "SELECT MIN(seq) FROM event_consumers";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).fetch_one(p).await)?)
}

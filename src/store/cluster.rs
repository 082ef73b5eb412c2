//! The nodes (hub processes) sharing a database, and the leases that give work one owner.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

row_struct! {
    pub struct NodeRow { id: Uuid, hostname: String, pid: i64, listen: String, version: String, started_at: i64, heartbeat_at: i64 }
}

row_struct! {
    pub struct LeaseRow { name: String, owner: Uuid, acquired_at: i64, expires_at: i64 }
}

/// Registers the node or renews its heartbeat; forgets nodes silent for `forget_after`.
pub async fn heartbeat(db: &Db, node: &NodeRow, forget_after_micros: i64) -> StoreResult<()> {
    const UPSERT: &str = "INSERT INTO nodes (id, hostname, pid, listen, version, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                          ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at";
    const FORGET: &str = "DELETE FROM nodes WHERE heartbeat_at < $1";
    let now = now_micros();
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(UPSERT)
        .bind(node.id)
        .bind(&node.hostname)
        .bind(node.pid)
        .bind(&node.listen)
        .bind(&node.version)
        .bind(node.started_at)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ()))?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(FORGET).bind(now - forget_after_micros).execute(c).await.map(|_| ()))?;
    tx.commit().await
}

pub async fn remove_node(db: &Db, id: Uuid) -> StoreResult<()> {
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM leases WHERE owner = $1").bind(id).execute(c).await.map(|_| ()))?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM nodes WHERE id = $1").bind(id).execute(c).await.map(|_| ()))?;
    tx.commit().await
}

/// Nodes whose heartbeat is newer than `since`.
pub async fn live_nodes(db: &Db, since: i64) -> StoreResult<Vec<NodeRow>> {
    const SQL: &str = "SELECT id, hostname, pid, listen, version, started_at, heartbeat_at FROM nodes WHERE heartbeat_at >= $1 ORDER BY started_at, id";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(since).fetch_all(p).await)?)
}

/// Leases in force now.
pub async fn leases(db: &Db) -> StoreResult<Vec<LeaseRow>> {
    const SQL: &str = "SELECT name, owner, acquired_at, expires_at FROM leases WHERE expires_at >= $1 ORDER BY name";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(now_micros()).fetch_all(p).await)?)
}

/// Takes the lease `name` for `owner` until `now + ttl` — or renews it if `owner` holds it.
/// False when another owner holds it and it has not expired.
pub async fn acquire(db: &Db, name: &str, owner: Uuid, ttl_micros: i64) -> StoreResult<bool> {
    const SQL: &str = "INSERT INTO leases (name, owner, acquired_at, expires_at) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at, \
                       acquired_at = CASE WHEN leases.owner = excluded.owner THEN leases.acquired_at ELSE excluded.acquired_at END \
                       WHERE leases.owner = excluded.owner OR leases.expires_at < excluded.acquired_at \
                       RETURNING owner";
    let now = now_micros();
    let mut tx = db.begin().await?;
    let got: Option<Uuid> =
        on_conn!(Conn::from(&mut tx), |c| sqlx::query_scalar(SQL).bind(name).bind(owner).bind(now).bind(now + ttl_micros).fetch_optional(c).await)?;
    tx.commit().await?;
    Ok(got == Some(owner))
}

pub async fn release(db: &Db, name: &str, owner: Uuid) -> StoreResult<()> {
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2").bind(name).bind(owner).execute(c).await.map(|_| ()))?;
    tx.commit().await
}

/// Notifies the processes listening on `channel` (PostgreSQL `NOTIFY`; nothing on SQLite, which
/// serves one process).
pub async fn notify(db: &Db, channel: &str, payload: &str) -> StoreResult<()> {
    let Db::Pg(pool) = db else { return Ok(()) };
    sqlx::query("SELECT pg_notify($1, $2)").bind(channel).bind(payload).execute(pool).await?;
    Ok(())
}

/// A notification another process sent.
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// A connection listening for notifications (PostgreSQL `LISTEN`).
pub struct Listener(sqlx::postgres::PgListener);

impl Listener {
    /// Listens on `channels`; `None` on SQLite, where there is no one else to hear.
    pub async fn connect(db: &Db, channels: &[&str]) -> StoreResult<Option<Self>> {
        let Db::Pg(pool) = db else { return Ok(None) };
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen_all(channels.iter().copied()).await?;
        Ok(Some(Self(listener)))
    }

    pub async fn recv(&mut self) -> StoreResult<Notification> {
        let note = self.0.recv().await?;
        Ok(Notification { channel: note.channel().to_owned(), payload: note.payload().to_owned() })
    }
}

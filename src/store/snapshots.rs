//! Consistent copies of a whole database, for backups, and what a copy holds.
//!
//! SQLite: `VACUUM INTO` writes a compact copy from one read transaction while the hub keeps
//! writing (WAL readers do not block the writer). PostgreSQL: the engine's own `pg_dump`, run
//! on a snapshot exported from a repeatable-read transaction, so the counts recorded beside the
//! dump describe exactly what the dump holds; `pg_restore` loads it back.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use sqlx::Connection;
use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreError, StoreResult, Tx, on_conn};

/// The tables whose row counts a backup's manifest records and a restore checks.
pub const COUNTED: &[&str] = &[
    "tenants",
    "operators",
    "channels",
    "contacts",
    "conversations",
    "messages",
    "attachments",
    "consent_events",
    "transfers",
    "webhook_endpoints",
    "webhook_deliveries",
];

/// What a database (or a copy of one) holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inspection {
    /// The newest migration applied.
    pub schema_version: i64,
    pub tenants: Vec<TenantEntry>,
    pub counts: BTreeMap<String, i64>,
}

row_struct! {
    #[derive(PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    pub struct TenantEntry {
        id: Uuid,
        name: String,
        region: String,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{tool} could not be run ({source}); install PostgreSQL's client tools (the same major version as the server or newer)")]
    ToolMissing { tool: &'static str, source: std::io::Error },
    #[error("{tool} failed: {stderr}")]
    ToolFailed { tool: &'static str, stderr: String },
}

impl From<sqlx::Error> for SnapshotError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Counts and tenants, read through one connection (inside a snapshot transaction on
/// PostgreSQL).
pub async fn inspect(mut conn: Conn<'_>) -> StoreResult<Inspection> {
    let schema_version: Option<i64> =
        on_conn!(conn.reborrow(), |c| sqlx::query_scalar("SELECT MAX(version) FROM omnibridge_migrations").fetch_one(c).await)?;
    let tenants: Vec<TenantEntry> = on_conn!(conn.reborrow(), |c| sqlx::query_as("SELECT id, name, region FROM tenants ORDER BY id").fetch_all(c).await)?;
    let mut counts = BTreeMap::new();
    for table in COUNTED {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = on_conn!(conn.reborrow(), |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).fetch_one(c).await)?;
        counts.insert((*table).to_owned(), n);
    }
    let pending: i64 =
        on_conn!(conn.reborrow(), |c| sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'").fetch_one(c).await)?;
    counts.insert("webhook_deliveries_pending".into(), pending);
    Ok(Inspection { schema_version: schema_version.unwrap_or(0), tenants, counts })
}

/// Opens a SQLite file read-only (a snapshot, or a restored file before it is put in place).
pub async fn open_sqlite_read_only(path: &Path) -> StoreResult<Db> {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    Ok(Db::Sqlite(pool))
}

/// Writes a consistent copy of a SQLite database to `dest` (which must not exist) and inspects
/// the copy.
pub async fn sqlite_copy(db: &Db, dest: &Path) -> Result<Inspection, SnapshotError> {
    let Db::Sqlite(pool) = db else { unreachable_backend()? };
    let dest_text = dest.to_string_lossy().into_owned();
    sqlx::query("VACUUM INTO ?").bind(dest_text).execute(pool).await?;
    let copy = open_sqlite_read_only(dest).await?;
    let inspection = inspect(Conn::Pool(&copy)).await;
    copy.close().await;
    Ok(inspection?)
}

fn unreachable_backend<T>() -> Result<T, SnapshotError> {
    Err(SnapshotError::Store(StoreError::UnsupportedUrl("this copy needs the other backend".into())))
}

/// Dumps a PostgreSQL database with `pg_dump` (custom format) into `dest`, from a snapshot whose
/// counts are returned.
pub async fn postgres_dump(url: &str, dest: &Path) -> Result<Inspection, SnapshotError> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_with(options).await?;
    let mut tx = Tx::Pg(pool.begin().await?);
    {
        let Tx::Pg(t) = &mut tx else { unreachable!() };
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut **t).await?;
    }
    let snapshot: String = {
        let Tx::Pg(t) = &mut tx else { unreachable!() };
        sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(&mut **t).await?
    };
    let inspection = inspect(Conn::Tx(&mut tx)).await?;
    let out = tokio::process::Command::new("pg_dump")
        .arg("--format=custom")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(dest)
        .arg("--dbname")
        .arg(url)
        .output()
        .await
        .map_err(|source| SnapshotError::ToolMissing { tool: "pg_dump", source })?;
    if let Tx::Pg(t) = tx {
        t.rollback().await?;
    }
    pool.close().await;
    if !out.status.success() {
        return Err(SnapshotError::ToolFailed { tool: "pg_dump", stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(inspection)
}

/// Loads a `pg_dump` file into an empty PostgreSQL database.
pub async fn postgres_load(url: &str, dump: &Path) -> Result<(), SnapshotError> {
    let out = tokio::process::Command::new("pg_restore")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--exit-on-error")
        .arg("--single-transaction")
        .arg("--dbname")
        .arg(url)
        .arg(dump)
        .output()
        .await
        .map_err(|source| SnapshotError::ToolMissing { tool: "pg_restore", source })?;
    if !out.status.success() {
        return Err(SnapshotError::ToolFailed { tool: "pg_restore", stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned() });
    }
    Ok(())
}

/// Whether a PostgreSQL database has no tables of its own (a place a backup may go), creating
/// the database when it does not exist yet.
pub async fn postgres_prepare_empty(url: &str) -> Result<bool, SnapshotError> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let mut conn = match sqlx::postgres::PgConnection::connect_with(&options).await {
        Ok(conn) => conn,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("3D000") => {
            let name = options.get_database().unwrap_or("postgres").to_owned();
            let mut admin = sqlx::postgres::PgConnection::connect_with(&options.clone().database("postgres")).await?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")))).execute(&mut admin).await?;
            admin.close().await?;
            sqlx::postgres::PgConnection::connect_with(&options).await?
        }
        Err(e) => return Err(e.into()),
    };
    let tables: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()").fetch_one(&mut conn).await?;
    conn.close().await?;
    Ok(tables == 0)
}

//! All SQL lives here.
//!
//! Two backends, SQLite (the embedded default) and PostgreSQL (to scale out), sit behind one
//! facade: [`Db`] holds either pool and [`Tx`] either transaction. Query text is written once
//! with `$1` placeholders, `RETURNING` and `ON CONFLICT`, which both dialects accept; the
//! `on_db!`/`on_tx!` macros expand the same query code against whichever pool is live. The few
//! places where the dialects differ are forked in the module that needs it, by name.

pub mod attachments;
pub mod attributes;
pub mod canned;
pub mod channels;
pub mod cluster;
pub mod consent;
pub mod csat;
pub mod exports;
pub mod deliveries;
pub mod contacts;
pub mod confirmations;
pub mod consumers;
pub mod conversations;
pub mod hours;
pub mod invitations;
pub mod key_roots;
pub mod keys;
pub mod labels;
pub mod links;
pub mod mailboxes;
pub mod merges;
pub mod messages;
mod migrate;
pub use migrate::known_schema_version;
pub mod outbox;
pub mod participants;
pub mod policies;
pub mod privacy;
pub mod reads;
mod rows;
pub mod search;
pub mod seed;
pub mod sessions;
pub mod snapshots;
pub mod team;
pub mod templates;
pub mod tenant_data;
pub mod tenants;
pub mod transfers;
pub mod undeliverable;
pub mod visitors;
pub mod webhooks;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use channels::ChannelRow;
pub use contacts::{ContactRow, IdentityRow, NewContact};
pub use conversations::{ConversationFilter, ConversationRow};
pub use keys::{ApiKeyRow, OperatorRow};
pub use messages::{MessageRow, NewMessage, QueuedMessage};
pub use outbox::{EventRow, NewEvent};
pub use rows::{Dialect, Page};
pub use tenants::TenantRow;
pub use transfers::NewTransfer;
pub use visitors::VisitorRow;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration {version} failed: {source}")]
    Migration { version: i64, source: sqlx::Error },
    #[error("database holds migration {0}, which this build does not know; refusing to start")]
    UnknownMigration(i64),
    #[error("unsupported database url {0:?}: use sqlite://… or postgres://…")]
    UnsupportedUrl(String),
}

impl StoreError {
    /// True when a unique or foreign-key constraint rejected the write; the name, when known.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            Self::Sqlx(sqlx::Error::Database(e)) => e.constraint().or(Some("")),
            _ => None,
        }
    }
}

/// Connection settings the store needs from the configuration.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    pub max_connections: u32,
    /// SQLite only: `NORMAL` (durable across process crashes, the default) or `FULL`.
    pub sqlite_synchronous: String,
    /// SQLite only: leave WAL checkpoints to [`Db::checkpoint`] instead of running them inside
    /// whichever commit crosses the threshold. Set for the ingest writer, whose commits should
    /// not wait for a checkpoint's fsync.
    pub sqlite_manual_checkpoints: bool,
}

/// Prepared statements kept per connection: the ingest writer's bulk statements take one shape
/// per batch size and statement kind, about a thousand in all.
const STATEMENT_CACHE: usize = 2048;

/// One of the two backends' pools.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// One of the two backends' transactions. A SQLite transaction holds this process's write turn
/// for its database file (see [`WriteTurn`]).
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>, WriteTurn),
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs the same query code against whichever pool is live.
macro_rules! on_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($p) => $body,
            $crate::store::Db::Pg($p) => $body,
        }
    };
}

/// Either a pool or an open transaction: most queries run in both contexts.
pub enum Conn<'a> {
    Pool(&'a Db),
    Tx(&'a mut Tx),
}

impl Conn<'_> {
    /// The same connection for one more query (the statements of a chunked query).
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Pool(db) => Conn::Pool(db),
            Conn::Tx(tx) => Conn::Tx(tx),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Pool(Db::Sqlite(_)) | Conn::Tx(Tx::Sqlite(..)) => Dialect::Sqlite,
            Conn::Pool(Db::Pg(_)) | Conn::Tx(Tx::Pg(_)) => Dialect::Postgres,
        }
    }
}

impl<'a> From<&'a Db> for Conn<'a> {
    fn from(db: &'a Db) -> Self {
        Self::Pool(db)
    }
}

impl<'a> From<&'a mut Tx> for Conn<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Self::Tx(tx)
    }
}

/// Runs the same query code against a pool or a transaction of either backend.
macro_rules! on_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::store::Conn::Pool($crate::store::Db::Sqlite($c)) => $body,
            $crate::store::Conn::Pool($crate::store::Db::Pg($c)) => $body,
            $crate::store::Conn::Tx($crate::store::Tx::Sqlite(t, _)) => {
                let $c = &mut **t;
                $body
            }
            $crate::store::Conn::Tx($crate::store::Tx::Pg(t)) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use {on_conn, on_db};

impl Db {
    /// Connects to the database named by `url` (the scheme picks the backend) and applies
    /// pending migrations.
    pub async fn connect(options: &DbOptions) -> StoreResult<Self> {
        let db = Self::connect_without_migrating(options).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub async fn connect_without_migrating(options: &DbOptions) -> StoreResult<Self> {
        let url = options.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Bulk statements come in one shape per batch size; keep them all prepared.
            let connect = PgConnectOptions::from_str(url)?.statement_cache_capacity(STATEMENT_CACHE);
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            Ok(Self::Pg(pool))
        } else if url.starts_with("sqlite:") {
            let synchronous = match options.sqlite_synchronous.to_ascii_uppercase().as_str() {
                "FULL" => SqliteSynchronous::Full,
                "OFF" => SqliteSynchronous::Off,
                _ => SqliteSynchronous::Normal,
            };
            if let Some(parent) = sqlite_file(url).and_then(|p| p.parent().map(ToOwned::to_owned))
                && !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(&parent).map_err(sqlx::Error::Io)?;
                }
            let connect = SqliteConnectOptions::from_str(url)?
                .statement_cache_capacity(STATEMENT_CACHE)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // Statement journals of multi-row statements stay in memory, not in temp files.
                .pragma("temp_store", "MEMORY")
                // Deleted content is overwritten, so an erased contact's ciphertext does not
                // linger in free pages.
                .pragma("secure_delete", "ON")
                .pragma("wal_autocheckpoint", if options.sqlite_manual_checkpoints { "0" } else { "1000" });
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(connect)
                .await?;
            // The database holds what the master key beside it opens: readable by its owner
            // only, like the key file (the WAL and shared-memory files too).
            #[cfg(unix)]
            if let Some(file) = sqlite_file(url) {
                use std::os::unix::fs::PermissionsExt;
                for suffix in ["", "-wal", "-shm"] {
                    let path = std::path::PathBuf::from(format!("{}{suffix}", file.display()));
                    if path.exists() {
                        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
                    }
                }
            }
            Ok(Self::Sqlite(pool))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Pg(_) => "postgres",
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front (`BEGIN
    /// IMMEDIATE`): a deferred transaction that later upgrades to a writer fails with
    /// SQLITE_BUSY instead of waiting.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Self::Sqlite(p) => {
                let turn = WriteTurn::take(p).await;
                Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Self::Pg(p) => Tx::Pg(p.begin().await?),
        })
    }

    /// Refreshes the planner's statistics and the visibility map of these tables after a bulk
    /// load (a backfill, a seed, a restore). PostgreSQL plans with its statistics, and
    /// autovacuum may reach a table loaded in one go long after it is queried: without them a
    /// search by term became a scan of every document, and without the visibility map every
    /// index-only read of the index visits the table too. SQLite plans these queries well from
    /// the indexes alone (a no-op).
    pub async fn refresh_statistics(&self, tables: &[&str]) -> StoreResult<()> {
        if let Self::Pg(p) = self {
            for table in tables {
                debug_assert!(table.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM (ANALYZE) {table}"))).execute(p).await?;
            }
        }
        Ok(())
    }

    /// Copies committed WAL frames into the SQLite database file without blocking writers (a
    /// no-op on PostgreSQL). The hub runs it periodically off the ingest path.
    /// After an erasure: copies the write-ahead log into the database and empties it, so no old
    /// page version of deleted rows stays in the log file. Readers holding old snapshots can make
    /// a checkpoint stop short; it is retried for a while. Nothing to do on PostgreSQL (its
    /// dead tuples are reclaimed by vacuum; the rows' content is ciphertext under a destroyed
    /// key).
    pub async fn wipe_log(&self) -> StoreResult<bool> {
        let Self::Sqlite(pool) = self else { return Ok(true) };
        for _ in 0..50 {
            let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(pool).await?;
            if busy == 0 {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(false)
    }

    pub async fn checkpoint(&self) -> StoreResult<()> {
        if let Self::Sqlite(pool) = self {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(pool).await?;
        }
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> StoreResult<()> {
        on_db!(self, |p| sqlx::query("SELECT 1").execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn close(&self) {
        on_db!(self, |p| p.close().await)
    }
}

impl Tx {
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(..) => Dialect::Sqlite,
            Tx::Pg(_) => Dialect::Postgres,
        }
    }

    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Self::Sqlite(t, _turn) => t.commit().await?,
            Self::Pg(t) => t.commit().await?,
        }
        Ok(())
    }

}

/// A turn to write a SQLite database. SQLite has one write lock per file; when two connections
/// want it at once, the loser sleeps in SQLite's busy handler (1, 2, 5 … 100 ms steps) and write
/// latency grows long tails. Writers in this process instead queue for their turn on an async
/// mutex per database file, fairly and without sleeping, before `BEGIN IMMEDIATE`.
pub struct WriteTurn(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>);

impl WriteTurn {
    pub async fn take(pool: &SqlitePool) -> Self {
        use std::collections::HashMap;
        use std::sync::{Arc, Mutex, OnceLock};
        static TURNS: OnceLock<Mutex<HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
        let gate = {
            let mut turns = TURNS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
            turns.entry(pool.connect_options().get_filename().to_path_buf()).or_default().clone()
        };
        Self(gate.lock_owned().await)
    }
}

/// The file behind a `sqlite://path` URL, if it names one.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

pub use crate::domain::now_micros;

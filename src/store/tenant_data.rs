//! Where a tenant's rows are: one list of tables, parents first, each with the condition that
//! picks the tenant's rows. Tenant export reads them in this order, import writes them in this
//! order, and offboarding deletes them in the reverse order — so a table added to the schema is
//! added here once, and the offboarding test (every table with a `tenant_id` left empty) catches
//! a table forgotten.
//!
//! Rows travel as JSON objects, column → value, in the backend's own spelling: PostgreSQL's
//! `row_to_json` (byte strings as `"\\x…"`) read back by `json_populate_record`, SQLite's values
//! with byte strings as `{"$b": base64}`. A tenant therefore moves between installations of
//! the same backend.

use base64::Engine;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Conn, Db, Dialect, StoreError, StoreResult, Tx, on_conn};

/// What a table's rows are to a move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moves {
    /// Copied as they are.
    Yes,
    /// Copied with one column sealed for transport: (column, what it is, the column naming the
    /// row it is bound to).
    Sealed { column: &'static str, what: Sealed, row: &'static str },
    /// Not copied: sign-in sessions and one-time tokens (people sign in again), the search index
    /// (rebuilt where the tenant arrives), the event log and webhook deliveries (they belong to
    /// the installation that produced them; drain them before a move).
    No,
}

/// The kinds of sealed values a move re-seals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    DataKey,
    ChannelSecrets,
    WebhookSecret,
    QuarantinedMail,
}

pub struct TenantTable {
    pub name: &'static str,
    /// `WHERE` condition with the tenant id as `$1`.
    pub filter: &'static str,
    pub moves: Moves,
}

const fn t(name: &'static str, filter: &'static str, moves: Moves) -> TenantTable {
    TenantTable { name, filter, moves }
}

const BY_TENANT: &str = "tenant_id = $1";
const OF_CHANNELS: &str = "channel_id IN (SELECT id FROM channels WHERE tenant_id = $1)";
const OF_CONTACTS: &str = "owner_id IN (SELECT id FROM contacts WHERE tenant_id = $1)";
const OF_CONVERSATIONS: &str = "owner_id IN (SELECT id FROM conversations WHERE tenant_id = $1)";
const Y: Moves = Moves::Yes;
const N: Moves = Moves::No;

/// Every table holding a tenant's rows, parents before children.
pub const TABLES: &[TenantTable] = &[
    t("tenants", "id = $1", Y),
    // The directory lives in the main database; an import lists the tenant there itself.
    t("tenant_directory", BY_TENANT, N),
    t("tenant_policies", BY_TENANT, Y),
    t("tenant_retention", BY_TENANT, Y),
    t("tenant_ip_allow_lists", BY_TENANT, Y),
    t("subprocessor_authorizations", BY_TENANT, Y),
    t("subprocessor_notices", BY_TENANT, Y),
    t("tenant_keys", BY_TENANT, N),
    t("tenant_exports", BY_TENANT, N),
    t("operators", BY_TENANT, Y),
    t("api_keys", BY_TENANT, Y),
    t("operator_sessions", BY_TENANT, N),
    t("password_resets", BY_TENANT, N),
    t("operator_invitations", BY_TENANT, N),
    t("invitation_suppressions", BY_TENANT, Y),
    t("teams", BY_TENANT, Y),
    t("team_members", "team_id IN (SELECT id FROM teams WHERE tenant_id = $1)", Y),
    t("channels", BY_TENANT, Moves::Sealed { column: "secrets", what: Sealed::ChannelSecrets, row: "id" }),
    t("team_channels", "team_id IN (SELECT id FROM teams WHERE tenant_id = $1)", Y),
    t("channel_health", OF_CHANNELS, Y),
    t("channel_cursors", OF_CHANNELS, Y),
    t("channel_templates", BY_TENANT, Y),
    t("business_hours", BY_TENANT, Y),
    t("email_quarantine", BY_TENANT, Moves::Sealed { column: "raw", what: Sealed::QuarantinedMail, row: "id" }),
    t("canned_responses", BY_TENANT, Y),
    t("labels", BY_TENANT, Y),
    t("attribute_definitions", BY_TENANT, Y),
    t("saved_views", BY_TENANT, Y),
    t("contacts", BY_TENANT, Y),
    t("data_keys", BY_TENANT, Moves::Sealed { column: "wrapped", what: Sealed::DataKey, row: "contact_id" }),
    t("identities", BY_TENANT, Y),
    t("address_confirmations", BY_TENANT, N),
    t("undeliverable_addresses", BY_TENANT, Y),
    t("contact_labels", "contact_id IN (SELECT id FROM contacts WHERE tenant_id = $1)", Y),
    t("contact_attributes", OF_CONTACTS, Y),
    t("contact_merges", BY_TENANT, Y),
    t("merge_suggestions", BY_TENANT, Y),
    t("visitor_sessions", BY_TENANT, Y),
    t("link_tokens", BY_TENANT, N),
    t("conversations", BY_TENANT, Y),
    t("conversation_labels", "conversation_id IN (SELECT id FROM conversations WHERE tenant_id = $1)", Y),
    t("conversation_attributes", OF_CONVERSATIONS, Y),
    t("conversation_participants", BY_TENANT, Y),
    t("conversation_reads", "conversation_id IN (SELECT id FROM conversations WHERE tenant_id = $1)", Y),
    t("messages", BY_TENANT, Y),
    t("message_technical", BY_TENANT, Y),
    t("message_quotes", "message_id IN (SELECT id FROM messages WHERE tenant_id = $1)", Y),
    t("message_recipients", BY_TENANT, Y),
    t("attachments", BY_TENANT, Y),
    t("delivery_reports", OF_CHANNELS, Y),
    t("csat_surveys", BY_TENANT, Y),
    t("consent_events", BY_TENANT, Y),
    t("consent_heads", BY_TENANT, Y),
    t("transfers", BY_TENANT, Y),
    t("privacy_requests", BY_TENANT, Y),
    t("audit_log", BY_TENANT, Y),
    t("webhook_endpoints", BY_TENANT, Y),
    t("webhook_secrets", "endpoint_id IN (SELECT id FROM webhook_endpoints WHERE tenant_id = $1)", Moves::Sealed {
        column: "secret",
        what: Sealed::WebhookSecret,
        row: "id",
    }),
    t("webhook_deliveries", BY_TENANT, N),
    t("webhook_attempts", BY_TENANT, N),
    t("outbox", BY_TENANT, N),
    t("search_docs", BY_TENANT, N),
];

/// Deletes every row of a tenant, in one transaction, children first: offboarding.
pub async fn delete(tx: &mut Tx, tenant_id: Uuid) -> StoreResult<u64> {
    let mut total = 0;
    for table in TABLES.iter().rev() {
        let sql = format!("DELETE FROM {} WHERE {}", table.name, table.filter);
        total += on_conn!(Conn::from(&mut *tx), |c| sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(total)
}

/// One read-only view of the database for a whole export, so that every table is read as of
/// the same moment while the hub keeps writing: a deferred transaction on SQLite (in WAL mode
/// it reads one snapshot and blocks no writer), a repeatable-read one on PostgreSQL.
pub enum Snapshot {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Snapshot {
    pub async fn begin(db: &Db) -> StoreResult<Self> {
        Ok(match db {
            Db::Sqlite(pool) => Snapshot::Sqlite(pool.begin().await?),
            Db::Pg(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
                Snapshot::Pg(tx)
            }
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Snapshot::Sqlite(_) => Dialect::Sqlite,
            Snapshot::Pg(_) => Dialect::Postgres,
        }
    }
}

/// Every row of a table that is the tenant's, as JSON objects, handed to `each` one by one (a
/// stream: a table of any size passes in constant memory).
pub async fn read(snapshot: &mut Snapshot, table: &TenantTable, tenant_id: Uuid, mut each: impl FnMut(Map<String, Value>) -> Result<(), StoreError>) -> StoreResult<u64> {
    use futures_util::TryStreamExt;
    let mut n = 0;
    match snapshot {
        Snapshot::Pg(pool) => {
            let pool = &mut **pool;
            let sql = format!("SELECT row_to_json(t)::text FROM {} t WHERE {}", table.name, table.filter);
            let mut rows = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql)).bind(tenant_id).fetch(pool);
            while let Some(text) = rows.try_next().await? {
                each(serde_json::from_str(&text).map_err(|e| StoreError::Sqlx(sqlx::Error::Decode(e.into())))?)?;
                n += 1;
            }
        }
        Snapshot::Sqlite(pool) => {
            let pool = &mut **pool;
            use sqlx::{Column, Row, TypeInfo, ValueRef};
            let sql = format!("SELECT * FROM {} WHERE {} ORDER BY rowid", table.name, table.filter);
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(tenant_id).fetch(pool);
            while let Some(row) = rows.try_next().await? {
                let mut map = Map::new();
                for (i, column) in row.columns().iter().enumerate() {
                    let raw = row.try_get_raw(i)?;
                    let value = if raw.is_null() {
                        Value::Null
                    } else {
                        match raw.type_info().name() {
                            "INTEGER" => Value::from(row.try_get::<i64, _>(i)?),
                            "REAL" => Value::from(row.try_get::<f64, _>(i)?),
                            "TEXT" => Value::from(row.try_get::<String, _>(i)?),
                            _ => bytes_value(Dialect::Sqlite, &row.try_get::<Vec<u8>, _>(i)?),
                        }
                    };
                    map.insert(column.name().to_owned(), value);
                }
                each(map)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Writes one row (as [`read`] gave it) into `table`.
pub async fn write(tx: &mut Tx, table: &str, row: &Map<String, Value>) -> StoreResult<()> {
    match tx {
        Tx::Pg(t) => {
            let sql = format!("INSERT INTO {table} SELECT * FROM json_populate_record(NULL::{table}, $1::json)");
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(Value::Object(row.clone()).to_string()).execute(&mut **t).await?;
        }
        Tx::Sqlite(t, _) => {
            let columns: Vec<&str> = row.keys().map(String::as_str).collect();
            let marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
            let sql = format!("INSERT INTO {table} ({}) VALUES ({})", columns.join(", "), marks.join(", "));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for value in row.values() {
                q = match value {
                    Value::Null => q.bind(None::<i64>),
                    Value::Bool(b) => q.bind(i64::from(*b)),
                    Value::Number(n) => match n.as_i64() {
                        Some(i) => q.bind(i),
                        None => q.bind(n.as_f64().unwrap_or_default()),
                    },
                    Value::String(s) => q.bind(s.clone()),
                    other => q.bind(bytes_of(Dialect::Sqlite, other).unwrap_or_default()),
                };
            }
            q.execute(&mut **t).await?;
        }
    }
    Ok(())
}

/// A backend's name as an export records it.
pub fn backend_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
    }
}

/// A byte string in a row.
pub fn bytes_value(dialect: Dialect, bytes: &[u8]) -> Value {
    match dialect {
        Dialect::Sqlite => serde_json::json!({"$b": base64::engine::general_purpose::STANDARD.encode(bytes)}),
        Dialect::Postgres => Value::from(format!("\\x{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())),
    }
}

/// The bytes of a byte-string value in a row.
pub fn bytes_of(dialect: Dialect, value: &Value) -> Option<Vec<u8>> {
    match dialect {
        Dialect::Sqlite => base64::engine::general_purpose::STANDARD.decode(value.get("$b")?.as_str()?).ok(),
        Dialect::Postgres => {
            let hex = value.as_str()?.strip_prefix("\\x")?;
            (0..hex.len() / 2).map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect()
        }
    }
}

/// A UUID column of a row.
pub fn uuid_of(dialect: Dialect, value: &Value) -> Option<Uuid> {
    match dialect {
        Dialect::Sqlite => Uuid::from_slice(&bytes_of(dialect, value)?).ok(),
        Dialect::Postgres => Uuid::parse_str(value.as_str()?).ok(),
    }
}

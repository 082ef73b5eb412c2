//! Labels, what they are on, and saved views.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct LabelRow {
        id: Uuid, tenant_id: Uuid, name: String, color: String, created_at: i64, updated_at: i64,
    }
}

const COLUMNS: &str = "id, tenant_id, name, color, created_at, updated_at";

/// What labels are put on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labelled {
    Conversations,
    Contacts,
}

impl Labelled {
    fn table(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Conversations => ("conversation_labels", "conversation_id", "conversations"),
            Self::Contacts => ("contact_labels", "contact_id", "contacts"),
        }
    }
}

pub async fn list(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<LabelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM labels WHERE tenant_id = $1 ORDER BY name LIMIT 1000");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).fetch_all(p).await)?)
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<LabelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM labels WHERE tenant_id = $1 AND id = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(p).await)?)
}

pub async fn by_name(db: &Db, tenant_id: Uuid, name: &str) -> StoreResult<Option<LabelRow>> {
    let sql = format!("SELECT {COLUMNS} FROM labels WHERE tenant_id = $1 AND name = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(name).fetch_optional(p).await)?)
}

/// Inserts or replaces (same id) a label; `None` when another label of the tenant has the name
/// (in a transaction, which must then be rolled back).
pub async fn save<'a>(conn: impl Into<Conn<'a>>, row: &LabelRow) -> StoreResult<Option<LabelRow>> {
    let sql = format!(
        "INSERT INTO labels ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, color = excluded.color, updated_at = excluded.updated_at RETURNING {COLUMNS}"
    );
    let result = on_conn!(conn.into(), |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(row.id)
        .bind(row.tenant_id)
        .bind(&row.name)
        .bind(&row.color)
        .bind(row.created_at)
        .bind(row.updated_at)
        .fetch_one(p)
        .await);
    match result {
        Ok(row) => Ok(Some(row)),
        Err(e) => {
            let err = super::StoreError::from(e);
            if err.constraint().is_some() { Ok(None) } else { Err(err) }
        }
    }
}

pub async fn delete<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "DELETE FROM labels WHERE tenant_id = $1 AND id = $2";
    Ok(on_conn!(conn.into(), |p| sqlx::query(SQL).bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))? > 0)
}

/// Which of these ids are the tenant's (conversations or contacts).
pub async fn owned(tx: &mut Tx, tenant_id: Uuid, what: Labelled, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (_, _, table) = what.table();
    let conn = Conn::from(&mut *tx);
    let sql = format!("SELECT id FROM {table} WHERE tenant_id = {} AND id IN ({})", conn.dialect().list(1, 1), conn.dialect().list(ids.len(), 2));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant_id);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// Puts the label on (or takes it off) these; returns the ids that changed.
pub async fn set(tx: &mut Tx, what: Labelled, label_id: Uuid, ids: &[Uuid], on: bool) -> StoreResult<Vec<Uuid>> {
    let (table, column, _) = what.table();
    let mut changed = Vec::new();
    for id in ids {
        let sql = if on {
            format!("INSERT INTO {table} ({column}, label_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        } else {
            format!("DELETE FROM {table} WHERE {column} = $1 AND label_id = $2")
        };
        let n = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(sqlx::AssertSqlSafe(sql)).bind(*id).bind(label_id).execute(c).await.map(|r| r.rows_affected()))?;
        if n > 0 {
            changed.push(*id);
        }
    }
    Ok(changed)
}

/// The labels on each of these: (owner id, label), by label name.
pub async fn of<'a>(conn: impl Into<Conn<'a>>, what: Labelled, ids: &[Uuid]) -> StoreResult<Vec<(Uuid, LabelRow)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (table, column, _) = what.table();
    let conn: Conn = conn.into();
    let sql = format!(
        "SELECT x.{column} AS owner, l.id, l.tenant_id, l.name, l.color, l.created_at, l.updated_at FROM {table} x JOIN labels l ON l.id = x.label_id \
         WHERE x.{column} IN ({}) ORDER BY l.name",
        conn.dialect().list(ids.len(), 1)
    );
    row_struct! { struct Owned { owner: Uuid, id: Uuid, tenant_id: Uuid, name: String, color: String, created_at: i64, updated_at: i64 } }
    let rows: Vec<Owned> = on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| (r.owner, LabelRow { id: r.id, tenant_id: r.tenant_id, name: r.name, color: r.color, created_at: r.created_at, updated_at: r.updated_at }))
        .collect())
}

/// How many conversations and contacts carry each label of the tenant.
pub async fn usage(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<(Uuid, i64, i64)>> {
    const SQL: &str = "SELECT l.id, (SELECT COUNT(*) FROM conversation_labels c WHERE c.label_id = l.id), \
                       (SELECT COUNT(*) FROM contact_labels k WHERE k.label_id = l.id) FROM labels l WHERE l.tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

row_struct! {
    pub struct ViewRow {
        id: Uuid, tenant_id: Uuid, operator_id: Option<Uuid>, name: String, filters: String, created_at: i64, updated_at: i64,
    }
}

const VIEW_COLUMNS: &str = "id, tenant_id, operator_id, name, filters, created_at, updated_at";

/// The views an operator sees: their own and the shared ones, by name.
pub async fn views(db: &Db, tenant_id: Uuid, operator_id: Option<Uuid>) -> StoreResult<Vec<ViewRow>> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM saved_views WHERE tenant_id = $1 AND (operator_id IS NULL OR operator_id = $2) ORDER BY name LIMIT 500");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(operator_id).fetch_all(p).await)?)
}

pub async fn view(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ViewRow>> {
    let sql = format!("SELECT {VIEW_COLUMNS} FROM saved_views WHERE tenant_id = $1 AND id = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(p).await)?)
}

pub async fn save_view(db: &Db, row: &ViewRow) -> StoreResult<ViewRow> {
    let sql = format!(
        "INSERT INTO saved_views ({VIEW_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (id) DO UPDATE SET operator_id = excluded.operator_id, name = excluded.name, filters = excluded.filters, updated_at = excluded.updated_at \
         RETURNING {VIEW_COLUMNS}"
    );
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(row.id)
        .bind(row.tenant_id)
        .bind(row.operator_id)
        .bind(&row.name)
        .bind(&row.filters)
        .bind(row.created_at)
        .bind(row.updated_at)
        .fetch_one(p)
        .await)?)
}

pub async fn delete_view(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "DELETE FROM saved_views WHERE tenant_id = $1 AND id = $2";
    Ok(on_db!(db, |p| sqlx::query(SQL).bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))? > 0)
}

/// A fresh label row.
pub fn new_label(tenant_id: Uuid, name: String, color: String) -> LabelRow {
    let now = now_micros();
    LabelRow { id: Uuid::now_v7(), tenant_id, name, color, created_at: now, updated_at: now }
}

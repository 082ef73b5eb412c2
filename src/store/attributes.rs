//! Custom attribute definitions and values.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, on_conn, on_db};

row_struct! {
    pub struct DefinitionRow {
        id: Uuid, tenant_id: Uuid, applies_to: String, key: String, name: String, kind: String,
        options: Option<String>, personal: bool, created_at: i64,
    }
}

const COLUMNS: &str = "id, tenant_id, applies_to, key, name, type AS kind, options, personal, created_at";

pub async fn definitions(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<DefinitionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM attribute_definitions WHERE tenant_id = $1 ORDER BY applies_to, key");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).fetch_all(p).await)?)
}

/// Inserts a definition; `false` when the key is taken for that kind of owner.
pub async fn insert(db: &Db, row: &DefinitionRow) -> StoreResult<bool> {
    const SQL: &str = "INSERT INTO attribute_definitions (id, tenant_id, applies_to, key, name, type, options, personal, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING";
    let n = on_db!(db, |p| sqlx::query(SQL)
        .bind(row.id)
        .bind(row.tenant_id)
        .bind(&row.applies_to)
        .bind(&row.key)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(row.options.as_deref())
        .bind(row.personal)
        .bind(row.created_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

pub async fn delete(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "DELETE FROM attribute_definitions WHERE tenant_id = $1 AND id = $2";
    Ok(on_db!(db, |p| sqlx::query(SQL).bind(tenant_id).bind(id).execute(p).await.map(|r| r.rows_affected()))? > 0)
}

/// Whose values: contacts' or conversations'.
fn table(applies_to: &str) -> &'static str {
    if applies_to == "contact" { "contact_attributes" } else { "conversation_attributes" }
}

row_struct! {
    pub struct ValueRow {
        owner_id: Uuid, definition_id: Uuid, value: Option<String>, sealed: Option<Vec<u8>>,
    }
}

/// Sets (or with neither value nor sealed, removes) one value.
pub async fn set(tx: &mut Tx, applies_to: &str, owner_id: Uuid, definition_id: Uuid, value: Option<&str>, sealed: Option<&[u8]>) -> StoreResult<()> {
    let table = table(applies_to);
    if value.is_none() && sealed.is_none() {
        let sql = format!("DELETE FROM {table} WHERE owner_id = $1 AND definition_id = $2");
        on_conn!(Conn::from(tx), |c| sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner_id).bind(definition_id).execute(c).await.map(|_| ()))?;
        return Ok(());
    }
    let sql = format!(
        "INSERT INTO {table} (owner_id, definition_id, value, sealed) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (owner_id, definition_id) DO UPDATE SET value = excluded.value, sealed = excluded.sealed"
    );
    on_conn!(Conn::from(tx), |c| sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner_id).bind(definition_id).bind(value).bind(sealed).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// The values of these owners.
pub async fn values<'a>(conn: impl Into<Conn<'a>>, applies_to: &str, owners: &[Uuid]) -> StoreResult<Vec<ValueRow>> {
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!("SELECT owner_id, definition_id, value, sealed FROM {} WHERE owner_id IN ({})", table(applies_to), conn.dialect().list(owners.len(), 1));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in owners {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

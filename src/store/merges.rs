//! Contact merges: the merge records, and the row moves a merge (or its undoing) makes. The
//! sealed columns are re-sealed by the caller, which holds both contacts' keys; here is only
//! SQL over column names fixed in code.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct MergeRow {
        id: Uuid, tenant_id: Uuid, contact_id: Uuid, other_id: Uuid, reason: String, merged_by: String, moved: String,
        created_at: i64, undone_at: Option<i64>, undone_by: Option<String>,
    }
}

row_struct! {
    pub struct SuggestionRow { contact_id: Uuid, other_id: Uuid, kind: String, created_at: i64 }
}

/// Ids per IN list: well under both backends' parameter limits.
const CHUNK: usize = 500;

/// Rows of `select … IN (` with the list of `values` filled in, a chunk at a time.
async fn rows_in<T>(mut conn: Conn<'_>, select: &str, values: &[Uuid]) -> StoreResult<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut out = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let sql = format!("{select}{})", conn.dialect().list(chunk.len(), 1));
        let found: Vec<T> = on_conn!(conn.reborrow(), |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for v in chunk {
                q = q.bind(*v);
            }
            q.fetch_all(c).await
        })?;
        out.extend(found);
    }
    Ok(out)
}

/// `column` values of `table` rows whose `by` column is among `values` (ids).
pub async fn ids_where(tx: &mut Tx, table: &'static str, column: &'static str, by: &'static str, values: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    let rows: Vec<(Uuid,)> = rows_in(Conn::from(tx), &format!("SELECT {column} FROM {table} WHERE {by} IN ("), values).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The sealed `column` of the `table` rows with these ids (`id_column`), where it is set.
pub async fn sealed<'a>(
    conn: impl Into<Conn<'a>>,
    table: &'static str,
    id_column: &'static str,
    column: &'static str,
    ids: &[Uuid],
) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
    rows_in(conn.into(), &format!("SELECT {id_column}, {column} FROM {table} WHERE {column} IS NOT NULL AND {id_column} IN ("), ids).await
}

pub async fn set_sealed(tx: &mut Tx, table: &'static str, id_column: &'static str, column: &'static str, id: Uuid, value: &[u8]) -> StoreResult<()> {
    let sql = format!("UPDATE {table} SET {column} = $1 WHERE {id_column} = $2");
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(value).bind(id).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Gives the `table` rows with these ids to `contact_id`.
pub async fn reassign(tx: &mut Tx, table: &'static str, id_column: &'static str, ids: &[Uuid], contact_id: Uuid) -> StoreResult<u64> {
    let mut n = 0;
    for chunk in ids.chunks(CHUNK) {
        let dialect = Conn::from(&mut *tx).dialect();
        let sql = format!("UPDATE {table} SET contact_id = {} WHERE {id_column} IN ({})", dialect.list(1, 1), dialect.list(chunk.len(), 2));
        n += on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind(contact_id);
            for v in chunk {
                q = q.bind(*v);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(n)
}

row_struct! {
    pub struct SessionSealed { token_hash: Vec<u8>, ip: Option<Vec<u8>>, user_agent: Option<Vec<u8>> }
}

/// A contact's web chat sessions (by token hash), with their sealed technical data.
pub async fn visitor_sessions(tx: &mut Tx, contact_id: Uuid) -> StoreResult<Vec<SessionSealed>> {
    const SQL: &str = "SELECT token_hash, ip, user_agent FROM visitor_sessions WHERE contact_id = $1";
    Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query_as(SQL).bind(contact_id).fetch_all(c).await)?)
}

pub async fn visitor_sessions_by_hash(tx: &mut Tx, hashes: &[Vec<u8>]) -> StoreResult<Vec<SessionSealed>> {
    let mut out = Vec::new();
    for hash in hashes {
        const SQL: &str = "SELECT token_hash, ip, user_agent FROM visitor_sessions WHERE token_hash = $1";
        let found: Option<SessionSealed> = on_conn!(Conn::from(&mut *tx), |c| sqlx::query_as(SQL).bind(hash.as_slice()).fetch_optional(c).await)?;
        out.extend(found);
    }
    Ok(out)
}

pub async fn move_visitor_session(tx: &mut Tx, token_hash: &[u8], contact_id: Uuid, ip: Option<&[u8]>, user_agent: Option<&[u8]>) -> StoreResult<()> {
    const SQL: &str = "UPDATE visitor_sessions SET contact_id = $2, ip = $3, user_agent = $4 WHERE token_hash = $1";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(token_hash).bind(contact_id).bind(ip).bind(user_agent).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Unused deep-link tokens of a contact follow them.
pub async fn move_link_tokens(tx: &mut Tx, from: Uuid, to: Uuid) -> StoreResult<()> {
    const SQL: &str = "UPDATE link_tokens SET contact_id = $2 WHERE contact_id = $1 AND used_at IS NULL";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(from).bind(to).execute(c).await.map(|_| ()))?;
    Ok(())
}

pub async fn set_merged_into(tx: &mut Tx, tenant_id: Uuid, contact_id: Uuid, into: Option<Uuid>) -> StoreResult<()> {
    const SQL: &str = "UPDATE contacts SET merged_into = $3 WHERE tenant_id = $1 AND id = $2";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(tenant_id).bind(contact_id).bind(into).execute(c).await.map(|_| ()))?;
    Ok(())
}

pub async fn merged_into<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid) -> StoreResult<Option<Uuid>> {
    const SQL: &str = "SELECT merged_into FROM contacts WHERE id = $1";
    let found: Option<Option<Uuid>> = on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(contact_id).fetch_optional(c).await)?;
    Ok(found.flatten())
}

/// Contacts merged into this one (they go with it when it is erased).
pub async fn merged_contacts<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid) -> StoreResult<Vec<Uuid>> {
    const SQL: &str = "SELECT id FROM contacts WHERE merged_into = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(contact_id).fetch_all(c).await)?)
}

pub async fn insert(tx: &mut Tx, row: &MergeRow) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO contact_merges (id, tenant_id, contact_id, other_id, reason, merged_by, moved, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL)
        .bind(row.id)
        .bind(row.tenant_id)
        .bind(row.contact_id)
        .bind(row.other_id)
        .bind(&row.reason)
        .bind(&row.merged_by)
        .bind(&row.moved)
        .bind(row.created_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

pub async fn get<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<MergeRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, other_id, reason, merged_by, moved, created_at, undone_at, undone_by \
                       FROM contact_merges WHERE tenant_id = $1 AND id = $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

/// The merges a contact took part in, newest first.
pub async fn of_contact(db: &Db, tenant_id: Uuid, contact_id: Uuid) -> StoreResult<Vec<MergeRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, other_id, reason, merged_by, moved, created_at, undone_at, undone_by \
                       FROM contact_merges WHERE tenant_id = $1 AND (contact_id = $2 OR other_id = $2) ORDER BY created_at DESC";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).bind(contact_id).fetch_all(p).await)?)
}

/// Marks a merge undone, once: false when it was undone already.
pub async fn mark_undone(tx: &mut Tx, id: Uuid, by: &str) -> StoreResult<bool> {
    const SQL: &str = "UPDATE contact_merges SET undone_at = $2, undone_by = $3 WHERE id = $1 AND undone_at IS NULL";
    let n = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(id).bind(now_micros()).bind(by).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records that `contact_id` claimed an address `other_id` holds verified.
pub async fn suggest(tx: &mut Tx, tenant_id: Uuid, contact_id: Uuid, other_id: Uuid, kind: &str) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO merge_suggestions (tenant_id, contact_id, other_id, kind, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(tenant_id).bind(contact_id).bind(other_id).bind(kind).bind(now_micros()).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Open suggestions: both contacts still there and unmerged.
pub async fn suggestions(db: &Db, tenant_id: Uuid, contact: Option<Uuid>) -> StoreResult<Vec<SuggestionRow>> {
    const SQL: &str = "SELECT s.contact_id, s.other_id, s.kind, s.created_at FROM merge_suggestions s \
                       JOIN contacts a ON a.id = s.contact_id AND a.merged_into IS NULL \
                       JOIN contacts b ON b.id = s.other_id AND b.merged_into IS NULL \
                       WHERE s.tenant_id = $1 AND ($2 IS NULL OR s.contact_id = $2 OR s.other_id = $2) ORDER BY s.created_at DESC LIMIT 200";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).bind(contact).fetch_all(p).await)?)
}

/// Who holds a verified identity with this blind index, if anyone.
pub async fn verified_holder(tx: &mut Tx, tenant_id: Uuid, kind: &str, index: &[u8]) -> StoreResult<Option<Uuid>> {
    const SQL: &str = "SELECT contact_id FROM identities WHERE tenant_id = $1 AND kind = $2 AND address_index = $3 AND status = 'verified'";
    Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query_scalar(SQL).bind(tenant_id).bind(kind).bind(index).fetch_optional(c).await)?)
}

/// A contact claims a typed-in address: a claimed identity (unless it holds the address
/// already), and a merge suggestion when another contact holds the address verified. A claim
/// never takes an address from its verified holder. Returns the contact's identity for it.
pub async fn claim_address(tx: &mut Tx, tenant_id: Uuid, contact_id: Uuid, kind: &str, index: &[u8], sealed: &[u8]) -> StoreResult<Uuid> {
    super::contacts::insert_identity(&mut *tx, tenant_id, contact_id, kind, index, sealed, super::contacts::IdentityStatus::Claimed).await?;
    if let Some(holder) = verified_holder(tx, tenant_id, kind, index).await?
        && holder != contact_id
    {
        suggest(tx, tenant_id, contact_id, holder, kind).await?;
    }
    const HELD: &str = "SELECT id FROM identities WHERE contact_id = $1 AND kind = $2 AND address_index = $3 \
                        ORDER BY CASE status WHEN 'verified' THEN 0 ELSE 1 END LIMIT 1";
    Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query_scalar(HELD).bind(contact_id).bind(kind).bind(index).fetch_one(c).await)?)
}

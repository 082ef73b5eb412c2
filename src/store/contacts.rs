//! Contacts (data subjects), their identities and their data keys. Personal fields arrive here
//! already sealed; identities are found by blind index only.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

row_struct! {
    pub struct ContactRow {
        id: Uuid, tenant_id: Uuid, name: Option<Vec<u8>>, email: Option<Vec<u8>>, phone: Option<Vec<u8>>,
        under_minimum_age: bool, created_at: i64, updated_at: i64,
    }
}

row_struct! {
    pub struct IdentityRow {
        id: Uuid, tenant_id: Uuid, contact_id: Uuid, kind: String, address: Vec<u8>, status: String, created_at: i64,
    }
}

/// A contact to insert, its fields already sealed.
pub struct NewContact<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: Option<&'a [u8]>,
    pub email: Option<&'a [u8]>,
    pub phone: Option<&'a [u8]>,
}

pub async fn insert_data_key<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, contact_id: Uuid, wrapped: &[u8], generation: i64) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO data_keys (contact_id, tenant_id, wrapped, created_at, generation) VALUES ($1, $2, $3, $4, $5)";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(contact_id).bind(tenant_id).bind(wrapped).bind(now_micros()).bind(generation).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The wrapped key, or `None` when it was destroyed or never existed.
pub async fn wrapped_data_key<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid) -> StoreResult<Option<Vec<u8>>> {
    const SQL: &str = "SELECT wrapped FROM data_keys WHERE contact_id = $1";
    let row: Option<Option<Vec<u8>>> = on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(contact_id).fetch_optional(c).await)?;
    Ok(row.flatten())
}

pub async fn insert_contact<'a>(conn: impl Into<Conn<'a>>, new: &NewContact<'_>) -> StoreResult<ContactRow> {
    const SQL: &str = "INSERT INTO contacts (id, tenant_id, name, email, phone, created_at, updated_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $6) \
                       RETURNING id, tenant_id, name, email, phone, under_minimum_age, created_at, updated_at";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(new.id)
        .bind(new.tenant_id)
        .bind(new.name)
        .bind(new.email)
        .bind(new.phone)
        .bind(now_micros())
        .fetch_one(c)
        .await)?)
}

pub async fn contact<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ContactRow>> {
    const SQL: &str = "SELECT id, tenant_id, name, email, phone, under_minimum_age, created_at, updated_at FROM contacts \
                       WHERE tenant_id = $1 AND id = $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

/// Contacts in id order after the cursor; `limit + 1` rows so the caller can tell if more follow.
pub async fn contacts<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<ContactRow>> {
    const SQL: &str = "SELECT id, tenant_id, name, email, phone, under_minimum_age, created_at, updated_at FROM contacts \
                       WHERE tenant_id = $1 AND merged_into IS NULL AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(after).bind(limit as i64 + 1).fetch_all(c).await)?)
}

pub async fn update_contact<'a>(conn: impl Into<Conn<'a>>, new: &NewContact<'_>) -> StoreResult<Option<ContactRow>> {
    const SQL: &str = "UPDATE contacts SET name = $3, email = $4, phone = $5, updated_at = $6 \
                       WHERE tenant_id = $1 AND id = $2 \
                       RETURNING id, tenant_id, name, email, phone, under_minimum_age, created_at, updated_at";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(new.tenant_id)
        .bind(new.id)
        .bind(new.name)
        .bind(new.email)
        .bind(new.phone)
        .bind(now_micros())
        .fetch_optional(c)
        .await)?)
}

/// How a contact came to hold an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityStatus {
    /// The address itself wrote to us (an inbound mail, SMS, chat) or proved it holds it: at
    /// most one contact of a tenant holds an address verified, and inbound traffic from the
    /// address is filed under that contact.
    Verified,
    /// Typed into a form: any number of contacts may claim an address; a claim never routes
    /// inbound traffic and never outranks a verified holder.
    Claimed,
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Claimed => "claimed",
        }
    }
}

/// Inserts an identity; returns whether it was inserted. A verified identity is not inserted
/// when another contact holds the address verified; a claimed one not when this contact holds
/// the address already.
#[allow(clippy::too_many_arguments)]
pub async fn insert_identity<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    contact_id: Uuid,
    kind: &str,
    index: &[u8],
    sealed_address: &[u8],
    status: IdentityStatus,
) -> StoreResult<bool> {
    const VERIFIED: &str = "INSERT INTO identities (id, tenant_id, contact_id, kind, address_index, address, status, created_at) \
                            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                            ON CONFLICT (tenant_id, kind, address_index) WHERE status = 'verified' DO NOTHING";
    const CLAIMED: &str = "INSERT INTO identities (id, tenant_id, contact_id, kind, address_index, address, status, created_at) \
                           SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE NOT EXISTS \
                           (SELECT 1 FROM identities WHERE tenant_id = $2 AND contact_id = $3 AND kind = $4 AND address_index = $5)";
    let sql = match status {
        IdentityStatus::Verified => VERIFIED,
        IdentityStatus::Claimed => CLAIMED,
    };
    let done = on_conn!(conn.into(), |c| sqlx::query(sql)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(contact_id)
        .bind(kind)
        .bind(index)
        .bind(sealed_address)
        .bind(status.as_str())
        .bind(now_micros())
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Identities of the contacts whose ids lie in `[first, last]` — exactly one page of contacts,
/// fetched in one query instead of one per contact.
pub async fn identities_in_range<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    first: Uuid,
    last: Uuid,
) -> StoreResult<Vec<IdentityRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, kind, address, status, created_at FROM identities \
                       WHERE tenant_id = $1 AND contact_id >= $2 AND contact_id <= $3 ORDER BY contact_id, id";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(first).bind(last).fetch_all(c).await)?)
}

/// The address to reach a contact on a channel kind: a verified identity first, newest first.
pub async fn identity_for_kind<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    contact_id: Uuid,
    kind: &str,
) -> StoreResult<Option<IdentityRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, kind, address, status, created_at FROM identities \
                       WHERE tenant_id = $1 AND contact_id = $2 AND kind = $3 \
                       ORDER BY CASE status WHEN 'verified' THEN 0 ELSE 1 END, id DESC LIMIT 1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(contact_id).bind(kind).fetch_optional(c).await)?)
}

/// One identity of a contact.
pub async fn identity<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid, id: Uuid) -> StoreResult<Option<IdentityRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, kind, address, status, created_at FROM identities WHERE contact_id = $1 AND id = $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(contact_id).bind(id).fetch_optional(c).await)?)
}

/// A contact's identities of one kind, verified first.
pub async fn identities_of_kind<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid, kind: &str) -> StoreResult<Vec<IdentityRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, kind, address, status, created_at FROM identities WHERE contact_id = $1 AND kind = $2 \
                       ORDER BY CASE status WHEN 'verified' THEN 0 ELSE 1 END, id DESC";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(contact_id).bind(kind).fetch_all(c).await)?)
}

/// Makes a claimed identity verified (its holder proved the address), unless another contact
/// holds the address verified already; returns whether it did.
pub async fn verify_identity<'a>(conn: impl Into<Conn<'a>>, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "UPDATE identities SET status = 'verified' WHERE id = $1 AND status = 'claimed' AND NOT EXISTS \
                       (SELECT 1 FROM identities o WHERE o.tenant_id = identities.tenant_id AND o.kind = identities.kind \
                        AND o.address_index = identities.address_index AND o.status = 'verified')";
    let n = on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Wrapped data keys of the contacts whose ids lie in `[first, last]` (one page), by contact.
pub async fn wrapped_data_keys_in_range<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    first: Uuid,
    last: Uuid,
) -> StoreResult<Vec<(Uuid, Option<Vec<u8>>)>> {
    const SQL: &str = "SELECT contact_id, wrapped FROM data_keys WHERE tenant_id = $1 AND contact_id >= $2 AND contact_id <= $3";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(first).bind(last).fetch_all(c).await)?)
}

row_struct! {
    /// Which contact an address index belongs to, and how.
    pub struct IdentityKeyRow { tenant_id: Uuid, kind: String, address_index: Vec<u8>, contact_id: Uuid, status: String }
}

/// Identities matching any of these (tenant, kind, blind index) keys, verified ones first; with
/// `verified_only`, only those (what routes inbound traffic).
pub async fn identities_by_indexes<'a>(
    conn: impl Into<Conn<'a>>,
    keys: &[(Uuid, &str, &[u8])],
    verified_only: bool,
) -> StoreResult<Vec<IdentityKeyRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        // A join with the key list, not `(a, b, c) IN (VALUES …)`, which SQLite answers with a scan.
        "WITH k(tenant_id, kind, address_index) AS (VALUES {}) \
         SELECT i.tenant_id, i.kind, i.address_index, i.contact_id, i.status FROM k JOIN identities i \
         ON i.tenant_id = k.tenant_id AND i.kind = k.kind AND i.address_index = k.address_index{} \
         ORDER BY CASE i.status WHEN 'verified' THEN 0 ELSE 1 END, i.id",
        conn.dialect().tuples(keys.len(), 3, 1),
        if verified_only { " AND i.status = 'verified'" } else { "" },
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for (tenant, kind, index) in keys {
            q = q.bind(*tenant).bind(*kind).bind(*index);
        }
        q.fetch_all(c).await
    })?)
}

/// Wrapped data keys of these contacts (`None` where destroyed).
pub async fn wrapped_data_keys_for<'a>(conn: impl Into<Conn<'a>>, contact_ids: &[Uuid]) -> StoreResult<Vec<(Uuid, Option<Vec<u8>>)>> {
    if contact_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!("SELECT contact_id, wrapped FROM data_keys WHERE contact_id IN ({})", conn.dialect().list(contact_ids.len(), 1));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in contact_ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// A contact first seen in an inbound message: its wrapped key, sealed name, and verified
/// identity.
pub struct NewInboundContact {
    pub id: Uuid,
    pub identity_id: Uuid,
    pub tenant_id: Uuid,
    pub wrapped_key: Vec<u8>,
    /// The key generation that wrapped it.
    pub generation: i64,
    pub name: Option<Vec<u8>>,
    pub kind: &'static str,
    pub address_index: Vec<u8>,
    pub address: Vec<u8>,
}

/// Creates many contacts with their keys and verified identities in three statements. Returns
/// the ids whose identity was inserted; an address another process claimed meanwhile is
/// missing from the result.
pub async fn insert_inbound_contacts(tx: &mut super::Tx, rows: &[NewInboundContact], now: i64) -> StoreResult<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let keys = format!("INSERT INTO data_keys (contact_id, tenant_id, wrapped, created_at, generation) VALUES {}", tx.dialect().tuples(rows.len(), 5, 1));
    let contacts = format!(
        "INSERT INTO contacts (id, tenant_id, name, email, phone, created_at, updated_at) VALUES {}",
        tx.dialect().tuples(rows.len(), 7, 1)
    );
    let identities = format!(
        "INSERT INTO identities (id, tenant_id, contact_id, kind, address_index, address, status, created_at) VALUES {} \
         ON CONFLICT (tenant_id, kind, address_index) WHERE status = 'verified' DO NOTHING RETURNING contact_id",
        tx.dialect().tuples(rows.len(), 8, 1)
    );
    on_conn!(Conn::from(&mut *tx), |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(keys));
        for r in rows {
            q = q.bind(r.id).bind(r.tenant_id).bind(&r.wrapped_key).bind(now).bind(r.generation);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    on_conn!(Conn::from(&mut *tx), |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(contacts));
        for r in rows {
            q = q.bind(r.id).bind(r.tenant_id).bind(r.name.as_deref()).bind(None::<&[u8]>).bind(None::<&[u8]>).bind(now).bind(now);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(on_conn!(Conn::from(&mut *tx), |c| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(identities));
        for r in rows {
            q = q
                .bind(r.identity_id)
                .bind(r.tenant_id)
                .bind(r.id)
                .bind(r.kind)
                .bind(&r.address_index)
                .bind(&r.address)
                .bind("verified")
                .bind(now);
        }
        q.fetch_all(c).await
    })?)
}

/// Flags (or unflags) a contact as under the minimum age for marketing.
pub async fn set_under_minimum_age<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid, flag: bool) -> StoreResult<()> {
    const SQL: &str = "UPDATE contacts SET under_minimum_age = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(tenant_id).bind(id).bind(flag).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Whether a contact is flagged as under the minimum age.
pub async fn is_under_minimum_age<'a>(conn: impl Into<Conn<'a>>, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "SELECT under_minimum_age FROM contacts WHERE id = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar::<_, bool>(SQL).bind(id).fetch_optional(c).await)?.unwrap_or(false))
}

/// These contacts of the tenant (any order), and all their identities.
pub async fn with_identities(db: &Db, tenant_id: Uuid, ids: &[Uuid]) -> StoreResult<(Vec<ContactRow>, Vec<IdentityRow>)> {
    if ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let dialect = Conn::from(db).dialect();
    let contacts_sql = format!(
        "SELECT id, tenant_id, name, email, phone, under_minimum_age, created_at, updated_at FROM contacts WHERE tenant_id = {} AND id IN ({})",
        dialect.list(1, 1),
        dialect.list(ids.len(), 2)
    );
    let identities_sql = format!(
        "SELECT id, tenant_id, contact_id, kind, address, status, created_at FROM identities WHERE tenant_id = {} AND contact_id IN ({}) ORDER BY id",
        dialect.list(1, 1),
        dialect.list(ids.len(), 2)
    );
    let contacts: Vec<ContactRow> = on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(contacts_sql)).bind(tenant_id);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    let identities: Vec<IdentityRow> = on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(identities_sql)).bind(tenant_id);
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    Ok((contacts, identities))
}

/// The tenant's most recent contacts (not merged away), newest first.
pub async fn recent(db: &Db, tenant_id: Uuid, limit: usize) -> StoreResult<Vec<ContactRow>> {
    const SQL: &str = "SELECT id, tenant_id, name, email, phone, under_minimum_age, created_at, updated_at FROM contacts \
                       WHERE tenant_id = $1 AND merged_into IS NULL ORDER BY id DESC LIMIT $2";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).bind(limit as i64).fetch_all(p).await)?)
}

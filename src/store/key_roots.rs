//! The key roots (`key_root`, one row per generation, sealed under the master key) and what a
//! master key rotation rewrites: every data key's wrapping and every tenant-sealed value.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, on_conn, on_db};

row_struct! {
    pub struct RootRow { id: i64, wrapped: Vec<u8>, rotated_at: i64 }
}

/// Every stored generation, oldest first (none before the first rotation).
pub async fn roots(db: &Db) -> StoreResult<Vec<RootRow>> {
    const SQL: &str = "SELECT CAST(id AS BIGINT) AS id, wrapped, rotated_at FROM key_root ORDER BY id";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).fetch_all(p).await)?)
}

/// Replaces every stored generation.
pub async fn put_roots(tx: &mut Tx, rows: &[(i64, Vec<u8>, i64)]) -> StoreResult<()> {
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query("DELETE FROM key_root").execute(c).await.map(|_| ()))?;
    for (id, wrapped, at) in rows {
        const SQL: &str = "INSERT INTO key_root (id, wrapped, rotated_at) VALUES (CAST($1 AS INTEGER), $2, $3)";
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(*id).bind(wrapped).bind(*at).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

row_struct! {
    pub struct WrappedKeyRow { contact_id: Uuid, tenant_id: Uuid, wrapped: Vec<u8> }
}

/// Up to `limit` live data keys wrapped by a generation older than `generation`.
pub async fn data_keys_older_than<'a>(conn: impl Into<Conn<'a>>, generation: i64, limit: usize) -> StoreResult<Vec<WrappedKeyRow>> {
    const SQL: &str = "SELECT contact_id, tenant_id, wrapped FROM data_keys WHERE wrapped IS NOT NULL AND generation < $1 ORDER BY contact_id LIMIT $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(generation).bind(limit as i64).fetch_all(c).await)?)
}

/// A data key wrapped anew, unless it was destroyed meanwhile.
pub async fn set_wrapping<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid, wrapped: &[u8], generation: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE data_keys SET wrapped = $2, generation = $3 WHERE contact_id = $1 AND wrapped IS NOT NULL";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(contact_id).bind(wrapped).bind(generation).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Where a value sealed under a tenant key lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantSealed {
    ChannelSecrets,
    WebhookSecret,
    QuarantinedMail,
    /// Index keys an imported tenant brought along (`tenant_keys`).
    ImportedKeys,
}

impl TenantSealed {
    pub const ALL: [TenantSealed; 4] = [TenantSealed::ChannelSecrets, TenantSealed::WebhookSecret, TenantSealed::QuarantinedMail, TenantSealed::ImportedKeys];

    fn select(self) -> &'static str {
        match self {
            Self::ChannelSecrets => "SELECT id, tenant_id, secrets FROM channels WHERE secrets IS NOT NULL",
            Self::WebhookSecret => "SELECT s.id, e.tenant_id, s.secret FROM webhook_secrets s JOIN webhook_endpoints e ON e.id = s.endpoint_id",
            Self::QuarantinedMail => "SELECT id, tenant_id, raw FROM email_quarantine",
            Self::ImportedKeys => "SELECT id, tenant_id, wrapped FROM tenant_keys",
        }
    }

    fn update(self) -> &'static str {
        match self {
            Self::ChannelSecrets => "UPDATE channels SET secrets = $2 WHERE id = $1",
            Self::WebhookSecret => "UPDATE webhook_secrets SET secret = $2 WHERE id = $1",
            Self::QuarantinedMail => "UPDATE email_quarantine SET raw = $2 WHERE id = $1",
            Self::ImportedKeys => "UPDATE tenant_keys SET wrapped = $2 WHERE id = $1",
        }
    }
}

/// Every value of one kind: (row id, tenant, sealed value).
pub async fn tenant_sealed(tx: &mut Tx, which: TenantSealed) -> StoreResult<Vec<(Uuid, Uuid, Vec<u8>)>> {
    Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query_as(which.select()).fetch_all(c).await)?)
}

pub async fn set_tenant_sealed(tx: &mut Tx, which: TenantSealed, id: Uuid, sealed: &[u8]) -> StoreResult<()> {
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(which.update()).bind(id).bind(sealed).execute(c).await.map(|_| ()))?;
    Ok(())
}

row_struct! {
    /// An index key an imported tenant brought along, sealed under this installation's tenant key.
    pub struct TenantKeyRow {
        id: Uuid,
        tenant_id: Uuid,
        label: String,
        wrapped: Vec<u8>,
    }
}

/// Every imported tenant's index keys (or one tenant's).
pub async fn tenant_keys(db: &Db, tenant_id: Option<Uuid>) -> StoreResult<Vec<TenantKeyRow>> {
    const SQL: &str = "SELECT id, tenant_id, label, wrapped FROM tenant_keys WHERE ($1 IS NULL OR tenant_id = $1) ORDER BY tenant_id, label";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

pub async fn insert_tenant_key(tx: &mut Tx, row: &TenantKeyRow) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO tenant_keys (id, tenant_id, label, wrapped, created_at) VALUES ($1, $2, $3, $4, $5)";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(row.id).bind(row.tenant_id).bind(&row.label).bind(&row.wrapped).bind(super::now_micros()).execute(c).await.map(|_| ()))?;
    Ok(())
}

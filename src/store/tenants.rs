//! Tenants: the businesses (controllers) the hub works for.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Db, StoreResult, on_conn, on_db};

row_struct! {
    pub struct TenantRow { id: Uuid, name: String, region: String, created_at: i64 }
}

impl Db {
    pub async fn insert_tenant(&self, name: &str, region: &str) -> StoreResult<TenantRow> {
        const SQL: &str = "INSERT INTO tenants (id, name, region, created_at) VALUES ($1, $2, $3, $4) \
                           RETURNING id, name, region, created_at";
        let now = super::now_micros();
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(Uuid::now_v7()).bind(name).bind(region).bind(now).fetch_one(p).await)?)
    }

    /// Lists a tenant in the directory (the main database's).
    pub async fn insert_directory_entry(&self, tenant: &TenantRow) -> StoreResult<()> {
        const SQL: &str = "INSERT INTO tenant_directory (tenant_id, region, created_at) VALUES ($1, $2, $3)";
        on_db!(self, |p| sqlx::query(SQL).bind(tenant.id).bind(&tenant.region).bind(tenant.created_at).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn tenant(&self, id: Uuid) -> StoreResult<Option<TenantRow>> {
        const SQL: &str = "SELECT id, name, region, created_at FROM tenants WHERE id = $1";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(id).fetch_optional(p).await)?)
    }
}

/// A tenant's home region, from the directory.
pub async fn directory_region(db: &Db, tenant_id: Uuid) -> StoreResult<Option<String>> {
    const SQL: &str = "SELECT region FROM tenant_directory WHERE tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).bind(tenant_id).fetch_optional(p).await)?)
}

/// A tenant's IP allow-list (JSON array of CIDRs), if it has one.
pub async fn ip_allow_list(db: &Db, tenant_id: Uuid) -> StoreResult<Option<String>> {
    const SQL: &str = "SELECT cidrs FROM tenant_ip_allow_lists WHERE tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).bind(tenant_id).fetch_optional(p).await)?)
}

pub async fn save_ip_allow_list(db: &Db, tenant_id: Uuid, cidrs: &str) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO tenant_ip_allow_lists (tenant_id, cidrs, updated_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (tenant_id) DO UPDATE SET cidrs = EXCLUDED.cidrs, updated_at = EXCLUDED.updated_at";
    let mut tx = db.begin().await?;
    on_conn!(super::Conn::from(&mut tx), |c| sqlx::query(SQL).bind(tenant_id).bind(cidrs).bind(super::now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

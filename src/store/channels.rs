//! Channels: a tenant's connections to providers. Settings are JSON; secrets are a separate,
//! encrypted blob so that reading settings can never leak them.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Db, StoreResult, now_micros, on_db};

row_struct! {
    pub struct ChannelRow {
        id: Uuid, tenant_id: Uuid, kind: String, name: String, settings: String,
        secrets: Option<Vec<u8>>, created_at: i64, updated_at: i64,
    }
}


impl Db {
    pub async fn insert_channel(
        &self,
        id: Uuid,
        tenant_id: Uuid,
        kind: &str,
        name: &str,
        settings: &str,
        secrets: Option<&[u8]>,
    ) -> StoreResult<ChannelRow> {
        const SQL: &str = "INSERT INTO channels (id, tenant_id, kind, name, settings, secrets, created_at, updated_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                           RETURNING id, tenant_id, kind, name, settings, secrets, created_at, updated_at";
        Ok(on_db!(self, |p| sqlx::query_as(SQL)
            .bind(id)
            .bind(tenant_id)
            .bind(kind)
            .bind(name)
            .bind(settings)
            .bind(secrets)
            .bind(now_micros())
            .fetch_one(p)
            .await)?)
    }

    /// A live channel by id alone: provider callbacks and the widget name a channel but no tenant.
    pub async fn channel_by_id(&self, id: Uuid) -> StoreResult<Option<ChannelRow>> {
        const SQL: &str = "SELECT id, tenant_id, kind, name, settings, secrets, created_at, updated_at \
                           FROM channels WHERE id = $1 AND deleted_at IS NULL";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(id).fetch_optional(p).await)?)
    }

    pub async fn channels(&self, tenant_id: Uuid, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<ChannelRow>> {
        const SQL: &str = "SELECT id, tenant_id, kind, name, settings, secrets, created_at, updated_at FROM channels \
                           WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).bind(after).bind(limit as i64).fetch_all(p).await)?)
    }

    pub async fn update_channel(
        &self,
        tenant_id: Uuid,
        id: Uuid,
        name: &str,
        settings: &str,
        secrets: Option<&[u8]>,
    ) -> StoreResult<Option<ChannelRow>> {
        const SQL: &str = "UPDATE channels SET name = $3, settings = $4, secrets = $5, updated_at = $6 \
                           WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL \
                           RETURNING id, tenant_id, kind, name, settings, secrets, created_at, updated_at";
        Ok(on_db!(self, |p| sqlx::query_as(SQL)
            .bind(tenant_id)
            .bind(id)
            .bind(name)
            .bind(settings)
            .bind(secrets)
            .bind(now_micros())
            .fetch_optional(p)
            .await)?)
    }

    /// Deletes a channel. Its conversations and messages stay (they are the tenant's history);
    /// the channel stops receiving and sending.
    pub async fn delete_channel(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
        const SQL: &str = "UPDATE channels SET deleted_at = $3, secrets = NULL \
                           WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL";
        let done = on_db!(self, |p| sqlx::query(SQL).bind(tenant_id).bind(id).bind(now_micros()).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(done == 1)
    }
}

//! Operators and API keys. Keys are stored as SHA-256 hashes only.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Db, StoreResult, now_micros, on_db};

row_struct! {
    pub struct ApiKeyRow { id: Uuid, tenant_id: Uuid, operator_id: Option<Uuid>, role: String, prefix: String, created_at: i64 }
}

row_struct! {
    pub struct OperatorRow { id: Uuid, tenant_id: Uuid, name: String, email: Option<String>, role: String, created_at: i64 }
}

impl Db {
    pub async fn insert_api_key(
        &self,
        tenant_id: Uuid,
        operator_id: Option<Uuid>,
        role: &str,
        key_hash: &[u8],
        prefix: &str,
    ) -> StoreResult<ApiKeyRow> {
        const SQL: &str = "INSERT INTO api_keys (id, tenant_id, operator_id, role, key_hash, prefix, created_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7) \
                           RETURNING id, tenant_id, operator_id, role, prefix, created_at";
        Ok(on_db!(self, |p| sqlx::query_as(SQL)
            .bind(Uuid::now_v7())
            .bind(tenant_id)
            .bind(operator_id)
            .bind(role)
            .bind(key_hash)
            .bind(prefix)
            .bind(now_micros())
            .fetch_one(p)
            .await)?)
    }

    /// The live key with this hash, if any.
    pub async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyRow>> {
        const SQL: &str = "SELECT id, tenant_id, operator_id, role, prefix, created_at FROM api_keys \
                           WHERE key_hash = $1 AND revoked_at IS NULL";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(key_hash).fetch_optional(p).await)?)
    }

    pub async fn insert_operator(&self, tenant_id: Uuid, name: &str, email: Option<&str>, role: &str) -> StoreResult<OperatorRow> {
        insert_operator(self, tenant_id, name, email, role).await
    }

    pub async fn operator(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<OperatorRow>> {
        const SQL: &str =
            "SELECT id, tenant_id, name, email, role, created_at FROM operators WHERE tenant_id = $1 AND id = $2";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(p).await)?)
    }

    pub async fn operators(&self, tenant_id: Uuid, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<OperatorRow>> {
        const SQL: &str = "SELECT id, tenant_id, name, email, role, created_at FROM operators \
                           WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).bind(after).bind(limit as i64).fetch_all(p).await)?)
    }
}

/// Inserts an operator, on a pool or in a transaction (a team import adds many in one).
pub async fn insert_operator<'a>(conn: impl Into<super::Conn<'a>>, tenant_id: Uuid, name: &str, email: Option<&str>, role: &str) -> StoreResult<OperatorRow> {
    const SQL: &str = "INSERT INTO operators (id, tenant_id, name, email, role, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, tenant_id, name, email, role, created_at";
    Ok(super::on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(name)
        .bind(email)
        .bind(role)
        .bind(now_micros())
        .fetch_one(c)
        .await)?)
}



//! Operators and API keys. Keys are stored as SHA-256 hashes only.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Db, StoreResult, now_micros, on_db};

row_struct! {
    pub struct ApiKeyRow { id: Uuid, tenant_id: Uuid, operator_id: Option<Uuid>, role: String, prefix: String, created_at: i64 }
}

row_struct! {
    pub struct OperatorRow { id: Uuid, tenant_id: Uuid, name: String, email: Option<String>, role: String, signature: Option<String>, created_at: i64 }
}

row_struct! {
    /// An API key as its tenant's admins see it (never the secret, nor its hash).
    pub struct ApiKeyInfo {
        id: Uuid, tenant_id: Uuid, operator_id: Option<Uuid>, role: String, prefix: String, name: Option<String>,
        created_at: i64, expires_at: Option<i64>, last_used_at: Option<i64>, revoked_at: Option<i64>,
    }
}

row_struct! {
    /// A key being checked, with when it was last used.
    struct LiveKeyRow { id: Uuid, tenant_id: Uuid, operator_id: Option<Uuid>, role: String, prefix: String, created_at: i64, last_used_at: Option<i64> }
}

row_struct! {
    /// Whether an operator may act: deactivated and deleted ones may not.
    pub struct OperatorStatus { id: Uuid, tenant_id: Uuid, role: String, deactivated_at: Option<i64>, deleted_at: Option<i64> }
}

impl Db {
    pub async fn insert_api_key(
        &self,
        tenant_id: Uuid,
        operator_id: Option<Uuid>,
        role: &str,
        key_hash: &[u8],
        prefix: &str,
        (name, expires_at): (Option<&str>, Option<i64>),
    ) -> StoreResult<ApiKeyRow> {
        const SQL: &str = "INSERT INTO api_keys (id, tenant_id, operator_id, role, key_hash, prefix, created_at, name, expires_at) \
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                           RETURNING id, tenant_id, operator_id, role, prefix, created_at";
        Ok(on_db!(self, |p| sqlx::query_as(SQL)
            .bind(Uuid::now_v7())
            .bind(tenant_id)
            .bind(operator_id)
            .bind(role)
            .bind(key_hash)
            .bind(prefix)
            .bind(now_micros())
            .bind(name)
            .bind(expires_at)
            .fetch_one(p)
            .await)?)
    }

    /// The live key with this hash, if any: not revoked, not expired, and not an operator's
    /// who was deactivated or deleted. Marks it used.
    pub async fn api_key_by_hash(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKeyRow>> {
        const SQL: &str = "SELECT k.id, k.tenant_id, k.operator_id, k.role, k.prefix, k.created_at, k.last_used_at FROM api_keys k \
                           LEFT JOIN operators o ON o.id = k.operator_id \
                           WHERE k.key_hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2) \
                           AND o.deactivated_at IS NULL AND o.deleted_at IS NULL";
        const TOUCH: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1";
        let now = now_micros();
        let row: Option<LiveKeyRow> = on_db!(self, |p| sqlx::query_as(SQL).bind(key_hash).bind(now).fetch_optional(p).await)?;
        let Some(row) = row else { return Ok(None) };
        // Written at most once a minute per key: checking a key stays a read.
        if row.last_used_at.is_none_or(|at| at < now - 60_000_000) {
            on_db!(self, |p| sqlx::query(TOUCH).bind(row.id).bind(now).execute(p).await.map(|_| ()))?;
        }
        Ok(Some(ApiKeyRow { id: row.id, tenant_id: row.tenant_id, operator_id: row.operator_id, role: row.role, prefix: row.prefix, created_at: row.created_at }))
    }

    /// A tenant's keys, newest first (revoked ones too, for the record).
    pub async fn api_keys(&self, tenant_id: Uuid) -> StoreResult<Vec<ApiKeyInfo>> {
        const SQL: &str = "SELECT id, tenant_id, operator_id, role, prefix, name, created_at, expires_at, last_used_at, revoked_at \
                           FROM api_keys WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1000";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
    }

    /// Revokes a key of the tenant; false when there is no such live key.
    pub async fn revoke_api_key(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
        const SQL: &str = "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL";
        let n = on_db!(self, |p| sqlx::query(SQL).bind(tenant_id).bind(id).bind(now_micros()).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    pub async fn operator_status(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<OperatorStatus>> {
        const SQL: &str = "SELECT id, tenant_id, role, deactivated_at, deleted_at FROM operators WHERE tenant_id = $1 AND id = $2";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(p).await)?)
    }

    /// How many active admins a tenant has.
    pub async fn active_admins(&self, tenant_id: Uuid) -> StoreResult<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM operators WHERE tenant_id = $1 AND role = 'admin' AND deactivated_at IS NULL AND deleted_at IS NULL";
        Ok(on_db!(self, |p| sqlx::query_scalar(SQL).bind(tenant_id).fetch_one(p).await)?)
    }

    pub async fn insert_operator(&self, tenant_id: Uuid, name: &str, email: Option<&str>, role: &str) -> StoreResult<OperatorRow> {
        insert_operator(self, tenant_id, name, email, role).await
    }

    pub async fn operator(&self, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<OperatorRow>> {
        const SQL: &str =
            "SELECT id, tenant_id, name, email, role, signature, created_at FROM operators WHERE tenant_id = $1 AND id = $2";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(p).await)?)
    }

    pub async fn operators(&self, tenant_id: Uuid, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<OperatorRow>> {
        const SQL: &str = "SELECT id, tenant_id, name, email, role, signature, created_at FROM operators \
                           WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3";
        Ok(on_db!(self, |p| sqlx::query_as(SQL).bind(tenant_id).bind(after).bind(limit as i64).fetch_all(p).await)?)
    }
}

/// Inserts an operator, on a pool or in a transaction (a team import adds many in one).
pub async fn insert_operator<'a>(conn: impl Into<super::Conn<'a>>, tenant_id: Uuid, name: &str, email: Option<&str>, role: &str) -> StoreResult<OperatorRow> {
    const SQL: &str = "INSERT INTO operators (id, tenant_id, name, email, role, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, tenant_id, name, email, role, signature, created_at";
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



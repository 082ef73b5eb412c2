//! Tenants' routing rules, subprocessor authorizations and registry notices.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct AuthorizationRow { subprocessor_id: String, decision: String, reason: Option<String>, decided_by: Option<Uuid>, decided_at: i64 }
}

row_struct! {
    pub struct NoticeRow { subprocessor_id: String, fingerprint: String }
}

/// A tenant's routing-policy document (stored as JSON; the policy module owns its shape).
pub async fn document<T: serde::de::DeserializeOwned>(db: &Db, tenant_id: Uuid) -> StoreResult<Option<T>> {
    const SQL: &str = "SELECT document FROM tenant_policies WHERE tenant_id = $1";
    let text: Option<String> = on_db!(db, |p| sqlx::query_scalar(SQL).bind(tenant_id).fetch_optional(p).await)?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

pub async fn save_document<T: serde::Serialize>(tx: &mut Tx, tenant_id: Uuid, doc: &T) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO tenant_policies (tenant_id, document, updated_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (tenant_id) DO UPDATE SET document = EXCLUDED.document, updated_at = EXCLUDED.updated_at";
    let text = serde_json::to_string(doc).unwrap_or_else(|_| "{\"rules\":[]}".into());
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL).bind(tenant_id).bind(&text).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn authorizations(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<AuthorizationRow>> {
    const SQL: &str = "SELECT subprocessor_id, decision, reason, decided_by, decided_at FROM subprocessor_authorizations WHERE tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

pub async fn authorize(tx: &mut Tx, tenant_id: Uuid, subprocessor_id: &str, decision: &str, reason: Option<&str>, decided_by: Option<Uuid>) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO subprocessor_authorizations (tenant_id, subprocessor_id, decision, reason, decided_by, decided_at) \
                       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, subprocessor_id) DO UPDATE SET \
                       decision = EXCLUDED.decision, reason = EXCLUDED.reason, decided_by = EXCLUDED.decided_by, decided_at = EXCLUDED.decided_at";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL)
        .bind(tenant_id)
        .bind(subprocessor_id)
        .bind(decision)
        .bind(reason)
        .bind(decided_by)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn notices(conn: &mut Tx, tenant_id: Uuid) -> StoreResult<Vec<NoticeRow>> {
    const SQL: &str = "SELECT subprocessor_id, fingerprint FROM subprocessor_notices WHERE tenant_id = $1";
    Ok(on_conn!(Conn::from(conn), |c| sqlx::query_as(SQL).bind(tenant_id).fetch_all(c).await)?)
}

pub async fn save_notice(tx: &mut Tx, tenant_id: Uuid, subprocessor_id: &str, fingerprint: &str) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO subprocessor_notices (tenant_id, subprocessor_id, fingerprint, notified_at) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT (tenant_id, subprocessor_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, notified_at = EXCLUDED.notified_at";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL)
        .bind(tenant_id)
        .bind(subprocessor_id)
        .bind(fingerprint)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn tenant_ids(db: &Db) -> StoreResult<Vec<Uuid>> {
    const SQL: &str = "SELECT id FROM tenants ORDER BY id";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).fetch_all(p).await)?)
}

//! Console sign-in: operators' password hashes and their sessions.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

row_struct! {
    pub struct Credentials { id: Uuid, tenant_id: Uuid, role: String, password_hash: Option<String> }
}

row_struct! {
    pub struct SessionRow { tenant_id: Uuid, operator_id: Uuid, role: String, csrf_token: String, expires_at: i64 }
}

pub async fn set_password(db: &Db, tenant_id: Uuid, operator_id: Uuid, hash: &str) -> StoreResult<bool> {
    let mut tx = db.begin().await?;
    let done = set_password_in(&mut tx, tenant_id, operator_id, hash).await?;
    tx.commit().await?;
    Ok(done)
}

pub async fn set_password_in(tx: &mut super::Tx, tenant_id: Uuid, operator_id: Uuid, hash: &str) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operators SET password_hash = $3 WHERE tenant_id = $1 AND id = $2";
    let n = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(tenant_id).bind(operator_id).bind(hash).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Operators with this (lower-case) email, in any tenant of this database.
pub async fn credentials_by_email(db: &Db, email: &str) -> StoreResult<Vec<Credentials>> {
    const SQL: &str = "SELECT id, tenant_id, role, password_hash FROM operators WHERE email = $1 ORDER BY id";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(email).fetch_all(p).await)?)
}

pub async fn insert(db: &Db, token_hash: &[u8], tenant_id: Uuid, operator_id: Uuid, csrf_token: &str, expires_at: i64) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO operator_sessions (token_hash, tenant_id, operator_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(token_hash)
        .bind(tenant_id)
        .bind(operator_id)
        .bind(csrf_token)
        .bind(now_micros())
        .bind(expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await
}

/// A live session, with the operator's current role.
pub async fn find(db: &Db, token_hash: &[u8]) -> StoreResult<Option<SessionRow>> {
    const SQL: &str = "SELECT s.tenant_id, s.operator_id, o.role, s.csrf_token, s.expires_at FROM operator_sessions s \
                       JOIN operators o ON o.id = s.operator_id WHERE s.token_hash = $1 AND s.expires_at > $2";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(token_hash).bind(now_micros()).fetch_optional(p).await)?)
}

pub async fn delete(db: &Db, token_hash: &[u8]) -> StoreResult<()> {
    const SQL: &str = "DELETE FROM operator_sessions WHERE token_hash = $1";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(token_hash).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

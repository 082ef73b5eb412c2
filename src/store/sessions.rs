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
    const SQL: &str = "SELECT id, tenant_id, role, password_hash FROM operators WHERE email = $1 AND deactivated_at IS NULL AND deleted_at IS NULL ORDER BY id";
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
                       JOIN operators o ON o.id = s.operator_id WHERE s.token_hash = $1 AND s.expires_at > $2 \
                       AND o.deactivated_at IS NULL AND o.deleted_at IS NULL";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(token_hash).bind(now_micros()).fetch_optional(p).await)?)
}

pub async fn delete(db: &Db, token_hash: &[u8]) -> StoreResult<()> {
    const SQL: &str = "DELETE FROM operator_sessions WHERE token_hash = $1";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(token_hash).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await
}

row_struct! {
    /// A session as its operator sees it in the list of their sessions.
    pub struct SessionInfo { token_hash: Vec<u8>, created_at: i64, expires_at: i64, user_agent: Option<String>, last_seen_at: Option<i64> }
}

/// An operator's live sessions, newest first.
pub async fn of_operator(db: &Db, tenant_id: Uuid, operator_id: Uuid) -> StoreResult<Vec<SessionInfo>> {
    const SQL: &str = "SELECT token_hash, created_at, expires_at, user_agent, last_seen_at FROM operator_sessions \
                       WHERE tenant_id = $1 AND operator_id = $2 AND expires_at > $3 ORDER BY created_at DESC";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).bind(operator_id).bind(now_micros()).fetch_all(p).await)?)
}

/// Ends every session of an operator (sign out everywhere); returns how many there were.
pub async fn delete_all<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, operator_id: Uuid) -> StoreResult<u64> {
    const SQL: &str = "DELETE FROM operator_sessions WHERE tenant_id = $1 AND operator_id = $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query(SQL).bind(tenant_id).bind(operator_id).execute(c).await.map(|r| r.rows_affected()))?)
}

/// Records what the session's browser says it is.
pub async fn set_user_agent(db: &Db, token_hash: &[u8], user_agent: &str) -> StoreResult<()> {
    const SQL: &str = "UPDATE operator_sessions SET user_agent = $2, last_seen_at = $3 WHERE token_hash = $1";
    on_db!(db, |p| sqlx::query(SQL).bind(token_hash).bind(user_agent).bind(now_micros()).execute(p).await.map(|_| ()))?;
    Ok(())
}

row_struct! {
    /// A password reset a link names.
    pub struct ResetRow { tenant_id: Uuid, operator_id: Uuid, expires_at: i64, used_at: Option<i64> }
}

pub async fn insert_reset(db: &Db, token_hash: &[u8], tenant_id: Uuid, operator_id: Uuid, expires_at: i64) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO password_resets (token_hash, tenant_id, operator_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
    on_db!(db, |p| sqlx::query(SQL).bind(token_hash).bind(tenant_id).bind(operator_id).bind(now_micros()).bind(expires_at).execute(p).await.map(|_| ()))?;
    Ok(())
}

pub async fn reset_by_token(db: &Db, token_hash: &[u8]) -> StoreResult<Option<ResetRow>> {
    const SQL: &str = "SELECT tenant_id, operator_id, expires_at, used_at FROM password_resets WHERE token_hash = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(token_hash).fetch_optional(p).await)?)
}

/// Uses a reset link once: the reset, if it was unused and unexpired.
pub async fn redeem_reset(tx: &mut super::Tx, token_hash: &[u8]) -> StoreResult<Option<ResetRow>> {
    const SQL: &str = "UPDATE password_resets SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
                       RETURNING tenant_id, operator_id, expires_at, used_at";
    Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query_as(SQL).bind(token_hash).bind(now_micros()).fetch_optional(c).await)?)
}

/// An active operator's sign-in address.
pub async fn active_email(db: &Db, tenant_id: Uuid, operator_id: Uuid) -> StoreResult<Option<String>> {
    const SQL: &str = "SELECT email FROM operators WHERE tenant_id = $1 AND id = $2 AND deactivated_at IS NULL AND deleted_at IS NULL";
    let row: Option<Option<String>> = on_db!(db, |p| sqlx::query_scalar(SQL).bind(tenant_id).bind(operator_id).fetch_optional(p).await)?;
    Ok(row.flatten())
}

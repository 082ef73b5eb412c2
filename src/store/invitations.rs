//! Imported operators and their invitations to set a password; the list of addresses that asked
//! not to be invited again.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    /// An invitation whose mail has not gone out yet, with what the mail needs.
    pub struct UnsentInvitation { id: Uuid, tenant_id: Uuid, operator_id: Uuid, name: String, email: Option<String>, tenant_name: String }
}

row_struct! {
    pub struct InvitationRow {
        id: Uuid, tenant_id: Uuid, operator_id: Uuid, expires_at: Option<i64>, used_at: Option<i64>,
        email: Option<String>, has_password: bool,
    }
}

row_struct! {
    /// Where an operator's invitation stands, for the team list.
    pub struct InvitationState { operator_id: Uuid, sent_at: Option<i64>, expires_at: Option<i64>, used_at: Option<i64>, last_error: Option<String> }
}

/// Gives up on a mail after this many failed attempts (the error stays visible).
pub const MAX_ATTEMPTS: i64 = 20;

pub async fn insert(tx: &mut Tx, tenant_id: Uuid, operator_id: Uuid) -> StoreResult<Uuid> {
    const SQL: &str = "INSERT INTO operator_invitations (id, tenant_id, operator_id, created_at) VALUES ($1, $2, $3, $4)";
    let id = Uuid::now_v7();
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(id).bind(tenant_id).bind(operator_id).bind(now_micros()).execute(c).await.map(|_| ()))?;
    Ok(id)
}

/// Which of these (lower-case) emails already belong to an operator of the tenant.
pub async fn taken_emails(db: &Db, tenant_id: Uuid, emails: &[String]) -> StoreResult<Vec<String>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = Conn::from(db).dialect();
    let sql = format!("SELECT email FROM operators WHERE tenant_id = {} AND email IN ({})", dialect.list(1, 1), dialect.list(emails.len(), 2));
    Ok(on_db!(db, |p| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id);
        for e in emails {
            q = q.bind(e.as_str());
        }
        q.fetch_all(p).await
    })?)
}

pub async fn is_suppressed(db: &Db, tenant_id: Uuid, email_index: &[u8]) -> StoreResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM invitation_suppressions WHERE tenant_id = $1 AND email_index = $2";
    let n: i64 = on_db!(db, |p| sqlx::query_scalar(SQL).bind(tenant_id).bind(email_index).fetch_one(p).await)?;
    Ok(n > 0)
}

/// Invitations waiting for their mail, oldest first (those of `tenant` only, when given).
pub async fn unsent(db: &Db, tenant: Option<Uuid>, limit: usize) -> StoreResult<Vec<UnsentInvitation>> {
    const SQL: &str = "SELECT i.id, i.tenant_id, i.operator_id, o.name, o.email, t.name AS tenant_name FROM operator_invitations i \
                       JOIN operators o ON o.id = i.operator_id JOIN tenants t ON t.id = i.tenant_id \
                       WHERE i.sent_at IS NULL AND i.used_at IS NULL AND i.attempts < $1 AND ($2 IS NULL OR i.tenant_id = $2) \
                       ORDER BY i.created_at, i.id LIMIT $3";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(MAX_ATTEMPTS).bind(tenant).bind(limit as i64).fetch_all(p).await)?)
}

/// Takes an unsent invitation for sending, with the hash of the token its mail will carry;
/// false when another process took it first.
pub async fn claim(db: &Db, id: Uuid, token_hash: &[u8], expires_at: i64) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operator_invitations SET token_hash = $2, sent_at = $3, expires_at = $4 WHERE id = $1 AND sent_at IS NULL";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(id)
        .bind(token_hash)
        .bind(now_micros())
        .bind(expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// The mail could not be sent: back to unsent (its token forgotten), with the reason.
pub async fn release(db: &Db, id: Uuid, error: &str) -> StoreResult<()> {
    const SQL: &str = "UPDATE operator_invitations SET token_hash = NULL, sent_at = NULL, expires_at = NULL, \
                       attempts = attempts + 1, last_error = $2 WHERE id = $1";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(id).bind(error).execute(c).await.map(|_| ()))?;
    tx.commit().await
}

pub async fn by_token<'a>(conn: impl Into<Conn<'a>>, token_hash: &[u8]) -> StoreResult<Option<InvitationRow>> {
    const SQL: &str = "SELECT i.id, i.tenant_id, i.operator_id, i.expires_at, i.used_at, o.email, (o.password_hash IS NOT NULL) AS has_password \
                       FROM operator_invitations i JOIN operators o ON o.id = i.operator_id WHERE i.token_hash = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(token_hash).fetch_optional(c).await)?)
}

/// Marks the invitation used, once: false when it was used already or has expired.
pub async fn use_once(tx: &mut Tx, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operator_invitations SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND expires_at > $2";
    let n = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(id).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// The invitee asked to be left alone: their invitations go, the operator too unless they
/// already set a password, and the address is suppressed for future imports.
pub async fn decline(tx: &mut Tx, invitation: &InvitationRow, email_index: &[u8]) -> StoreResult<()> {
    let (tenant_id, operator_id) = (invitation.tenant_id, invitation.operator_id);
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query("DELETE FROM operator_invitations WHERE operator_id = $1")
        .bind(operator_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    if !invitation.has_password {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query("DELETE FROM team_members WHERE operator_id = $1").bind(operator_id).execute(c).await.map(|_| ()))?;
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query("DELETE FROM operators WHERE tenant_id = $1 AND id = $2 AND password_hash IS NULL")
            .bind(tenant_id)
            .bind(operator_id)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    const SUPPRESS: &str = "INSERT INTO invitation_suppressions (tenant_id, email_index, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SUPPRESS).bind(tenant_id).bind(email_index).bind(now_micros()).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// The latest invitation of each operator of the tenant.
pub async fn states(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<InvitationState>> {
    const SQL: &str = "SELECT operator_id, sent_at, expires_at, used_at, last_error FROM operator_invitations WHERE tenant_id = $1 ORDER BY created_at";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

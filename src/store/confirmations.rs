//! Address confirmations: a visitor proving an email address is theirs (by the link mailed to
//! it) before a transcript goes there.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, Tx, now_micros, on_conn};

row_struct! {
    pub struct ConfirmationRow {
        tenant_id: Uuid, contact_id: Uuid, identity_id: Uuid, channel_id: Uuid, conversation_id: Uuid, expires_at: i64, confirmed_at: Option<i64>,
    }
}

pub struct NewConfirmation<'a> {
    pub token_hash: &'a [u8],
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub identity_id: Uuid,
    pub channel_id: Uuid,
    pub conversation_id: Uuid,
    pub expires_at: i64,
}

pub async fn insert(tx: &mut Tx, new: &NewConfirmation<'_>) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO address_confirmations (token_hash, tenant_id, contact_id, identity_id, channel_id, conversation_id, created_at, expires_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL)
        .bind(new.token_hash)
        .bind(new.tenant_id)
        .bind(new.contact_id)
        .bind(new.identity_id)
        .bind(new.channel_id)
        .bind(new.conversation_id)
        .bind(now_micros())
        .bind(new.expires_at)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// The confirmation a token names, whatever its state.
pub async fn by_token<'a>(conn: impl Into<Conn<'a>>, token_hash: &[u8]) -> StoreResult<Option<ConfirmationRow>> {
    const SQL: &str = "SELECT tenant_id, contact_id, identity_id, channel_id, conversation_id, expires_at, confirmed_at \
                       FROM address_confirmations WHERE token_hash = $1";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(token_hash).fetch_optional(c).await)?)
}

/// Uses a token once: the confirmation, if it was pending and unexpired.
pub async fn redeem(tx: &mut Tx, token_hash: &[u8]) -> StoreResult<Option<ConfirmationRow>> {
    const SQL: &str = "UPDATE address_confirmations SET confirmed_at = $2 WHERE token_hash = $1 AND confirmed_at IS NULL AND expires_at > $2 \
                       RETURNING tenant_id, contact_id, identity_id, channel_id, conversation_id, expires_at, confirmed_at";
    Ok(on_conn!(Conn::from(&mut *tx), |c| sqlx::query_as(SQL).bind(token_hash).bind(now_micros()).fetch_optional(c).await)?)
}

/// Whether the contact confirmed this identity before.
pub async fn confirmed<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid, identity_id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "SELECT COUNT(*) FROM address_confirmations WHERE contact_id = $1 AND identity_id = $2 AND confirmed_at IS NOT NULL";
    let n: i64 = on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(contact_id).bind(identity_id).fetch_one(c).await)?;
    Ok(n > 0)
}

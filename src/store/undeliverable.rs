//! Addresses a channel cannot deliver to (`undeliverable_addresses`): hard bounces counted per
//! channel and identity, and the mark set after repeated ones.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

/// Hard bounces after which an address is marked undeliverable on the channel.
pub const HARD_BOUNCES_TO_MARK: i64 = 2;

row_struct! {
    pub struct UndeliverableRow {
        channel_id: Uuid, identity_id: Uuid, contact_id: Uuid, hard_bounces: i64, last_code: Option<String>, last_reason: Option<String>,
        updated_at: i64, marked_at: Option<i64>,
    }
}

/// Counts a hard bounce of `identity_id` on `channel_id`; marks the address once the count
/// reaches [`HARD_BOUNCES_TO_MARK`]. Returns whether it is marked now.
#[allow(clippy::too_many_arguments)]
pub async fn hard_bounce(tx: &mut Tx, tenant_id: Uuid, channel_id: Uuid, contact_id: Uuid, identity_id: Uuid, code: Option<&str>, reason: &str) -> StoreResult<bool> {
    const SQL: &str = "INSERT INTO undeliverable_addresses (channel_id, identity_id, tenant_id, contact_id, hard_bounces, last_code, last_reason, updated_at, marked_at) \
                       VALUES ($1, $2, $3, $4, 1, $5, $6, $7, CASE WHEN 1 >= $8 THEN $7 END) \
                       ON CONFLICT (channel_id, identity_id) DO UPDATE SET hard_bounces = undeliverable_addresses.hard_bounces + 1, \
                       last_code = $5, last_reason = $6, updated_at = $7, \
                       marked_at = COALESCE(undeliverable_addresses.marked_at, CASE WHEN undeliverable_addresses.hard_bounces + 1 >= $8 THEN $7 END) \
                       RETURNING marked_at";
    let (marked,): (Option<i64>,) = on_conn!(Conn::from(tx), |c| sqlx::query_as(SQL)
        .bind(channel_id)
        .bind(identity_id)
        .bind(tenant_id)
        .bind(contact_id)
        .bind(code)
        .bind(reason)
        .bind(now_micros())
        .bind(HARD_BOUNCES_TO_MARK)
        .fetch_one(c)
        .await)?;
    Ok(marked.is_some())
}

/// When the address was marked undeliverable on the channel, if it is.
pub async fn marked_at(db: &Db, channel_id: Uuid, identity_id: Uuid) -> StoreResult<Option<i64>> {
    const SQL: &str = "SELECT marked_at FROM undeliverable_addresses WHERE channel_id = $1 AND identity_id = $2 AND marked_at IS NOT NULL";
    let found: Option<(i64,)> = on_db!(db, |p| sqlx::query_as(SQL).bind(channel_id).bind(identity_id).fetch_optional(p).await)?;
    Ok(found.map(|(at,)| at))
}

/// The person wrote from the address on the channel: it works again.
pub async fn clear<'a>(conn: impl Into<Conn<'a>>, channel_id: Uuid, contact_id: Uuid) -> StoreResult<()> {
    const SQL: &str = "DELETE FROM undeliverable_addresses WHERE channel_id = $1 AND contact_id = $2";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(channel_id).bind(contact_id).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// A contact's addresses with hard bounces, per channel.
pub async fn for_contact(db: &Db, contact_id: Uuid) -> StoreResult<Vec<UndeliverableRow>> {
    const SQL: &str = "SELECT channel_id, identity_id, contact_id, hard_bounces, last_code, last_reason, updated_at, marked_at \
                       FROM undeliverable_addresses WHERE contact_id = $1 ORDER BY updated_at";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(contact_id).fetch_all(p).await)?)
}

//! Who else is in a mail conversation (`conversation_participants`) and everyone one outbound
//! message goes to besides the contact (`message_recipients`). Addresses are sealed under the
//! conversation's contact's key; the blind index finds a person's rows for their rights.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, StoreResult, now_micros, on_conn};

row_struct! {
    pub struct ParticipantRow {
        id: Uuid, conversation_id: Uuid, address_index: Vec<u8>, address: Vec<u8>, source: String, created_at: i64,
    }
}

row_struct! {
    pub struct RecipientRow {
        id: Uuid, message_id: Uuid, position: i64, role: String, address_index: Vec<u8>, address: Vec<u8>, status: String, reason: Option<String>,
    }
}

/// A participant to add: its id (the sealing context of its address), blind index and sealed
/// address.
pub struct NewParticipant {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub address_index: Vec<u8>,
    pub address: Vec<u8>,
    /// `mail` (named in the contact's mail) or `operator` (copied in by an operator).
    pub source: &'static str,
}

/// Adds participants; ones the conversation has already are left as they are. Returns the ids
/// of those added.
pub async fn add_many<'a>(conn: impl Into<Conn<'a>>, participants: &[NewParticipant]) -> StoreResult<Vec<Uuid>> {
    if participants.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO conversation_participants (id, tenant_id, conversation_id, address_index, address, source, created_at) VALUES {} \
         ON CONFLICT (conversation_id, address_index) DO NOTHING RETURNING id",
        conn.dialect().tuples(participants.len(), 7, 1)
    );
    let now = now_micros();
    let rows: Vec<(Uuid,)> = on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for p in participants {
            q = q.bind(p.id).bind(p.tenant_id).bind(p.conversation_id).bind(&p.address_index).bind(&p.address).bind(p.source).bind(now);
        }
        q.fetch_all(c).await
    })?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A conversation's participants, in the order they joined.
pub async fn for_conversation<'a>(conn: impl Into<Conn<'a>>, conversation_id: Uuid) -> StoreResult<Vec<ParticipantRow>> {
    const SQL: &str = "SELECT id, conversation_id, address_index, address, source, created_at FROM conversation_participants \
                       WHERE conversation_id = $1 ORDER BY created_at, id";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(conversation_id).fetch_all(c).await)?)
}

/// How many participants a conversation has.
pub async fn count<'a>(conn: impl Into<Conn<'a>>, conversation_id: Uuid) -> StoreResult<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM conversation_participants WHERE conversation_id = $1";
    let (n,): (i64,) = on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(conversation_id).fetch_one(c).await)?;
    Ok(n)
}

/// Removes one participant; returns whether there was one.
pub async fn remove<'a>(conn: impl Into<Conn<'a>>, conversation_id: Uuid, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "DELETE FROM conversation_participants WHERE conversation_id = $1 AND id = $2";
    let n = on_conn!(conn.into(), |c| sqlx::query(SQL).bind(conversation_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records who a message goes to besides the contact, in order.
pub async fn add_recipients<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, message_id: Uuid, recipients: &[(Uuid, &str, Vec<u8>, Vec<u8>)]) -> StoreResult<()> {
    if recipients.is_empty() {
        return Ok(());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO message_recipients (id, tenant_id, message_id, position, role, address_index, address, status) VALUES {}",
        conn.dialect().tuples(recipients.len(), 8, 1)
    );
    on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (position, (id, role, index, address)) in recipients.iter().enumerate() {
            q = q.bind(*id).bind(tenant_id).bind(message_id).bind(position as i64).bind(*role).bind(index).bind(address).bind("pending");
        }
        q.execute(c).await.map(|_| ())
    })?;
    Ok(())
}

/// The recipients of these messages besides their contacts, in order.
pub async fn recipients_of<'a>(conn: impl Into<Conn<'a>>, message_ids: &[Uuid]) -> StoreResult<Vec<RecipientRow>> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "SELECT id, message_id, position, role, address_index, address, status, reason FROM message_recipients \
         WHERE message_id IN ({}) ORDER BY message_id, position",
        conn.dialect().list(message_ids.len(), 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in message_ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// What the door decided for one recipient when the message left: `sent` or `refused` (why).
pub async fn set_outcome<'a>(conn: impl Into<Conn<'a>>, id: Uuid, status: &str, reason: Option<&str>) -> StoreResult<()> {
    const SQL: &str = "UPDATE message_recipients SET status = $2, reason = $3 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(status).bind(reason).execute(c).await.map(|_| ()))?;
    Ok(())
}

//! What an inbox row needs beyond the conversation: where each operator has read up to
//! (`conversation_reads`), how many of the contact's messages they have not read, and since
//! when the contact has been waiting for an answer.

use uuid::Uuid;

use super::{Conn, Db, StoreResult, now_micros, on_db};

/// The operator has read the conversation up to now.
pub async fn mark_read(db: &Db, conversation_id: Uuid, operator_id: Uuid) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO conversation_reads (conversation_id, operator_id, read_at) VALUES ($1, $2, $3) \
                       ON CONFLICT (conversation_id, operator_id) DO UPDATE SET read_at = $3";
    on_db!(db, |p| sqlx::query(SQL).bind(conversation_id).bind(operator_id).bind(now_micros()).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Per conversation: the contact's messages the operator has not read yet.
pub async fn unread(db: &Db, operator_id: Uuid, conversation_ids: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = Conn::from(db).dialect();
    let sql = format!(
        "SELECT m.conversation_id, COUNT(*) FROM messages m LEFT JOIN conversation_reads r \
         ON r.conversation_id = m.conversation_id AND r.operator_id = {} \
         WHERE m.conversation_id IN ({}) AND m.direction = 'in' AND m.created_at > COALESCE(r.read_at, 0) GROUP BY m.conversation_id",
        dialect.list(1, 1),
        dialect.list(conversation_ids.len(), 2)
    );
    Ok(on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(operator_id);
        for id in conversation_ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?)
}

/// Per conversation with an unanswered contact: when the first of the contact's messages since
/// the team last wrote arrived (microseconds).
pub async fn waiting_since(db: &Db, conversation_ids: &[Uuid]) -> StoreResult<Vec<(Uuid, i64)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = Conn::from(db).dialect();
    let sql = format!(
        "SELECT m.conversation_id, MIN(m.created_at) FROM messages m WHERE m.conversation_id IN ({}) AND m.direction = 'in' \
         AND m.created_at > COALESCE((SELECT MAX(o.created_at) FROM messages o WHERE o.conversation_id = m.conversation_id \
         AND o.direction = 'out' AND o.private = FALSE AND o.author_type = 'operator'), 0) GROUP BY m.conversation_id",
        dialect.list(conversation_ids.len(), 1)
    );
    Ok(on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in conversation_ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?)
}

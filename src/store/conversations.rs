//! Conversations: a contact's thread with the tenant, possibly spanning channels.

use std::collections::HashMap;

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct ConversationRow {
        id: Uuid, tenant_id: Uuid, contact_id: Uuid, channel_id: Uuid, status: String,
        assignee_id: Option<Uuid>, created_at: i64, updated_at: i64, last_message_at: i64,
    }
}


/// List filters; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct ConversationFilter {
    pub status: Option<String>,
    pub channel_id: Option<Uuid>,
    pub assignee_id: Option<Uuid>,
    pub unassigned: bool,
    pub contact_id: Option<Uuid>,
    /// Carries this label.
    pub label_id: Option<Uuid>,
    /// Has this value (canonical JSON) of this attribute.
    pub attribute: Option<(Uuid, String)>,
    /// On one of this team's channels.
    pub team_id: Option<Uuid>,
    /// Last message at or after (microseconds).
    pub since: Option<i64>,
    /// Last message before (microseconds).
    pub until: Option<i64>,
}

pub async fn insert<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, contact_id: Uuid, channel_id: Uuid) -> StoreResult<ConversationRow> {
    const SQL: &str = "INSERT INTO conversations (id, tenant_id, contact_id, channel_id, status, created_at, updated_at, last_message_at) \
                       VALUES ($1, $2, $3, $4, 'open', $5, $5, $5) \
                       RETURNING id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(Uuid::now_v7())
        .bind(tenant_id)
        .bind(contact_id)
        .bind(channel_id)
        .bind(now_micros())
        .fetch_one(c)
        .await)?)
}

/// Records activity: a new message moves `last_message_at`, may switch the current channel and
/// may change the status (an inbound message reopens a pending or snoozed conversation).
pub async fn touch<'a>(
    conn: impl Into<Conn<'a>>,
    id: Uuid,
    channel_id: Uuid,
    status: &str,
) -> StoreResult<ConversationRow> {
    const SQL: &str = "UPDATE conversations SET channel_id = $2, status = $3, updated_at = $4, last_message_at = $4 \
                       WHERE id = $1 \
                       RETURNING id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(id).bind(channel_id).bind(status).bind(now_micros()).fetch_one(c).await)?)
}

pub async fn get<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<ConversationRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at \
                       FROM conversations WHERE tenant_id = $1 AND id = $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

/// Newest first, before the cursor; `limit + 1` rows.
pub async fn list<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    filter: &ConversationFilter,
    before: Option<Uuid>,
    limit: usize,
) -> StoreResult<Vec<ConversationRow>> {
    const SQL: &str = "SELECT id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at \
                       FROM conversations WHERE tenant_id = $1 \
                       AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR channel_id = $3) \
                       AND ($4 IS NULL OR assignee_id = $4) AND ($5 = FALSE OR assignee_id IS NULL) \
                       AND ($6 IS NULL OR id < $6) AND ($8 IS NULL OR contact_id = $8) \
                       AND ($9 IS NULL OR EXISTS (SELECT 1 FROM conversation_labels l WHERE l.conversation_id = conversations.id AND l.label_id = $9)) \
                       AND ($10 IS NULL OR EXISTS (SELECT 1 FROM conversation_attributes a WHERE a.owner_id = conversations.id AND a.definition_id = $10 AND a.value = $11)) \
                       AND ($12 IS NULL OR channel_id IN (SELECT tc.channel_id FROM team_channels tc WHERE tc.team_id = $12)) \
                       AND ($13 IS NULL OR last_message_at >= $13) AND ($14 IS NULL OR last_message_at < $14) \
                       ORDER BY id DESC LIMIT $7";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(tenant_id)
        .bind(filter.status.as_deref())
        .bind(filter.channel_id)
        .bind(filter.assignee_id)
        .bind(filter.unassigned)
        .bind(before)
        .bind(limit as i64 + 1)
        .bind(filter.contact_id)
        .bind(filter.label_id)
        .bind(filter.attribute.as_ref().map(|a| a.0))
        .bind(filter.attribute.as_ref().map(|a| a.1.clone()))
        .bind(filter.team_id)
        .bind(filter.since)
        .bind(filter.until)
        .fetch_all(c)
        .await)?)
}

pub async fn update<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    id: Uuid,
    status: &str,
    assignee_id: Option<Uuid>,
) -> StoreResult<Option<ConversationRow>> {
    const SQL: &str = "UPDATE conversations SET status = $3, assignee_id = $4, updated_at = $5, \
                       resolved_at = CASE WHEN $3 = 'resolved' AND status <> 'resolved' THEN $5 ELSE resolved_at END \
                       WHERE tenant_id = $1 AND id = $2 \
                       RETURNING id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(tenant_id)
        .bind(id)
        .bind(status)
        .bind(assignee_id)
        .bind(now_micros())
        .fetch_optional(c)
        .await)?)
}

/// Not-resolved conversations for any of these (contact, channel) pairs, oldest first.
pub async fn active_for_many<'a>(conn: impl Into<Conn<'a>>, pairs: &[(Uuid, Uuid)]) -> StoreResult<Vec<ConversationRow>> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        // A join with the pair list, not `(a, b) IN (VALUES …)`, which SQLite answers with a scan.
        "WITH k(contact_id, channel_id) AS (VALUES {}) \
         SELECT c.id, c.tenant_id, c.contact_id, c.channel_id, c.status, c.assignee_id, c.created_at, c.updated_at, c.last_message_at \
         FROM k JOIN conversations c ON c.contact_id = k.contact_id AND c.channel_id = k.channel_id \
         WHERE c.status <> 'resolved' ORDER BY c.id",
        conn.dialect().tuples(pairs.len(), 2, 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for (contact, channel) in pairs {
            q = q.bind(*contact).bind(*channel);
        }
        q.fetch_all(c).await
    })?)
}

/// Opens many conversations: (id, tenant, contact, channel).
pub async fn insert_many<'a>(conn: impl Into<Conn<'a>>, rows: &[(Uuid, Uuid, Uuid, Uuid)], now: i64) -> StoreResult<Vec<ConversationRow>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO conversations (id, tenant_id, contact_id, channel_id, status, created_at, updated_at, last_message_at) \
         VALUES {} RETURNING id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at",
        conn.dialect().tuples(rows.len(), 8, 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for (id, tenant, contact, channel) in rows {
            q = q.bind(*id).bind(*tenant).bind(*contact).bind(*channel).bind("open").bind(now).bind(now).bind(now);
        }
        q.fetch_all(c).await
    })?)
}

/// Marks activity on many conversations at once: they are (again) open and just had a message.
/// Resolved ones are left alone; returns how many were touched.
pub async fn touch_many<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid], now: i64) -> StoreResult<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let conn: Conn = conn.into();
    let d = conn.dialect();
    let sql = format!(
        "UPDATE conversations SET status = 'open', updated_at = {}, last_message_at = {} WHERE id IN ({}) AND status <> 'resolved'",
        d.list(1, 1),
        d.list(1, 2),
        d.list(ids.len(), 3)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now);
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?)
}

/// Reserves `n` event sequence numbers for each conversation; returns each one's counter after
/// the reservation (the last number reserved).
pub async fn reserve_sequences(tx: &mut Tx, counts: &HashMap<Uuid, i64>) -> StoreResult<Vec<(Uuid, i64)>> {
    if counts.is_empty() {
        return Ok(Vec::new());
    }
    let d = tx.dialect();
    let sql = format!(
        "WITH k(id, n) AS (VALUES {}) UPDATE conversations SET event_seq = event_seq + (SELECT k.n FROM k WHERE k.id = conversations.id) \
         WHERE id IN (SELECT k.id FROM k) RETURNING id, event_seq",
        d.tuples(counts.len(), 2, 1)
    );
    Ok(on_conn!(Conn::from(tx), |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for (id, n) in counts {
            q = q.bind(*id).bind(*n);
        }
        q.fetch_all(c).await
    })?)
}

row_struct! {
    /// One conversation's timings, for statistics.
    pub struct Timing {
        id: Uuid, channel_id: Uuid, assignee_id: Option<Uuid>, status: String, created_at: i64, resolved_at: Option<i64>,
        first_in: Option<i64>, first_reply: Option<i64>
    }
}

/// Timings of a tenant's conversations created in [from, to), or resolved in it.
pub async fn timings(db: &Db, tenant_id: Uuid, from: i64, to: i64) -> StoreResult<Vec<Timing>> {
    const SQL: &str = "SELECT c.id, c.channel_id, c.assignee_id, c.status, c.created_at, c.resolved_at, \
                       (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'in') AS first_in, \
                       (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id AND m.direction = 'out' AND NOT m.private \
                        AND m.author_type = 'operator') AS first_reply \
                       FROM conversations c WHERE c.tenant_id = $1 AND ((c.created_at >= $2 AND c.created_at < $3) \
                       OR (c.resolved_at >= $2 AND c.resolved_at < $3))";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).bind(from).bind(to).fetch_all(p).await)?)
}

/// Open conversations now: (channel, assignee) of each.
pub async fn open_now(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<(Uuid, Option<Uuid>)>> {
    const SQL: &str = "SELECT channel_id, assignee_id FROM conversations WHERE tenant_id = $1 AND status = 'open'";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

/// Moves every message of `other` into `into` (same contact) and closes `other` as merged;
/// returns how many messages moved.
pub async fn merge(tx: &mut Tx, tenant_id: Uuid, into: Uuid, other: Uuid) -> StoreResult<u64> {
    const MOVE: &str = "UPDATE messages SET conversation_id = $2 WHERE tenant_id = $1 AND conversation_id = $3";
    const CLOSE: &str = "UPDATE conversations SET status = 'resolved', merged_into = $2, updated_at = $4, \
                         resolved_at = COALESCE(resolved_at, $4) WHERE tenant_id = $1 AND id = $3";
    const TOUCH: &str = "UPDATE conversations SET last_message_at = (SELECT MAX(created_at) FROM messages WHERE conversation_id = $2), \
                         updated_at = $3 WHERE tenant_id = $1 AND id = $2";
    let now = now_micros();
    // The mail participants of both threads are in the merged one (same contact, same key).
    const PARTICIPANTS: &str = "UPDATE conversation_participants SET conversation_id = $2 WHERE tenant_id = $1 AND conversation_id = $3 \
                                AND address_index NOT IN (SELECT address_index FROM conversation_participants WHERE conversation_id = $2)";
    let moved = on_conn!(Conn::from(&mut *tx), |c| sqlx::query(MOVE).bind(tenant_id).bind(into).bind(other).execute(c).await.map(|r| r.rows_affected()))?;
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(PARTICIPANTS).bind(tenant_id).bind(into).bind(other).execute(c).await.map(|_| ()))?;
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(CLOSE).bind(tenant_id).bind(into).bind(other).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(TOUCH).bind(tenant_id).bind(into).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(moved)
}

//! Messages, their technical metadata, and the outbound send queue (outbound messages in
//! `queued` status are the queue: no separate job table to keep in step).

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};
use crate::domain::delivery::{Failure, Status};

row_struct! {
    pub struct MessageRow {
        id: Uuid, tenant_id: Uuid, conversation_id: Uuid, contact_id: Uuid, channel_id: Uuid,
        direction: String, author_type: String, author_id: Option<Uuid>, external_id: Option<String>,
        text: Vec<u8>, private: bool, purpose: String, status: String, error: Option<String>,
        created_at: i64, updated_at: i64,
        failure_class: Option<String>, failure_code: Option<String>, failure_provider: Option<String>, send_at: Option<i64>,
    }
}

impl MessageRow {
    /// The failure recorded on the message, if any.
    pub fn failure(&self) -> Option<Failure> {
        Some(Failure {
            class: crate::domain::delivery::FailureClass::parse(self.failure_class.as_deref()?)?,
            code: self.failure_code.clone(),
            reason: self.error.clone().unwrap_or_default(),
            provider: self.failure_provider.clone().unwrap_or_default(),
        })
    }
}

/// The columns of a [`MessageRow`], in a `SELECT` or `RETURNING` list.
macro_rules! message_columns {
    () => {
        "id, tenant_id, conversation_id, contact_id, channel_id, direction, author_type, author_id, external_id, text, private, \
         purpose, status, error, created_at, updated_at, failure_class, failure_code, failure_provider, send_at"
    };
}

row_struct! {
    /// A claimed outbound message, ready for the egress door.
    pub struct QueuedMessage {
        id: Uuid, tenant_id: Uuid, conversation_id: Uuid, contact_id: Uuid, channel_id: Uuid,
        author_type: String, author_id: Option<Uuid>, text: Vec<u8>, purpose: String, attempts: i64, created_at: i64,
        recipient_identity_id: Option<Uuid>, subject: Option<String>, template: Option<Vec<u8>>, quoted_id: Option<Uuid>,
        resends: i64,
    }
}

/// A message to insert, text already sealed.
pub struct NewMessage<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    pub channel_id: Uuid,
    pub direction: &'a str,
    pub author_type: &'a str,
    pub author_id: Option<Uuid>,
    pub external_id: Option<&'a str>,
    pub text: &'a [u8],
    pub private: bool,
    pub purpose: &'a str,
    pub status: &'a str,
}

impl<'a> NewMessage<'a> {
    /// One of the hub's own messages to the contact (an away notice, a HELP answer, a
    /// transcript, a survey link): outbound, authored by the system, queued for the send worker.
    pub fn automatic(id: Uuid, tenant_id: Uuid, conversation_id: Uuid, contact_id: Uuid, channel_id: Uuid, text: &'a [u8], purpose: &'a str) -> Self {
        Self {
            id,
            tenant_id,
            conversation_id,
            contact_id,
            channel_id,
            direction: "out",
            author_type: "system",
            author_id: None,
            external_id: None,
            text,
            private: false,
            purpose,
            status: "queued",
        }
    }
}

impl NewMessage<'_> {
    /// The row as it is stored, to answer with without reading it back.
    pub fn stored(&self, now: i64) -> MessageRow {
        MessageRow {
            id: self.id,
            tenant_id: self.tenant_id,
            conversation_id: self.conversation_id,
            contact_id: self.contact_id,
            channel_id: self.channel_id,
            direction: self.direction.to_owned(),
            author_type: self.author_type.to_owned(),
            author_id: self.author_id,
            external_id: self.external_id.map(str::to_owned),
            text: self.text.to_vec(),
            private: self.private,
            purpose: self.purpose.to_owned(),
            status: self.status.to_owned(),
            error: None,
            created_at: now,
            updated_at: now,
            failure_class: None,
            failure_code: None,
            failure_provider: None,
            send_at: None,
        }
    }
}

/// Inserts unless (channel, external id) is taken; returns the row, or `None` for a duplicate.
pub async fn insert<'a>(conn: impl Into<Conn<'a>>, m: &NewMessage<'_>) -> StoreResult<Option<MessageRow>> {
    let now = now_micros();
    let inserted = insert_many(conn, std::slice::from_ref(m), now).await?;
    Ok((!inserted.is_empty()).then(|| m.stored(now)))
}

pub async fn get<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<MessageRow>> {
    const SQL: &str = concat!("SELECT ", message_columns!(), " FROM messages \
                       WHERE tenant_id = $1 AND id = $2");
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

/// The sealed texts of these messages, by id (those that still exist).
pub async fn sealed_texts<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid]) -> StoreResult<Vec<(Uuid, Vec<u8>)>> {
    super::merges::sealed(conn, "messages", "id", "text", ids).await
}

/// A conversation's messages, oldest first, after the cursor; `limit + 1` rows.
pub async fn for_conversation<'a>(
    conn: impl Into<Conn<'a>>,
    tenant_id: Uuid,
    conversation_id: Uuid,
    after: Option<Uuid>,
    limit: usize,
) -> StoreResult<Vec<MessageRow>> {
    const SQL: &str = concat!("SELECT ", message_columns!(), " FROM messages \
                       WHERE tenant_id = $1 AND conversation_id = $2 AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4");
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL)
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(after)
        .bind(limit as i64 + 1)
        .fetch_all(c)
        .await)?)
}

/// What a web chat visitor sees: the non-private messages that traveled on their channel, the
/// latest `limit` before the message `before` (or the latest), oldest first.
pub async fn visible_to_visitor(db: &Db, contact_id: Uuid, channel_id: Uuid, before: Option<Uuid>, limit: usize) -> StoreResult<Vec<MessageRow>> {
    const SQL: &str = concat!("SELECT ", message_columns!(), " FROM messages \
                       WHERE contact_id = $1 AND channel_id = $2 AND private = FALSE AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4");
    let mut rows: Vec<MessageRow> =
        on_db!(db, |p| sqlx::query_as(SQL).bind(contact_id).bind(channel_id).bind(before).bind(limit as i64).fetch_all(p).await)?;
    rows.reverse();
    Ok(rows)
}

/// The visitor-visible messages created after `after`, oldest first (at most `limit`).
pub async fn visible_to_visitor_after(db: &Db, contact_id: Uuid, channel_id: Uuid, after: i64, limit: usize) -> StoreResult<Vec<MessageRow>> {
    const SQL: &str = concat!("SELECT ", message_columns!(), " FROM messages \
                       WHERE contact_id = $1 AND channel_id = $2 AND private = FALSE AND created_at > $3 ORDER BY created_at, id LIMIT $4");
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(contact_id).bind(channel_id).bind(after).bind(limit as i64).fetch_all(p).await)?)
}

/// Claims up to `limit` due outbound messages (queued, or scheduled and due) for
/// `lease_micros`, marking them `sending`. PostgreSQL skips rows other
/// hub processes hold (`FOR UPDATE SKIP LOCKED`); SQLite has one writer, so the immediate
/// transaction of the single UPDATE is the lock.
pub async fn claim_queued(db: &Db, lease_micros: i64, limit: usize) -> StoreResult<Vec<QueuedMessage>> {
    const PG: &str = "UPDATE messages SET status = 'sending', lease_until = $2, attempts = attempts + 1 WHERE id IN (\
                      SELECT id FROM messages WHERE status IN ('queued', 'scheduled') AND next_attempt_at <= $1 \
                      AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) \
                      RETURNING id, tenant_id, conversation_id, contact_id, channel_id, author_type, author_id, text, purpose, attempts, created_at, recipient_identity_id, subject, template, quoted_id, resends";
    const SQLITE: &str = "UPDATE messages SET status = 'sending', lease_until = $2, attempts = attempts + 1 WHERE id IN (\
                          SELECT id FROM messages WHERE status IN ('queued', 'scheduled') AND next_attempt_at <= $1 \
                          AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $3) \
                          RETURNING id, tenant_id, conversation_id, contact_id, channel_id, author_type, author_id, text, purpose, attempts, created_at, recipient_identity_id, subject, template, quoted_id, resends";
    let now = now_micros();
    Ok(match db {
        Db::Pg(p) => sqlx::query_as(PG).bind(now).bind(now + lease_micros).bind(limit as i64).fetch_all(p).await?,
        Db::Sqlite(_) => {
            let mut tx = db.begin().await?;
            let rows = on_conn!(Conn::from(&mut tx), |c| sqlx::query_as(SQLITE)
                .bind(now)
                .bind(now + lease_micros)
                .bind(limit as i64)
                .fetch_all(c)
                .await)?;
            tx.commit().await?;
            rows
        }
    })
}

/// Claims up to `limit` sends whose answer never got recorded (`sending` past their lease: the
/// process died mid-send), for reconciliation with the provider before anything is resent.
pub async fn claim_unanswered(db: &Db, lease_micros: i64, limit: usize) -> StoreResult<Vec<QueuedMessage>> {
    const SQL: &str = "UPDATE messages SET lease_until = $2 WHERE id IN (\
                       SELECT id FROM messages WHERE status = 'sending' AND lease_until < $1 ORDER BY lease_until LIMIT $3) \
                       RETURNING id, tenant_id, conversation_id, contact_id, channel_id, author_type, author_id, text, purpose, attempts, created_at, recipient_identity_id, subject, template, quoted_id, resends";
    let now = now_micros();
    let mut tx = db.begin().await?;
    let rows = on_conn!(Conn::from(&mut tx), |c| sqlx::query_as(SQL).bind(now).bind(now + lease_micros).bind(limit as i64).fetch_all(c).await)?;
    tx.commit().await?;
    Ok(rows)
}

/// Records the outcome of a send attempt: the status, the provider's id, why it failed (if
/// it did), and when to try again (a transient failure).
pub async fn record_attempt<'a>(
    conn: impl Into<Conn<'a>>,
    id: Uuid,
    status: &str,
    external_id: Option<&str>,
    failure: Option<&Failure>,
    next_attempt_at: Option<i64>,
) -> StoreResult<()> {
    // A provider's status callback can overtake the send's own answer: "sent" never replaces
    // the later word (delivered, read, failed) the callback already recorded.
    const SQL: &str = "UPDATE messages SET \
                       error = CASE WHEN $2 = 'sent' AND status IN ('delivered', 'read', 'failed') THEN error ELSE $4 END, \
                       failure_class = CASE WHEN $2 = 'sent' AND status IN ('delivered', 'read', 'failed') THEN failure_class ELSE $7 END, \
                       failure_code = CASE WHEN $2 = 'sent' AND status IN ('delivered', 'read', 'failed') THEN failure_code ELSE $8 END, \
                       failure_provider = CASE WHEN $2 = 'sent' AND status IN ('delivered', 'read', 'failed') THEN failure_provider ELSE $9 END, \
                       status = CASE WHEN $2 = 'sent' AND status IN ('delivered', 'read', 'failed') THEN status ELSE $2 END, \
                       external_id = COALESCE($3, external_id), \
                       next_attempt_at = $5, lease_until = NULL, updated_at = $6 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL)
        .bind(id)
        .bind(status)
        .bind(external_id)
        .bind(failure.map(|f| f.reason.as_str()))
        .bind(next_attempt_at)
        .bind(now_micros())
        .bind(failure.map(|f| f.class.as_str()))
        .bind(failure.and_then(|f| f.code.as_deref()))
        .bind(failure.map(|f| f.provider.as_str()))
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Sends a failed, unknown or canceled message again: a new attempt of the same message
/// (`resends` + 1), due now. `None` when it is not in a state to retry.
pub async fn retry(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<MessageRow>> {
    const SQL: &str = concat!(
        "UPDATE messages SET status = 'queued', error = NULL, failure_class = NULL, failure_code = NULL, failure_provider = NULL, \
         next_attempt_at = $3, lease_until = NULL, resends = resends + 1, attempts = 0, updated_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND direction = 'out' AND status IN ('failed', 'unknown', 'canceled') RETURNING ",
        message_columns!()
    );
    let now = now_micros();
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).bind(now).fetch_optional(c).await)?)
}

/// Cancels a message that has not gone yet (scheduled, or queued and not claimed). `None` when
/// it is no longer pending.
pub async fn cancel(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<MessageRow>> {
    const SQL: &str = concat!(
        "UPDATE messages SET status = 'canceled', next_attempt_at = NULL, updated_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND status IN ('scheduled', 'queued') RETURNING ",
        message_columns!()
    );
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).bind(now_micros()).fetch_optional(c).await)?)
}

/// Changes a scheduled message before it goes: its (sealed) text, its time, or both. `None`
/// when it is no longer scheduled.
pub async fn reschedule(tx: &mut Tx, tenant_id: Uuid, id: Uuid, sealed_text: Option<&[u8]>, send_at: Option<i64>) -> StoreResult<Option<MessageRow>> {
    const SQL: &str = concat!(
        "UPDATE messages SET text = COALESCE($3, text), send_at = COALESCE($4, send_at), next_attempt_at = COALESCE($4, next_attempt_at), \
         updated_at = $5 WHERE tenant_id = $1 AND id = $2 AND status = 'scheduled' RETURNING ",
        message_columns!()
    );
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).bind(sealed_text).bind(send_at).bind(now_micros()).fetch_optional(c).await)?)
}

/// Holds a just-queued message until `send_at`.
pub async fn set_schedule<'a>(conn: impl Into<Conn<'a>>, id: Uuid, send_at: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE messages SET status = 'scheduled', send_at = $2, next_attempt_at = $2 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(send_at).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// The tenant's outbound messages in some statuses (the dead-letter view: failed and unknown;
/// the scheduled ones), newest first, optionally of one channel or conversation; `limit + 1`.
pub async fn by_status(
    db: &Db,
    tenant_id: Uuid,
    statuses: &[Status],
    channel_id: Option<Uuid>,
    conversation_id: Option<Uuid>,
    before: Option<Uuid>,
    limit: usize,
) -> StoreResult<Vec<MessageRow>> {
    // The statuses are the enum's own words, never the caller's text.
    let list = statuses.iter().map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(", ");
    let list = if list.is_empty() { "''".to_owned() } else { list };
    let sql = format!(
        concat!(
            "SELECT ", message_columns!(), " FROM messages WHERE tenant_id = $1 AND direction = 'out' AND private = FALSE \
             AND ($2 IS NULL OR channel_id = $2) AND ($3 IS NULL OR conversation_id = $3) AND ($4 IS NULL OR id < $4) \
             AND status IN ({}) ORDER BY id DESC LIMIT $5"
        ),
        list
    );
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(channel_id)
        .bind(conversation_id)
        .bind(before)
        .bind(limit as i64 + 1)
        .fetch_all(p)
        .await)?)
}

/// Replaces a message's (sealed) text; the updated row.
pub async fn update_text<'a>(conn: impl Into<Conn<'a>>, id: Uuid, sealed: &[u8]) -> StoreResult<Option<MessageRow>> {
    const SQL: &str = concat!("UPDATE messages SET text = $2, updated_at = $3 WHERE id = $1 RETURNING ", message_columns!());
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(id).bind(sealed).bind(now_micros()).fetch_optional(c).await)?)
}

/// Messages already stored under any of these (channel, external id) pairs.
pub async fn existing<'a>(conn: impl Into<Conn<'a>>, keys: &[(Uuid, &str)]) -> StoreResult<Vec<MessageRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        // A join with the key list, not `(a, b) IN (VALUES …)`: SQLite answers the latter with a
        // full scan of the table.
        "WITH k(channel_id, external_id) AS (VALUES {}) \
         SELECT m.id, m.tenant_id, m.conversation_id, m.contact_id, m.channel_id, m.direction, m.author_type, m.author_id, \
         m.external_id, m.text, m.private, m.purpose, m.status, m.error, m.created_at, m.updated_at, \
         m.failure_class, m.failure_code, m.failure_provider, m.send_at \
         FROM k JOIN messages m ON m.channel_id = k.channel_id AND m.external_id = k.external_id",
        conn.dialect().tuples(keys.len(), 2, 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for (channel, external) in keys {
            q = q.bind(*channel).bind(*external);
        }
        q.fetch_all(c).await
    })?)
}

/// Inserts many messages in one statement; returns the ids actually inserted (a (channel,
/// external id) stored meanwhile by another process is skipped).
pub async fn insert_many<'a>(conn: impl Into<Conn<'a>>, rows: &[NewMessage<'_>], now: i64) -> StoreResult<Vec<Uuid>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id, direction, author_type, author_id, \
         external_id, text, private, purpose, status, next_attempt_at, created_at, updated_at) VALUES {} \
         ON CONFLICT (channel_id, external_id) DO NOTHING RETURNING id",
        conn.dialect().tuples(rows.len(), 16, 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for m in rows {
            q = q
                .bind(m.id)
                .bind(m.tenant_id)
                .bind(m.conversation_id)
                .bind(m.contact_id)
                .bind(m.channel_id)
                .bind(m.direction)
                .bind(m.author_type)
                .bind(m.author_id)
                .bind(m.external_id)
                .bind(m.text)
                .bind(m.private)
                .bind(m.purpose)
                .bind(m.status)
                // Queued messages are due at once.
                .bind((m.status == "queued").then_some(now))
                .bind(now)
                .bind(now);
        }
        q.fetch_all(c).await
    })?)
}

/// Technical data of many messages: (message id, tenant id, sealed ip, sealed user agent).
pub type TechnicalRow = (Uuid, Uuid, Option<Vec<u8>>, Option<Vec<u8>>);

pub async fn insert_technical_many<'a>(conn: impl Into<Conn<'a>>, rows: &[TechnicalRow]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "INSERT INTO message_technical (message_id, tenant_id, ip, user_agent) VALUES {}",
        conn.dialect().tuples(rows.len(), 4, 1)
    );
    on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (message, tenant, ip, ua) in rows {
            q = q.bind(*message).bind(*tenant).bind(ip.as_deref()).bind(ua.as_deref());
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Addresses one of the hub's own messages to one identity of its contact, with a subject of
/// the hub's wording (never a visitor's text).
/// When the contact last wrote on the channel (microseconds), if ever.
pub async fn last_inbound_at<'a>(conn: impl Into<Conn<'a>>, contact_id: Uuid, channel_id: Uuid) -> StoreResult<Option<i64>> {
    const SQL: &str = "SELECT MAX(created_at) FROM messages WHERE contact_id = $1 AND channel_id = $2 AND direction = 'in'";
    let (at,): (Option<i64>,) = on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(contact_id).bind(channel_id).fetch_one(c).await)?;
    Ok(at)
}

/// The messages a channel sent a contact up to `until` (microseconds) that are not yet read:
/// what a delivery or read watermark covers.
pub async fn outbound_up_to(db: &Db, channel_id: Uuid, contact_id: Uuid, until: i64) -> StoreResult<Vec<MessageRow>> {
    const SQL: &str = concat!("SELECT ", message_columns!(), " FROM messages \
                       WHERE contact_id = $1 AND channel_id = $2 AND direction = 'out' AND status IN ('sent', 'delivered') AND created_at <= $3 \
                       ORDER BY created_at LIMIT 500");
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(contact_id).bind(channel_id).bind(until).fetch_all(p).await)?)
}

/// Marks a queued message as a template send (the template and parameters sealed) and the
/// message it quotes.
pub async fn set_template<'a>(conn: impl Into<Conn<'a>>, id: Uuid, sealed_template: Option<&[u8]>, quoted_id: Option<Uuid>) -> StoreResult<()> {
    const SQL: &str = "UPDATE messages SET template = $2, quoted_id = $3 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(sealed_template).bind(quoted_id).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Queues a sent message for a new attempt at `next_attempt_at` (the provider reported a failure
/// worth retrying), with the failure.
pub async fn resend(tx: &mut Tx, id: Uuid, failure: &Failure, next_attempt_at: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE messages SET status = 'queued', error = $2, failure_class = $5, failure_code = $6, failure_provider = $7, \
                       next_attempt_at = $3, lease_until = NULL, resends = resends + 1, updated_at = $4 WHERE id = $1";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL)
        .bind(id)
        .bind(&failure.reason)
        .bind(next_attempt_at)
        .bind(now_micros())
        .bind(failure.class.as_str())
        .bind(failure.code.as_deref())
        .bind(&failure.provider)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// How many times the send worker has tried the message.
pub async fn attempts<'a>(conn: impl Into<Conn<'a>>, id: Uuid) -> StoreResult<i64> {
    const SQL: &str = "SELECT attempts FROM messages WHERE id = $1";
    let found: Option<(i64,)> = on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(id).fetch_optional(c).await)?;
    Ok(found.map_or(0, |(a,)| a))
}

/// Records which earlier message each inbound message answers (the provider named it).
pub async fn set_quoted_many(tx: &mut Tx, pairs: &[(Uuid, Uuid)]) -> StoreResult<()> {
    const SQL: &str = "UPDATE messages SET quoted_id = $2 WHERE id = $1";
    for (id, quoted) in pairs {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(*id).bind(*quoted).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

/// The message each of `ids` answers, where one is known (one query for a page).
pub async fn quoted_for<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid]) -> StoreResult<Vec<(Uuid, Uuid)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!("SELECT id, quoted_id FROM messages WHERE quoted_id IS NOT NULL AND id IN ({})", conn.dialect().list(ids.len(), 1));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

pub async fn set_envelope<'a>(conn: impl Into<Conn<'a>>, id: Uuid, identity_id: Option<Uuid>, subject: Option<&str>) -> StoreResult<()> {
    const SQL: &str = "UPDATE messages SET recipient_identity_id = $2, subject = $3 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(identity_id).bind(subject).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// The latest message people can see (no private notes) of each of these conversations.
pub async fn latest_of(db: &Db, conversation_ids: &[Uuid]) -> StoreResult<Vec<MessageRow>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = Conn::from(db).dialect();
    let n = conversation_ids.len();
    let sql = format!(
        concat!("SELECT ", message_columns!(), " FROM messages WHERE private = FALSE AND conversation_id IN ({}) AND (conversation_id, created_at) IN \
         (SELECT conversation_id, MAX(created_at) FROM messages WHERE private = FALSE AND conversation_id IN ({}) GROUP BY conversation_id)"),
        dialect.list(n, 1),
        dialect.list(n, n + 1)
    );
    Ok(on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in conversation_ids.iter().chain(conversation_ids) {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?)
}

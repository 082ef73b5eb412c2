//! The search index's tables: documents (what is indexed, by number) and their terms (keyed
//! hashes). No text is stored here; the search module hashes before anything arrives.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, on_conn, on_db};

/// What a document indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocOf {
    Message(Uuid),
    /// A conversation's subject.
    Subject(Uuid),
    Contact(Uuid),
}

impl DocOf {
    pub fn kind(self) -> &'static str {
        match self {
            Self::Message(_) => "message",
            Self::Subject(_) => "subject",
            Self::Contact(_) => "contact",
        }
    }

    pub fn id(self) -> Uuid {
        match self {
            Self::Message(id) | Self::Subject(id) | Self::Contact(id) => id,
        }
    }
}

row_struct! {
    pub struct DocRow {
        doc: i64, kind: String, message_id: Option<Uuid>, conversation_id: Option<Uuid>, contact_id: Option<Uuid>, fingerprint: i64,
    }
}

impl DocRow {
    pub fn of(&self) -> Option<DocOf> {
        match self.kind.as_str() {
            "message" => self.message_id.map(DocOf::Message),
            "subject" => self.conversation_id.map(DocOf::Subject),
            "contact" => self.contact_id.map(DocOf::Contact),
            _ => None,
        }
    }
}

/// A document to insert.
pub struct NewDoc {
    pub doc: i64,
    pub tenant_id: Uuid,
    pub of: DocOf,
    pub fingerprint: i64,
}

/// The stored documents of these things.
pub async fn docs_of<'a>(conn: impl Into<Conn<'a>>, of: &[DocOf]) -> StoreResult<Vec<DocRow>> {
    if of.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let d = conn.dialect();
    let column = |k: &str| match k {
        "message" => "message_id",
        "subject" => "conversation_id",
        _ => "contact_id",
    };
    let mut clauses = Vec::new();
    let mut binds: Vec<Uuid> = Vec::new();
    for kind in ["message", "subject", "contact"] {
        let ids: Vec<Uuid> = of.iter().filter(|o| o.kind() == kind).map(|o| o.id()).collect();
        if !ids.is_empty() {
            clauses.push(format!("{} IN ({})", column(kind), d.list(ids.len(), binds.len() + 1)));
            binds.extend(ids);
        }
    }
    let sql = format!("SELECT doc, kind, message_id, conversation_id, contact_id, fingerprint FROM search_docs WHERE {}", clauses.join(" OR "));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in &binds {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// Which of these ids are still rows of `table` (`messages`, `conversations`, `contacts`).
pub async fn still_there<'a>(conn: impl Into<Conn<'a>>, table: &'static str, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!("SELECT id FROM {table} WHERE id IN ({})", conn.dialect().list(ids.len(), 1));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// Deletes documents (their terms go with them).
pub async fn delete_docs(tx: &mut Tx, docs: &[i64]) -> StoreResult<()> {
    for chunk in docs.chunks(500) {
        let conn = Conn::from(&mut *tx);
        let sql = format!("DELETE FROM search_docs WHERE doc IN ({})", conn.dialect().list(chunk.len(), 1));
        on_conn!(conn, |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for doc in chunk {
                q = q.bind(*doc);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Inserts documents; returns the numbers of those inserted (a number or a thing already
/// indexed leaves a document out).
pub async fn insert_docs(tx: &mut Tx, docs: &[NewDoc]) -> StoreResult<Vec<i64>> {
    let mut inserted = Vec::with_capacity(docs.len());
    for chunk in docs.chunks(200) {
        let conn = Conn::from(&mut *tx);
        let sql = format!(
            "INSERT INTO search_docs (doc, tenant_id, kind, message_id, conversation_id, contact_id, fingerprint) VALUES {} \
             ON CONFLICT DO NOTHING RETURNING doc",
            conn.dialect().tuples(chunk.len(), 7, 1)
        );
        let rows: Vec<i64> = on_conn!(conn, |c| {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                let id = d.of.id();
                q = q
                    .bind(d.doc)
                    .bind(d.tenant_id)
                    .bind(d.of.kind())
                    .bind(matches!(d.of, DocOf::Message(_)).then_some(id))
                    .bind(matches!(d.of, DocOf::Subject(_)).then_some(id))
                    .bind(matches!(d.of, DocOf::Contact(_)).then_some(id))
                    .bind(d.fingerprint);
            }
            q.fetch_all(c).await
        })?;
        inserted.extend(rows);
    }
    Ok(inserted)
}

/// Inserts (term, doc) entries.
pub async fn insert_terms(tx: &mut Tx, entries: &[(i64, i64)]) -> StoreResult<()> {
    for chunk in entries.chunks(20_000) {
        match tx {
            Tx::Sqlite(t, _) => {
                const SQL: &str = "INSERT INTO search_terms (term, doc) SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') \
                                   FROM json_each($1) WHERE TRUE ON CONFLICT DO NOTHING";
                let mut json = String::with_capacity(chunk.len() * 30);
                json.push('[');
                for (i, (term, doc)) in chunk.iter().enumerate() {
                    if i > 0 {
                        json.push(',');
                    }
                    json.push_str(&format!("[{term},{doc}]"));
                }
                json.push(']');
                sqlx::query(SQL).bind(json).execute(&mut **t).await?;
            }
            Tx::Pg(t) => {
                const SQL: &str = "INSERT INTO search_terms (term, doc) SELECT * FROM UNNEST($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING";
                let (terms, docs): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                sqlx::query(SQL).bind(terms).bind(docs).execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// At most `cap` of a term's entries, counted (to start from the rarest term).
pub async fn count_capped(db: &Db, term: i64, cap: i64) -> StoreResult<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM search_terms WHERE term = $1 LIMIT $2) AS t";
    Ok(on_db!(db, |p| sqlx::query_scalar(SQL).bind(term).bind(cap).fetch_one(p).await)?)
}

/// What a search looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Messages,
    /// Messages and subjects, as their conversations.
    Conversations,
    Contacts,
}

/// Narrows a search; `None` means "any".
#[derive(Debug, Default, Clone)]
pub struct SearchFilter {
    pub channel_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    /// The conversation's status.
    pub status: Option<String>,
    pub assignee_id: Option<Uuid>,
    pub unassigned: bool,
    /// Created at or after (microseconds).
    pub since: Option<i64>,
    /// Created before (microseconds).
    pub until: Option<i64>,
    /// Leave restricted contacts out (everyone but admins).
    pub hide_restricted: bool,
    /// The conversation (or, for contacts, the contact) carries this label.
    pub label_id: Option<Uuid>,
    /// The conversation is on one of this team's channels.
    pub team_id: Option<Uuid>,
}

row_struct! {
    /// One matching document.
    pub struct Hit {
        doc: i64, kind: String, message_id: Option<Uuid>, conversation_id: Option<Uuid>, contact_id: Uuid,
    }
}

/// Documents of the tenant holding every term, newest first, below `before`. `terms[0]` is
/// read in order; the others are checked per entry, so the rarest term should come first.
pub async fn matching(
    db: &Db,
    tenant_id: Uuid,
    target: Target,
    terms: &[i64],
    filter: &SearchFilter,
    before: Option<i64>,
    limit: usize,
) -> StoreResult<Vec<Hit>> {
    let Some((first, others)) = terms.split_first() else { return Ok(Vec::new()) };
    let dialect = Conn::from(db).dialect();
    let mut binds: Vec<Bind> = Vec::new();
    // Adds a bound value; returns its placeholder. SQLite's `?` are bound in the order they
    // appear, so placeholders must be written in the order they are made.
    let mut bind = |value: Bind| {
        binds.push(value);
        dialect.list(1, binds.len())
    };
    let (tenant, term) = (bind(Bind::Uuid(tenant_id)), bind(Bind::Int(*first)));
    let mut sql = match target {
        Target::Contacts => format!(
            "SELECT d.doc, d.kind, NULL AS message_id, NULL AS conversation_id, c.id AS contact_id \
             FROM search_terms t JOIN search_docs d ON d.doc = t.doc JOIN contacts c ON c.id = d.contact_id \
             WHERE d.tenant_id = {tenant} AND t.term = {term} AND d.kind = 'contact' AND c.merged_into IS NULL"
        ),
        Target::Messages | Target::Conversations => format!(
            "SELECT d.doc, d.kind, m.id AS message_id, v.id AS conversation_id, v.contact_id AS contact_id \
             FROM search_terms t JOIN search_docs d ON d.doc = t.doc \
             LEFT JOIN messages m ON m.id = d.message_id \
             JOIN conversations v ON v.id = COALESCE(m.conversation_id, d.conversation_id) \
             JOIN contacts c ON c.id = v.contact_id \
             WHERE d.tenant_id = {tenant} AND t.term = {term} AND d.kind IN ({})",
            if target == Target::Messages { "'message'" } else { "'message', 'subject'" }
        ),
    };
    // Each other term is probed per candidate by primary key. Written as a scalar subquery, not
    // EXISTS: PostgreSQL turns EXISTS into a semi-join that reads every entry of the other term
    // (a common word's hundred thousand) before the first row comes out.
    for other in others {
        sql.push_str(&format!(" AND (SELECT x.doc FROM search_terms x WHERE x.term = {} AND x.doc = t.doc) IS NOT NULL", bind(Bind::Int(*other))));
    }
    if let Some(before) = before {
        sql.push_str(&format!(" AND t.doc < {}", bind(Bind::Int(before))));
    }
    if filter.hide_restricted {
        sql.push_str(" AND NOT c.restricted");
    }
    if let Some(label) = filter.label_id {
        let (table, column, owner) = if target == Target::Contacts { ("contact_labels", "contact_id", "c.id") } else { ("conversation_labels", "conversation_id", "v.id") };
        sql.push_str(&format!(" AND EXISTS (SELECT 1 FROM {table} l WHERE l.{column} = {owner} AND l.label_id = {})", bind(Bind::Uuid(label))));
    }
    if target != Target::Contacts {
        let columns = [("v.channel_id", filter.channel_id), ("v.id", filter.conversation_id), ("v.contact_id", filter.contact_id), ("v.assignee_id", filter.assignee_id)];
        for (column, value) in columns {
            if let Some(value) = value {
                sql.push_str(&format!(" AND {column} = {}", bind(Bind::Uuid(value))));
            }
        }
        if filter.unassigned {
            sql.push_str(" AND v.assignee_id IS NULL");
        }
        if let Some(team) = filter.team_id {
            sql.push_str(&format!(" AND v.channel_id IN (SELECT tc.channel_id FROM team_channels tc WHERE tc.team_id = {})", bind(Bind::Uuid(team))));
        }
        if let Some(status) = &filter.status {
            sql.push_str(&format!(" AND v.status = {}", bind(Bind::Text(status.clone()))));
        }
        let at = if target == Target::Messages { "m.created_at" } else { "COALESCE(m.created_at, v.created_at)" };
        if let Some(since) = filter.since {
            sql.push_str(&format!(" AND {at} >= {}", bind(Bind::Int(since))));
        }
        if let Some(until) = filter.until {
            sql.push_str(&format!(" AND {at} < {}", bind(Bind::Int(until))));
        }
    }
    sql.push_str(&format!(" ORDER BY t.doc DESC LIMIT {}", bind(Bind::Int(limit as i64))));
    Ok(on_db!(db, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for bind in &binds {
            q = match bind {
                Bind::Uuid(v) => q.bind(*v),
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.clone()),
            };
        }
        q.fetch_all(c).await
    })?)
}

enum Bind {
    Uuid(Uuid),
    Int(i64),
    Text(String),
}

row_struct! {
    /// A stored message not indexed yet (for the backfill).
    pub struct UnindexedMessage {
        id: Uuid, tenant_id: Uuid, contact_id: Uuid, text: Vec<u8>, created_at: i64,
    }
}

/// Messages older than `before` (by id, newest first) that have no document yet.
pub async fn unindexed_messages(db: &Db, before: Option<Uuid>, limit: usize) -> StoreResult<(Vec<UnindexedMessage>, Option<Uuid>)> {
    const IDS: &str = "SELECT id FROM messages WHERE ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2";
    let ids: Vec<Uuid> = on_db!(db, |p| sqlx::query_scalar(IDS).bind(before).bind(limit as i64).fetch_all(p).await)?;
    let Some(last) = ids.last().copied() else { return Ok((Vec::new(), None)) };
    let dialect = Conn::from(db).dialect();
    let sql = format!(
        "SELECT m.id, m.tenant_id, m.contact_id, m.text, m.created_at FROM messages m \
         WHERE m.id IN ({}) AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.message_id = m.id)",
        dialect.list(ids.len(), 1)
    );
    let rows = on_db!(db, |p| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in &ids {
            q = q.bind(*id);
        }
        q.fetch_all(p).await
    })?;
    Ok((rows, Some(last)))
}

row_struct! {
    /// A conversation's sealed subject (for indexing).
    pub struct SubjectRow {
        id: Uuid, tenant_id: Uuid, contact_id: Uuid, subject: Vec<u8>, created_at: i64,
    }
}

/// The subjects of these conversations (those that have one).
pub async fn subjects<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid]) -> StoreResult<Vec<SubjectRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "SELECT id, tenant_id, contact_id, subject, created_at FROM conversations WHERE subject IS NOT NULL AND id IN ({})",
        conn.dialect().list(ids.len(), 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// Ids of a table (`conversations` with a subject, or `contacts` not merged away) below
/// `before`, newest first, with the tenant: a page for the backfill.
pub async fn backfill_page(db: &Db, table: &'static str, before: Option<Uuid>, limit: usize) -> StoreResult<Vec<(Uuid, Uuid)>> {
    let condition = if table == "conversations" { "subject IS NOT NULL" } else { "merged_into IS NULL" };
    let sql = format!("SELECT id, tenant_id FROM {table} WHERE {condition} AND ($1 IS NULL OR id < $1) ORDER BY id DESC LIMIT $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(before).bind(limit as i64).fetch_all(p).await)?)
}

/// Where the backfill of a kind of document stands: (cursor, done).
pub async fn backfill_state(db: &Db, kind: &str) -> StoreResult<(Option<Uuid>, bool)> {
    const SQL: &str = "SELECT cursor, done FROM search_backfill WHERE kind = $1";
    let row: Option<(Option<Uuid>, bool)> = on_db!(db, |p| sqlx::query_as(SQL).bind(kind).fetch_optional(p).await)?;
    Ok(row.unwrap_or((None, false)))
}

pub async fn save_backfill(tx: &mut Tx, kind: &str, cursor: Option<Uuid>, done: bool) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO search_backfill (kind, cursor, done) VALUES ($1, $2, $3) \
                       ON CONFLICT (kind) DO UPDATE SET cursor = excluded.cursor, done = excluded.done";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL).bind(kind).bind(cursor).bind(done).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// The index's size: (documents, term entries).
pub async fn size(db: &Db) -> StoreResult<(i64, i64)> {
    const DOCS: &str = "SELECT COUNT(*) FROM search_docs";
    const TERMS: &str = "SELECT COUNT(*) FROM search_terms";
    let docs = on_db!(db, |p| sqlx::query_scalar(DOCS).fetch_one(p).await)?;
    let terms = on_db!(db, |p| sqlx::query_scalar(TERMS).fetch_one(p).await)?;
    Ok((docs, terms))
}

/// Of these conversations, those with a document at or above `from` holding every term (shown
/// on an earlier page of a conversation search).
pub async fn with_match_from(db: &Db, conversation_ids: &[Uuid], terms: &[i64], from: i64) -> StoreResult<Vec<Uuid>> {
    if conversation_ids.is_empty() || terms.is_empty() {
        return Ok(Vec::new());
    }
    let dialect = Conn::from(db).dialect();
    let mut n = 0;
    let mut next = |count: usize| {
        let list = dialect.list(count, n + 1);
        n += count;
        list
    };
    let ids_a = next(conversation_ids.len());
    let from_a = next(1);
    let terms_a: Vec<String> = terms.iter().map(|_| next(1)).collect();
    let ids_b = next(conversation_ids.len());
    let from_b = next(1);
    let terms_b: Vec<String> = terms.iter().map(|_| next(1)).collect();
    let all = |placeholders: &[String]| {
        placeholders.iter().map(|p| format!(" AND (SELECT x.doc FROM search_terms x WHERE x.term = {p} AND x.doc = d.doc) IS NOT NULL")).collect::<String>()
    };
    let sql = format!(
        "SELECT m.conversation_id FROM messages m JOIN search_docs d ON d.message_id = m.id \
         WHERE m.conversation_id IN ({ids_a}) AND d.doc >= {from_a}{} \
         UNION SELECT d.conversation_id FROM search_docs d WHERE d.conversation_id IN ({ids_b}) AND d.doc >= {from_b}{}",
        all(&terms_a),
        all(&terms_b)
    );
    Ok(on_db!(db, |p| {
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
        for _ in 0..2 {
            for id in conversation_ids {
                q = q.bind(*id);
            }
            q = q.bind(from);
            for term in terms {
                q = q.bind(*term);
            }
        }
        q.fetch_all(p).await
    })?)
}

/// Makes the next backfill look through everything again (after rows were written around the
/// index, e.g. by the seeder).
pub async fn restart_backfill(db: &Db) -> StoreResult<()> {
    const SQL: &str = "DELETE FROM search_backfill";
    on_db!(db, |p| sqlx::query(SQL).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Bytes the index takes on disk (tables and their indexes), where the database can tell:
/// PostgreSQL always, SQLite when built with its `dbstat` table.
pub async fn bytes_on_disk(db: &Db) -> StoreResult<Option<i64>> {
    Ok(match db {
        Db::Pg(p) => Some(
            sqlx::query_scalar("SELECT (pg_total_relation_size('search_terms') + pg_total_relation_size('search_docs'))::bigint")
                .fetch_one(p)
                .await?,
        ),
        Db::Sqlite(p) => sqlx::query_scalar(
            "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('search_terms', 'search_terms_doc', 'search_docs', 'search_docs_message', 'search_docs_conversation', 'search_docs_contact')",
        )
        .fetch_one(p)
        .await
        .ok(),
    })
}

/// Messages stored (for per-message figures).
pub async fn message_count(db: &Db) -> StoreResult<i64> {
    Ok(on_db!(db, |p| sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(p).await)?)
}

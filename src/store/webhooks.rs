//! Webhook endpoints, their secrets, deliveries (one per endpoint and event) and attempts.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn};

const ENDPOINT_COLUMNS: &str = "id, tenant_id, url, description, event_types, thin_payload, country, transfer_mechanism, \
                                disabled, disabled_reason, first_failure_at, last_success_at, created_at, updated_at";

row_struct! {
    pub struct EndpointRow {
        id: Uuid, tenant_id: Uuid, url: String, description: String, event_types: Option<String>, thin_payload: bool,
        country: Option<String>, transfer_mechanism: Option<String>, disabled: bool, disabled_reason: Option<String>,
        first_failure_at: Option<i64>, last_success_at: Option<i64>, created_at: i64, updated_at: i64,
    }
}

impl EndpointRow {
    /// Whether this endpoint subscribed to `event_type` (no list: every type).
    pub fn wants(&self, event_type: &str) -> bool {
        match &self.event_types {
            None => true,
            Some(json) => serde_json::from_str::<Vec<String>>(json).map(|types| types.iter().any(|t| t == event_type)).unwrap_or(false),
        }
    }
}

row_struct! {
    pub struct SecretRow { id: Uuid, endpoint_id: Uuid, secret: Vec<u8>, created_at: i64, expires_at: Option<i64> }
}

const DELIVERY_COLUMNS: &str = "id, tenant_id, endpoint_id, event_id, event_type, contact_id, body, status, attempts, \
                                next_attempt_at, last_status_code, last_error, created_at, updated_at, delivered_at";

row_struct! {
    pub struct DeliveryRow {
        id: Uuid, tenant_id: Uuid, endpoint_id: Uuid, event_id: Uuid, event_type: String, contact_id: Option<Uuid>,
        body: Option<Vec<u8>>, status: String, attempts: i64, next_attempt_at: Option<i64>, last_status_code: Option<i64>,
        last_error: Option<String>, created_at: i64, updated_at: i64, delivered_at: Option<i64>,
    }
}

row_struct! {
    pub struct AttemptRow {
        id: Uuid, delivery_id: Uuid, attempt: i64, signed_at: i64, status_code: Option<i64>,
        latency_micros: i64, response_body: Option<String>, error: Option<String>, created_at: i64,
    }
}

row_struct! {
    /// An event's stored payload, as the delivery worker reads it.
    pub struct PayloadRow { id: Uuid, tenant_id: Uuid, contact_id: Option<Uuid>, payload: Vec<u8> }
}

// --- endpoints -------------------------------------------------------------------------------

pub async fn insert_endpoint<'a>(conn: impl Into<Conn<'a>>, e: &EndpointRow) -> StoreResult<()> {
    let sql = format!("INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)");
    on_conn!(conn.into(), |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(e.id)
        .bind(e.tenant_id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(&e.event_types)
        .bind(e.thin_payload)
        .bind(&e.country)
        .bind(&e.transfer_mechanism)
        .bind(e.disabled)
        .bind(&e.disabled_reason)
        .bind(e.first_failure_at)
        .bind(e.last_success_at)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Writes every changeable field of `e`.
pub async fn update_endpoint<'a>(conn: impl Into<Conn<'a>>, e: &EndpointRow) -> StoreResult<()> {
    const SQL: &str = "UPDATE webhook_endpoints SET url = $2, description = $3, event_types = $4, thin_payload = $5, country = $6, \
                       transfer_mechanism = $7, disabled = $8, disabled_reason = $9, first_failure_at = $10, \
                       last_success_at = $11, updated_at = $12 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL)
        .bind(e.id)
        .bind(&e.url)
        .bind(&e.description)
        .bind(&e.event_types)
        .bind(e.thin_payload)
        .bind(&e.country)
        .bind(&e.transfer_mechanism)
        .bind(e.disabled)
        .bind(&e.disabled_reason)
        .bind(e.first_failure_at)
        .bind(e.last_success_at)
        .bind(e.updated_at)
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn endpoint<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<EndpointRow>> {
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2");
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

/// Oldest first, after the cursor; `limit + 1` rows.
pub async fn endpoints<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, after: Option<Uuid>, limit: usize) -> StoreResult<Vec<EndpointRow>> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
    );
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(after)
        .bind(limit as i64 + 1)
        .fetch_all(c)
        .await)?)
}

/// Every endpoint of these tenants.
pub async fn endpoints_of_tenants<'a>(conn: impl Into<Conn<'a>>, tenants: &[Uuid]) -> StoreResult<Vec<EndpointRow>> {
    by_ids(conn.into(), "tenant_id", tenants).await
}

pub async fn endpoints_by_ids<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid]) -> StoreResult<Vec<EndpointRow>> {
    by_ids(conn.into(), "id", ids).await
}

/// The endpoints, locked against deletion until the transaction ends (PostgreSQL; SQLite's one
/// writer serializes anyway), always in id order so two lockers never wait on each other.
pub async fn lock_endpoints(tx: &mut Tx, ids: &[Uuid]) -> StoreResult<Vec<EndpointRow>> {
    let conn = Conn::from(&mut *tx);
    let lock = if matches!(conn.dialect(), super::Dialect::Postgres) { " ORDER BY id FOR NO KEY UPDATE" } else { "" };
    select_by_ids(conn, "id", ids, lock).await
}

async fn by_ids(conn: Conn<'_>, column: &str, ids: &[Uuid]) -> StoreResult<Vec<EndpointRow>> {
    select_by_ids(conn, column, ids, "").await
}

/// Endpoints whose `column` is one of `ids`; `tail` ends the statement (an order, a lock).
async fn select_by_ids(conn: Conn<'_>, column: &str, ids: &[Uuid], tail: &str) -> StoreResult<Vec<EndpointRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {column} IN ({}){tail}", conn.dialect().list(ids.len(), 1));
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// Deletes an endpoint with its secrets, deliveries and attempts; false when there was none.
pub async fn delete_endpoint(tx: &mut Tx, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    // Children first: SQLite enforces ON DELETE CASCADE only with foreign keys switched on.
    const CHILDREN: [&str; 3] = [
        "DELETE FROM webhook_attempts WHERE endpoint_id = $1",
        "DELETE FROM webhook_deliveries WHERE endpoint_id = $1",
        "DELETE FROM webhook_secrets WHERE endpoint_id = $1",
    ];
    const ENDPOINT: &str = "DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2";
    // The endpoint's row first: a delivery worker recording attempts locks it first too, so the
    // two take turns instead of deadlocking on the deliveries.
    if !lock_endpoints(tx, &[id]).await?.iter().any(|e| e.tenant_id == tenant_id) {
        return Ok(false);
    }
    for sql in CHILDREN {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(sql).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    }
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(ENDPOINT).bind(tenant_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(true)
}

// --- secrets ---------------------------------------------------------------------------------

pub async fn insert_secret<'a>(conn: impl Into<Conn<'a>>, id: Uuid, endpoint_id: Uuid, sealed: &[u8], now: i64) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO webhook_secrets (id, endpoint_id, secret, created_at, expires_at) VALUES ($1, $2, $3, $4, NULL)";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(endpoint_id).bind(sealed).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Secrets that still sign at `now` (the current one and old ones in their grace period).
pub async fn valid_secrets<'a>(conn: impl Into<Conn<'a>>, endpoint_ids: &[Uuid], now: i64) -> StoreResult<Vec<SecretRow>> {
    if endpoint_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "SELECT id, endpoint_id, secret, created_at, expires_at FROM webhook_secrets WHERE endpoint_id IN ({}) \
         AND (expires_at IS NULL OR expires_at > {}) ORDER BY created_at DESC",
        conn.dialect().list(endpoint_ids.len(), 1),
        conn.dialect().list(1, endpoint_ids.len() + 1),
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in endpoint_ids {
            q = q.bind(*id);
        }
        q.bind(now).fetch_all(c).await
    })?)
}

/// Retires the current secret: it keeps signing until `expires_at`. Expired secrets are deleted.
pub async fn retire_current_secret(tx: &mut Tx, endpoint_id: Uuid, now: i64, expires_at: i64) -> StoreResult<()> {
    const EXPIRE: &str = "UPDATE webhook_secrets SET expires_at = $2 WHERE endpoint_id = $1 AND expires_at IS NULL";
    const CLEAN: &str = "DELETE FROM webhook_secrets WHERE endpoint_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(CLEAN).bind(endpoint_id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(EXPIRE).bind(endpoint_id).bind(expires_at).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Old secrets still in their grace period.
pub async fn old_secret_count<'a>(conn: impl Into<Conn<'a>>, endpoint_id: Uuid, now: i64) -> StoreResult<i64> {
    const SQL: &str = "SELECT COUNT(*) FROM webhook_secrets WHERE endpoint_id = $1 AND expires_at IS NOT NULL AND expires_at > $2";
    Ok(on_conn!(conn.into(), |c| sqlx::query_scalar(SQL).bind(endpoint_id).bind(now).fetch_one(c).await)?)
}

// --- fan-out ---------------------------------------------------------------------------------

/// A delivery to create.
pub struct NewDelivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub contact_id: Option<Uuid>,
    pub body: Option<Vec<u8>>,
    /// `pending`, or `failed` when the endpoint is disabled (kept so it can be replayed).
    pub status: &'static str,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<&'static str>,
    /// Claimed at creation by the process that will post it now (its first attempt counted),
    /// until this time; `None` leaves it to be claimed when due.
    pub lease_until: Option<i64>,
}

impl NewDelivery {
    /// The row as stored, for a delivery claimed at creation.
    pub fn claimed_row(&self, now: i64) -> DeliveryRow {
        DeliveryRow {
            id: self.id,
            tenant_id: self.tenant_id,
            endpoint_id: self.endpoint_id,
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            contact_id: self.contact_id,
            body: self.body.clone(),
            status: self.status.to_owned(),
            attempts: i64::from(self.lease_until.is_some()),
            next_attempt_at: self.next_attempt_at,
            last_status_code: None,
            last_error: self.last_error.map(str::to_owned),
            created_at: now,
            updated_at: now,
            delivered_at: None,
        }
    }
}

/// Inserts deliveries (one per endpoint and event: repeats are ignored); returns the ids of
/// those inserted.
pub async fn insert_deliveries(tx: &mut Tx, rows: &[NewDelivery], now: i64) -> StoreResult<Vec<Uuid>> {
    const COLS: usize = 14;
    let mut inserted = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, contact_id, body, status, \
             next_attempt_at, last_error, lease_until, attempts, created_at, updated_at) VALUES {} \
             ON CONFLICT (endpoint_id, event_id) DO NOTHING RETURNING id",
            tx.dialect().tuples(chunk.len(), COLS, 1)
        );
        let ids: Vec<Uuid> = on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
            for d in chunk {
                q = q
                    .bind(d.id)
                    .bind(d.tenant_id)
                    .bind(d.endpoint_id)
                    .bind(d.event_id)
                    .bind(&d.event_type)
                    .bind(d.contact_id)
                    .bind(&d.body)
                    .bind(d.status)
                    .bind(d.next_attempt_at)
                    .bind(d.last_error)
                    .bind(d.lease_until)
                    .bind(i64::from(d.lease_until.is_some()))
                    .bind(now)
                    .bind(now);
            }
            q.fetch_all(c).await
        })?;
        inserted.extend(ids);
    }
    Ok(inserted)
}

// --- delivery --------------------------------------------------------------------------------

/// Claims up to `limit` due deliveries for `lease_micros`, counting the attempt.
/// Claims up to `limit` due deliveries in `tx` (a lease; their attempt counted).
pub async fn claim_due(tx: &mut Tx, lease_micros: i64, limit: usize) -> StoreResult<Vec<DeliveryRow>> {
    const INNER: &str = "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
                         AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_attempt_at LIMIT $3";
    let returning = format!("RETURNING {DELIVERY_COLUMNS}");
    let pg = format!(
        "UPDATE webhook_deliveries SET lease_until = $2, attempts = attempts + 1 WHERE id IN ({INNER} FOR UPDATE SKIP LOCKED) {returning}"
    );
    let sqlite = format!("UPDATE webhook_deliveries SET lease_until = $2, attempts = attempts + 1 WHERE id IN ({INNER}) {returning}");
    let now = now_micros();
    let sql = match tx {
        Tx::Pg(_) => pg,
        _ => sqlite,
    };
    Ok(on_conn!(Conn::from(tx), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now).bind(now + lease_micros).bind(limit as i64).fetch_all(c).await)?)
}

/// Hands claimed deliveries back unsent, due again at `until`: the attempt they were claimed
/// for is not counted.
pub async fn postpone<'a>(conn: impl Into<Conn<'a>>, ids: &[Uuid], until: i64) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "UPDATE webhook_deliveries SET lease_until = NULL, attempts = attempts - 1, next_attempt_at = $1 WHERE status = 'pending' AND id IN ({})",
        conn.dialect().list(ids.len(), 2)
    );
    on_conn!(conn, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(until);
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(c).await.map(|_| ())
    })?;
    Ok(())
}

/// The stored payloads of these events (sealed when they carry a contact id).
pub async fn payloads<'a>(conn: impl Into<Conn<'a>>, event_ids: &[Uuid]) -> StoreResult<Vec<PayloadRow>> {
    if event_ids.is_empty() {
        return Ok(Vec::new());
    }
    let conn: Conn = conn.into();
    let sql = format!(
        "SELECT id, tenant_id, contact_id, payload FROM outbox WHERE id IN ({})",
        conn.dialect().list(event_ids.len(), 1)
    );
    Ok(on_conn!(conn, |c| {
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for id in event_ids {
            q = q.bind(*id);
        }
        q.fetch_all(c).await
    })?)
}

/// How an attempt left a delivery.
pub struct DeliveryUpdate {
    pub id: Uuid,
    pub status: &'static str,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<i64>,
}

/// Records a delivery's new state; false when the delivery is gone (its endpoint deleted, its
/// contact erased) and there is nothing to record.
pub async fn update_delivery(tx: &mut Tx, u: &DeliveryUpdate, now: i64) -> StoreResult<bool> {
    const SQL: &str = "UPDATE webhook_deliveries SET status = $2, next_attempt_at = $3, last_status_code = $4, last_error = $5, \
                       delivered_at = COALESCE($6, delivered_at), lease_until = NULL, updated_at = $7 WHERE id = $1";
    let n = on_conn!(Conn::from(tx), |c| sqlx::query(SQL)
        .bind(u.id)
        .bind(u.status)
        .bind(u.next_attempt_at)
        .bind(u.last_status_code)
        .bind(&u.last_error)
        .bind(u.delivered_at)
        .bind(now)
        .execute(c).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// One attempt to record.
pub struct NewAttempt {
    pub id: Uuid,
    pub delivery_id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub contact_id: Option<Uuid>,
    pub attempt: i64,
    pub signed_at: i64,
    pub status_code: Option<i64>,
    pub latency_micros: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

pub async fn insert_attempts(tx: &mut Tx, rows: &[NewAttempt], now: i64) -> StoreResult<()> {
    const COLS: usize = 12;
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO webhook_attempts (id, delivery_id, tenant_id, endpoint_id, contact_id, attempt, signed_at, \
             status_code, latency_micros, response_body, error, created_at) VALUES {}",
            tx.dialect().tuples(chunk.len(), COLS, 1)
        );
        on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in chunk {
                q = q
                    .bind(a.id)
                    .bind(a.delivery_id)
                    .bind(a.tenant_id)
                    .bind(a.endpoint_id)
                    .bind(a.contact_id)
                    .bind(a.attempt)
                    .bind(a.signed_at)
                    .bind(a.status_code)
                    .bind(a.latency_micros)
                    .bind(&a.response_body)
                    .bind(&a.error)
                    .bind(now);
            }
            q.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

// --- reading and replay ----------------------------------------------------------------------

/// An endpoint's deliveries, newest first, before the cursor; `limit + 1` rows.
pub async fn deliveries<'a>(
    conn: impl Into<Conn<'a>>,
    endpoint_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: usize,
) -> StoreResult<Vec<DeliveryRow>> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(endpoint_id)
        .bind(status)
        .bind(before)
        .bind(limit as i64 + 1)
        .fetch_all(c)
        .await)?)
}

pub async fn delivery<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<DeliveryRow>> {
    let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE tenant_id = $1 AND id = $2");
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant_id).bind(id).fetch_optional(c).await)?)
}

/// A delivery's attempts, oldest first.
pub async fn attempts<'a>(conn: impl Into<Conn<'a>>, delivery_id: Uuid) -> StoreResult<Vec<AttemptRow>> {
    const SQL: &str = "SELECT id, delivery_id, attempt, signed_at, status_code, latency_micros, response_body, error, created_at \
                       FROM webhook_attempts WHERE delivery_id = $1 ORDER BY id";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(delivery_id).fetch_all(c).await)?)
}

/// Puts one delivery back in the queue, due now, with a fresh attempt chain.
pub async fn requeue<'a>(conn: impl Into<Conn<'a>>, id: Uuid, now: i64) -> StoreResult<()> {
    const SQL: &str = "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2, lease_until = NULL, \
                       updated_at = $2 WHERE id = $1";
    on_conn!(conn.into(), |c| sqlx::query(SQL).bind(id).bind(now).execute(c).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Re-queues every failed delivery of an endpoint created in `[since, until)`; returns how many.
pub async fn recover<'a>(conn: impl Into<Conn<'a>>, endpoint_id: Uuid, since: i64, until: i64, now: i64) -> StoreResult<u64> {
    const SQL: &str = "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $4, lease_until = NULL, \
                       updated_at = $4 WHERE endpoint_id = $1 AND status = 'failed' AND created_at >= $2 AND created_at < $3";
    Ok(on_conn!(conn.into(), |c| sqlx::query(SQL).bind(endpoint_id).bind(since).bind(until).bind(now).execute(c).await.map(|r| r.rows_affected()))?)
}

// --- housekeeping ----------------------------------------------------------------------------

/// Clears attempt response bodies and thin bodies older than `cutoff`, at most `limit` rows of
/// each per call; returns how many rows changed. (Event payloads go with the event log's own
/// retention.)
pub async fn purge_before(db: &Db, cutoff: i64, limit: usize) -> StoreResult<u64> {
    const ATTEMPTS: &str = "UPDATE webhook_attempts SET response_body = NULL WHERE id IN \
                            (SELECT id FROM webhook_attempts WHERE created_at < $1 AND response_body IS NOT NULL LIMIT $2)";
    const THIN: &str = "UPDATE webhook_deliveries SET body = NULL WHERE id IN \
                        (SELECT id FROM webhook_deliveries WHERE created_at < $1 AND body IS NOT NULL LIMIT $2)";
    let mut changed = 0;
    for sql in [ATTEMPTS, THIN] {
        changed += super::on_db!(db, |p| sqlx::query(sql).bind(cutoff).bind(limit as i64).execute(p).await.map(|r| r.rows_affected()))?;
    }
    Ok(changed)
}

/// Deliveries waiting to be attempted, and the creation time of the oldest.
pub async fn queue_stats(db: &Db) -> StoreResult<(i64, Option<i64>)> {
    const SQL: &str = "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status = 'pending'";
    Ok(super::on_db!(db, |p| sqlx::query_as(SQL).fetch_one(p).await)?)
}

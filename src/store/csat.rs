//! Satisfaction surveys.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct SurveyRow {
        id: Uuid, tenant_id: Uuid, conversation_id: Uuid, contact_id: Uuid, channel_id: Uuid, operator_id: Option<Uuid>,
        score: Option<i64>, created_at: i64, answered_at: Option<i64>
    }
}

const COLUMNS: &str = "id, tenant_id, conversation_id, contact_id, channel_id, operator_id, score, created_at, answered_at";

#[allow(clippy::too_many_arguments)]
pub async fn insert(tx: &mut Tx, id: Uuid, tenant_id: Uuid, conversation_id: Uuid, contact_id: Uuid, channel_id: Uuid, operator_id: Option<Uuid>, token_hash: &[u8]) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO csat_surveys (id, tenant_id, conversation_id, contact_id, channel_id, operator_id, token_hash, created_at) \
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    on_conn!(Conn::from(tx), |c| sqlx::query(SQL)
        .bind(id)
        .bind(tenant_id)
        .bind(conversation_id)
        .bind(contact_id)
        .bind(channel_id)
        .bind(operator_id)
        .bind(token_hash)
        .bind(now_micros())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

pub async fn by_token(db: &Db, token_hash: &[u8]) -> StoreResult<Option<SurveyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM csat_surveys WHERE token_hash = $1");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(token_hash).fetch_optional(p).await)?)
}

/// The survey a web chat visitor may answer: theirs, by id.
pub async fn for_contact(db: &Db, contact_id: Uuid, id: Uuid) -> StoreResult<Option<SurveyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM csat_surveys WHERE contact_id = $1 AND id = $2");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(contact_id).bind(id).fetch_optional(p).await)?)
}

/// Records the answer, once.
pub async fn answer(db: &Db, id: Uuid, score: i64, comment: Option<&[u8]>) -> StoreResult<bool> {
    const SQL: &str = "UPDATE csat_surveys SET score = $2, comment = $3, answered_at = $4 WHERE id = $1 AND answered_at IS NULL";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(id).bind(score).bind(comment).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// Answered surveys of a tenant in [from, to).
pub async fn answered(db: &Db, tenant_id: Uuid, from: i64, to: i64) -> StoreResult<Vec<SurveyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM csat_surveys WHERE tenant_id = $1 AND answered_at >= $2 AND answered_at < $3");
    Ok(on_db!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(tenant_id).bind(from).bind(to).fetch_all(p).await)?)
}

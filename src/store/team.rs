//! Operators' availability and capacity, and the choice of whom to assign next.

use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, Tx, now_micros, on_conn, on_db};

row_struct! {
    pub struct Availability {
        id: Uuid, availability: String, capacity: i64, daily_summary: bool, deactivated_at: Option<i64>, deleted_at: Option<i64>,
    }
}

pub async fn availability(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<Availability>> {
    const SQL: &str = "SELECT id, availability, capacity, daily_summary, deactivated_at, deleted_at FROM operators WHERE tenant_id = $1";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(tenant_id).fetch_all(p).await)?)
}

pub async fn set_availability(db: &Db, tenant_id: Uuid, id: Uuid, availability: &str, capacity: i64, daily_summary: bool) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operators SET availability = $3, capacity = $4, daily_summary = $5 WHERE tenant_id = $1 AND id = $2";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL)
        .bind(tenant_id)
        .bind(id)
        .bind(availability)
        .bind(capacity)
        .bind(daily_summary)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// The online operator to assign next: below capacity (open and pending conversations), the
/// one assigned longest ago (round robin) — among the members of the channel's team when the
/// channel has one, else among everyone. Marks them assigned now, in `tx`.
pub async fn next_assignee(tx: &mut Tx, tenant_id: Uuid, channel_id: Uuid) -> StoreResult<Option<Uuid>> {
    const PICK: &str = "SELECT o.id FROM operators o WHERE o.tenant_id = $1 AND o.availability = 'online' \
                        AND (SELECT COUNT(*) FROM conversations c WHERE c.tenant_id = $1 AND c.assignee_id = o.id AND c.status IN ('open', 'pending')) < o.capacity \
                        AND (NOT EXISTS (SELECT 1 FROM team_channels tc WHERE tc.channel_id = $2) \
                             OR o.id IN (SELECT m.operator_id FROM team_channels tc JOIN team_members m ON m.team_id = tc.team_id WHERE tc.channel_id = $2)) \
                        ORDER BY COALESCE(o.last_assigned_at, 0), o.id LIMIT 1";
    const MARK: &str = "UPDATE operators SET last_assigned_at = $2 WHERE id = $1";
    let picked: Option<Uuid> = on_conn!(Conn::from(&mut *tx), |c| sqlx::query_scalar(PICK).bind(tenant_id).bind(channel_id).fetch_optional(c).await)?;
    if let Some(id) = picked {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(MARK).bind(id).bind(now_micros()).execute(c).await.map(|r| r.rows_affected()))?;
    }
    Ok(picked)
}

row_struct! {
    pub struct TeamRow { id: Uuid, tenant_id: Uuid, name: String, created_at: i64 }
}

/// A team with its members and channels.
#[derive(Debug, Clone)]
pub struct Team {
    pub row: TeamRow,
    pub operator_ids: Vec<Uuid>,
    pub channel_ids: Vec<Uuid>,
}

pub async fn teams(db: &Db, tenant_id: Uuid) -> StoreResult<Vec<Team>> {
    const TEAMS: &str = "SELECT id, tenant_id, name, created_at FROM teams WHERE tenant_id = $1 ORDER BY name";
    const MEMBERS: &str = "SELECT m.team_id, m.operator_id FROM team_members m JOIN teams t ON t.id = m.team_id WHERE t.tenant_id = $1";
    const CHANNELS: &str = "SELECT c.team_id, c.channel_id FROM team_channels c JOIN teams t ON t.id = c.team_id WHERE t.tenant_id = $1";
    let rows: Vec<TeamRow> = on_db!(db, |p| sqlx::query_as(TEAMS).bind(tenant_id).fetch_all(p).await)?;
    let members: Vec<(Uuid, Uuid)> = on_db!(db, |p| sqlx::query_as(MEMBERS).bind(tenant_id).fetch_all(p).await)?;
    let channels: Vec<(Uuid, Uuid)> = on_db!(db, |p| sqlx::query_as(CHANNELS).bind(tenant_id).fetch_all(p).await)?;
    Ok(rows
        .into_iter()
        .map(|row| Team {
            operator_ids: members.iter().filter(|(t, _)| *t == row.id).map(|(_, o)| *o).collect(),
            channel_ids: channels.iter().filter(|(t, _)| *t == row.id).map(|(_, c)| *c).collect(),
            row,
        })
        .collect())
}

/// Creates or replaces a team (name, members, channels) in one transaction. A channel belongs
/// to one team at most: giving it to this team takes it from any other.
pub async fn save(db: &Db, tenant_id: Uuid, id: Uuid, name: &str, operator_ids: &[Uuid], channel_ids: &[Uuid]) -> StoreResult<()> {
    let mut tx = db.begin().await?;
    const UPSERT: &str = "INSERT INTO teams (id, tenant_id, name, created_at) VALUES ($1, $2, $3, $4) \
                          ON CONFLICT (id) DO UPDATE SET name = excluded.name";
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(UPSERT).bind(id).bind(tenant_id).bind(name).bind(now_micros()).execute(c).await.map(|_| ()))?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(id).execute(c).await.map(|_| ()))?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM team_channels WHERE team_id = $1").bind(id).execute(c).await.map(|_| ()))?;
    for operator in operator_ids {
        on_conn!(Conn::from(&mut tx), |c| sqlx::query("INSERT INTO team_members (team_id, operator_id) VALUES ($1, $2)")
            .bind(id)
            .bind(*operator)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    for channel in channel_ids {
        on_conn!(Conn::from(&mut tx), |c| sqlx::query(
            "INSERT INTO team_channels (channel_id, team_id) VALUES ($1, $2) ON CONFLICT (channel_id) DO UPDATE SET team_id = excluded.team_id"
        )
        .bind(*channel)
        .bind(id)
        .execute(c)
        .await
        .map(|_| ()))?;
    }
    tx.commit().await
}

pub async fn delete(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM team_members WHERE team_id = $1").bind(id).execute(c).await.map(|_| ()))?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM team_channels WHERE team_id = $1").bind(id).execute(c).await.map(|_| ()))?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query("DELETE FROM teams WHERE tenant_id = $1 AND id = $2")
        .bind(tenant_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

row_struct! {
    /// An operator who asked for the daily summary, with where to send it.
    pub struct SummaryRecipient { id: Uuid, tenant_id: Uuid, name: String, email: String, tenant_name: String }
}

/// Operators who opted in and have not had today's (`day`, YYYY-MM-DD) summary.
pub async fn summary_due(db: &Db, day: &str) -> StoreResult<Vec<SummaryRecipient>> {
    const SQL: &str = "SELECT o.id, o.tenant_id, o.name, o.email, t.name AS tenant_name FROM operators o JOIN tenants t ON t.id = o.tenant_id \
                       WHERE o.daily_summary AND o.email IS NOT NULL AND (o.summary_sent_on IS NULL OR o.summary_sent_on <> $1) ORDER BY o.id";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(day).fetch_all(p).await)?)
}

/// Takes today's summary of an operator for sending; false when another process took it.
pub async fn claim_summary(db: &Db, id: Uuid, day: &str) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operators SET summary_sent_on = $2 WHERE id = $1 AND daily_summary AND (summary_sent_on IS NULL OR summary_sent_on <> $2)";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(id).bind(day).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

/// The summary could not be sent: due again.
pub async fn unclaim_summary(db: &Db, id: Uuid) -> StoreResult<()> {
    const SQL: &str = "UPDATE operators SET summary_sent_on = NULL WHERE id = $1";
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(id).execute(c).await.map(|_| ()))?;
    tx.commit().await
}

/// Turns the daily summary off (the one-click opt-out).
pub async fn stop_summary(db: &Db, tenant_id: Uuid, id: Uuid) -> StoreResult<bool> {
    const SQL: &str = "UPDATE operators SET daily_summary = FALSE WHERE tenant_id = $1 AND id = $2";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(tenant_id).bind(id).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

row_struct! {
    /// A conversation an operator holds.
    pub struct HeldConversation { id: Uuid, status: String }
}

/// The not-resolved conversations assigned to an operator.
pub async fn held_conversations<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, operator_id: Uuid) -> StoreResult<Vec<HeldConversation>> {
    const SQL: &str = "SELECT id, status FROM conversations WHERE tenant_id = $1 AND assignee_id = $2 AND status <> 'resolved' ORDER BY id";
    Ok(on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(operator_id).fetch_all(c).await)?)
}

/// Deactivates an operator (offline, so nothing is assigned to them) or lets them back in.
pub async fn set_deactivated(tx: &mut Tx, tenant_id: Uuid, operator_id: Uuid, deactivated: bool) -> StoreResult<()> {
    const OFF: &str = "UPDATE operators SET deactivated_at = $3, availability = 'offline' WHERE tenant_id = $1 AND id = $2 AND deactivated_at IS NULL";
    const ON: &str = "UPDATE operators SET deactivated_at = NULL WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL";
    if deactivated {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(OFF).bind(tenant_id).bind(operator_id).bind(now_micros()).execute(c).await.map(|_| ()))?;
    } else {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(ON).bind(tenant_id).bind(operator_id).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

pub async fn set_role(tx: &mut Tx, tenant_id: Uuid, operator_id: Uuid, role: &str) -> StoreResult<()> {
    const SQL: &str = "UPDATE operators SET role = $3 WHERE tenant_id = $1 AND id = $2";
    on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(tenant_id).bind(operator_id).bind(role).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// Erases a deleted operator's personal data; the row stays so what they wrote keeps an author.
/// Their keys are revoked, their invitations, team places and password resets go.
pub async fn erase_operator(tx: &mut Tx, tenant_id: Uuid, operator_id: Uuid) -> StoreResult<()> {
    const ERASE: &str = "UPDATE operators SET name = 'Former operator', email = NULL, password_hash = NULL, signature = NULL, availability = 'offline', \
                         daily_summary = FALSE, deleted_at = $3, deactivated_at = COALESCE(deactivated_at, $3) WHERE tenant_id = $1 AND id = $2";
    const REVOKE: &str = "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND operator_id = $2 AND revoked_at IS NULL";
    const FORGET: &[&str] = &[
        "DELETE FROM operator_invitations WHERE tenant_id = $1 AND operator_id = $2",
        "DELETE FROM team_members WHERE operator_id = $2 AND EXISTS (SELECT 1 FROM teams t WHERE t.id = team_members.team_id AND t.tenant_id = $1)",
        "DELETE FROM password_resets WHERE tenant_id = $1 AND operator_id = $2",
        "DELETE FROM conversation_reads WHERE operator_id = $2 AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = conversation_reads.conversation_id AND c.tenant_id = $1)",
    ];
    let now = now_micros();
    for sql in [ERASE, REVOKE] {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(sql).bind(tenant_id).bind(operator_id).bind(now).execute(c).await.map(|_| ()))?;
    }
    for sql in FORGET {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(*sql).bind(tenant_id).bind(operator_id).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

/// An operator's own signature under their mail replies.
pub async fn signature<'a>(conn: impl Into<Conn<'a>>, tenant_id: Uuid, id: Uuid) -> StoreResult<Option<String>> {
    const SQL: &str = "SELECT signature FROM operators WHERE tenant_id = $1 AND id = $2";
    let found: Option<(Option<String>,)> = on_conn!(conn.into(), |c| sqlx::query_as(SQL).bind(tenant_id).bind(id).fetch_optional(c).await)?;
    Ok(found.and_then(|(s,)| s))
}

pub async fn set_signature(db: &Db, tenant_id: Uuid, id: Uuid, signature: Option<&str>) -> StoreResult<()> {
    const SQL: &str = "UPDATE operators SET signature = $3 WHERE tenant_id = $1 AND id = $2";
    on_db!(db, |p| sqlx::query(SQL).bind(tenant_id).bind(id).bind(signature).execute(p).await.map(|_| ()))?;
    Ok(())
}

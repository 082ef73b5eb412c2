//! Bulk writes for the seeding command (`omnibridge seed`): rows with their own creation times,
//! many per statement. Only the seeder uses these; the hub writes through its own paths.

use uuid::Uuid;

use super::{Conn, StoreResult, Tx, on_conn};

pub struct SeedChannel<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: &'a str,
    pub name: &'a str,
    pub created_at: i64,
}

pub struct SeedOperator<'a> {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub email: &'a str,
    pub created_at: i64,
}

pub struct SeedContact {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub wrapped_key: Vec<u8>,
    pub generation: i64,
    pub name: Vec<u8>,
    pub identity_id: Uuid,
    pub kind: &'static str,
    pub address_index: Vec<u8>,
    pub address: Vec<u8>,
    pub created_at: i64,
}

pub struct SeedConversation {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub contact_id: Uuid,
    pub channel_id: Uuid,
    pub status: &'static str,
    pub assignee_id: Option<Uuid>,
    pub created_at: i64,
    pub last_message_at: i64,
}

pub struct SeedMessage {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub conversation_id: Uuid,
    pub contact_id: Uuid,
    pub channel_id: Uuid,
    pub inbound: bool,
    pub author_id: Option<Uuid>,
    pub text: Vec<u8>,
    pub created_at: i64,
}

pub async fn channels(tx: &mut Tx, rows: &[SeedChannel<'_>]) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO channels (id, tenant_id, kind, name, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, '{}', $5, $5)";
    for r in rows {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(r.id).bind(r.tenant_id).bind(r.kind).bind(r.name).bind(r.created_at).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

pub async fn operators(tx: &mut Tx, rows: &[SeedOperator<'_>]) -> StoreResult<()> {
    const SQL: &str = "INSERT INTO operators (id, tenant_id, name, email, role, availability, created_at) VALUES ($1, $2, $3, $4, 'agent', 'offline', $5)";
    for r in rows {
        on_conn!(Conn::from(&mut *tx), |c| sqlx::query(SQL).bind(r.id).bind(r.tenant_id).bind(r.name).bind(r.email).bind(r.created_at).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

pub async fn contacts(tx: &mut Tx, rows: &[SeedContact]) -> StoreResult<()> {
    for chunk in rows.chunks(500) {
        let d = tx.dialect();
        let keys = format!("INSERT INTO data_keys (contact_id, tenant_id, wrapped, created_at, generation) VALUES {}", d.tuples(chunk.len(), 5, 1));
        let contacts = format!("INSERT INTO contacts (id, tenant_id, name, created_at, updated_at) VALUES {}", d.tuples(chunk.len(), 5, 1));
        let identities = format!(
            "INSERT INTO identities (id, tenant_id, contact_id, kind, address_index, address, status, created_at) VALUES {}",
            d.tuples(chunk.len(), 8, 1)
        );
        on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(keys));
            for r in chunk {
                q = q.bind(r.id).bind(r.tenant_id).bind(&r.wrapped_key).bind(r.created_at).bind(r.generation);
            }
            q.execute(c).await.map(|_| ())
        })?;
        on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(contacts));
            for r in chunk {
                q = q.bind(r.id).bind(r.tenant_id).bind(&r.name).bind(r.created_at).bind(r.created_at);
            }
            q.execute(c).await.map(|_| ())
        })?;
        on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(identities));
            for r in chunk {
                q = q.bind(r.identity_id).bind(r.tenant_id).bind(r.id).bind(r.kind).bind(&r.address_index).bind(&r.address).bind("verified").bind(r.created_at);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

pub async fn conversations(tx: &mut Tx, rows: &[SeedConversation]) -> StoreResult<()> {
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO conversations (id, tenant_id, contact_id, channel_id, status, assignee_id, created_at, updated_at, last_message_at, resolved_at) VALUES {}",
            tx.dialect().tuples(chunk.len(), 10, 1)
        );
        on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.tenant_id)
                    .bind(r.contact_id)
                    .bind(r.channel_id)
                    .bind(r.status)
                    .bind(r.assignee_id)
                    .bind(r.created_at)
                    .bind(r.last_message_at)
                    .bind(r.last_message_at)
                    .bind((r.status == "resolved").then_some(r.last_message_at));
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

pub async fn messages(tx: &mut Tx, rows: &[SeedMessage]) -> StoreResult<()> {
    for chunk in rows.chunks(500) {
        let sql = format!(
            "INSERT INTO messages (id, tenant_id, conversation_id, contact_id, channel_id, direction, author_type, author_id, \
             external_id, text, private, purpose, status, created_at, updated_at) VALUES {}",
            tx.dialect().tuples(chunk.len(), 15, 1)
        );
        on_conn!(Conn::from(&mut *tx), |c| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for r in chunk {
                q = q
                    .bind(r.id)
                    .bind(r.tenant_id)
                    .bind(r.conversation_id)
                    .bind(r.contact_id)
                    .bind(r.channel_id)
                    .bind(if r.inbound { "in" } else { "out" })
                    .bind(if r.inbound { "contact" } else { "operator" })
                    .bind(r.author_id)
                    .bind(r.inbound.then(|| r.id.simple().to_string()))
                    .bind(&r.text)
                    .bind(false)
                    .bind("service")
                    .bind(if r.inbound { "received" } else { "delivered" })
                    .bind(r.created_at)
                    .bind(r.created_at);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

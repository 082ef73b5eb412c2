//! Channels' message templates, as last synced from the provider.

use omnibridge_channel::Template;
use uuid::Uuid;

use super::rows::row_struct;
use super::{Conn, Db, StoreResult, now_micros, on_conn, on_db};

row_struct! {
    pub struct TemplateRow {
        name: String, language: String, category: String, status: String, components: String, synced_at: i64,
    }
}

impl TemplateRow {
    pub fn template(&self) -> Template {
        Template {
            name: self.name.clone(),
            language: self.language.clone(),
            category: self.category.clone(),
            status: self.status.clone(),
            components: serde_json::from_str(&self.components).unwrap_or(serde_json::Value::Array(Vec::new())),
        }
    }
}

pub async fn list(db: &Db, channel_id: Uuid) -> StoreResult<Vec<TemplateRow>> {
    const SQL: &str = "SELECT name, language, category, status, components, synced_at FROM channel_templates WHERE channel_id = $1 ORDER BY name, language";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(channel_id).fetch_all(p).await)?)
}

pub async fn get(db: &Db, channel_id: Uuid, name: &str, language: &str) -> StoreResult<Option<TemplateRow>> {
    const SQL: &str = "SELECT name, language, category, status, components, synced_at FROM channel_templates \
                       WHERE channel_id = $1 AND name = $2 AND language = $3";
    Ok(on_db!(db, |p| sqlx::query_as(SQL).bind(channel_id).bind(name).bind(language).fetch_optional(p).await)?)
}

/// Replaces the channel's templates with what the provider listed.
pub async fn replace(db: &Db, tenant_id: Uuid, channel_id: Uuid, templates: &[Template]) -> StoreResult<()> {
    const DELETE: &str = "DELETE FROM channel_templates WHERE channel_id = $1";
    const INSERT: &str = "INSERT INTO channel_templates (channel_id, tenant_id, name, language, category, status, components, synced_at) \
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (channel_id, name, language) DO UPDATE SET \
                          category = EXCLUDED.category, status = EXCLUDED.status, components = EXCLUDED.components, synced_at = EXCLUDED.synced_at";
    let now = now_micros();
    let mut tx = db.begin().await?;
    on_conn!(Conn::from(&mut tx), |c| sqlx::query(DELETE).bind(channel_id).execute(c).await.map(|r| r.rows_affected()))?;
    for t in templates {
        let components = t.components.to_string();
        on_conn!(Conn::from(&mut tx), |c| sqlx::query(INSERT)
            .bind(channel_id)
            .bind(tenant_id)
            .bind(&t.name)
            .bind(&t.language)
            .bind(&t.category)
            .bind(&t.status)
            .bind(&components)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
    }
    tx.commit().await
}

/// The provider changed one template's status; an empty `language` means every language.
pub async fn set_status(db: &Db, channel_id: Uuid, name: &str, language: &str, status: &str) -> StoreResult<u64> {
    const SQL: &str = "UPDATE channel_templates SET status = $4 WHERE channel_id = $1 AND name = $2 AND ($3 = '' OR language = $3)";
    let mut tx = db.begin().await?;
    let n = on_conn!(Conn::from(&mut tx), |c| sqlx::query(SQL).bind(channel_id).bind(name).bind(language).bind(status).execute(c).await.map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n)
}

//! Embedded migrations, one folder per backend with the same versions in both.
//!
//! A small migrator of our own rather than `sqlx::migrate!`: the macro drags sqlx's whole
//! proc-macro stack (a second SQLite and TLS build) into every compile. Each migration runs in
//! its own transaction; on PostgreSQL an advisory lock keeps concurrently starting hub processes
//! from applying the same migration twice.

use super::{Db, StoreError, StoreResult, now_micros, on_db};

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub const SQLITE: &[Migration] =
    &[
    Migration { version: 1, name: "core", sql: include_str!("../../migrations/sqlite/0001_core.sql") },
    Migration { version: 2, name: "webhooks", sql: include_str!("../../migrations/sqlite/0002_webhooks.sql") },
    Migration { version: 3, name: "email", sql: include_str!("../../migrations/sqlite/0003_email.sql") },
    Migration { version: 4, name: "sms_consent", sql: include_str!("../../migrations/sqlite/0004_sms_consent.sql") },
    Migration { version: 5, name: "telegram", sql: include_str!("../../migrations/sqlite/0005_telegram.sql") },
    Migration { version: 6, name: "consent", sql: include_str!("../../migrations/sqlite/0006_consent.sql") },
    Migration { version: 7, name: "routing", sql: include_str!("../../migrations/sqlite/0007_routing.sql") },
    Migration { version: 8, name: "privacy", sql: include_str!("../../migrations/sqlite/0008_privacy.sql") },
    Migration { version: 9, name: "console", sql: include_str!("../../migrations/sqlite/0009_console.sql") },
    Migration { version: 10, name: "ip_allow_list", sql: include_str!("../../migrations/sqlite/0010_ip_allow_list.sql") },
    Migration { version: 11, name: "team", sql: include_str!("../../migrations/sqlite/0011_team.sql") },
    Migration { version: 12, name: "stats", sql: include_str!("../../migrations/sqlite/0012_stats.sql") },
    Migration { version: 13, name: "business_hours", sql: include_str!("../../migrations/sqlite/0013_business_hours.sql") },
    Migration { version: 14, name: "csat", sql: include_str!("../../migrations/sqlite/0014_csat.sql") },
    Migration { version: 15, name: "conversation_merge", sql: include_str!("../../migrations/sqlite/0015_conversation_merge.sql") },
    Migration { version: 16, name: "team_directory", sql: include_str!("../../migrations/sqlite/0016_team_directory.sql") },
    Migration { version: 17, name: "cluster", sql: include_str!("../../migrations/sqlite/0017_cluster.sql") },
    Migration { version: 18, name: "key_root", sql: include_str!("../../migrations/sqlite/0018_key_root.sql") },
    Migration { version: 19, name: "security", sql: include_str!("../../migrations/sqlite/0019_security.sql") },
    Migration { version: 20, name: "channel_kinds", sql: include_str!("../../migrations/sqlite/0020_channel_kinds.sql") },
    Migration { version: 21, name: "event_log", sql: include_str!("../../migrations/sqlite/0021_event_log.sql") },
    Migration { version: 22, name: "identity_lookup", sql: include_str!("../../migrations/sqlite/0022_identity_lookup.sql") },
    Migration { version: 23, name: "messenger_channels", sql: include_str!("../../migrations/sqlite/0023_messenger_channels.sql") },
    Migration { version: 24, name: "resends", sql: include_str!("../../migrations/sqlite/0024_resends.sql") },
    Migration { version: 25, name: "delivery", sql: include_str!("../../migrations/sqlite/0025_delivery.sql") },
    Migration { version: 26, name: "undeliverable", sql: include_str!("../../migrations/sqlite/0026_undeliverable.sql") },
    Migration { version: 27, name: "participants", sql: include_str!("../../migrations/sqlite/0027_participants.sql") },
    Migration { version: 28, name: "reads", sql: include_str!("../../migrations/sqlite/0028_reads.sql") },
    Migration { version: 29, name: "search", sql: include_str!("../../migrations/sqlite/0029_search.sql") },
    Migration { version: 30, name: "labels", sql: include_str!("../../migrations/sqlite/0030_labels.sql") },
    Migration { version: 31, name: "attributes", sql: include_str!("../../migrations/sqlite/0031_attributes.sql") },
    Migration { version: 32, name: "contact_terms", sql: include_str!("../../migrations/sqlite/0032_contact_terms.sql") },
    Migration { version: 33, name: "tenant_keys", sql: include_str!("../../migrations/sqlite/0033_tenant_keys.sql") },
    Migration { version: 34, name: "tenant_exports", sql: include_str!("../../migrations/sqlite/0034_tenant_exports.sql") },
];

pub const POSTGRES: &[Migration] =
    &[
    Migration { version: 1, name: "core", sql: include_str!("../../migrations/postgres/0001_core.sql") },
    Migration { version: 2, name: "webhooks", sql: include_str!("../../migrations/postgres/0002_webhooks.sql") },
    Migration { version: 3, name: "email", sql: include_str!("../../migrations/postgres/0003_email.sql") },
    Migration { version: 4, name: "sms_consent", sql: include_str!("../../migrations/postgres/0004_sms_consent.sql") },
    Migration { version: 5, name: "telegram", sql: include_str!("../../migrations/postgres/0005_telegram.sql") },
    Migration { version: 6, name: "consent", sql: include_str!("../../migrations/postgres/0006_consent.sql") },
    Migration { version: 7, name: "routing", sql: include_str!("../../migrations/postgres/0007_routing.sql") },
    Migration { version: 8, name: "privacy", sql: include_str!("../../migrations/postgres/0008_privacy.sql") },
    Migration { version: 9, name: "console", sql: include_str!("../../migrations/postgres/0009_console.sql") },
    Migration { version: 10, name: "ip_allow_list", sql: include_str!("../../migrations/postgres/0010_ip_allow_list.sql") },
    Migration { version: 11, name: "team", sql: include_str!("../../migrations/postgres/0011_team.sql") },
    Migration { version: 12, name: "stats", sql: include_str!("../../migrations/postgres/0012_stats.sql") },
    Migration { version: 13, name: "business_hours", sql: include_str!("../../migrations/postgres/0013_business_hours.sql") },
    Migration { version: 14, name: "csat", sql: include_str!("../../migrations/postgres/0014_csat.sql") },
    Migration { version: 15, name: "conversation_merge", sql: include_str!("../../migrations/postgres/0015_conversation_merge.sql") },
    Migration { version: 16, name: "team_directory", sql: include_str!("../../migrations/postgres/0016_team_directory.sql") },
    Migration { version: 17, name: "cluster", sql: include_str!("../../migrations/postgres/0017_cluster.sql") },
    Migration { version: 18, name: "key_root", sql: include_str!("../../migrations/postgres/0018_key_root.sql") },
    Migration { version: 19, name: "security", sql: include_str!("../../migrations/postgres/0019_security.sql") },
    Migration { version: 20, name: "channel_kinds", sql: include_str!("../../migrations/postgres/0020_channel_kinds.sql") },
    Migration { version: 21, name: "event_log", sql: include_str!("../../migrations/postgres/0021_event_log.sql") },
    Migration { version: 22, name: "identity_lookup", sql: include_str!("../../migrations/postgres/0022_identity_lookup.sql") },
    Migration { version: 23, name: "messenger_channels", sql: include_str!("../../migrations/postgres/0023_messenger_channels.sql") },
    Migration { version: 24, name: "resends", sql: include_str!("../../migrations/postgres/0024_resends.sql") },
    Migration { version: 25, name: "delivery", sql: include_str!("../../migrations/postgres/0025_delivery.sql") },
    Migration { version: 26, name: "undeliverable", sql: include_str!("../../migrations/postgres/0026_undeliverable.sql") },
    Migration { version: 27, name: "participants", sql: include_str!("../../migrations/postgres/0027_participants.sql") },
    Migration { version: 28, name: "reads", sql: include_str!("../../migrations/postgres/0028_reads.sql") },
    Migration { version: 29, name: "search", sql: include_str!("../../migrations/postgres/0029_search.sql") },
    Migration { version: 30, name: "labels", sql: include_str!("../../migrations/postgres/0030_labels.sql") },
    Migration { version: 31, name: "attributes", sql: include_str!("../../migrations/postgres/0031_attributes.sql") },
    Migration { version: 32, name: "contact_terms", sql: include_str!("../../migrations/postgres/0032_contact_terms.sql") },
    Migration { version: 33, name: "tenant_keys", sql: include_str!("../../migrations/postgres/0033_tenant_keys.sql") },
    Migration { version: 34, name: "tenant_exports", sql: include_str!("../../migrations/postgres/0034_tenant_exports.sql") },
];

/// The newest migration this build knows (both backends know the same ones).
pub fn known_schema_version() -> i64 {
    SQLITE.last().map(|m| m.version).unwrap_or(0)
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS omnibridge_migrations \
    (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
const MIGRATION_LOCK: i64 = 0x6f6d_6e69_6272_6467;

impl Db {
    /// Applies every migration the database has not seen yet; returns how many ran.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let migrations = match self {
            Db::Sqlite(_) => SQLITE,
            Db::Pg(_) => POSTGRES,
        };
        on_db!(self, |p| sqlx::query(CREATE_TABLE).execute(p).await.map(|r| r.rows_affected()))?;
        let _lock = match self {
            Db::Pg(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
                Some(conn)
            }
            Db::Sqlite(_) => None,
        };
        let applied: Vec<i64> =
            on_db!(self, |p| sqlx::query_scalar("SELECT version FROM omnibridge_migrations ORDER BY version").fetch_all(p).await)?;
        if let Some(unknown) = applied.iter().find(|v| !migrations.iter().any(|m| m.version == **v)) {
            return Err(StoreError::UnknownMigration(*unknown));
        }
        let mut ran = 0;
        for m in migrations.iter().filter(|m| !applied.contains(&m.version)) {
            self.apply(m).await.map_err(|source| StoreError::Migration { version: m.version, source })?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
            ran += 1;
        }
        if let (Some(mut conn), Db::Pg(_)) = (_lock, self) {
            sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        }
        Ok(ran)
    }

    async fn apply(&self, m: &Migration) -> Result<(), sqlx::Error> {
        const RECORD: &str = "INSERT INTO omnibridge_migrations (version, name, applied_at) VALUES ($1, $2, $3)";
        on_db!(self, |p| {
            let mut tx = p.begin().await?;
            sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
            sqlx::query(RECORD).bind(m.version).bind(m.name).bind(now_micros()).execute(&mut *tx).await?;
            tx.commit().await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_migrations() {
        let versions = |ms: &[Migration]| ms.iter().map(|m| (m.version, m.name)).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        let files = |dir: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .expect("migrations folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let root = env!("CARGO_MANIFEST_DIR");
        assert_eq!(files(&format!("{root}/migrations/sqlite")), files(&format!("{root}/migrations/postgres")));
        assert_eq!(files(&format!("{root}/migrations/sqlite")).len(), SQLITE.len());
    }
}

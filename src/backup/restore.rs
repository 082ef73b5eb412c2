//! Restoring a backup: into an empty place only, checked completely before anything is written
//! there, migrated forward, and with every erasure the journal holds since the backup done again
//! before the hub serves.

use std::path::{Path, PathBuf};

use serde::Serialize;
use uuid::Uuid;

use super::{BackupError, DatabaseCopy, Manifest, io_at, open, take_copy};
use crate::privacy::tombstones::{Entry, Journal, Tombstone};
use crate::privacy::{Keyring, SecretKey};
use crate::store::privacy::PurgeKind;
use crate::store::snapshots::{self, Inspection};
use crate::store::{Conn, Db, on_db};

/// Erasures journaled this long before a backup began are done again too: one may have been
/// journaled just before the copy and committed just after it. Doing one twice changes nothing.
const JOURNAL_OVERLAP_US: i64 = 5 * 60 * 1_000_000;

/// Where a backup goes.
#[derive(Debug, Clone)]
pub struct Target {
    /// The new data directory: SQLite files go here, and the master key file when the master key
    /// is not configured otherwise.
    pub data_dir: PathBuf,
    /// The main database; unset: `sqlite://DATA_DIR/omnibridge.db` (SQLite backups only).
    pub database_url: Option<String>,
    /// Other databases by their name in the manifest (`region:ch`); unset for SQLite:
    /// `DATA_DIR/region-ch.db`.
    pub others: Vec<(String, String)>,
}

/// A restore to run.
pub struct Restore<'a> {
    pub file: &'a Path,
    pub key: &'a SecretKey,
    /// The master key the backed-up data is sealed under (to re-apply erasures and check it opens).
    pub master: SecretKey,
    /// Whether the master key comes from a file (then it is written into the new data directory).
    pub master_from_file: bool,
    pub journal: Journal,
    pub target: Target,
}

/// What a restore did.
#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub backup_created_at: String,
    pub schema_version: i64,
    pub migrations_applied: usize,
    pub databases: Vec<RestoredDatabase>,
    /// Erasures, tenant deletions and purges done since the backup, done again.
    pub tombstones_applied: Vec<AppliedTombstone>,
    /// Journal lines that could not be read (cut off by a crash).
    pub tombstones_unreadable: usize,
    pub master_key_file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub struct RestoredDatabase {
    pub name: String,
    pub url: String,
    #[serde(flatten)]
    pub contents: Inspection,
}

#[derive(Debug, Serialize)]
pub struct AppliedTombstone {
    pub at: String,
    #[serde(flatten)]
    pub tombstone: Tombstone,
    /// Rows removed now (0: already gone in the backup).
    pub rows: u64,
}

/// The newest migration this build knows.
fn newest_known() -> i64 {
    crate::store::known_schema_version()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

struct Placed {
    name: String,
    url: String,
    staged: PathBuf,
    copy: DatabaseCopy,
}

/// Restores a backup (see the module documentation). On any error before the copies are put in
/// place, nothing of the target is changed.
pub async fn restore(r: Restore<'_>, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<RestoreReport, BackupError> {
    let (manifest, mut reader) = open(r.file, r.key)?;
    let newest = newest_known();
    if manifest.schema_version > newest {
        return Err(BackupError::Invalid(format!(
            "this backup comes from a newer omnibridge ({}, schema {}) than this one (schema {newest}): restore it with omnibridge {} or later",
            manifest.omnibridge,
            manifest.schema_version,
            manifest.omnibridge
        )));
    }
    let dir = &r.target.data_dir;
    let made_dir = !dir.exists();
    let result = async {
        let mut placed = plan(&manifest, &r.target).await?;
        std::fs::create_dir_all(dir).map_err(io_at(dir))?;
        // Every copy is read out and checked before any of them goes in place.
        let total = manifest.databases.iter().map(|d| d.bytes).sum();
        let mut done = 0;
        for p in &mut placed {
            take_copy(&mut reader, &p.copy, Some(&p.staged), r.file, &mut done, total, progress)?;
        }
        let mut rest = [0u8; 1];
        if std::io::Read::read(&mut reader, &mut rest).map_err(super::sealed_or(r.file))? != 0 {
            return Err(BackupError::Invalid(format!("{}: holds more than its manifest lists", r.file.display())));
        }
        Ok(placed)
    }
    .await;
    let placed = match result {
        Ok(placed) => placed,
        Err(e) => {
            if made_dir {
                let _ = std::fs::remove_dir_all(dir);
            } else {
                for copy in &manifest.databases {
                    let _ = std::fs::remove_file(staged_path(dir, &copy.name));
                }
            }
            return Err(e);
        }
    };
    // In place.
    let mut dbs = Vec::new();
    let mut migrations_applied = 0;
    for p in &placed {
        if p.copy.format == "sqlite" {
            let dest = crate::store::sqlite_file(&p.url).ok_or_else(|| BackupError::Invalid(format!("{}: not a SQLite file URL", p.url)))?;
            if let Some(parent) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(io_at(parent))?;
            }
            std::fs::rename(&p.staged, &dest).map_err(io_at(&dest))?;
        } else {
            let loaded = snapshots::postgres_load(&p.url, &p.staged).await;
            let _ = std::fs::remove_file(&p.staged);
            loaded?;
        }
        let db = Db::connect_without_migrating(&crate::store::DbOptions {
            url: p.url.clone(),
            max_connections: 2,
            sqlite_synchronous: "normal".into(),
            sqlite_manual_checkpoints: false,
        })
        .await?;
        migrations_applied += db.migrate().await?;
        dbs.push((p.name.clone(), p.url.clone(), db));
    }
    let outcome = finish(&r, &manifest, &dbs, migrations_applied).await;
    for (_, _, db) in dbs {
        db.close().await;
    }
    outcome
}

fn staged_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".restoring-{}", name.replace([':', ','], "-")))
}

/// Where each copy goes; refuses a place that is not empty or of the other backend.
async fn plan(manifest: &Manifest, target: &Target) -> Result<Vec<Placed>, BackupError> {
    let mut placed = Vec::new();
    for copy in &manifest.databases {
        let given = if copy.name == "main" {
            target.database_url.clone()
        } else {
            target.others.iter().find(|(n, _)| *n == copy.name || format!("region:{n}") == copy.name).map(|(_, u)| u.clone())
        };
        let url = match (given, copy.format.as_str()) {
            (Some(url), _) => url,
            (None, "sqlite") if copy.name == "main" => sqlite_url(&target.data_dir.join("omnibridge.db")),
            (None, "sqlite") => sqlite_url(&target.data_dir.join(format!("{}.db", copy.name.replace([':', ','], "-")))),
            (None, _) => {
                let flag = if copy.name == "main" { "--database-url".to_owned() } else { format!("--database {}=postgres://…", copy.name.trim_start_matches("region:")) };
                return Err(BackupError::Invalid(format!("the {} database is a PostgreSQL dump: name an empty PostgreSQL database to restore it into with {flag}", copy.name)));
            }
        };
        let sqlite = url.starts_with("sqlite:");
        if sqlite != (copy.format == "sqlite") {
            return Err(BackupError::Invalid(format!(
                "the {} database was backed up from {}; restore it into a {} database (the other backend's tenants move with `omnibridge tenant export`)",
                copy.name,
                if copy.format == "sqlite" { "SQLite" } else { "PostgreSQL" },
                if copy.format == "sqlite" { "SQLite" } else { "PostgreSQL" }
            )));
        }
        if sqlite {
            let file = crate::store::sqlite_file(&url).ok_or_else(|| BackupError::Invalid(format!("{url}: not a SQLite file URL")))?;
            if file.exists() {
                return Err(BackupError::Invalid(format!("{} already exists: a backup is restored into an empty place only", file.display())));
            }
        } else if !snapshots::postgres_prepare_empty(&url).await? {
            return Err(BackupError::Invalid(format!("{} is not empty: a backup is restored into an empty database only", crate::config::redact_url(&url))));
        }
        placed.push(Placed { name: copy.name.clone(), staged: staged_path(&target.data_dir, &copy.name), url, copy: copy.clone() });
    }
    Ok(placed)
}

/// After the copies are in place: the master key checked (and kept), erasures done again, the
/// restored contents counted.
async fn finish(r: &Restore<'_>, manifest: &Manifest, dbs: &[(String, String, Db)], migrations_applied: usize) -> Result<RestoreReport, BackupError> {
    let main = &dbs.first().ok_or_else(|| BackupError::Invalid("the backup holds no database".into()))?.2;
    let generations = crate::privacy::rotation::generations(main, &r.master)
        .await
        .map_err(|_| BackupError::Invalid("the master key does not open this backup's key roots: restore with the master key it was written under (OMNIBRIDGE_MASTER_KEY)".into()))?;
    let keyring = Keyring::with_generations(generations);
    for (_, _, db) in dbs {
        check_master(db, &keyring).await?;
    }
    let master_key_file = if r.master_from_file {
        let path = r.target.data_dir.join("master.key");
        if !path.exists() {
            crate::privacy::write_master_key(&r.target.data_dir, &r.master).map_err(|e| BackupError::Invalid(e.to_string()))?;
        }
        Some(path)
    } else {
        None
    };
    let (entries, unreadable) = r.journal.since(manifest.created_at_us - JOURNAL_OVERLAP_US).map_err(|e| BackupError::Invalid(e.to_string()))?;
    let mut applied = Vec::new();
    for entry in entries {
        let mut rows = 0;
        for (_, _, db) in dbs {
            rows += reapply(db, &keyring, &entry).await?;
        }
        applied.push(AppliedTombstone { at: crate::domain::rfc3339(entry.at), tombstone: entry.tombstone, rows });
    }
    let mut databases = Vec::new();
    for (name, url, db) in dbs {
        db.wipe_log().await?;
        databases.push(RestoredDatabase { name: name.clone(), url: crate::config::redact_url(url), contents: snapshots::inspect(Conn::Pool(db)).await? });
    }
    Ok(RestoreReport {
        backup_created_at: manifest.created_at.clone(),
        schema_version: manifest.schema_version,
        migrations_applied,
        databases,
        tombstones_applied: applied,
        tombstones_unreadable: unreadable,
        master_key_file,
    })
}

/// The master key must open the contacts' keys, or the restored hub could read nothing.
async fn check_master(db: &Db, keyring: &Keyring) -> Result<(), BackupError> {
    let sample: Option<(Uuid, Uuid, Vec<u8>)> = on_db!(db, |p| sqlx::query_as(
        "SELECT tenant_id, contact_id, wrapped FROM data_keys WHERE wrapped IS NOT NULL ORDER BY contact_id LIMIT 1"
    )
    .fetch_optional(p)
    .await)
    .map_err(crate::store::StoreError::from)?;
    if let Some((tenant_id, contact_id, wrapped)) = sample
        && keyring.unwrap_data_key(tenant_id, contact_id, &wrapped).is_err()
    {
        return Err(BackupError::Invalid(
            "the master key does not open this backup's data: restore with the master key it was written under (OMNIBRIDGE_MASTER_KEY)".into(),
        ));
    }
    Ok(())
}

/// Does one journaled deletion again; the rows it removed.
async fn reapply(db: &Db, keyring: &Keyring, entry: &Entry) -> Result<u64, BackupError> {
    Ok(match &entry.tombstone {
        Tombstone::ContactErased { tenant_id, contact_id } => {
            if crate::store::contacts::contact(db, *tenant_id, *contact_id).await?.is_none() {
                return Ok(0);
            }
            let mut tx = db.begin().await?;
            let (erased, _) = crate::rights::erasure::erase_rows(&mut tx, keyring, *tenant_id, *contact_id, None).await?;
            tx.commit().await?;
            erased.messages + erased.conversations + erased.identities + erased.attachments
        }
        Tombstone::TenantDeleted { tenant_id } => {
            let mut tx = db.begin().await?;
            let rows = crate::store::privacy::delete_tenant(&mut tx, *tenant_id).await?;
            tx.commit().await?;
            rows
        }
        Tombstone::RetentionPurge { tenant_id, category, before } => match PurgeKind::from_name(category) {
            Some(kind) => crate::store::privacy::purge(db, *tenant_id, kind, *before, false).await?,
            None => 0,
        },
    })
}

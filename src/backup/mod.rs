//! Backups: a consistent copy of every database of the configuration, sealed into one file with
//! a manifest; checked without restoring; restored into an empty place, migrated forward, with
//! every erasure done since the backup done again before the hub serves.
//!
//! A backup file is a [`sealed`] stream holding, in order: the manifest (length-prefixed JSON)
//! and each database copy (SQLite: the file `VACUUM INTO` wrote; PostgreSQL: a `pg_dump` custom
//! archive). The manifest gives each copy's size and SHA-256, its tenants and row counts.
//!
//! What is not in a backup, on purpose: the master key (a backup and its key must not be lost
//! or stolen together; keep the key apart, as the README says), and the erasure journal (it
//! must outlive the data it corrects; see [`crate::privacy::tombstones`]). The search index
//! is in the copy, so a restored hub searches at once.

pub mod exports;
pub mod sealed;
mod restore;
pub mod tenant;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::privacy::SecretKey;
use crate::store::snapshots::{self, Inspection, SnapshotError};
use sealed::{Kind, KeySource, SealedError, SealedReader, SealedWriter};

pub use restore::{Restore, RestoreReport, Target, restore};

/// This build's backup manifest format.
pub const MANIFEST_FORMAT: u32 = 1;

/// What a backup holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The omnibridge version that wrote it.
    pub omnibridge: String,
    /// When the copies were taken (RFC 3339), and the same in microseconds since the epoch.
    pub created_at: String,
    pub created_at_us: i64,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest schema migration among the copies.
    pub schema_version: i64,
    /// Which key it is sealed under: `master` or `backup key`.
    pub sealed_under: String,
    pub databases: Vec<DatabaseCopy>,
}

/// One database's copy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseCopy {
    /// `main`, or the regions whose own database this is (`region:ch`).
    pub name: String,
    /// `sqlite` (a database file) or `pg_dump` (a custom-format archive).
    pub format: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(flatten)]
    pub contents: Inspection,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Sealed(#[from] SealedError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn io_at(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_owned(), source }
}

/// The key a backup is sealed under: the one given, else `backup.key`, else the master key.
pub fn key(config: &Config, given: Option<&str>) -> anyhow::Result<(SecretKey, KeySource)> {
    if let Some(text) = given.or(config.backup.key.as_deref()) {
        let key = crate::privacy::parse_master_key(text).map_err(|_| anyhow::anyhow!("--key: must be 32 bytes as 64 hex characters or base64"))?;
        return Ok((key, KeySource::Supplied));
    }
    Ok((crate::master_key(config)?, KeySource::Master))
}

/// The name each configured database goes by in a backup, with its URL; the main one first.
pub fn databases(config: &Config) -> Vec<(String, String)> {
    crate::runtime::regions::database_urls(config)
        .into_iter()
        .map(|url| {
            if url == config.database_url {
                return ("main".to_owned(), url);
            }
            let regions: Vec<&str> = config.regions.iter().filter(|(_, r)| r.database_url.as_deref() == Some(url.as_str())).map(|(n, _)| n.as_str()).collect();
            (format!("region:{}", regions.join(",")), url)
        })
        .collect()
}

/// What `backup create` did.
#[derive(Debug, Serialize)]
pub struct Created {
    pub file: PathBuf,
    pub bytes: u64,
    pub manifest: Manifest,
}

/// Takes a backup of every database of `config` into `out` while the hub may be serving.
/// Copies are staged beside `out` and removed afterwards; `out` appears only when complete.
pub async fn create(config: &Config, out: &Path, key: &SecretKey, source: KeySource, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Created, BackupError> {
    if out.exists() {
        return Err(BackupError::Invalid(format!("{} already exists; a backup is never written over a file", out.display())));
    }
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let staging = Staging::new(dir)?;
    let created_at_us = crate::store::now_micros();
    let mut copies = Vec::new();
    let mut files = Vec::new();
    for (i, (name, url)) in databases(config).into_iter().enumerate() {
        let path = staging.path().join(format!("db{i}"));
        let (format, contents) = if url.starts_with("sqlite:") {
            // Copied as it is: a backup never migrates what it copies.
            let db = crate::store::Db::connect_without_migrating(&crate::db_options_for(config, &url)).await?;
            let inspected = snapshots::sqlite_copy(&db, &path).await;
            db.close().await;
            ("sqlite", inspected?)
        } else {
            ("pg_dump", snapshots::postgres_dump(&url, &path).await?)
        };
        let (bytes, sha256) = digest_file(&path)?;
        copies.push(DatabaseCopy { name, format: format.to_owned(), bytes, sha256, contents });
        files.push(path);
    }
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        omnibridge: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: crate::domain::rfc3339(created_at_us),
        created_at_us,
        backend: if config.database_url.starts_with("sqlite:") { "sqlite" } else { "postgres" }.to_owned(),
        sealed_under: match source {
            KeySource::Master => "master key",
            KeySource::Supplied => "backup key",
        }
        .to_owned(),
        schema_version: copies.iter().map(|d| d.contents.schema_version).max().unwrap_or(0),
        databases: copies,
    };
    let partial = staging.path().join("backup.partial");
    let total: u64 = manifest.databases.iter().map(|d| d.bytes).sum();
    {
        let file = std::fs::File::create(&partial).map_err(io_at(&partial))?;
        let mut w = SealedWriter::new(std::io::BufWriter::new(file), Kind::Backup, source, key).map_err(io_at(&partial))?;
        let json = serde_json::to_vec(&manifest).map_err(|e| BackupError::Invalid(e.to_string()))?;
        w.write_all(&(json.len() as u32).to_le_bytes()).and_then(|_| w.write_all(&json)).map_err(io_at(&partial))?;
        let mut done = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        for path in &files {
            let mut input = std::fs::File::open(path).map_err(io_at(path))?;
            loop {
                let n = input.read(&mut buf).map_err(io_at(path))?;
                if n == 0 {
                    break;
                }
                w.write_all(&buf[..n]).map_err(io_at(&partial))?;
                done += n as u64;
                progress(done, total);
            }
        }
        let inner = w.finish().map_err(io_at(&partial))?;
        let file = inner.into_inner().map_err(|e| BackupError::Io { path: partial.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io_at(&partial))?;
    }
    std::fs::rename(&partial, out).map_err(io_at(out))?;
    let bytes = std::fs::metadata(out).map_err(io_at(out))?.len();
    Ok(Created { file: out.to_owned(), bytes, manifest })
}

/// A folder for copies on their way into a backup, removed when dropped.
struct Staging(PathBuf);

impl Staging {
    fn new(beside: &Path) -> Result<Self, BackupError> {
        let path = beside.join(format!(".omnibridge-backup-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir(&path).map_err(io_at(&path))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn digest_file(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = std::fs::File::open(path).map_err(io_at(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = file.read(&mut buf).map_err(io_at(path))?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
        n += k as u64;
    }
    Ok((n, hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Opens a backup and reads its manifest; the copies follow in the returned reader.
pub fn open(file: &Path, key: &SecretKey) -> Result<(Manifest, SealedReader<std::io::BufReader<std::fs::File>>), BackupError> {
    let input = std::fs::File::open(file).map_err(io_at(file))?;
    let mut reader = SealedReader::open(std::io::BufReader::new(input), Kind::Backup, key)?;
    let mut len = [0u8; 4];
    reader.read_exact(&mut len).map_err(sealed_or(file))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 64 << 20 {
        return Err(BackupError::Invalid(format!("{}: the manifest is damaged", file.display())));
    }
    let mut json = vec![0u8; len];
    reader.read_exact(&mut json).map_err(sealed_or(file))?;
    let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| BackupError::Invalid(format!("{}: the manifest does not parse: {e}", file.display())))?;
    if manifest.format > MANIFEST_FORMAT {
        return Err(BackupError::Invalid(format!("{}: written by a newer omnibridge ({}); upgrade to restore it", file.display(), manifest.omnibridge)));
    }
    Ok((manifest, reader))
}

fn sealed_or(file: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| match SealedError::from_io(e) {
        SealedError::Io(source) => BackupError::Io { path: file.to_owned(), source },
        other => BackupError::Sealed(other),
    }
}

/// Reads one copy out of an open backup into `dest` (or nowhere), checking its size and digest.
fn take_copy(reader: &mut impl Read, copy: &DatabaseCopy, dest: Option<&Path>, file: &Path, done: &mut u64, total: u64, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<(), BackupError> {
    let mut out = match dest {
        Some(path) => Some(std::io::BufWriter::new(std::fs::File::create(path).map_err(io_at(path))?)),
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut left = copy.bytes;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = reader.read(&mut buf[..want]).map_err(sealed_or(file))?;
        if n == 0 {
            return Err(BackupError::Sealed(SealedError::Truncated));
        }
        hasher.update(&buf[..n]);
        if let (Some(w), Some(path)) = (out.as_mut(), dest) {
            w.write_all(&buf[..n]).map_err(io_at(path))?;
        }
        left -= n as u64;
        *done += n as u64;
        progress(*done, total);
    }
    if hex(&hasher.finalize()) != copy.sha256 {
        return Err(BackupError::Invalid(format!("{}: the copy of the {} database does not match its checksum", file.display(), copy.name)));
    }
    if let (Some(w), Some(path)) = (out, dest) {
        let f = w.into_inner().map_err(|e| BackupError::Io { path: path.to_owned(), source: e.into_error() })?;
        f.sync_all().map_err(io_at(path))?;
    }
    Ok(())
}

/// Checks a backup end to end without restoring it: the key, every chunk's authenticity, each
/// copy's size and checksum, nothing after the end. Returns the manifest.
pub fn verify(file: &Path, key: &SecretKey, progress: &(dyn Fn(u64, u64) + Sync)) -> Result<Manifest, BackupError> {
    let (manifest, mut reader) = open(file, key)?;
    let total = manifest.databases.iter().map(|d| d.bytes).sum();
    let mut done = 0;
    for copy in &manifest.databases {
        take_copy(&mut reader, copy, None, file, &mut done, total, progress)?;
    }
    let mut rest = [0u8; 1];
    match reader.read(&mut rest).map_err(sealed_or(file))? {
        0 => Ok(manifest),
        _ => Err(BackupError::Invalid(format!("{}: holds more than its manifest lists", file.display()))),
    }
}

//! Tenant exports on an admin's request (`POST /v1/tenant/exports`): the same file as
//! `omnibridge tenant export`, written in the background into `data_dir/exports/TENANT/`,
//! then downloadable through a link that works for `backup.export_link_hours` — like a
//! pre-signed URL, the link itself is the credential, so it can be handed to a download tool.
//! Expired files are deleted; so are a tenant's files when the tenant is.
//!
//! The files sit on the disk of the process that wrote them: behind a load balancer with
//! several hub processes, route `/downloads/` to that process (the export names it) or share
//! the data directory.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use uuid::Uuid;

use crate::config::Config;
use crate::hub::Hub;
use crate::privacy::{Keyring, SecretKey};
use crate::store::exports::{self, ExportRow};
use crate::store::{Db, StoreError, now_micros};

const PURPOSE: &str = "tenant-export";
/// An export still pending after this long was being written by a process that stopped.
const STALE: Duration = Duration::from_secs(24 * 3600);

/// The folder of a tenant's export files.
pub fn folder(config: &Config, tenant_id: Uuid) -> PathBuf {
    config.tenant_exports_dir(tenant_id)
}

fn file(config: &Config, tenant_id: Uuid, id: Uuid) -> PathBuf {
    folder(config, tenant_id).join(format!("{id}.export"))
}

/// An export as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExportView {
    pub id: Uuid,
    /// `pending`, `ready`, `failed` or `expired`.
    pub status: String,
    pub error: Option<String>,
    pub bytes: Option<i64>,
    /// Rows the file holds, all tables together.
    pub rows: Option<i64>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    /// When the download link stops working (and the file is deleted).
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Present while the export is ready: no API key needed, the link is the credential.
    pub download_url: Option<String>,
}

pub fn view(config: &Config, keyring: &Keyring, row: &ExportRow) -> ExportView {
    let download_url = (row.status == "ready" && row.expires_at.is_some_and(|at| at > now_micros())).then(|| {
        let token = keyring.link_token(PURPOSE, row.tenant_id, row.id, row.id);
        format!("{}/downloads/exports/{}?token={token}", config.public_base_url(), row.id)
    });
    ExportView {
        id: row.id,
        status: row.status.clone(),
        error: row.error.clone(),
        bytes: row.bytes,
        rows: row.row_count,
        created_at: crate::domain::rfc3339(row.created_at),
        completed_at: row.completed_at.map(crate::domain::rfc3339),
        expires_at: row.expires_at.map(crate::domain::rfc3339),
        download_url,
    }
}

/// Records the request and starts writing the export in the background.
pub async fn start(hub: &Arc<Hub>, tenant_id: Uuid, requested_by: Option<Uuid>, transport: SecretKey) -> Result<ExportRow, StoreError> {
    let id = Uuid::now_v7();
    let row = exports::insert(&hub.db, id, tenant_id, requested_by).await?;
    let hub = hub.clone();
    tokio::spawn(async move {
        let path = file(&hub.config, tenant_id, id);
        let written = async {
            std::fs::create_dir_all(folder(&hub.config, tenant_id)).map_err(super::tenant::MoveError::Io)?;
            super::tenant::export(&hub.db, &hub.keyring, tenant_id, &path, &transport).await
        }
        .await;
        let recorded = match written {
            Ok(moved) => {
                let bytes = std::fs::metadata(&path).map(|m| m.len() as i64).unwrap_or_default();
                let rows = moved.rows.values().sum::<u64>() as i64;
                let expires_at = now_micros() + hub.config.backup.export_link_hours as i64 * 3_600_000_000;
                exports::finish(&hub.db, id, bytes, rows, expires_at).await
            }
            Err(err) => {
                tracing::warn!(%tenant_id, export = %id, error = %err, "a tenant export failed");
                let _ = std::fs::remove_file(&path);
                exports::fail(&hub.db, id, &err.to_string()).await
            }
        };
        if let Err(err) = recorded {
            tracing::warn!(export = %id, error = %err, "recording a tenant export's outcome failed");
        }
    });
    Ok(row)
}

/// Why a download is refused.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("no such export, or the link is not valid")]
    NotFound,
    #[error("the export is {0}, not ready")]
    NotReady(String),
    #[error("the download link has expired; request a new export")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The export a download link names, and its file, if the link is genuine and current.
pub async fn open(db: &Db, keyring: &Keyring, config: &Config, id: Uuid, token: &str) -> Result<(ExportRow, PathBuf), DownloadError> {
    let row = exports::by_id(db, id).await?.ok_or(DownloadError::NotFound)?;
    if keyring.verify_link_token(PURPOSE, row.tenant_id, row.id, token) != Some(row.id) {
        return Err(DownloadError::NotFound);
    }
    match row.status.as_str() {
        "ready" if row.expires_at.is_some_and(|at| at > now_micros()) => {}
        "ready" | "expired" => return Err(DownloadError::Expired),
        other => return Err(DownloadError::NotReady(other.to_owned())),
    }
    let path = file(config, row.tenant_id, row.id);
    if !path.exists() {
        return Err(DownloadError::NotFound);
    }
    Ok((row, path))
}

/// Deletes the files of expired exports (and marks exports whose writer stopped as failed).
pub async fn sweep(db: &Db, config: &Config) -> Result<usize, StoreError> {
    let now = now_micros();
    let gone = exports::expire(db, now, now - STALE.as_micros() as i64).await?;
    for (tenant_id, id) in &gone {
        let _ = std::fs::remove_file(file(config, *tenant_id, *id));
    }
    Ok(gone.len())
}

/// The sweep, every ten minutes.
pub async fn run(db: Db, config: Arc<Config>, stop: tokio_util::sync::CancellationToken) {
    loop {
        if let Err(err) = sweep(&db, &config).await {
            tracing::warn!(error = %err, "sweeping expired tenant exports failed");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}

//! What the administrative commands do, apart from argument parsing: create tenants and keys
//! directly in the database, so they work with or without a running server.

use serde::Serialize;
use uuid::Uuid;

use crate::api::auth::issue_key;
use crate::domain::Role;
use crate::policy::registry::Registry;
use crate::regions::Databases;
use crate::store::Db;

#[derive(Debug, Serialize)]
pub struct CreatedTenant {
    pub tenant_id: Uuid,
    pub api_key: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedKey {
    pub key_id: Uuid,
    pub api_key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("no randomness available: {0}")]
    Random(getrandom::Error),
}

pub fn valid_region(region: &str) -> Result<(), CliError> {
    let ok = (2..=16).contains(&region.len()) && region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok { Ok(()) } else { Err(CliError::Invalid(format!("--region {region:?}: use a short lower-case code such as eu, us or au"))) }
}

/// Creates a tenant with an administrator operator and an admin API key (shown once). The
/// tenant is told of the subprocessor registry as it stands (no announcement for what exists
/// at sign-up).
pub async fn create_tenant(dbs: &Databases, registry: &Registry, name: &str, region: &str) -> Result<CreatedTenant, CliError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(CliError::Invalid("NAME: must be 1 to 200 characters".into()));
    }
    valid_region(region)?;
    let Some(db) = dbs.for_region(region) else {
        return Err(CliError::Invalid(format!("--region {region:?}: not configured; add [regions.{region}] to the configuration")));
    };
    // The tenant's rows go to its region; only then is it listed in the directory.
    let tenant = db.insert_tenant(name, region).await?;
    dbs.main().insert_directory_entry(&tenant).await?;
    let operator = db.insert_operator(tenant.id, "Administrator", None, "admin").await?;
    let key = issue_key().map_err(CliError::Random)?;
    db.insert_api_key(tenant.id, Some(operator.id), Role::Admin.as_str(), &key.hash, &key.prefix).await?;
    let mut tx = db.begin().await?;
    crate::policy::notices::baseline(&mut tx, tenant.id, registry).await?;
    tx.commit().await?;
    Ok(CreatedTenant { tenant_id: tenant.id, api_key: key.secret })
}

/// Creates an API key with `role` for an existing tenant.
pub async fn create_key(db: &Db, tenant_id: Uuid, role: &str, operator_id: Option<Uuid>) -> Result<CreatedKey, CliError> {
    let role = Role::parse(role).ok_or_else(|| CliError::Invalid(format!("--role {role:?}: must be admin, agent or integration")))?;
    if db.tenant(tenant_id).await?.is_none() {
        return Err(CliError::Invalid(format!("--tenant {tenant_id}: no such tenant")));
    }
    if let Some(operator) = operator_id
        && db.operator(tenant_id, operator).await?.is_none() {
            return Err(CliError::Invalid(format!("--operator {operator}: no such operator in this tenant")));
        }
    let key = issue_key().map_err(CliError::Random)?;
    let row = db.insert_api_key(tenant_id, operator_id, role.as_str(), &key.hash, &key.prefix).await?;
    Ok(CreatedKey { key_id: row.id, api_key: key.secret })
}

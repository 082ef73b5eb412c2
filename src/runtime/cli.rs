//! What the administrative commands do, apart from argument parsing: create tenants and keys
//! directly in the database, so they work with or without a running server.

use serde::Serialize;
use anyhow::Context;
use uuid::Uuid;

use crate::access::issue_key;
use crate::domain::Role;
use crate::policy::registry::Registry;
use crate::runtime::regions::Databases;
use crate::store::Db;

#[derive(Debug, Serialize)]
pub struct CreatedTenant {
    pub tenant_id: Uuid,
    pub api_key: String,
}

pub use crate::team::operators::CreatedKey;

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
    db.insert_api_key(tenant.id, Some(operator.id), Role::Admin.as_str(), &key.hash, &key.prefix, (Some("First admin key"), None)).await?;
    let mut tx = db.begin().await?;
    crate::policy::notices::baseline(&mut tx, tenant.id, registry).await?;
    tx.commit().await?;
    Ok(CreatedTenant { tenant_id: tenant.id, api_key: key.secret })
}

/// Creates an API key with `role` for an existing tenant.
pub async fn create_key(db: &Db, tenant_id: Uuid, role: &str, operator_id: Option<Uuid>, name: Option<&str>, expires_in_days: Option<u32>) -> Result<CreatedKey, CliError> {
    let role = Role::parse(role).ok_or_else(|| CliError::Invalid(format!("--role {role:?}: must be admin, agent or integration")))?;
    let expires_at = expires_in_days.map(|d| crate::store::now_micros() + i64::from(d) * 86_400 * 1_000_000);
    let new = crate::team::operators::NewKey { name, role, operator_id, expires_at };
    let actor = crate::privacy::audit::Actor { operator_id, ..Default::default() };
    crate::team::operators::create_key(db, tenant_id, &new, &actor).await.map_err(|e| match e {
        crate::team::operators::AccessError::NotFound(_) => CliError::Invalid(format!("--tenant {tenant_id}: no such tenant")),
        crate::team::operators::AccessError::Unknown { field: "operator_id", .. } => CliError::Invalid("--operator: no active operator with this id in the tenant".to_owned()),
        crate::team::operators::AccessError::Invalid { field, detail } => CliError::Invalid(format!("--{}: {detail}", field.replace('_', "-"))),
        crate::team::operators::AccessError::Store(e) => CliError::Store(e),
        crate::team::operators::AccessError::Random(e) => CliError::Random(e),
        other => CliError::Invalid(other.to_string()),
    })
}

/// A progress bar on standard error for a long job (indicatif), drawn only when standard error
/// is a terminal: piped or redirected output gets nothing but the result. Call it with (done,
/// total); it finishes itself when done reaches total.
pub fn progress_bar(label: &'static str) -> impl Fn(u64, u64) + Sync {
    progress(label, "{msg:>10} [{bar:30}] {human_pos}/{human_len}  {per_sec}, {eta} left")
}

/// The same, counting bytes.
pub fn byte_progress(label: &'static str) -> impl Fn(u64, u64) + Sync {
    progress(label, "{msg:>10} [{bar:30}] {bytes}/{total_bytes}  {bytes_per_sec}, {eta} left")
}

fn progress(label: &'static str, template: &str) -> impl Fn(u64, u64) + Sync {
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label);
    move |done: u64, total: u64| {
        if total == 0 {
            return;
        }
        bar.set_length(total);
        bar.set_position(done.min(total));
        if done >= total {
            bar.finish();
        }
    }
}

/// A spinner on standard error (a terminal only) for a job without a known size; it stops when
/// dropped.
pub struct Spinner(indicatif::ProgressBar);

impl Spinner {
    pub fn start(message: &str) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(bar)
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// `omnibridge export`: a contact's access bundle, through the egress door, as JSON bytes.
pub async fn export_contact(db: &Db, policies: std::sync::Arc<crate::policy::Policies>, keyring: std::sync::Arc<crate::privacy::Keyring>, tenant_id: Uuid, contact_id: Uuid) -> anyhow::Result<Vec<u8>> {
    let bar = progress_bar("conversations");
    let bundle = crate::rights::export::bundle(db, &keyring, tenant_id, contact_id, &bar)
        .await
        .map_err(|e| anyhow::anyhow!("--contact {contact_id}: {e}"))?;
    let door = crate::egress::Door::new(db.clone(), policies, keyring);
    let body = door.export(tenant_id, contact_id, Uuid::now_v7(), serde_json::to_vec_pretty(&bundle)?).await?;
    let actor = crate::privacy::audit::Actor::default();
    crate::privacy::audit::record(db, tenant_id, &actor, "contact.export", "contact", Some(contact_id), Some("command line")).await;
    Ok(body)
}

/// Deletes a tenant (end of contract): journaled first, then every row in the database it
/// lives in and its directory entry in the main one; the write-ahead log is wiped after.
/// Returns the rows deleted.
pub async fn delete_tenant(config: &crate::config::Config, main: &Db, db: &Db, tenant_id: Uuid) -> anyhow::Result<u64> {
    crate::privacy::tombstones::Journal::new(config.tombstones_path()).record(crate::privacy::tombstones::Tombstone::TenantDeleted { tenant_id })?;
    let mut tx = db.begin().await?;
    let rows = crate::store::privacy::delete_tenant(&mut tx, tenant_id).await?;
    tx.commit().await?;
    let mut tx = main.begin().await?;
    crate::store::privacy::delete_tenant(&mut tx, tenant_id).await?;
    tx.commit().await?;
    db.wipe_log().await?;
    main.wipe_log().await?;
    // Its exports made through the API go too.
    let exports = config.tenant_exports_dir(tenant_id);
    if exports.exists() {
        std::fs::remove_dir_all(&exports).with_context(|| format!("removing {}", exports.display()))?;
    }
    Ok(rows)
}

/// `omnibridge erase`: erases a contact now, recorded as a completed erasure request.
pub async fn erase_contact(db: &Db, keyring: &crate::privacy::Keyring, journal: &crate::privacy::tombstones::Journal, tenant_id: Uuid, contact_id: Uuid) -> anyhow::Result<crate::store::privacy::Erased> {
    use crate::store;
    if store::contacts::contact(db, tenant_id, contact_id).await?.is_none() {
        anyhow::bail!("--contact {contact_id}: no such contact in this tenant (already erased?)");
    }
    let now = store::now_micros();
    let request = store::privacy::RequestRow {
        id: Uuid::now_v7(),
        tenant_id,
        kind: "erasure".into(),
        contact_id: Some(contact_id),
        status: "pending".into(),
        detail: "{\"source\":\"command line\"}".into(),
        result: None,
        requested_by: None,
        created_at: now,
        due_at: now + crate::rights::requests::DUE_DAYS * 86_400 * 1_000_000,
        completed_at: None,
    };
    store::privacy::insert_request(db, &request).await?;
    let mut tx = db.begin().await?;
    let (erased, _erased_event) = crate::rights::erasure::erase_in(&mut tx, keyring, journal, tenant_id, contact_id, Some(request.id)).await?;
    store::privacy::finish_request(&mut tx, request.id, "completed", &serde_json::to_string(&erased)?).await?;
    let data = serde_json::json!({"id": request.id, "type": "erasure", "status": "completed", "contact_id": contact_id, "completed_at": crate::domain::rfc3339(store::now_micros())});
    let mut done = crate::domain::events::Event::new(tenant_id, crate::domain::events::PRIVACY_REQUEST_COMPLETED, None, &data);
    crate::events::outbox::append_plain(&mut tx, &mut done).await?;
    tx.commit().await?;
    // Running hub processes drop the contacts' cached keys and visitor sessions: on
    // PostgreSQL they are told at once; otherwise their caches expire within a minute.
    for id in std::iter::once(contact_id).chain(erased.merged_contacts.iter().copied()) {
        keyring.forget(id);
        crate::cluster::announce_to(db, crate::cluster::Change::Contact(id)).await;
    }
    db.wipe_log().await?;
    crate::privacy::audit::record(db, tenant_id, &crate::privacy::audit::Actor::default(), "contact.erase", "contact", Some(contact_id), Some("command line")).await;
    Ok(erased)
}

/// A live hub process and the leases it holds, for `omnibridge nodes`.
#[derive(Debug, Serialize)]
pub struct NodeListing {
    pub id: Uuid,
    pub hostname: String,
    pub pid: i64,
    pub listen: String,
    pub version: String,
    pub started_at: String,
    pub heartbeat_at: String,
    pub leases: Vec<String>,
    /// The event log's durable consumers (shared by every process on the database).
    pub consumers: Vec<crate::events::consumer::ConsumerLag>,
}

/// The processes whose heartbeat is recent (within one lease time).
pub async fn nodes(db: &Db, config: &crate::config::Config) -> Result<Vec<NodeListing>, CliError> {
    let since = crate::store::now_micros() - (config.cluster.lease_secs as i64) * 1_000_000;
    let leases = crate::store::cluster::leases(db).await?;
    let consumers = crate::events::consumer::positions(db).await?;
    Ok(crate::store::cluster::live_nodes(db, since)
        .await?
        .into_iter()
        .map(|n| NodeListing {
            leases: leases.iter().filter(|l| l.owner == n.id).map(|l| l.name.clone()).collect(),
            id: n.id,
            hostname: n.hostname,
            pid: n.pid,
            listen: n.listen,
            version: n.version,
            started_at: crate::domain::rfc3339(n.started_at),
            heartbeat_at: crate::domain::rfc3339(n.heartbeat_at),
            consumers: consumers.clone(),
        })
        .collect())
}

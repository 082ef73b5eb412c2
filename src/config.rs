//! One typed configuration for every command.
//!
//! Layers, later ones win: `config/omnibridge.toml` (embedded, every key documented with its
//! default) → the `--config` file → `OMNIBRIDGE_*` environment variables (`__` between section
//! and key). Unknown keys in a file are errors; all problems are reported at once.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::{Table, Value};

const DEFAULTS: &str = include_str!("../config/omnibridge.toml");
const ENV_PREFIX: &str = "OMNIBRIDGE_";
/// Variables with our prefix that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["CONFIG"];

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub master_key: Option<String>,
    /// The hub's URL as the outside world reaches it (links in mail, provider callbacks).
    pub public_url: Option<String>,
    pub log: LogConfig,
    pub server: ServerConfig,
    pub http: HttpConfig,
    pub outbound: OutboundConfig,
    pub database: DatabaseConfig,
    pub ingest: IngestConfig,
    pub delivery: DeliveryConfig,
    pub events: EventsConfig,
    pub widget: WidgetConfig,
    pub consent: ConsentConfig,
    pub webhooks: WebhooksConfig,
    pub processor: ProcessorConfig,
    pub subprocessors: SubprocessorsConfig,
    pub mail: MailConfig,
    pub team: TeamConfig,
    pub cluster: ClusterConfig,
    pub backup: BackupConfig,
    pub limits: LimitsConfig,
    /// Home regions tenants are pinned to, by name (`eu`, `us`, …).
    pub regions: BTreeMap<String, RegionConfig>,
    /// The home region of a tenant created without naming one.
    pub default_region: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("master_key", &self.master_key.as_ref().map(|_| "…"))
            .field("log", &self.log)
            .field("http", &self.http)
            .field("database", &self.database)
            .field("ingest", &self.ingest)
            .field("delivery", &self.delivery)
            .field("widget", &self.widget)
            .field("webhooks", &self.webhooks)
            .field("processor", &self.processor)
            .field("subprocessors", &self.subprocessors)
            .field("mail", &self.mail)
            .field("team", &self.team)
            .field("cluster", &self.cluster)
            .field("backup", &self.backup)
            .field("limits", &self.limits)
            .field("server", &self.server)
            .field("outbound", &self.outbound)
            .field("regions", &self.regions)
            .field("default_region", &self.default_region)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
    pub format: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub max_body_bytes: usize,
    pub widget_max_body_bytes: usize,
    /// The largest widget message carrying files (base64 in JSON).
    pub widget_max_upload_bytes: usize,
    pub shutdown_grace_secs: u64,
    pub header_read_timeout_secs: u64,
    pub request_timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    pub sqlite_synchronous: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    pub writers: usize,
    pub batch_max: usize,
    pub queue_capacity: usize,
}

/// The event log (the outbox every consumer reads by position).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// Days committed events stay readable (`/v1/events?after=`, websocket resumes, webhook
    /// replays); events a durable consumer has not handled yet are kept regardless.
    pub retention_days: u64,
    /// Recent events each process keeps in memory for its readers.
    pub memory_window: usize,
    /// Events a durable consumer (assignment, away messages) works through per transaction.
    pub consumer_batch: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub batch: usize,
    pub lease_secs: u64,
    pub poll_interval_ms: u64,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentConfig {
    pub purposes: Vec<String>,
    pub minimum_age: u8,
}

impl ConsentConfig {
    /// The configured purposes, with `service` and `marketing` always among them.
    pub fn purposes(&self) -> Vec<String> {
        let mut all: Vec<String> = vec!["service".into(), "marketing".into()];
        for p in &self.purposes {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetConfig {
    pub max_text_chars: usize,
    pub session_days: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    pub timeout_secs: u64,
    pub retry_schedule_secs: Vec<u64>,
    pub jitter: f64,
    pub overload_penalty_secs: u64,
    pub rotation_grace_secs: u64,
    pub disable_after_secs: u64,
    pub payload_retention_days: u64,
    pub allow_private_cidrs: Vec<String>,
    pub https_only: bool,
    pub max_in_flight: usize,
    pub batch: usize,
    pub fanout_batch: usize,
    pub lease_secs: u64,
    pub poll_interval_ms: u64,
    pub response_body_max_bytes: usize,
}

/// Who the server believes, and who may see its internals.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Proxies whose `X-Forwarded-For` / `Forwarded` headers name the client (CIDRs).
    pub trusted_proxies: Vec<String>,
    /// The bearer token for `/metrics` and the detailed `/readyz`; empty: loopback clients only.
    pub admin_token: String,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("trusted_proxies", &self.trusted_proxies)
            .field("admin_token", &if self.admin_token.is_empty() { "" } else { "…" })
            .finish()
    }
}

impl ServerConfig {
    pub fn trusted(&self) -> Vec<crate::net::ssrf::Cidr> {
        self.trusted_proxies.iter().filter_map(|c| crate::net::ssrf::Cidr::parse(c)).collect()
    }
}

/// Connections made on a tenant's behalf (provider APIs, mail servers).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    pub allow_private_cidrs: Vec<String>,
}

impl OutboundConfig {
    pub fn allow_list(&self) -> Vec<crate::net::ssrf::Cidr> {
        self.allow_private_cidrs.iter().filter_map(|c| crate::net::ssrf::Cidr::parse(c)).collect()
    }
}

impl WebhooksConfig {
    pub fn allow_list(&self) -> Vec<crate::net::ssrf::Cidr> {
        self.allow_private_cidrs.iter().filter_map(|c| crate::net::ssrf::Cidr::parse(c)).collect()
    }
}

/// Who runs this hub: the processor named in the record of processing (Art. 30(2)(a)).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    pub name: String,
    pub contact: String,
    pub dpo: String,
    pub representative: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubprocessorsConfig {
    /// A registry file replacing the built-in one; empty: the built-in list.
    pub registry_file: String,
    /// Seconds between checks of the registry for changes to announce (and announced
    /// subprocessors coming into effect).
    pub check_interval_secs: u64,
}

/// The relay for the hub's own mail to operators.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    /// Empty: no system relay (the tenant's email channel sends instead).
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: String,
    pub from_address: String,
    pub from_name: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field("smtp_password", &if self.smtp_password.is_empty() { "" } else { "…" })
            .field("from_address", &self.from_address)
            .field("from_name", &self.from_name)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub invitation_ttl_hours: u64,
    pub mail_retry_secs: u64,
    pub daily_summary_hour: u8,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub widget_sessions_per_ip_per_minute: u32,
    pub widget_sessions_per_channel_per_minute: u32,
    pub widget_messages_per_visitor_per_minute: u32,
    pub api_requests_per_key_per_minute: u32,
    pub provider_callbacks_per_channel_per_minute: u32,
    pub transcripts_per_visitor_per_hour: u32,
    pub transcripts_per_ip_per_hour: u32,
    pub transcripts_per_channel_per_hour: u32,
    pub sign_in_failures_per_account_and_ip: u32,
    pub sign_in_failures_per_ip: u32,
    pub sign_in_failures_per_account: u32,
    pub sign_in_lockout_secs: u64,
    pub max_buckets: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub lease_secs: u64,
    pub heartbeat_secs: u64,
}

/// Backups and the erasure journal.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// The erasure journal; empty: `data_dir/tombstones.jsonl`.
    pub tombstones_file: String,
    /// A key (32 bytes, hex or base64) to seal backups under instead of the master key.
    pub key: Option<String>,
    /// How long the download link of a tenant export made through the API works.
    pub export_link_hours: u64,
}

impl std::fmt::Debug for BackupConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupConfig")
            .field("tombstones_file", &self.tombstones_file)
            .field("key", &self.key.as_ref().map(|_| "…"))
            .field("export_link_hours", &self.export_link_hours)
            .finish()
    }
}

/// One home region.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionConfig {
    /// The database holding the personal data of this region's tenants; unset: `database_url`.
    pub database_url: Option<String>,
    /// `gdpr`: transfers out of the EEA need an adequacy decision or a safeguard (Chapter V);
    /// `none`: the routing policy's rules only.
    pub transfer_rules: String,
}

impl std::fmt::Debug for RegionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegionConfig")
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("transfer_rules", &self.transfer_rules)
            .finish()
    }
}

impl Config {
    /// The database URL a region's tenants live in.
    pub fn region_database_url(&self, region: &str) -> &str {
        self.regions.get(region).and_then(|r| r.database_url.as_deref()).unwrap_or(&self.database_url)
    }

    /// Where erasures, tenant deletions and retention purges are journaled (outside the
    /// database, so a restored backup can have them done again).
    pub fn tombstones_path(&self) -> PathBuf {
        if self.backup.tombstones_file.is_empty() { self.data_dir.join("tombstones.jsonl") } else { PathBuf::from(&self.backup.tombstones_file) }
    }

    /// Where a tenant's exports made through the API are written.
    pub fn tenant_exports_dir(&self, tenant_id: uuid::Uuid) -> PathBuf {
        self.data_dir.join("exports").join(tenant_id.to_string())
    }

    /// Whether a region applies the GDPR's transfer rules.
    pub fn region_is_gdpr(&self, region: &str) -> bool {
        self.regions.get(region).is_some_and(|r| r.transfer_rules == "gdpr")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
pub struct ConfigError(pub Vec<String>);

/// A loaded configuration plus warnings worth logging (e.g. unknown `OMNIBRIDGE_*` variables).
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    /// Defaults only: what `omnibridge serve` runs with when nothing is configured.
    pub fn defaults() -> Self {
        Self::load(None, std::iter::empty()).expect("embedded defaults are valid").config
    }

    /// Loads the layers. `env` is passed in (rather than read here) so tests control it.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Loaded, ConfigError> {
        let mut errors = Vec::new();
        let mut warnings = Vec::new();
        let mut merged: Table = DEFAULTS.parse().map_err(|e| ConfigError(vec![format!("embedded defaults: {e}")]))?;
        if let Some(path) = file {
            match std::fs::read_to_string(path).map_err(|e| e.to_string()).and_then(|t| t.parse::<Table>().map_err(|e| e.to_string())) {
                Ok(table) => merge(&mut merged, table, "", &mut errors),
                Err(e) => errors.push(format!("{}: {e}", path.display())),
            }
        }
        for (name, value) in env {
            let Some(key) = name.strip_prefix(ENV_PREFIX) else { continue };
            if ENV_NOT_KEYS.contains(&key) {
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            match set_from_env(&mut merged, &path, &value) {
                Ok(()) => {}
                Err(EnvError::UnknownKey) => warnings.push(format!("ignoring {name}: not a configuration key")),
                Err(EnvError::BadValue(e)) => errors.push(format!("{name}: {e}")),
            }
        }
        let config = match Config::deserialize(Value::Table(merged)) {
            Ok(config) => Some(config),
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
        if let Some(config) = &config {
            config.validate(&mut errors);
        }
        match config {
            Some(config) if errors.is_empty() => Ok(Loaded { config, warnings }),
            _ => Err(ConfigError(errors)),
        }
    }

    fn validate(&self, errors: &mut Vec<String>) {
        if self.listen.parse::<SocketAddr>().is_err() {
            errors.push(format!("listen: {:?} is not an address:port", self.listen));
        }
        let url = self.database_url.as_str();
        if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            errors.push("database_url: must start with sqlite:// or postgres://".into());
        }
        if let Some(url) = &self.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push("public_url: must be an http:// or https:// URL".into());
        }
        if let Some(key) = &self.master_key
            && crate::privacy::parse_master_key(key).is_err() {
                errors.push("master_key: must be 32 bytes as 64 hex characters or base64".into());
            }
        if let Some(key) = &self.backup.key
            && crate::privacy::parse_master_key(key).is_err() {
                errors.push("backup.key: must be 32 bytes as 64 hex characters or base64".into());
            }
        if !["text", "json"].contains(&self.log.format.as_str()) {
            errors.push("log.format: must be \"text\" or \"json\"".into());
        }
        if !["normal", "full"].contains(&self.database.sqlite_synchronous.to_ascii_lowercase().as_str()) {
            errors.push("database.sqlite_synchronous: must be \"normal\" or \"full\"".into());
        }
        let positive = [
            ("http.max_body_bytes", self.http.max_body_bytes),
            ("http.widget_max_body_bytes", self.http.widget_max_body_bytes),
            ("http.widget_max_upload_bytes", self.http.widget_max_upload_bytes),
            ("backup.export_link_hours", self.backup.export_link_hours as usize),
            ("database.max_connections", self.database.max_connections as usize),
            ("ingest.batch_max", self.ingest.batch_max),
            ("ingest.queue_capacity", self.ingest.queue_capacity),
            ("delivery.batch", self.delivery.batch),
            ("events.retention_days", self.events.retention_days as usize),
            ("events.memory_window", self.events.memory_window),
            ("events.consumer_batch", self.events.consumer_batch),
            ("delivery.max_attempts", self.delivery.max_attempts.max(0) as usize),
            ("widget.max_text_chars", self.widget.max_text_chars),
            ("webhooks.timeout_secs", self.webhooks.timeout_secs as usize),
            ("webhooks.retry_schedule_secs", self.webhooks.retry_schedule_secs.len()),
            ("webhooks.payload_retention_days", self.webhooks.payload_retention_days as usize),
            ("webhooks.max_in_flight", self.webhooks.max_in_flight),
            ("webhooks.batch", self.webhooks.batch),
            ("webhooks.fanout_batch", self.webhooks.fanout_batch),
            ("webhooks.lease_secs", self.webhooks.lease_secs as usize),
            ("subprocessors.check_interval_secs", self.subprocessors.check_interval_secs as usize),
            ("team.invitation_ttl_hours", self.team.invitation_ttl_hours as usize),
            ("team.mail_retry_secs", self.team.mail_retry_secs as usize),
        ];
        let w = &self.webhooks;
        if w.timeout_secs > 30 {
            errors.push("webhooks.timeout_secs: must be at most 30".into());
        }
        if !(0.0..=0.5).contains(&w.jitter) {
            errors.push("webhooks.jitter: must be from 0 to 0.5".into());
        }
        if w.rotation_grace_secs > 7 * 86_400 {
            errors.push("webhooks.rotation_grace_secs: must be at most 604800 (7 days)".into());
        }
        for (field, list) in [
            ("webhooks.allow_private_cidrs", &w.allow_private_cidrs),
            ("outbound.allow_private_cidrs", &self.outbound.allow_private_cidrs),
            ("server.trusted_proxies", &self.server.trusted_proxies),
        ] {
            for cidr in list {
                if crate::net::ssrf::Cidr::parse(cidr).is_none() {
                    errors.push(format!("{field}: {cidr:?} is not an address or CIDR network"));
                }
            }
        }
        for (name, region) in &self.regions {
            if !(2..=16).contains(&name.len()) || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
                errors.push(format!("regions.{name}: a region name is a short lower-case code such as eu, us or au"));
            }
            if !["gdpr", "none"].contains(&region.transfer_rules.as_str()) {
                errors.push(format!("regions.{name}.transfer_rules: must be \"gdpr\" or \"none\""));
            }
            if let Some(url) = &region.database_url
                && !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://"))
            {
                errors.push(format!("regions.{name}.database_url: must start with sqlite:// or postgres://"));
            }
        }
        let mail = &self.mail;
        if !["starttls", "implicit", "none"].contains(&mail.smtp_tls.as_str()) {
            errors.push("mail.smtp_tls: must be \"starttls\", \"implicit\" or \"none\"".into());
        }
        if !mail.smtp_host.is_empty() && !mail.from_address.contains('@') {
            errors.push("mail.from_address: the system relay needs a sender address such as hub@example.com".into());
        }
        if mail.smtp_username.is_empty() != mail.smtp_password.is_empty() {
            errors.push("mail.smtp_password: mail.smtp_username and mail.smtp_password come together".into());
        }
        if self.cluster.heartbeat_secs == 0 || self.cluster.heartbeat_secs * 2 > self.cluster.lease_secs {
            errors.push("cluster.heartbeat_secs: must be at least 1 and at most half of cluster.lease_secs".into());
        }
        if self.team.daily_summary_hour > 23 {
            errors.push("team.daily_summary_hour: must be from 0 to 23".into());
        }
        if self.regions.is_empty() {
            errors.push("regions: at least one region is needed".into());
        } else if !self.regions.contains_key(&self.default_region) {
            let known: Vec<&str> = self.regions.keys().map(String::as_str).collect();
            errors.push(format!("default_region: {:?} is not a configured region ({})", self.default_region, known.join(", ")));
        }
        for (key, value) in positive {
            if value == 0 {
                errors.push(format!("{key}: must be greater than 0"));
            }
        }
    }

    /// The public base URL, without a trailing slash: `public_url`, else `http://` + `listen`.
    pub fn public_base_url(&self) -> String {
        self.public_url.clone().unwrap_or_else(|| format!("http://{}", self.listen)).trim_end_matches('/').to_owned()
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.listen.parse().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }
}

/// Overlays `over` on `base`, refusing keys the defaults do not have.
fn merge(base: &mut Table, over: Table, prefix: &str, errors: &mut Vec<String>) {
    for (key, value) in over {
        let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match (base.get_mut(&key), value) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &path, errors),
            (Some(_), value) => {
                base.insert(key, value);
            }
            (None, value) if is_optional_key(&path) => {
                base.insert(key, value);
            }
            (None, _) => errors.push(format!("unknown key {path}")),
        }
    }
}

/// Keys that have no default and are therefore absent from the embedded file.
const OPTIONAL_KEYS: &[&str] = &["master_key", "public_url"];

/// Whether a key absent from the defaults may be set: the optional keys, any new region
/// (`regions.NAME`) and a region's database.
fn is_optional_key(path: &str) -> bool {
    if OPTIONAL_KEYS.contains(&path) {
        return true;
    }
    match path.strip_prefix("regions.") {
        Some(rest) => !rest.contains('.') || rest.split_once('.').is_some_and(|(_, key)| key == "database_url"),
        None => false,
    }
}

enum EnvError {
    UnknownKey,
    BadValue(String),
}

/// Sets one key from an environment string, typed like its default.
fn set_from_env(table: &mut Table, path: &[String], raw: &str) -> Result<(), EnvError> {
    let (last, parents) = path.split_last().ok_or(EnvError::UnknownKey)?;
    let mut table = table;
    for part in parents {
        table = match table.get_mut(part) {
            Some(Value::Table(t)) => t,
            _ => return Err(EnvError::UnknownKey),
        };
    }
    let value = match table.get(last) {
        Some(Value::Integer(_)) => Value::Integer(raw.trim().parse().map_err(|_| EnvError::BadValue(format!("{raw:?} is not an integer")))?),
        Some(Value::Float(_)) => Value::Float(raw.trim().parse().map_err(|_| EnvError::BadValue(format!("{raw:?} is not a number")))?),
        Some(Value::Array(items)) => {
            // Comma-separated; integers when the default holds integers.
            let integers = items.first().is_some_and(Value::is_integer);
            let mut out = Vec::new();
            for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                out.push(if integers {
                    Value::Integer(part.parse().map_err(|_| EnvError::BadValue(format!("{part:?} is not an integer")))?)
                } else {
                    Value::String(part.to_owned())
                });
            }
            Value::Array(out)
        }
        Some(Value::Boolean(_)) => Value::Boolean(raw.trim().parse().map_err(|_| EnvError::BadValue(format!("{raw:?} is not true/false")))?),
        Some(Value::Table(_)) => return Err(EnvError::UnknownKey),
        Some(_) => Value::String(raw.to_owned()),
        None if is_optional_key(&path.join(".")) && !path.first().is_some_and(|p| p == "regions" && path.len() == 2) => {
            Value::String(raw.to_owned())
        }
        None => return Err(EnvError::UnknownKey),
    };
    table.insert(last.clone(), value);
    Ok(())
}

/// A database URL with any password replaced, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_work_with_nothing_configured() {
        let c = Config::defaults();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://data/omnibridge.db");
        assert!(c.master_key.is_none());
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\n[http]\nmax_body_bytes = 10\n").unwrap();
        let loaded = Config::load(
            Some(&file),
            env(&[("OMNIBRIDGE_HTTP__MAX_BODY_BYTES", "20"), ("OMNIBRIDGE_DATABASE_URL", "postgres://u@h/db"), ("OMNIBRIDGE_LISTENN", "x")]),
        )
        .unwrap();
        assert_eq!(loaded.config.listen, "127.0.0.1:9000");
        assert_eq!(loaded.config.http.max_body_bytes, 20);
        assert_eq!(loaded.config.database_url, "postgres://u@h/db");
        assert_eq!(loaded.warnings.len(), 1, "a mistyped variable is reported");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = Config::load(None, env(&[("OMNIBRIDGE_LISTEN", "nope"), ("OMNIBRIDGE_HTTP__MAX_BODY_BYTES", "x"), ("OMNIBRIDGE_MASTER_KEY", "short")]))
            .err()
            .unwrap();
        assert_eq!(err.0.len(), 3, "{err}");
        let err = Config::load(None, env(&[("OMNIBRIDGE_LISTEN", "nope"), ("OMNIBRIDGE_MASTER_KEY", "short")])).err().unwrap();
        assert_eq!(err.0.len(), 2, "{err}");
    }

    #[test]
    fn regions_map_to_databases() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[regions.ch]\ntransfer_rules = \"gdpr\"\ndatabase_url = \"sqlite://ch.db\"\n").unwrap();
        let loaded = Config::load(Some(&file), env(&[("OMNIBRIDGE_REGIONS__US__DATABASE_URL", "postgres://u:pw@h/us")])).unwrap().config;
        assert_eq!(loaded.region_database_url("ch"), "sqlite://ch.db");
        assert_eq!(loaded.region_database_url("us"), "postgres://u:pw@h/us");
        assert_eq!(loaded.region_database_url("eu"), loaded.database_url);
        assert!(loaded.region_is_gdpr("eu") && loaded.region_is_gdpr("ch") && !loaded.region_is_gdpr("us"));
        assert!(!format!("{loaded:?}").contains("pw@"), "region database passwords are redacted");
        std::fs::write(&file, "[regions.ch]\ntransfer_rules = \"strict\"\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).err().unwrap();
        assert!(err.to_string().contains("regions.ch.transfer_rules"), "{err}");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}

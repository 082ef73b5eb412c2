//! The `omnibridge` command line: serve, migrate, and administration.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use omnibridge::config::{Config, Loaded};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "omnibridge",
    version,
    about = "Omnichannel bridge server with consent and GDPR data routing built in",
    after_help = "Exit status: 0 done, 1 failed (the reason is on standard error), 2 wrong usage or configuration.\n\
                  Logs go to standard error; with --json, standard output holds the JSON only."
)]
struct Cli {
    /// Configuration file (TOML); see config/omnibridge.toml for every key and its default.
    #[arg(long, global = true, env = "OMNIBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum SearchCommand {
    /// Index everything not indexed yet (what was stored before the index existed, or around
    /// it), then print how many documents and entries the index holds.
    Reindex,
    /// How large the index is: documents, entries, bytes on disk, per message.
    Stats,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (migrates the database first).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage API keys, and rotate the master key.
    #[command(alias = "keys")]
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// List the live hub processes on the database and the leases each holds.
    Nodes {
        #[arg(long)]
        json: bool,
    },
    /// Manage a tenant's operators.
    Operators {
        #[command(subcommand)]
        command: OperatorsCommand,
    },
    /// The consent ledger.
    Consent {
        #[command(subcommand)]
        command: ConsentCommand,
    },
    /// Write a contact's access bundle (GDPR Art. 15/20) to a file.
    Export {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        contact: Uuid,
        #[arg(long)]
        out: PathBuf,
    },
    /// Erase a contact (GDPR Art. 17): delete their rows, destroy their data key.
    Erase {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        contact: Uuid,
    },
    /// Delete what tenants' retention settings say is too old (or count it with --dry-run).
    Purge {
        #[arg(long)]
        tenant: Option<Uuid>,
        #[arg(long)]
        dry_run: bool,
    },
    /// Fill a tenant with realistic history (channels, agents, contacts, conversations and
    /// messages in six languages over the past days), sealed and indexed as the hub does it;
    /// for benchmarks and trials. Prints a summary with probes: order numbers of known age.
    Seed {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value_t = 1_000)]
        conversations: usize,
        #[arg(long, default_value_t = 500)]
        contacts: usize,
        #[arg(long, default_value_t = 4)]
        channels: usize,
        #[arg(long, default_value_t = 10)]
        operators: usize,
        /// How far back the history reaches.
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// The same seed gives the same history.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Leave the search index to the hub's next start.
        #[arg(long)]
        no_index: bool,
    },
    /// Back up every database, check a backup, restore one.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// The search index.
    Search {
        #[command(subcommand)]
        command: SearchCommand,
    },
    /// Print a completion script for a shell: `omnibridge completions bash > /etc/bash_completion.d/omnibridge`.
    Completions {
        shell: clap_complete::Shell,
    },
    /// Print a tenant's record of processing activities (GDPR Art. 30(2)), generated from the
    /// live configuration: channels, subprocessors in use, transfers, retention, security.
    Ropa {
        #[arg(long)]
        tenant: Uuid,
        /// md, json or csv.
        #[arg(long, default_value = "md", value_parser = ["md", "json", "csv"])]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum BackupCommand {
    /// Take a consistent backup of every database while the hub serves, sealed under the master
    /// key (or --key / backup.key), with a manifest. The master key itself is never included.
    Create {
        /// The backup file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Seal under this key (32 bytes, hex or base64) instead of the master key.
        #[arg(long, env = "OMNIBRIDGE_BACKUP_KEY", hide_env_values = true)]
        key: Option<String>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a backup without restoring it: the key, every byte's authenticity, each copy's
    /// checksum. Exits non-zero and says what is wrong otherwise.
    Verify {
        file: PathBuf,
        #[arg(long, env = "OMNIBRIDGE_BACKUP_KEY", hide_env_values = true)]
        key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a backup into an empty place, migrate it to this version, and do again every
    /// erasure journaled since the backup. Prints a report.
    Restore {
        file: PathBuf,
        /// The new data directory (SQLite databases and the master key file go here).
        #[arg(long)]
        data_dir: PathBuf,
        /// The main database to restore into (an empty PostgreSQL database for a PostgreSQL
        /// backup); default for SQLite: DATA_DIR/omnibridge.db.
        #[arg(long)]
        database_url: Option<String>,
        /// Where a region's own database goes: NAME=URL (repeatable).
        #[arg(long = "database", value_name = "NAME=URL")]
        databases: Vec<String>,
        #[arg(long, env = "OMNIBRIDGE_BACKUP_KEY", hide_env_values = true)]
        key: Option<String>,
        /// The erasure journal to re-apply (default: the configured one).
        #[arg(long)]
        tombstones: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum OperatorsCommand {
    /// Import up to 100 operators from a CSV file (name,email,role): all of them or, if any
    /// line has a problem, none (every problem is listed). Each gets an invitation mail with a
    /// single-use link to set a password.
    Import {
        #[arg(long)]
        tenant: Uuid,
        /// The CSV file; "-" reads standard input.
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConsentCommand {
    /// Check a tenant's consent ledger: every event present, unedited, in its chain. Exits
    /// non-zero and names the first broken event otherwise.
    Verify {
        #[arg(long)]
        tenant: Uuid,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Write all of a tenant's data to one file, sealed under a transport key you supply, to
    /// recreate it elsewhere with `tenant import` (same ids; keys re-sealed on both ends).
    Export {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        out: PathBuf,
        /// The transport key: 32 bytes as 64 hex characters or base64 (e.g. `openssl rand -hex 32`).
        #[arg(long, env = "OMNIBRIDGE_TRANSPORT_KEY", hide_env_values = true)]
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Recreate a tenant from a `tenant export` file, in one transaction; refused if the tenant
    /// exists here already.
    Import {
        file: PathBuf,
        #[arg(long, env = "OMNIBRIDGE_TRANSPORT_KEY", hide_env_values = true)]
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Create a tenant; prints its id and an admin API key (shown only now).
    Create {
        name: String,
        /// Home region the tenant's data is pinned to, e.g. eu, us, au [default: default_region]
        #[arg(long)]
        region: Option<String>,
        /// Print exactly {"tenant_id": "...", "api_key": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// Offboard a tenant: optionally export every contact's data, then delete all of the
    /// tenant's data and keys. Irreversible.
    Delete {
        id: Uuid,
        /// Write each contact's access bundle into this folder first.
        #[arg(long)]
        export: Option<PathBuf>,
        /// Confirm: nothing of the tenant can be recovered afterwards.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Rotate the master key: the keys everything is encrypted with are sealed again under the
    /// new master key, in every database; nothing else is re-encrypted. Processes running now
    /// keep working; restart each with the new key (OMNIBRIDGE_MASTER_KEY, or the key file).
    RotateMaster {
        /// The new master key: 32 bytes as 64 hex characters or base64.
        #[arg(long, env = "OMNIBRIDGE_NEW_MASTER_KEY")]
        new_key: String,
    },
    /// Create an API key; prints it (shown only now).
    Create {
        #[arg(long)]
        tenant: Uuid,
        /// admin, agent or integration.
        #[arg(long)]
        role: String,
        /// The operator the key acts as (replies are authored by them).
        #[arg(long)]
        operator: Option<Uuid>,
        /// What the key is for, shown in the list of keys.
        #[arg(long)]
        name: Option<String>,
        /// The key stops working after this many days.
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[arg(long)]
        json: bool,
    },
    /// List a tenant's API keys (never the secrets).
    List {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API key: every hub process refuses it within a second.
    Revoke {
        #[arg(long)]
        tenant: Uuid,
        /// The key's id (from `key list`).
        #[arg(long)]
        key: Uuid,
    },
}

/// How `omnibridge --help` groups the commands.
const GROUPS: &[(&str, &[&str])] = &[
    ("Run", &["serve", "migrate", "nodes"]),
    ("Tenants and access", &["tenant", "key", "operators"]),
    ("Privacy", &["consent", "export", "erase", "purge", "ropa"]),
    ("Data", &["backup", "search", "seed"]),
    ("Shell", &["completions"]),
];

/// The command line with its commands listed by group.
fn command() -> clap::Command {
    let cmd = Cli::command();
    let width = cmd.get_subcommands().map(|c| c.get_name().len()).max().unwrap_or(0) + 2;
    let mut groups = String::new();
    for (heading, names) in GROUPS {
        groups.push_str(&format!("{heading}:\n"));
        for name in *names {
            if let Some(sub) = cmd.find_subcommand(name) {
                let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
                groups.push_str(&format!("  {name:<width$}{}\n", summary(&about)));
            }
        }
        groups.push('\n');
    }
    cmd.help_template(format!("{{about-with-newline}}\n{{usage-heading}} {{usage}}\n\n{groups}Options:\n{{options}}{{after-help}}"))
}

/// A command's first sentence ("Art. 15" is not an end), at most one line long.
fn summary(about: &str) -> String {
    let mut end = about.len();
    for (i, _) in about.match_indices(". ") {
        if about[i + 2..].starts_with(|c: char| c.is_uppercase()) {
            end = i;
            break;
        }
    }
    let sentence = about[..end].trim_end_matches('.');
    if sentence.chars().count() <= 72 {
        return sentence.to_owned();
    }
    let cut: String = sentence.chars().take(72).collect();
    format!("{}…", cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head).trim_end_matches([',', ';', ' ']))
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "omnibridge", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let Loaded { config, warnings } = match Config::load(cli.config.as_deref(), std::env::vars()) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("omnibridge: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&config, !matches!(cli.command, Command::Serve));
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("omnibridge: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(execute(cli.command, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("omnibridge: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, config: Config) -> anyhow::Result<()> {
    omnibridge::install_crypto_provider();
    match command {
        Command::Serve => {
            let addr = config.listen_addr();
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            let shutdown = CancellationToken::new();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            omnibridge::run(config, listener, shutdown).await
        }
        Command::Migrate => {
            for url in omnibridge::runtime::regions::database_urls(&config) {
                let db = omnibridge::store::Db::connect_without_migrating(&omnibridge::db_options_for(&config, &url)).await?;
                let ran = db.migrate().await?;
                println!("{}: applied {ran} migration(s)", omnibridge::config::redact_url(&url));
            }
            Ok(())
        }
        Command::Tenant { command: TenantCommand::Create { name, region, json } } => {
            let registry = omnibridge::policy::registry::Registry::load(&config.subprocessors.registry_file)?;
            let region = region.unwrap_or_else(|| config.default_region.clone());
            let dbs = omnibridge::runtime::regions::Databases::connect(Arc::new(config)).await?;
            let created = omnibridge::runtime::cli::create_tenant(&dbs, &registry, &name, &region).await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("tenant_id: {}\napi_key:   {}\n(the key is shown only now; store it safely)", created.tenant_id, created.api_key);
            }
            Ok(())
        }
        Command::Tenant { command: TenantCommand::Export { tenant, out, key, json } } => {
            let transport = omnibridge::privacy::parse_master_key(&key).map_err(|_| anyhow::anyhow!("--key: must be 32 bytes as 64 hex characters or base64"))?;
            let config = Arc::new(config);
            let keyring = omnibridge::keyring(&config).await?;
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let spinner = omnibridge::runtime::cli::Spinner::start("exporting the tenant");
            let moved = omnibridge::backup::tenant::export(db, &keyring, tenant, &out, &transport).await?;
            drop(spinner);
            print_moved(&moved, json, &format!("exported to {}", out.display()))
        }
        Command::Tenant { command: TenantCommand::Import { file, key, json } } => {
            let transport = omnibridge::privacy::parse_master_key(&key).map_err(|_| anyhow::anyhow!("--key: must be 32 bytes as 64 hex characters or base64"))?;
            let config = Arc::new(config);
            let keyring = omnibridge::keyring(&config).await?;
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let spinner = omnibridge::runtime::cli::Spinner::start("importing the tenant");
            let moved = omnibridge::backup::tenant::import(&dbs, &keyring, &file, &transport).await?;
            drop(spinner);
            print_moved(&moved, json, "imported")
        }
        Command::Consent { command: ConsentCommand::Verify { tenant } } => {
            let dbs = omnibridge::runtime::regions::Databases::connect(Arc::new(config)).await?;
            let db = tenant_db(&dbs, tenant).await?;
            match omnibridge::consent::verify(db, tenant).await? {
                Ok(events) => {
                    println!("ok: {events} consent event(s), chain intact");
                    Ok(())
                }
                Err(b) => {
                    let id = b.id.map(|id| format!(" ({id})")).unwrap_or_default();
                    anyhow::bail!("the consent ledger is broken at event {}{id}: {}", b.seq, b.reason)
                }
            }
        }
        Command::Nodes { json } => {
            let config = Arc::new(config);
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let listed = omnibridge::runtime::cli::nodes(dbs.main(), &config).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else if listed.is_empty() {
                println!("no live hub process on this database");
            } else {
                for node in &listed {
                    println!("{}  host {}  pid {}  listen {}  started {}  heartbeat {}", node.id, node.hostname, node.pid, node.listen, node.started_at, node.heartbeat_at);
                    for lease in &node.leases {
                        println!("    holds {lease}");
                    }
                }
                if let Some(node) = listed.first() {
                    println!("event log consumers:");
                    for c in &node.consumers {
                        println!("    {}  at {}  lag {}  moved {}", c.name, c.position, c.lag, c.updated_at);
                    }
                }
            }
            Ok(())
        }
        Command::Operators { command: OperatorsCommand::Import { tenant, file } } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("reading standard input")?
            } else {
                std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?
            };
            let config = Arc::new(config);
            let keyring = Arc::new(omnibridge::keyring(&config).await?);
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let created = match omnibridge::team::import::import(db, &keyring, tenant, &text).await {
                Ok(created) => created,
                Err(omnibridge::team::import::ImportError::Invalid(rows)) => {
                    for row in &rows {
                        eprintln!("{}: {row}", file.display());
                    }
                    anyhow::bail!("{} problem(s) in {}; nothing was imported", rows.len(), file.display());
                }
                Err(omnibridge::team::import::ImportError::Store(e)) => return Err(e.into()),
            };
            let detail = format!("{} operator(s) (command line)", created.len());
            omnibridge::privacy::audit::record(db, tenant, &Default::default(), "operators.import", "tenant", Some(tenant), Some(&detail)).await;
            for operator in &created {
                println!("{}\t{}\t{}\t{}", operator.id, operator.role, operator.email.as_deref().unwrap_or(""), operator.name);
            }
            // Invitations pass the egress door like every mail the hub sends.
            let registry = omnibridge::policy::registry::Registry::load(&config.subprocessors.registry_file)?;
            let kinds = Arc::new(omnibridge::channels::Kinds::described());
            let policies = Arc::new(omnibridge::policy::Policies::new(registry, kinds, config.clone()));
            let door = omnibridge::egress::Door::new(db.clone(), policies, keyring.clone()).with_minimum_age(config.consent.minimum_age);
            let spinner = omnibridge::runtime::cli::Spinner::start("mailing invitations");
            let sent = omnibridge::team::invitations::send_pending(db, &keyring, &door, &config, Some(tenant)).await?;
            drop(spinner);
            eprintln!("imported {} operator(s); invitations mailed: {}, not sent yet: {}", created.len(), sent.sent, sent.failed);
            if sent.failed > 0 {
                eprintln!("(unsent invitations are retried by the running server; `GET /v1/operators` shows why they failed)");
            }
            Ok(())
        }
        Command::Export { tenant, contact, out } => {
            let config = Arc::new(config);
            let keyring = Arc::new(omnibridge::keyring(&config).await?);
            let registry = omnibridge::policy::registry::Registry::load(&config.subprocessors.registry_file)?;
            let policies = Arc::new(omnibridge::policy::Policies::new(registry, Arc::new(omnibridge::channels::Kinds::described()), config.clone()));
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let body = omnibridge::runtime::cli::export_contact(db, policies, keyring, tenant, contact).await?;
            std::fs::write(&out, body).with_context(|| format!("writing {}", out.display()))?;
            eprintln!("wrote {}", out.display());
            Ok(())
        }
        Command::Erase { tenant, contact } => {
            let config = Arc::new(config);
            let keyring = omnibridge::keyring(&config).await?;
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let erased = omnibridge::runtime::cli::erase_contact(db, &keyring, &omnibridge::privacy::tombstones::Journal::new(config.tombstones_path()), tenant, contact).await?;
            println!("{}", serde_json::to_string_pretty(&erased)?);
            Ok(())
        }
        Command::Seed { tenant, messages, conversations, contacts, channels, operators, days, seed, no_index } => {
            let config = Arc::new(config);
            let keyring = omnibridge::keyring(&config).await?;
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let plan = omnibridge::runtime::seed::Plan { tenant_id: tenant, channels, operators, contacts, conversations, messages, days, seed, index: !no_index };
            let bar = omnibridge::runtime::cli::progress_bar("messages");
            let seeded = omnibridge::runtime::seed::seed(db, &keyring, &plan, &bar).await?;
            println!("{}", serde_json::to_string_pretty(&seeded)?);
            Ok(())
        }
        Command::Backup { command } => backup(command, config).await,
        Command::Completions { .. } => Ok(()),
        Command::Search { command: SearchCommand::Reindex } => {
            let config = Arc::new(config);
            let keyring = omnibridge::keyring(&config).await?;
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let bar = omnibridge::runtime::cli::progress_bar("documents");
            let stop = tokio_util::sync::CancellationToken::new();
            for db in dbs.all() {
                omnibridge::store::search::restart_backfill(db).await?;
                let done = omnibridge::search::backfill(db, &keyring, 2000, &stop, |d| bar(d.messages + d.subjects + d.contacts, 0)).await?;
                let (documents, entries) = omnibridge::store::search::size(db).await?;
                println!("{}", serde_json::json!({"indexed": done, "documents": documents, "entries": entries}));
            }
            Ok(())
        }
        Command::Search { command: SearchCommand::Stats } => {
            let config = Arc::new(config);
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            for db in dbs.all() {
                let (documents, entries) = omnibridge::store::search::size(db).await?;
                let bytes = omnibridge::store::search::bytes_on_disk(db).await?;
                let messages = omnibridge::store::search::message_count(db).await?;
                let per = |n: i64| (messages > 0).then(|| n as f64 / messages as f64);
                println!(
                    "{}",
                    serde_json::json!({"messages": messages, "documents": documents, "entries": entries, "bytes": bytes,
                        "entries_per_message": per(entries), "bytes_per_message": bytes.and_then(per)})
                );
            }
            Ok(())
        }
        Command::Purge { tenant, dry_run } => {
            let config = Arc::new(config);
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let bar = omnibridge::runtime::cli::progress_bar("tenants");
            let journal = omnibridge::privacy::tombstones::Journal::new(config.tombstones_path());
            let mut totals: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
            for db in dbs.all() {
                let done = omnibridge::privacy::retention::purge_all(db, &journal, tenant, config.webhooks.payload_retention_days, dry_run, &|d, t| bar(d as u64, t as u64)).await?;
                for (_, counts) in done {
                    for (category, n) in counts {
                        *totals.entry(category).or_default() += n;
                    }
                }
            }
            let verb = if dry_run { "would delete" } else { "deleted" };
            for (category, n) in &totals {
                println!("{category}: {verb} {n}");
            }
            if totals.is_empty() {
                println!("no tenant has retention settings");
            }
            Ok(())
        }
        Command::Tenant { command: TenantCommand::Delete { id, export, yes } } => {
            if !yes {
                anyhow::bail!("deleting a tenant cannot be undone: run again with --yes");
            }
            let config = Arc::new(config);
            let keyring = Arc::new(omnibridge::keyring(&config).await?);
            let registry = omnibridge::policy::registry::Registry::load(&config.subprocessors.registry_file)?;
            let policies = Arc::new(omnibridge::policy::Policies::new(registry, Arc::new(omnibridge::channels::Kinds::described()), config.clone()));
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, id).await?;
            if let Some(dir) = export {
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let mut after = None;
                loop {
                    let page = omnibridge::store::contacts::contacts(db, id, after, 200).await?;
                    after = page.last().map(|c| c.id);
                    for c in &page {
                        let body = omnibridge::runtime::cli::export_contact(db, policies.clone(), keyring.clone(), id, c.id).await?;
                        std::fs::write(dir.join(format!("{}.json", c.id)), body)?;
                    }
                    if page.len() < 200 {
                        break;
                    }
                }
            }
            let rows = omnibridge::runtime::cli::delete_tenant(&config, dbs.main(), db, id).await?;
            println!("tenant {id} deleted: {rows} rows, its data keys with them");
            Ok(())
        }
        Command::Ropa { tenant, format, out } => {
            let config = Arc::new(config);
            let registry = omnibridge::policy::registry::Registry::load(&config.subprocessors.registry_file)?;
            let policies = omnibridge::policy::Policies::new(registry, Arc::new(omnibridge::channels::Kinds::described()), config.clone());
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let steps = ["tenant", "recipients", "channels", "transfers", "done"];
            let bar = omnibridge::runtime::cli::progress_bar("record");
            let progress = |step: &str| {
                let n = steps.iter().position(|s| *s == step).map(|i| i + 1).unwrap_or(0);
                bar(n as u64, steps.len() as u64);
            };
            let record = omnibridge::policy::ropa::build(db, &policies, &config, tenant, &progress)
                .await?
                .ok_or_else(|| anyhow::anyhow!("--tenant {tenant}: no such tenant"))?;
            let text = match format.as_str() {
                "md" => record.to_markdown(),
                "csv" => record.to_csv(),
                _ => serde_json::to_string_pretty(&record.to_json())? + "\n",
            };
            match out {
                Some(path) => std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::Key { command: KeyCommand::RotateMaster { new_key } } => {
            let new_master = omnibridge::privacy::parse_master_key(new_key.trim()).context("--new-key")?;
            let config = Arc::new(config);
            let generations = omnibridge::key_generations(&config).await?;
            let dbs = omnibridge::runtime::regions::Databases::connect(config.clone()).await?;
            let all: Vec<&omnibridge::store::Db> = dbs.all().collect();
            let spinner = omnibridge::runtime::cli::Spinner::start("re-wrapping keys under the new master key");
            let (_, rotated) = omnibridge::privacy::rotation::rotate(&all, &generations, &new_master).await?;
            drop(spinner);
            println!(
                "key generation {}: {} data keys re-wrapped, {} tenant secrets re-sealed",
                rotated.generation, rotated.data_keys, rotated.tenant_values
            );
            if config.master_key.is_none() {
                // The generated key file: keep the old one beside it, then replace it.
                let path = config.data_dir.join("master.key");
                std::fs::copy(&path, config.data_dir.join("master.key.old")).with_context(|| format!("keeping a copy of {}", path.display()))?;
                omnibridge::privacy::write_master_key(&config.data_dir, &new_master)?;
                println!("rotated: {} holds the new master key (the old one is in master.key.old until you delete it)", path.display());
            } else {
                println!("rotated: set OMNIBRIDGE_MASTER_KEY (or master_key) to the new key and restart each process now; until then they serve only contacts whose keys they hold in memory");
            }
            Ok(())
        }
        Command::Key { command: KeyCommand::List { tenant, json } } => {
            let dbs = omnibridge::runtime::regions::Databases::connect(Arc::new(config)).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let keys = omnibridge::team::operators::list_keys(db, tenant).await?;
            if json {
                let rows: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| serde_json::json!({"id": k.id, "name": k.name, "role": k.role, "prefix": k.prefix, "revoked": k.revoked_at.is_some()}))
                    .collect();
                println!("{}", serde_json::to_string(&rows)?);
            } else {
                for k in keys {
                    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
                    println!("{}  {:<11}  {:<7}  {:<12}  {}", k.id, k.role, state, k.prefix, k.name.unwrap_or_default());
                }
            }
            Ok(())
        }
        Command::Key { command: KeyCommand::Revoke { tenant, key } } => {
            let dbs = omnibridge::runtime::regions::Databases::connect(Arc::new(config)).await?;
            let db = tenant_db(&dbs, tenant).await?;
            omnibridge::team::operators::revoke_key(db, tenant, key, &Default::default()).await.map_err(|e| anyhow::anyhow!("--key {key}: {e}"))?;
            // Running processes re-check keys every second; on PostgreSQL they are told at once.
            omnibridge::cluster::announce_to(db, omnibridge::cluster::Change::Access(tenant)).await;
            println!("revoked {key}");
            Ok(())
        }
        Command::Key { command: KeyCommand::Create { tenant, role, operator, name, expires_in_days, json } } => {
            let dbs = omnibridge::runtime::regions::Databases::connect(Arc::new(config)).await?;
            let db = tenant_db(&dbs, tenant).await?;
            let created = omnibridge::runtime::cli::create_key(db, tenant, &role, operator, name.as_deref(), expires_in_days).await?;
            if json {
                println!("{}", serde_json::to_string(&created)?);
            } else {
                println!("key_id:  {}\napi_key: {}\n(the key is shown only now; store it safely)", created.key_id, created.api_key);
            }
            Ok(())
        }
    }
}

async fn backup(command: BackupCommand, config: Config) -> anyhow::Result<()> {
    use omnibridge::backup;
    match command {
        BackupCommand::Create { out, key, json } => {
            let (key, source) = backup::key(&config, key.as_deref())?;
            let bar = omnibridge::runtime::cli::byte_progress("backup");
            let created = backup::create(&config, &out, &key, source, &bar).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&created)?);
            } else {
                println!("wrote {} ({} bytes), sealed under the {}", created.file.display(), created.bytes, created.manifest.sealed_under);
                print_manifest(&created.manifest);
            }
            Ok(())
        }
        BackupCommand::Verify { file, key, json } => {
            let (key, _) = backup::key(&config, key.as_deref())?;
            let bar = omnibridge::runtime::cli::byte_progress("verify");
            let manifest = tokio::task::spawn_blocking(move || backup::verify(&file, &key, &bar)).await?.map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                println!("ok: the backup is complete and authentic");
                print_manifest(&manifest);
            }
            Ok(())
        }
        BackupCommand::Restore { file, data_dir, database_url, databases, key, tombstones, json } => {
            let (key, source) = backup::key(&config, key.as_deref())?;
            let (master, master_from_file) = match (&config.master_key, source) {
                (Some(text), _) => (omnibridge::privacy::parse_master_key(text)?, false),
                (None, backup::sealed::KeySource::Master) => (key.clone(), true),
                (None, backup::sealed::KeySource::Supplied) => {
                    let path = config.data_dir.join("master.key");
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!("the master key the backed-up data is sealed under is needed: set OMNIBRIDGE_MASTER_KEY, or keep it in {}", path.display())
                    })?;
                    (omnibridge::privacy::parse_master_key(&text)?, true)
                }
            };
            let mut others = Vec::new();
            for pair in databases {
                let (name, url) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("--database {pair}: expected NAME=URL"))?;
                others.push((name.to_owned(), url.to_owned()));
            }
            let journal = match tombstones {
                Some(path) => omnibridge::privacy::tombstones::Journal::new(path),
                None => omnibridge::privacy::tombstones::Journal::new(config.tombstones_path()),
            };
            let bar = omnibridge::runtime::cli::byte_progress("restore");
            let run = backup::Restore { file: &file, key: &key, master, master_from_file, journal, target: backup::Target { data_dir, database_url, others } };
            let report = backup::restore(run, &bar).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!("restored the backup of {} (schema {}; {} migration(s) applied since)", report.backup_created_at, report.schema_version, report.migrations_applied);
                for db in &report.databases {
                    println!("  {} → {}: {} tenant(s), {} message(s)", db.name, db.url, db.contents.tenants.len(), db.contents.counts.get("messages").unwrap_or(&0));
                }
                println!("erasures since the backup, done again: {}", report.tombstones_applied.len());
                for t in &report.tombstones_applied {
                    println!("  {} {} ({} row(s))", t.at, serde_json::to_string(&t.tombstone)?, t.rows);
                }
                if let Some(path) = &report.master_key_file {
                    println!("master key: {}", path.display());
                }
            }
            Ok(())
        }
    }
}

fn print_moved(moved: &omnibridge::backup::tenant::Moved, json: bool, what: &str) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(moved)?);
    } else {
        let total: u64 = moved.rows.values().sum();
        println!("tenant {} ({}, region {}) {what}: {total} rows", moved.tenant_id, moved.name, moved.region);
        for (table, n) in &moved.rows {
            println!("  {table}: {n}");
        }
    }
    Ok(())
}

fn print_manifest(manifest: &omnibridge::backup::Manifest) {
    println!("taken {} by omnibridge {} ({}, schema {})", manifest.created_at, manifest.omnibridge, manifest.backend, manifest.schema_version);
    for db in &manifest.databases {
        let counts: Vec<String> = db.contents.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("  {}: {} bytes, {} tenant(s); {}", db.name, db.bytes, db.contents.tenants.len(), counts.join(", "));
    }
}

/// The database a tenant lives in, or a clear error.
async fn tenant_db(dbs: &omnibridge::runtime::regions::Databases, tenant: uuid::Uuid) -> anyhow::Result<&omnibridge::store::Db> {
    dbs.for_tenant(tenant).await?.ok_or_else(|| anyhow::anyhow!("--tenant {tenant}: no such tenant"))
}

/// Logs on standard error. Unless `log.level` says otherwise: `info` for the server, `warn` for
/// one-shot commands (whose output is their result), without the database driver's notices.
/// Colour only on a terminal, and never with `NO_COLOR` set.
fn init_tracing(config: &Config, one_shot: bool) {
    use tracing_subscriber::EnvFilter;
    let level = match config.log.level.as_str() {
        "" if one_shot => "warn,sqlx=error",
        "" => "info",
        set => set,
    };
    let filter = EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new(level)).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                shutdown.cancel();
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_in_exactly_one_help_group() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            let n = GROUPS.iter().filter(|(_, names)| names.contains(&sub.get_name())).count();
            assert_eq!(n, 1, "{} is in {n} help groups", sub.get_name());
        }
        for (_, names) in GROUPS {
            for name in *names {
                assert!(cmd.find_subcommand(name).is_some(), "the help lists {name}, which is not a command");
            }
        }
        command().debug_assert();
    }
}

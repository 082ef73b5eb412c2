//! Moving a tenant: everything it holds written to one file sealed under a transport key the
//! operator supplies, and recreated from that file on another installation (or in another
//! region's cell) with the same ids.
//!
//! What is sealed at rest is opened with this installation's keys and sealed again under the
//! transport key for the trip — contacts' data keys, channel and webhook secrets, quarantined
//! mail — then sealed under the receiving installation's keys on arrival. Messages and contact
//! fields stay sealed under their contacts' data keys all the way. The tenant's index keys (for
//! blind indexes, search terms and pseudonyms, made from the first key root) travel too, so the
//! addresses, opt-outs and pseudonyms it stored keep matching where it arrives; the consent chain
//! is copied row for row and still verifies.
//!
//! The file is a sealed stream ([`super::sealed`], kind "tenant export") of JSON lines: a
//! header, one line per row (`{"t": table, "r": row}`, parents first, see
//! [`crate::store::tenant_data::TABLES`]), and an end line with the row count of every table.
//! An import is one transaction: a file cut short, altered or sealed under another key changes
//! nothing, and a tenant that exists already is refused, so importing twice never duplicates.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::sealed::{Kind, KeySource, SealedError, SealedReader, SealedWriter};
use crate::privacy::{CryptoError, INDEX_LABELS, Keyring, SecretKey, tenant_sealed};
use crate::runtime::regions::Databases;
use crate::store::tenant_data::{self, Moves, Sealed, TABLES};
use crate::store::{Conn, Db, Dialect, StoreError};

/// This build's tenant export format.
pub const FORMAT: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: u32,
    pub omnibridge: String,
    pub exported_at: String,
    /// `sqlite` or `postgres`: rows are in that backend's spelling.
    pub backend: String,
    pub schema_version: i64,
    pub tenant: crate::store::snapshots::TenantEntry,
    /// The tenant's index keys, by label, sealed under the transport key (base64).
    pub keys: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    t: String,
    r: Map<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct End {
    end: BTreeMap<String, u64>,
}

/// What an export or an import moved.
#[derive(Debug, Serialize)]
pub struct Moved {
    pub tenant_id: Uuid,
    pub name: String,
    pub region: String,
    pub rows: BTreeMap<String, u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Sealed(#[from] SealedError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a sealed value does not open: {0}")]
    Crypto(#[from] CryptoError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn transport_aad(what: &str, row: Uuid) -> Vec<u8> {
    let mut aad = b"omnibridge transport/".to_vec();
    aad.extend_from_slice(what.as_bytes());
    aad.push(0);
    aad.extend_from_slice(row.as_bytes());
    aad
}

fn label(what: Sealed) -> &'static str {
    match what {
        Sealed::DataKey => "data-key",
        Sealed::ChannelSecrets => tenant_sealed::CHANNEL_SECRETS,
        Sealed::WebhookSecret => tenant_sealed::WEBHOOK_SECRET,
        Sealed::QuarantinedMail => tenant_sealed::EMAIL_QUARANTINE,
    }
}

/// Writes a tenant's data (from `db`, the database it lives in) to `out`, sealed under
/// `transport`.
pub async fn export(db: &Db, keyring: &Keyring, tenant_id: Uuid, out: &Path, transport: &SecretKey) -> Result<Moved, MoveError> {
    let row = db.tenant(tenant_id).await?.ok_or_else(|| MoveError::Invalid(format!("--tenant {tenant_id}: no such tenant")))?;
    let tenant = crate::store::snapshots::TenantEntry { id: row.id, name: row.name, region: row.region };
    if out.exists() {
        return Err(MoveError::Invalid(format!("{} already exists; an export is never written over a file", out.display())));
    }
    let mut snapshot = tenant_data::Snapshot::begin(db).await?;
    let dialect = snapshot.dialect();
    let resealing = Resealing { keyring, transport, dialect, tenant_id };
    let mut keys = BTreeMap::new();
    for l in INDEX_LABELS {
        let sealed = transport.seal(keyring.index_key(tenant_id, l).as_bytes(), &transport_aad(&format!("index-key/{l}"), tenant_id))?;
        keys.insert(l.to_owned(), base64::engine::general_purpose::STANDARD.encode(sealed));
    }
    let header = Header {
        format: FORMAT,
        omnibridge: env!("CARGO_PKG_VERSION").to_owned(),
        exported_at: crate::domain::rfc3339(crate::store::now_micros()),
        backend: tenant_data::backend_name(dialect).to_owned(),
        schema_version: crate::store::known_schema_version(),
        tenant: tenant.clone(),
        keys,
    };
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial)?;
    let mut w = SealedWriter::new(std::io::BufWriter::new(file), Kind::TenantExport, KeySource::Supplied, transport)?;
    let result = async {
        writeln!(w, "{}", serde_json::to_string(&header).map_err(std::io::Error::other)?)?;
        let mut rows = BTreeMap::new();
        for table in TABLES.iter().filter(|t| t.moves != Moves::No) {
            let mut failed: Option<MoveError> = None;
            let n = tenant_data::read(&mut snapshot, table, tenant_id, |mut row| {
                if let Moves::Sealed { column, what, row: bound } = table.moves
                    && let Err(e) = reseal_out(&resealing, &mut row, column, what, bound)
                {
                    failed.get_or_insert(e);
                }
                let line = serde_json::to_string(&Line { t: table.name.to_owned(), r: row }).map_err(|e| StoreError::Sqlx(sqlx::Error::Decode(e.into())))?;
                writeln!(w, "{line}").map_err(|e| StoreError::Sqlx(sqlx::Error::Io(e)))
            })
            .await?;
            if let Some(e) = failed {
                return Err(e);
            }
            rows.insert(table.name.to_owned(), n);
        }
        writeln!(w, "{}", serde_json::to_string(&End { end: rows.clone() }).map_err(std::io::Error::other)?)?;
        Ok::<_, MoveError>(rows)
    }
    .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let file = w.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::fs::rename(&partial, out)?;
    Ok(Moved { tenant_id, name: tenant.name, region: tenant.region, rows })
}

/// What re-sealing a tenant's values for a move needs.
struct Resealing<'a> {
    keyring: &'a Keyring,
    transport: &'a SecretKey,
    dialect: Dialect,
    tenant_id: Uuid,
}

fn reseal_out(r: &Resealing<'_>, row: &mut Map<String, Value>, column: &str, what: Sealed, bound: &str) -> Result<(), MoveError> {
    let Resealing { keyring, transport, dialect, tenant_id } = *r;
    let Some(value) = row.get(column).filter(|v| !v.is_null()) else { return Ok(()) };
    let sealed = tenant_data::bytes_of(dialect, value).ok_or_else(|| MoveError::Invalid(format!("{column}: not a byte string")))?;
    let id = row.get(bound).and_then(|v| tenant_data::uuid_of(dialect, v)).ok_or_else(|| MoveError::Invalid(format!("{bound}: not an id")))?;
    let plain = match what {
        Sealed::DataKey => keyring.data_key_bytes(tenant_id, id, &sealed)?.as_bytes().to_vec(),
        other => keyring.open_for_tenant(tenant_id, label(other), id, &sealed)?,
    };
    let moved = transport.seal(&plain, &transport_aad(label(what), id))?;
    row.insert(column.to_owned(), tenant_data::bytes_value(dialect, &moved));
    Ok(())
}

fn reseal_in(r: &Resealing<'_>, row: &mut Map<String, Value>, column: &str, what: Sealed, bound: &str) -> Result<(), MoveError> {
    let Resealing { keyring, transport, dialect, tenant_id } = *r;
    let Some(value) = row.get(column).filter(|v| !v.is_null()) else { return Ok(()) };
    let moved = tenant_data::bytes_of(dialect, value).ok_or_else(|| MoveError::Invalid(format!("{column}: not a byte string")))?;
    let id = row.get(bound).and_then(|v| tenant_data::uuid_of(dialect, v)).ok_or_else(|| MoveError::Invalid(format!("{bound}: not an id")))?;
    let plain = transport.open(&moved, &transport_aad(label(what), id))?;
    let sealed = match what {
        Sealed::DataKey => {
            let bytes: [u8; 32] = plain.try_into().map_err(|_| CryptoError::Open)?;
            let (wrapped, generation) = keyring.wrap_data_key(tenant_id, id, &SecretKey::from_bytes(bytes))?;
            row.insert("generation".into(), Value::from(generation));
            wrapped
        }
        other => keyring.seal_for_tenant(tenant_id, label(other), id, &plain)?,
    };
    row.insert(column.to_owned(), tenant_data::bytes_value(dialect, &sealed));
    Ok(())
}

/// Reads the header of a tenant export (the transport key must open it).
type ExportLines = std::io::Lines<std::io::BufReader<SealedReader<std::io::BufReader<std::fs::File>>>>;

fn open(file: &Path, transport: &SecretKey) -> Result<(Header, ExportLines), MoveError> {
    let input = std::fs::File::open(file).map_err(|e| MoveError::Invalid(format!("{}: {e}", file.display())))?;
    let reader = SealedReader::open(std::io::BufReader::new(input), Kind::TenantExport, transport)?;
    let mut lines = std::io::BufReader::new(reader).lines();
    let first = next_line(&mut lines)?.ok_or(SealedError::Truncated)?;
    let header: Header = serde_json::from_str(&first).map_err(|e| MoveError::Invalid(format!("{}: the header does not parse: {e}", file.display())))?;
    if header.format > FORMAT {
        return Err(MoveError::Invalid(format!("{}: written by a newer omnibridge ({})", file.display(), header.omnibridge)));
    }
    Ok((header, lines))
}

fn next_line(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Result<Option<String>, MoveError> {
    match lines.next() {
        None => Ok(None),
        Some(Ok(line)) => Ok(Some(line)),
        Some(Err(e)) => Err(SealedError::from_io(e).into()),
    }
}

/// Recreates a tenant from an export, in one transaction.
pub async fn import(dbs: &Databases, keyring: &Keyring, file: &Path, transport: &SecretKey) -> Result<Moved, MoveError> {
    let (header, mut lines) = open(file, transport)?;
    let tenant = header.tenant.clone();
    let db = dbs.for_region(&tenant.region).ok_or_else(|| {
        MoveError::Invalid(format!("the tenant's home region {:?} is not configured here: add [regions.{}] first", tenant.region, tenant.region))
    })?;
    let dialect = Conn::Pool(db).dialect();
    if header.backend != tenant_data::backend_name(dialect) {
        return Err(MoveError::Invalid(format!("this export comes from a {} installation; import it into one on {} (this one is on {})", header.backend, header.backend, tenant_data::backend_name(dialect))));
    }
    if header.schema_version != crate::store::known_schema_version() {
        return Err(MoveError::Invalid(format!(
            "this export was written by omnibridge {} (schema {}); this is schema {}: import it with the same version, then upgrade",
            header.omnibridge,
            header.schema_version,
            crate::store::known_schema_version()
        )));
    }
    if crate::store::tenants::directory_region(dbs.main(), tenant.id).await?.is_some() {
        return Err(MoveError::Invalid(format!("tenant {} ({}) already exists here: an import is never applied twice", tenant.id, tenant.name)));
    }
    let resealing = Resealing { keyring, transport, dialect, tenant_id: tenant.id };
    let mut tx = db.begin().await?;
    let outcome = async {
        let mut rows: BTreeMap<String, u64> = BTreeMap::new();
        let end = loop {
            let line = next_line(&mut lines)?.ok_or(SealedError::Truncated)?;
            if line.starts_with("{\"end\"") {
                break serde_json::from_str::<End>(&line).map_err(|e| MoveError::Invalid(format!("the end line does not parse: {e}")))?.end;
            }
            let Line { t, mut r } = serde_json::from_str(&line).map_err(|e| MoveError::Invalid(format!("a row does not parse: {e}")))?;
            let table = TABLES.iter().find(|x| x.name == t && x.moves != Moves::No).ok_or_else(|| MoveError::Invalid(format!("unknown table {t:?} in the export")))?;
            if table.name == "tenants" && r.get("id").and_then(|v| tenant_data::uuid_of(dialect, v)) != Some(tenant.id) {
                return Err(MoveError::Invalid("the export holds another tenant's row".into()));
            }
            if let Moves::Sealed { column, what, row } = table.moves {
                reseal_in(&resealing, &mut r, column, what, row)?;
            }
            tenant_data::write(&mut tx, table.name, &r).await?;
            *rows.entry(t).or_default() += 1;
        };
        if next_line(&mut lines)?.is_some() {
            return Err(MoveError::Invalid("the export has rows after its end".into()));
        }
        let expected: BTreeMap<String, u64> = end.iter().filter(|(_, n)| **n > 0).map(|(t, n)| (t.clone(), *n)).collect();
        if expected != rows {
            return Err(MoveError::Invalid("the export's rows do not match its own counts".into()));
        }
        for l in INDEX_LABELS {
            let sealed = header.keys.get(l).ok_or_else(|| MoveError::Invalid(format!("the export lacks the {l} key")))?;
            let sealed = base64::engine::general_purpose::STANDARD.decode(sealed).map_err(|_| MoveError::Invalid(format!("the {l} key is damaged")))?;
            let plain = transport.open(&sealed, &transport_aad(&format!("index-key/{l}"), tenant.id))?;
            let id = Uuid::now_v7();
            let wrapped = keyring.seal_for_tenant(tenant.id, tenant_sealed::INDEX_KEY, id, &plain)?;
            crate::store::key_roots::insert_tenant_key(&mut tx, &crate::store::key_roots::TenantKeyRow { id, tenant_id: tenant.id, label: l.to_owned(), wrapped }).await?;
        }
        Ok::<_, MoveError>(end)
    }
    .await;
    let rows = match outcome {
        Ok(rows) => rows,
        // Dropped unfinished, the transactions roll back.
        Err(e) => return Err(e),
    };
    tx.commit().await?;
    // Listed in the directory last: until then, nothing routes to the tenant.
    let row = db.tenant(tenant.id).await?.ok_or_else(|| MoveError::Invalid("the tenant row did not arrive".into()))?;
    dbs.main().insert_directory_entry(&row).await?;
    keyring.adopt_index_keys(&crate::store::key_roots::tenant_keys(db, Some(tenant.id)).await?)?;
    index(db, keyring).await?;
    Ok(Moved { tenant_id: tenant.id, name: tenant.name, region: tenant.region, rows })
}

/// Indexes what arrived, so the moved tenant searches at once.
async fn index(db: &Db, keyring: &Keyring) -> Result<(), MoveError> {
    crate::store::search::restart_backfill(db).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    crate::search::backfill(db, keyring, 2000, &stop, |_| {}).await.map_err(|e| MoveError::Invalid(format!("indexing the imported tenant: {e}")))?;
    Ok(())
}

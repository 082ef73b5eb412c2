//! The erasure journal: every erasure, tenant deletion and retention purge, written down outside
//! the database as it happens, so a restored backup can have them done again.
//!
//! A backup taken on Monday still holds a contact erased on Tuesday. Restoring it must not bring
//! that person back, so each deletion the hub owes someone is appended here (one JSON line,
//! synced) *before* its transaction commits: a crash in between leaves a line for a deletion
//! that did not happen, which restoring then does — what was asked for anyway — never the other
//! way round. `omnibridge backup restore` re-applies every line newer than the backup before the
//! restored hub serves, and lists them in its report.
//!
//! A line holds ids and times only (no personal data): `{"at":…,"kind":"contact_erased",
//! "tenant_id":…,"contact_id":…}`. Appends of one short line are atomic, so several processes
//! may share the file.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A deletion the hub owes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Tombstone {
    /// A contact erased (Art. 17), with the contacts merged into them.
    ContactErased { tenant_id: Uuid, contact_id: Uuid },
    /// A tenant deleted at the end of its contract.
    TenantDeleted { tenant_id: Uuid },
    /// A retention purge: everything of `category` older than `before` (µs since the epoch).
    RetentionPurge { tenant_id: Uuid, category: String, before: i64 },
}

/// A journal line: when, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Microseconds since the epoch.
    pub at: i64,
    #[serde(flatten)]
    pub tombstone: Tombstone,
}

#[derive(Debug, thiserror::Error)]
#[error("the erasure journal {path}: {source}")]
pub struct JournalError {
    path: PathBuf,
    source: std::io::Error,
}

/// The journal file.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: std::io::Error) -> JournalError {
        JournalError { path: self.path.clone(), source }
    }

    /// Appends a tombstone and syncs it to disk.
    pub fn record(&self, tombstone: Tombstone) -> Result<(), JournalError> {
        let entry = Entry { at: crate::store::now_micros(), tombstone };
        let mut line = serde_json::to_vec(&entry).map_err(|e| self.err(std::io::Error::other(e)))?;
        line.push(b'\n');
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true).read(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(|e| self.err(e))?;
        // A line cut off by a crash must not swallow this one.
        let len = file.metadata().map_err(|e| self.err(e))?.len();
        if len > 0 {
            use std::io::{Read, Seek, SeekFrom};
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(len - 1)).and_then(|_| file.read_exact(&mut last)).map_err(|e| self.err(e))?;
            if last[0] != b'\n' {
                line.insert(0, b'\n');
            }
        }
        file.write_all(&line).map_err(|e| self.err(e))?;
        file.sync_data().map_err(|e| self.err(e))
    }

    /// Every entry at or after `since` (µs), oldest first; none if the journal does not exist. A
    /// line that does not parse (a write cut off by a crash) is skipped and counted.
    pub fn since(&self, since: i64) -> Result<(Vec<Entry>, usize), JournalError> {
        let file = match std::fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        let mut unreadable = 0;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| self.err(e))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(&line) {
                Ok(entry) if entry.at >= since => out.push(entry),
                Ok(_) => {}
                Err(_) => unreadable += 1,
            }
        }
        out.sort_by_key(|e| e.at);
        Ok((out, unreadable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_come_back_from_a_given_time_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path().join("sub/tombstones.jsonl"));
        assert_eq!(journal.since(0).unwrap().0, vec![]);
        let (tenant_id, contact_id) = (Uuid::now_v7(), Uuid::now_v7());
        journal.record(Tombstone::ContactErased { tenant_id, contact_id }).unwrap();
        let middle = crate::store::now_micros() + 1;
        std::thread::sleep(std::time::Duration::from_millis(2));
        journal.record(Tombstone::RetentionPurge { tenant_id, category: "messages".into(), before: 5 }).unwrap();
        std::fs::OpenOptions::new().append(true).open(journal.path()).unwrap().write_all(b"{\"at\":12,\"ki").unwrap();
        journal.record(Tombstone::TenantDeleted { tenant_id }).unwrap();
        let (all, unreadable) = journal.since(0).unwrap();
        assert_eq!(all.len(), 3, "the line after a cut-off one is kept");
        assert_eq!(unreadable, 1);
        assert_eq!(all[0].tombstone, Tombstone::ContactErased { tenant_id, contact_id });
        let (later, _) = journal.since(middle).unwrap();
        assert_eq!(later.len(), 2);
        assert!(matches!(later[0].tombstone, Tombstone::RetentionPurge { before: 5, .. }));
    }
}

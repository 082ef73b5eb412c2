//! The master key: the root every tenant key is derived from. Given in configuration as 64 hex
//! characters or base64 of 32 bytes; when absent, generated once into the data directory.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;

use super::SecretKey;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("master key must be 32 bytes as 64 hex characters or base64")]
    Malformed,
    #[error("cannot read or write the master key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

pub fn parse_master_key(text: &str) -> Result<SecretKey, MasterKeyError> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
    } else {
        base64::engine::general_purpose::STANDARD.decode(text).ok()
    };
    let bytes: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or(MasterKeyError::Malformed)?;
    Ok(SecretKey::from_bytes(bytes))
}

/// Reads `dir/master.key`, creating it (mode 0600) with a fresh random key if it is missing.
/// Returns the key and whether it was just generated.
pub fn load_or_create_master_key(dir: &Path) -> Result<(SecretKey, bool), MasterKeyError> {
    let path = dir.join("master.key");
    let io = |source| MasterKeyError::Io { path: path.clone(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok((parse_master_key(&text)?, false)),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
        Err(_) => {}
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let key = SecretKey::random().map_err(|_| io(std::io::Error::other("no randomness")))?;
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(format!("{hex}\n").as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok((key, true))
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(io)?;
            Ok((parse_master_key(&text)?, false))
        }
        Err(e) => Err(io(e)),
    }
}

/// Replaces `dir/master.key` with `key` (mode 0600), atomically: written beside it, then renamed.
pub fn write_master_key(dir: &Path, key: &SecretKey) -> Result<(), MasterKeyError> {
    let path = dir.join("master.key");
    let staged = dir.join("master.key.new");
    let io = |source| MasterKeyError::Io { path: path.clone(), source };
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&staged).map_err(io)?;
    file.write_all(format!("{hex}\n").as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&staged, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let (key, created) = load_or_create_master_key(dir.path()).unwrap();
        assert!(created);
        let (again, created) = load_or_create_master_key(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(key.as_bytes(), again.as_bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn keys_parse_from_hex_or_base64() {
        let hex = "00".repeat(32);
        assert!(parse_master_key(&hex).is_ok());
        assert!(parse_master_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
        assert!(parse_master_key("short").is_err());
    }
}

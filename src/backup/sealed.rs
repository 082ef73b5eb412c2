//! The sealed file format shared by backups and tenant exports: a plaintext header, then the
//! content in chunks of at most 1 MiB, each sealed with XChaCha20-Poly1305.
//!
//! ```text
//! header  "OMNIBAK\0" | format 1 | kind (1 backup, 2 tenant export) | key source (1 master, 2 supplied)
//!         | salt (16 random bytes) | key check (16 bytes)
//! chunk   length (u32 LE, of what follows) | ciphertext and tag
//! ```
//!
//! The file key is HKDF-SHA256(base key, salt, "omnibridge sealed file v1"), so no two files
//! share a key. Chunk `i` uses the nonce salt ‖ i (big-endian u64) and has the header and a
//! "last chunk" flag as associated data: a chunk moved, dropped, altered or cut off makes the
//! file fail to open, and a file that ends without its last chunk is reported as cut short. The
//! key check (HMAC of the salt under the file key) tells a wrong key apart from a damaged file.
//!
//! Both ends are `std::io` streams, so a snapshot of any size passes through in constant memory.

use std::io::{self, Read, Write};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::privacy::SecretKey;

const MAGIC: &[u8; 8] = b"OMNIBAK\0";
const FORMAT: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 1 + 1 + 16 + 16;
const CHUNK: usize = 1 << 20;
const TAG: usize = 16;

/// What a sealed file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Backup = 1,
    TenantExport = 2,
}

/// Which key a file is sealed under: the master key (derived), or one the operator supplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    Master = 1,
    Supplied = 2,
}

impl KeySource {
    pub fn describe(self) -> &'static str {
        match self {
            KeySource::Master => "the master key",
            KeySource::Supplied => "a supplied key (--key)",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealedError {
    #[error("not an omnibridge sealed file (no OMNIBAK header)")]
    NotSealed,
    #[error("written by a newer omnibridge (format {0}); upgrade to read it")]
    NewerFormat(u8),
    #[error("this file is a {found}, not a {expected}")]
    WrongKind { found: &'static str, expected: &'static str },
    #[error("the key does not open this file: it was sealed under {0}")]
    WrongKey(&'static str),
    #[error("the file is damaged: chunk {0} does not authenticate (altered or corrupted)")]
    Damaged(u64),
    #[error("the file is cut short: it ends before its last chunk")]
    Truncated,
    #[error("the file has data after its last chunk")]
    TrailingData,
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<SealedError> for io::Error {
    fn from(e: SealedError) -> Self {
        match e {
            SealedError::Io(e) => e,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        1 => "backup",
        2 => "tenant export",
        _ => "file of an unknown kind",
    }
}

fn file_key(base: &SecretKey, salt: &[u8; 16]) -> ([u8; 32], [u8; 16]) {
    let hk = Hkdf::<Sha256>::new(Some(salt), base.as_bytes());
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
    let _ = hk.expand(b"omnibridge sealed file v1", &mut key);
    let mut mac = <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(b"key check");
    mac.update(salt);
    let check: [u8; 16] = mac.finalize().into_bytes()[..16].try_into().expect("16 of 32 bytes");
    (key, check)
}

fn nonce(salt: &[u8; 16], index: u64) -> XNonce {
    let mut n = [0u8; 24];
    n[..16].copy_from_slice(salt);
    n[16..].copy_from_slice(&index.to_be_bytes());
    XNonce::from(n)
}

fn aad(header: &[u8; HEADER_LEN], last: bool) -> Vec<u8> {
    let mut a = header.to_vec();
    a.push(u8::from(last));
    a
}

/// Seals what is written to it into `out`. Call [`SealedWriter::finish`] at the end: a writer
/// dropped without it leaves a file that reads as cut short.
pub struct SealedWriter<W: Write> {
    out: W,
    cipher: XChaCha20Poly1305,
    header: [u8; HEADER_LEN],
    salt: [u8; 16],
    buf: Vec<u8>,
    index: u64,
}

impl<W: Write> SealedWriter<W> {
    pub fn new(mut out: W, kind: Kind, source: KeySource, base: &SecretKey) -> io::Result<Self> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| io::Error::other("the operating system's random source failed"))?;
        let (key, check) = file_key(base, &salt);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8] = FORMAT;
        header[9] = kind as u8;
        header[10] = source as u8;
        header[11..27].copy_from_slice(&salt);
        header[27..43].copy_from_slice(&check);
        out.write_all(&header)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| io::Error::other("key length"))?;
        Ok(Self { out, cipher, header, salt, buf: Vec::with_capacity(CHUNK), index: 0 })
    }

    fn seal_chunk(&mut self, last: bool) -> io::Result<()> {
        let sealed = self
            .cipher
            .encrypt(&nonce(&self.salt, self.index), Payload { msg: &self.buf, aad: &aad(&self.header, last) })
            .map_err(|_| io::Error::other("sealing failed"))?;
        self.out.write_all(&(sealed.len() as u32).to_le_bytes())?;
        self.out.write_all(&sealed)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the last chunk and flushes; returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.seal_chunk(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.seal_chunk(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What a sealed file's header says.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub kind: Kind,
    pub source: KeySource,
}

/// Reads a sealed file's header without a key.
pub fn read_header(bytes: &[u8]) -> Result<Header, SealedError> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(SealedError::NotSealed);
    }
    if bytes[8] > FORMAT {
        return Err(SealedError::NewerFormat(bytes[8]));
    }
    let kind = match bytes[9] {
        1 => Kind::Backup,
        2 => Kind::TenantExport,
        _ => return Err(SealedError::NotSealed),
    };
    let source = if bytes[10] == 2 { KeySource::Supplied } else { KeySource::Master };
    Ok(Header { kind, source })
}

/// Opens what a [`SealedWriter`] wrote, chunk by chunk, authenticating each before handing out
/// a byte of it. Errors come as `io::Error`s of kind `InvalidData` wrapping a [`SealedError`];
/// [`SealedError::from_io`] gets it back.
pub struct SealedReader<R: Read> {
    input: R,
    cipher: XChaCha20Poly1305,
    header: [u8; HEADER_LEN],
    salt: [u8; 16],
    plain: Vec<u8>,
    at: usize,
    index: u64,
    done: bool,
}

impl<R: Read> SealedReader<R> {
    /// Checks the header (magic, format, kind, key) and gets ready to read.
    pub fn open(mut input: R, expected: Kind, base: &SecretKey) -> Result<Self, SealedError> {
        let mut header = [0u8; HEADER_LEN];
        input.read_exact(&mut header).map_err(|e| if e.kind() == io::ErrorKind::UnexpectedEof { SealedError::NotSealed } else { e.into() })?;
        let parsed = read_header(&header)?;
        if parsed.kind != expected {
            return Err(SealedError::WrongKind { found: kind_name(header[9]), expected: kind_name(expected as u8) });
        }
        let salt: [u8; 16] = header[11..27].try_into().expect("16 bytes");
        let (key, check) = file_key(base, &salt);
        if !omnibridge_channel::constant_time_eq(&check, &header[27..43]) {
            return Err(SealedError::WrongKey(parsed.source.describe()));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| SealedError::WrongKey(parsed.source.describe()))?;
        Ok(Self { input, cipher, header, salt, plain: Vec::new(), at: 0, index: 0, done: false })
    }

    fn next_chunk(&mut self) -> Result<(), SealedError> {
        let mut len = [0u8; 4];
        match read_full(&mut self.input, &mut len)? {
            0 => return Err(SealedError::Truncated),
            4 => {}
            _ => return Err(SealedError::Truncated),
        }
        let len = u32::from_le_bytes(len) as usize;
        if !(TAG..=CHUNK + TAG).contains(&len) {
            return Err(SealedError::Damaged(self.index));
        }
        let mut sealed = vec![0u8; len];
        if read_full(&mut self.input, &mut sealed)? != len {
            return Err(SealedError::Truncated);
        }
        let nonce = nonce(&self.salt, self.index);
        let plain = match self.cipher.decrypt(&nonce, Payload { msg: &sealed, aad: &aad(&self.header, false) }) {
            Ok(p) => p,
            Err(_) => {
                let last = self.cipher.decrypt(&nonce, Payload { msg: &sealed, aad: &aad(&self.header, true) }).map_err(|_| SealedError::Damaged(self.index))?;
                let mut probe = [0u8; 1];
                if read_full(&mut self.input, &mut probe)? != 0 {
                    return Err(SealedError::TrailingData);
                }
                self.done = true;
                last
            }
        };
        self.plain = plain;
        self.at = 0;
        self.index += 1;
        Ok(())
    }
}

fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

impl<R: Read> Read for SealedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl SealedError {
    /// The sealed-file error inside an `io::Error` from a [`SealedReader`]; any other I/O error
    /// as it is.
    pub fn from_io(e: io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<SealedError>()) {
            if let Some(Ok(sealed)) = e.into_inner().map(|inner| inner.downcast::<SealedError>()) {
                return *sealed;
            }
            return SealedError::Io(io::Error::other("read failed"));
        }
        SealedError::Io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal(data: &[u8], key: &SecretKey) -> Vec<u8> {
        let mut w = SealedWriter::new(Vec::new(), Kind::Backup, KeySource::Supplied, key).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap()
    }

    fn open(file: &[u8], key: &SecretKey) -> Result<Vec<u8>, SealedError> {
        let mut r = SealedReader::open(file, Kind::Backup, key)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(SealedError::from_io)?;
        Ok(out)
    }

    #[test]
    fn what_is_sealed_opens_and_any_damage_is_named() {
        let key = SecretKey::random().unwrap();
        let data: Vec<u8> = (0..(CHUNK * 2 + 1234)).map(|i| (i * 7 % 251) as u8).collect();
        let file = seal(&data, &key);
        assert_eq!(open(&file, &key).unwrap(), data);
        assert_eq!(open(&seal(b"", &key), &key).unwrap(), b"");

        assert!(matches!(open(&file, &SecretKey::random().unwrap()), Err(SealedError::WrongKey(_))));
        let mut flipped = file.clone();
        flipped[HEADER_LEN + 4 + CHUNK + 100] ^= 1;
        assert!(matches!(open(&flipped, &key), Err(SealedError::Damaged(1))));
        let cut = &file[..file.len() - 10];
        assert!(matches!(open(cut, &key), Err(SealedError::Truncated)));
        let one_chunk_short = &file[..HEADER_LEN + 2 * (4 + CHUNK + TAG)];
        assert!(matches!(open(one_chunk_short, &key), Err(SealedError::Truncated)));
        let mut longer = file.clone();
        longer.extend_from_slice(b"junk");
        assert!(matches!(open(&longer, &key), Err(SealedError::TrailingData)));
        assert!(matches!(open(b"hello", &key), Err(SealedError::NotSealed)));
        assert!(matches!(SealedReader::open(&file[..], Kind::TenantExport, &key), Err(SealedError::WrongKind { .. })));
    }
}

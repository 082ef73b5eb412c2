//! IMAP: connect (implicit TLS, STARTTLS or plain), find new mail by UID, and wait for more with
//! IDLE where the server has it.
//!
//! Mail is identified by (UIDVALIDITY, UID): the caller keeps a [`Cursor`] and gets only what is
//! above it. A changed UIDVALIDITY means the server renumbered the mailbox: the cursor restarts
//! from zero and the hub's Message-ID dedup keeps anything from being imported twice.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use omnibridge_channel::AddressGuard;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

use crate::settings::{ImapSettings, TlsMode};

/// Where the importer stands in a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

/// One fetched mail.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    /// The whole mail, or only its header when it is larger than [`MAX_MAIL_BYTES`].
    pub raw: Vec<u8>,
    /// The mail's size when it was too large to import.
    pub too_large: Option<u32>,
}

/// Mail larger than this is not downloaded: its header is quarantined with the reason.
pub const MAX_MAIL_BYTES: u32 = 25 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("TLS with {0} failed: {1}")]
    Tls(String, std::io::Error),
    #[error("login refused: {0}")]
    Login(String),
    #[error("IMAP error: {0}")]
    Protocol(String),
    #[error("the server gives no UIDVALIDITY for {0}")]
    NoUidValidity(String),
    #[error("timed out")]
    Timeout,
}

impl From<async_imap::error::Error> for ImapError {
    fn from(e: async_imap::error::Error) -> Self {
        Self::Protocol(e.to_string())
    }
}

/// A plain or TLS connection.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<Stream>;

const IO_TIMEOUT: Duration = Duration::from_secs(30);

async fn within<T>(fut: impl Future<Output = Result<T, ImapError>>) -> Result<T, ImapError> {
    tokio::time::timeout(IO_TIMEOUT, fut).await.map_err(|_| ImapError::Timeout)?
}

/// TLS settings trusting the public web roots plus any extra certificates (a private CA, or a
/// test server's self-signed leaf).
pub fn tls_connector(extra_roots: &[CertificateDer<'static>]) -> TlsConnector {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots {
        let _ = roots.add(cert.clone());
    }
    let config = tokio_rustls::rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn wrap_tls(tcp: TcpStream, host: &str, extra_roots: &[CertificateDer<'static>]) -> Result<Stream, ImapError> {
    let name = ServerName::try_from(host.to_owned()).map_err(|e| ImapError::Tls(host.into(), std::io::Error::other(e)))?;
    let tls = tls_connector(extra_roots).connect(name, tcp).await.map_err(|e| ImapError::Tls(host.into(), e))?;
    Ok(Stream::Tls(Box::new(tls)))
}

/// Connects and logs in.
pub async fn connect(settings: &ImapSettings, guard: &AddressGuard) -> Result<Session, ImapError> {
    within(async {
        let addr = format!("{}:{}", settings.host, settings.port);
        let checked = crate::net::resolve(&settings.host, settings.port, guard).await.map_err(|e| ImapError::Connect(addr.clone(), e))?;
        let tcp = TcpStream::connect(&checked[..]).await.map_err(|e| ImapError::Connect(addr.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        let client = match settings.tls {
            TlsMode::Implicit => {
                let mut client = async_imap::Client::new(wrap_tls(tcp, &settings.host, &settings.extra_roots).await?);
                client.read_response().await.map_err(|e| ImapError::Protocol(e.to_string()))?;
                client
            }
            TlsMode::None => {
                let mut client = async_imap::Client::new(Stream::Plain(tcp));
                client.read_response().await.map_err(|e| ImapError::Protocol(e.to_string()))?;
                client
            }
            TlsMode::Starttls => {
                let mut plain = async_imap::Client::new(Stream::Plain(tcp));
                plain.read_response().await.map_err(|e| ImapError::Protocol(e.to_string()))?;
                plain.run_command_and_check_ok("STARTTLS", None).await?;
                let Stream::Plain(tcp) = plain.into_inner() else { return Err(ImapError::Protocol("unexpected stream".into())) };
                async_imap::Client::new(wrap_tls(tcp, &settings.host, &settings.extra_roots).await?)
            }
        };
        client.login(&settings.username, &settings.password).await.map_err(|(e, _)| ImapError::Login(e.to_string()))
    })
    .await
}

/// Whether the server offers IDLE.
pub async fn supports_idle(session: &mut Session) -> Result<bool, ImapError> {
    within(async { Ok(session.capabilities().await?.has_str("IDLE")) }).await
}

/// Selects the mailbox and fetches every mail above the cursor (at most `limit`, oldest first).
/// Returns the cursor the mailbox is at now (UIDVALIDITY may have changed) and the mails.
pub async fn fetch_new(session: &mut Session, mailbox: &str, cursor: Cursor, limit: usize) -> Result<(Cursor, Vec<Fetched>), ImapError> {
    within(async {
        let selected = session.select(mailbox).await?;
        let uid_validity = selected.uid_validity.ok_or_else(|| ImapError::NoUidValidity(mailbox.into()))?;
        let start = if uid_validity == cursor.uid_validity { cursor.last_uid } else { 0 };
        let base = Cursor { uid_validity, last_uid: start };
        if selected.exists == 0 {
            return Ok((base, Vec::new()));
        }
        let mut uids: Vec<u32> = session.uid_search(format!("UID {}:*", start + 1)).await?.into_iter().filter(|u| *u > start).collect();
        uids.sort_unstable();
        uids.truncate(limit);
        if uids.is_empty() {
            return Ok((base, Vec::new()));
        }
        let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        // Sizes first: a mail over the limit is never downloaded whole.
        let sizes: Vec<_> = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?.try_collect().await?;
        let too_large: std::collections::HashMap<u32, u32> =
            sizes.iter().filter_map(|f| Some((f.uid?, f.size?))).filter(|(_, size)| *size > MAX_MAIL_BYTES).collect();
        let small: Vec<String> = uids.iter().filter(|u| !too_large.contains_key(u)).map(u32::to_string).collect();
        let mut mails: Vec<Fetched> = Vec::with_capacity(uids.len());
        if !small.is_empty() {
            // BODY.PEEK: importing must not mark the customer's mail as read.
            let fetches: Vec<_> = session.uid_fetch(small.join(","), "(UID BODY.PEEK[])").await?.try_collect().await?;
            mails.extend(fetches.iter().filter_map(|f| Some(Fetched { uid: f.uid?, raw: f.body()?.to_vec(), too_large: None })));
        }
        if !too_large.is_empty() {
            let big = too_large.keys().map(u32::to_string).collect::<Vec<_>>().join(",");
            let headers: Vec<_> = session.uid_fetch(big, "(UID BODY.PEEK[HEADER])").await?.try_collect().await?;
            mails.extend(headers.iter().filter_map(|f| {
                let uid = f.uid?;
                Some(Fetched { uid, raw: f.header().unwrap_or_default().to_vec(), too_large: too_large.get(&uid).copied() })
            }));
        }
        mails.retain(|f| f.uid > start);
        mails.sort_by_key(|f| f.uid);
        Ok((base, mails))
    })
    .await
}

/// Waits in IDLE until the server reports a change or `wait` passes; returns the session.
pub async fn idle(session: Session, wait: Duration) -> Result<Session, ImapError> {
    let mut handle = session.idle();
    within(async { handle.init().await.map_err(ImapError::from) }).await?;
    let (done, _stop) = handle.wait_with_timeout(wait);
    let outcome = done.await;
    match outcome {
        Ok(IdleResponse::NewData(_) | IdleResponse::Timeout | IdleResponse::ManualInterrupt) => {}
        Err(e) => return Err(e.into()),
    }
    within(async { handle.done().await.map_err(ImapError::from) }).await
}

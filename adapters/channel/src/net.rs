//! Where an adapter may connect on a tenant's behalf.
//!
//! A tenant names the hosts its channels talk to (a mail server, a provider's API base URL), so
//! an adapter must not become a way into the hub's own network. The hub hands every adapter an
//! [`AddressGuard`] — the same address policy its webhooks obey — and an adapter that opens
//! connections itself (IMAP, SMTP) resolves the host first, checks every address, and connects
//! only to the addresses it checked. HTTP clients the hub builds carry the guard in their
//! resolver already.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Which addresses an adapter may connect to.
#[derive(Clone)]
pub struct AddressGuard(Arc<dyn Fn(IpAddr) -> bool + Send + Sync>);

impl AddressGuard {
    pub fn new(permits: impl Fn(IpAddr) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(permits))
    }

    /// Every address (an adapter's own tests against local servers).
    pub fn permit_all() -> Self {
        Self::new(|_| true)
    }

    pub fn permits(&self, ip: IpAddr) -> bool {
        (self.0)(ip)
    }

    /// Every address `host` resolved to must be permitted; one that is not fails them all.
    pub fn check(&self, host: &str, addrs: &[SocketAddr]) -> Result<(), Forbidden> {
        match addrs.iter().find(|a| !self.permits(a.ip())) {
            Some(bad) => Err(Forbidden { host: host.to_owned(), ip: bad.ip() }),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for AddressGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AddressGuard")
    }
}

/// A host that resolves to an address the guard refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves to {ip}, a private or reserved address the hub does not connect to on a tenant's behalf")]
pub struct Forbidden {
    pub host: String,
    pub ip: IpAddr,
}

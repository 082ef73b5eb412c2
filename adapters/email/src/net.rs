//! Resolving a mail server's host under the hub's address guard: the connection goes to the
//! addresses checked, not to a second lookup's answer.

use std::net::SocketAddr;

use omnibridge_channel::AddressGuard;

/// The host's addresses, every one permitted by `guard` (`PermissionDenied` otherwise).
pub async fn resolve(host: &str, port: u16, guard: &AddressGuard) -> std::io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::NotFound, format!("{host} does not resolve")));
    }
    guard.check(host, &addrs).map_err(|e| std::io::Error::new(std::io::ErrorKind::PermissionDenied, e.to_string()))?;
    Ok(addrs)
}

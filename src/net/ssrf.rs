//! Server-side request forgery guard for webhook URLs, and (through [`crate::net::outbound`]) for
//! every other connection made on a tenant's behalf.
//!
//! A tenant names the URL; the hub must not become a way into its own network. Addresses are
//! checked after resolution, inside the HTTP client's resolver, on every connection (so a DNS
//! answer that changes after the endpoint was created — rebinding — is caught too), and URLs
//! with a literal address are checked before the request. The block list is Svix's; operators
//! open holes with `webhooks.allow_private_cidrs`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// An IP network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.trim().parse::<IpAddr>().ok()?, Some(p.trim().parse::<u8>().ok()?)),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// IPv4-mapped IPv6 (`::ffff:10.0.0.1`) is checked as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

const BLOCKED_V4: &[(Ipv4Addr, u8)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8),         // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8),        // private
    (Ipv4Addr::new(100, 64, 0, 0), 10),     // carrier-grade NAT
    (Ipv4Addr::new(127, 0, 0, 0), 8),       // loopback
    (Ipv4Addr::new(169, 254, 0, 0), 16),    // link-local (cloud metadata lives here)
    (Ipv4Addr::new(172, 16, 0, 0), 12),     // private
    (Ipv4Addr::new(192, 0, 0, 0), 24),      // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24),      // documentation
    (Ipv4Addr::new(192, 88, 99, 0), 24),    // 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16),    // private
    (Ipv4Addr::new(198, 18, 0, 0), 15),     // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24),   // documentation
    (Ipv4Addr::new(203, 0, 113, 0), 24),    // documentation
    (Ipv4Addr::new(224, 0, 0, 0), 4),       // multicast
    (Ipv4Addr::new(240, 0, 0, 0), 4),       // reserved, and broadcast
];

const BLOCKED_V6: &[(Ipv6Addr, u8)] = &[
    (Ipv6Addr::UNSPECIFIED, 96),                              // IPv4-compatible (deprecated), :: and ::1 among them
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 32),        // Teredo (tunnels to any IPv4 address)
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10),        // site-local (deprecated, still routed by some)
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96),     // NAT64
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48),     // local NAT64
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64),         // discard
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),    // documentation
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16),        // 6to4
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),        // documentation
    (Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0), 16),        // SRv6
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),         // unique local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),        // link-local
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),         // multicast
];

/// Which addresses webhook requests may reach.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Vec<Cidr>,
}

impl AddressPolicy {
    pub fn new(allow: Vec<Cidr>) -> Self {
        Self { allow }
    }

    /// Whether `ip` is public (or explicitly allowed).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        if self.allow.iter().any(|c| c.contains(ip)) {
            return true;
        }
        let blocked = match ip {
            IpAddr::V4(_) => BLOCKED_V4.iter().any(|(a, p)| Cidr { addr: IpAddr::V4(*a), prefix: *p }.contains(ip)),
            IpAddr::V6(_) => BLOCKED_V6.iter().any(|(a, p)| Cidr { addr: IpAddr::V6(*a), prefix: *p }.contains(ip)),
        };
        !blocked
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("must be an absolute http:// or https:// URL")]
    Malformed,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password")]
    Credentials,
    #[error("{0} resolves to a private or reserved address ({1}); webhooks may only reach public addresses")]
    Private(String, IpAddr),
    #[error("{0} does not resolve")]
    Unresolvable(String),
}

/// Checks a webhook URL's form (not yet where it points).
pub fn parse_url(text: &str, https_only: bool) -> Result<reqwest::Url, UrlError> {
    let url = reqwest::Url::parse(text.trim()).map_err(|_| UrlError::Malformed)?;
    match url.scheme() {
        "https" => {}
        "http" if !https_only => {}
        "http" => return Err(UrlError::NotHttps),
        _ => return Err(UrlError::Malformed),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::Malformed);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(url)
}

/// The literal address in a URL's host, if it has one.
pub fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Resolves the URL's host and checks every address: how an endpoint is vetted at creation.
pub async fn check_url(url: &reqwest::Url, policy: &AddressPolicy) -> Result<(), UrlError> {
    let host = url.host_str().unwrap_or_default().to_owned();
    if let Some(ip) = literal_ip(url) {
        return if policy.permits(ip) { Ok(()) } else { Err(UrlError::Private(host, ip)) };
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host((host.as_str(), port)).await.map_err(|_| UrlError::Unresolvable(host.clone()))?.collect();
    if addrs.is_empty() {
        return Err(UrlError::Unresolvable(host));
    }
    match addrs.iter().find(|a| !policy.permits(a.ip())) {
        Some(bad) => Err(UrlError::Private(host, bad.ip())),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: the system resolver, then the policy on every answer. Any
/// forbidden address fails the whole lookup, so the connection is never attempted.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| !policy.permits(a.ip())) {
                let err: Box<dyn std::error::Error + Send + Sync> = Box::new(UrlError::Private(host, bad.ip()));
                return Err(err);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_reserved_addresses_are_blocked() {
        let policy = AddressPolicy::default();
        for blocked in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "192.0.2.10", "198.51.100.1", "203.0.113.5", "224.0.0.1", "255.255.255.255", "198.18.0.1", "::1", "::", "fe80::1",
            "fd00::1", "fc00::1", "ff02::1", "2001:db8::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1",
            "::127.0.0.1", "::10.0.0.1", "fec0::1", "feff::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!policy.permits(ip(blocked)), "{blocked} must be blocked");
        }
        for public in ["93.184.216.34", "1.1.1.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "2001:4860:4860::8888", "2a00:1450::1"] {
            assert!(policy.permits(ip(public)), "{public} is public");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_networks() {
        let policy = AddressPolicy::new(vec![Cidr::parse("127.0.0.0/8").unwrap(), Cidr::parse("fd12::/16").unwrap()]);
        assert!(policy.permits(ip("127.0.0.1")));
        assert!(policy.permits(ip("::ffff:127.0.0.1")));
        assert!(policy.permits(ip("fd12::5")));
        assert!(!policy.permits(ip("10.0.0.1")));
        assert!(!policy.permits(ip("::1")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn urls_are_checked_for_form() {
        assert!(parse_url("https://example.com/hook", true).is_ok());
        assert_eq!(parse_url("http://example.com/hook", true), Err(UrlError::NotHttps));
        assert!(parse_url("http://example.com/hook", false).is_ok());
        assert_eq!(parse_url("ftp://example.com", false), Err(UrlError::Malformed));
        assert_eq!(parse_url("not a url", false), Err(UrlError::Malformed));
        assert_eq!(parse_url("https://user:pw@example.com/", false), Err(UrlError::Credentials));
    }

    #[tokio::test]
    async fn literal_and_resolved_private_addresses_are_refused() {
        let policy = AddressPolicy::default();
        let literal = parse_url("http://127.0.0.1:9/x", false).unwrap();
        assert!(matches!(check_url(&literal, &policy).await, Err(UrlError::Private(_, _))));
        let mapped = parse_url("http://[::ffff:169.254.169.254]/latest", false).unwrap();
        assert!(matches!(check_url(&mapped, &policy).await, Err(UrlError::Private(_, _))));
        let named = parse_url("http://localhost:9/x", false).unwrap();
        assert!(matches!(check_url(&named, &policy).await, Err(UrlError::Private(_, _))));
        let allowed = AddressPolicy::new(vec![Cidr::parse("127.0.0.0/8").unwrap(), Cidr::parse("::1/128").unwrap()]);
        assert_eq!(check_url(&named, &allowed).await, Ok(()));
    }
}

#[cfg(test)]
mod fuzzed {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_endpoint_url_is_accepted_or_refused_without_panicking(text in "\\PC{0,120}", https_only in any::<bool>()) {
            if let Ok(url) = super::parse_url(&text, https_only) {
                prop_assert!(url.scheme() == "https" || (!https_only && url.scheme() == "http"));
                let _ = super::literal_ip(&url);
            }
            let _ = super::Cidr::parse(&text);
        }

        #[test]
        fn url_shaped_text_is_handled(host in "[a-z0-9.:\\[\\]%-]{0,40}", port in proptest::option::of(any::<u16>()), path in "[ -~]{0,30}") {
            let text = match port { Some(p) => format!("https://{host}:{p}/{path}"), None => format!("http://{host}/{path}") };
            let _ = super::parse_url(&text, false);
        }
    }
}

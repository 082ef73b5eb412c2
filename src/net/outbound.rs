//! Connections the hub makes on a tenant's behalf — provider APIs and their media, Telegram
//! files, IMAP and SMTP servers — pass the same connect-time address guard as webhooks
//! ([`crate::net::ssrf`]): every address a name resolves to is checked when the connection
//! is made (DNS rebinding included), literal addresses before the request, and every redirect
//! hop the same way. `outbound.allow_private_cidrs` opens holes (a mail server on the local
//! network, a provider fake in tests); webhooks keep their own `webhooks.allow_private_cidrs`,
//! since a tenant's receivers and its mail server are different risks.

use std::sync::Arc;
use std::time::Duration;

use omnibridge_channel::AddressGuard;

use crate::net::ssrf::{AddressPolicy, GuardedResolver, literal_ip};

/// At most this many redirects are followed.
const MAX_REDIRECTS: usize = 5;

/// The adapters' guard over `policy`.
pub fn guard(policy: Arc<AddressPolicy>) -> AddressGuard {
    AddressGuard::new(move |ip| policy.permits(ip))
}

/// Redirects are followed (provider media redirects to a CDN) only to http(s) URLs whose
/// literal address, if they have one, the policy permits; names are checked by the resolver.
pub fn redirect_policy(policy: Arc<AddressPolicy>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error("too many redirects");
        }
        let url = attempt.url();
        if !matches!(url.scheme(), "http" | "https") {
            return attempt.error("a redirect to a scheme other than http(s)");
        }
        match literal_ip(url) {
            Some(ip) if !policy.permits(ip) => attempt.error(format!("a redirect to {ip}, a private or reserved address")),
            _ => attempt.follow(),
        }
    })
}

/// The HTTP client for provider APIs: guarded resolver and guarded redirects. A URL with a
/// literal address never meets the resolver: such base URLs are refused when the channel is
/// configured (`channels::settings::vet_destinations`), and media is fetched only from them.
pub fn provider_client(policy: Arc<AddressPolicy>) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("omnibridge/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        .dns_resolver(Arc::new(GuardedResolver { policy: policy.clone() }))
        .redirect(redirect_policy(policy))
        .build()
}

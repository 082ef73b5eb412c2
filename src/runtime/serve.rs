//! The HTTP server loop: axum's router on hyper's HTTP/1.1 connections, with what
//! `axum::serve` does not offer — a deadline for a request's headers, so a client that trickles
//! them in (slowloris) is cut off instead of holding a connection and its task forever — and a
//! graceful shutdown that lets open requests finish.
//!
//! It also decides who the client is, once for every layer above: the connection's peer, or —
//! when the peer is one of `server.trusted_proxies` — the right-most address of `Forwarded` /
//! `X-Forwarded-For` that is not a trusted proxy. Rate limits, tenants' IP allow-lists, the audit
//! log and widget technical data all read that address ([`ConnectInfo`]); the socket's own peer
//! stays available as [`Peer`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::net::ssrf::Cidr;

/// The connection's own peer, whatever the forwarding headers say.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The address one hop names: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`, `"[2001:db8::1]"`.
fn hop_address(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    text.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The hops a request went through, oldest first, from `Forwarded` (RFC 7239) or else
/// `X-Forwarded-For`; `None` when a hop cannot be read.
fn forwarded_hops(headers: &axum::http::HeaderMap) -> Option<Vec<IpAddr>> {
    let forwarded: Vec<&str> = headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()).collect();
    if !forwarded.is_empty() {
        let mut hops = Vec::new();
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let node = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then_some(v)
            })?;
            hops.push(hop_address(node)?);
        }
        return Some(hops);
    }
    let listed: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    listed.iter().flat_map(|v| v.split(',')).map(hop_address).collect()
}

/// Who the client is: the peer, unless the peer is a trusted proxy (see the module docs).
pub fn client_address(peer: SocketAddr, headers: &axum::http::HeaderMap, trusted: &[Cidr]) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer.ip()) {
        return peer;
    }
    let Some(hops) = forwarded_hops(headers) else { return peer };
    let mut client = peer.ip();
    for hop in hops.into_iter().rev() {
        client = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    SocketAddr::new(client, 0)
}

/// Serves `app` until `shutdown`, then waits for open connections to finish their requests.
pub async fn serve(listener: TcpListener, app: Router, header_timeout: Duration, trusted: Arc<Vec<Cidr>>, shutdown: CancellationToken) {
    let (close_tx, close_rx) = watch::channel(());
    loop {
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let trusted = trusted.clone();
        let service = app.clone().map_request(move |request: axum::http::Request<Incoming>| {
            let mut request = request.map(Body::new);
            let client = client_address(remote, request.headers(), &trusted);
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(client));
            request.extensions_mut().insert(Peer(remote));
            request
        });
        let (close_rx, shutdown) = (close_rx.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)).with_upgrades());
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(close_rx);
        });
    }
    drop(close_rx);
    drop(listener);
    close_tx.closed().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_right_most_hop_that_is_not_a_trusted_proxy() {
        let trusted = vec![Cidr::parse("10.0.0.0/8").unwrap(), Cidr::parse("127.0.0.1").unwrap()];
        let proxy: SocketAddr = "10.0.0.5:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.7:5000".parse().unwrap();
        let spoofed = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(client_address(proxy, &spoofed, &trusted).ip().to_string(), "203.0.113.9", "what the client itself wrote is not believed");
        assert_eq!(client_address(stranger, &spoofed, &trusted), stranger, "only a trusted peer's headers count");
        assert_eq!(client_address(proxy, &spoofed, &[]), proxy, "no trusted proxies: headers ignored");
        let rfc = headers(&[("forwarded", "for=192.0.2.43, for=\"[2001:db8:cafe::17]:4711\";proto=https")]);
        assert_eq!(client_address(proxy, &rfc, &trusted).ip().to_string(), "2001:db8:cafe::17");
        let garbage = headers(&[("x-forwarded-for", "not-an-address")]);
        assert_eq!(client_address(proxy, &garbage, &trusted), proxy);
        let all_trusted = headers(&[("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(client_address(proxy, &all_trusted, &trusted).ip().to_string(), "10.1.1.1");
    }
}

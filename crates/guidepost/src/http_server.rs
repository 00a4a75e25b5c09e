//! The HTTP/1.1 server loop. `axum::serve` has no read timeouts, so a client that sends
//! its headers or its body a byte at a time could hold a connection (and its memory)
//! forever. This loop serves the same router through hyper with a header-read
//! timeout; bodies get theirs from a layer (`tower_http::timeout`) in `app.rs`.
//! Accepted sockets use `TCP_NODELAY`: session-era answers are SSE written in pieces, and
//! without it each call waited ~40 ms for the client's delayed ACK.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::http::HeaderMap;
use guidepost_core::rate_limit::{AddressPrefixes, ClientKey};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use ipnet::IpNet;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How the loop serves.
pub struct ServeOptions {
    pub header_read_timeout: Duration,
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<IpNet>,
    /// The prefix of a client's address that per-address limits key on (`--address-prefix-v4`, `-v6`).
    pub address_prefixes: AddressPrefixes,
}

/// Serves `router` on `listener` until `stop` is cancelled, then waits for the open
/// connections to finish (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    stop: CancellationToken,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let proxies: Arc<[IpNet]> = options.trusted_proxies.into();
    let prefixes = options.address_prefixes;
    let connections = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(%error, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY");
        }
        let proxies = proxies.clone();
        let service = router
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                let client = client_address(peer, request.headers(), &proxies);
                // Logs name the client's full address; limits, its prefix alone.
                let key = ClientKey(prefixes.key(client.ip()));
                request.extensions_mut().insert(ConnectInfo(client));
                request.extensions_mut().insert(key);
                request
            });
        // No upgrades: nothing here speaks WebSocket.
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
}

/// The client a request comes from: the peer, unless the peer is a trusted proxy; then
/// the nearest address in `X-Forwarded-For` that is not one of ours (proxies append, so
/// the right end is the most trustworthy). Rate limits and logs key on it.
fn client_address(peer: SocketAddr, headers: &HeaderMap, proxies: &[IpNet]) -> SocketAddr {
    let trusted = |ip: &IpAddr| proxies.iter().any(|net| net.contains(ip));
    if !trusted(&peer.ip()) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter_map(|hop| hop.parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    let client = forwarded.into_iter().rev().find(|ip| !trusted(ip));
    client.map_or(peer, |ip| SocketAddr::new(ip, peer.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", xff.parse().unwrap());
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        let stranger: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        let client = |peer, xff| {
            client_address(peer, &headers(xff), &proxies)
                .ip()
                .to_string()
        };
        assert_eq!(client(proxy, "203.0.113.7"), "203.0.113.7");
        // A client cannot choose its address by sending the header itself.
        assert_eq!(
            client(proxy, "192.0.2.1, 203.0.113.7, 10.9.9.9"),
            "203.0.113.7"
        );
        assert_eq!(client(stranger, "203.0.113.7"), "198.51.100.9");
        assert_eq!(client(proxy, "garbage"), "10.1.2.3");
    }
}

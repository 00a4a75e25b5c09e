//! The egress fence of a process upstream that declares `network`: the process has a
//! network namespace of its own with only loopback, and on that loopback, at
//! `127.0.0.1:PORT`, a proxy that Guidepost runs (its socket is made inside the
//! namespace from a thread that enters it, then served by Guidepost's runtime). The proxy
//! takes `CONNECT host:port` and absolute-form `http://` requests, resolves the host
//! itself, and connects only to addresses the outbound fence allows: public ones (or
//! private ones too under `--upstream-allow-private`), never the platform's own ports
//! (its listener, its database) on a non-public address. `HTTPS_PROXY` and `HTTP_PROXY`
//! name it in the upstream's environment; Landlock lets the process connect to that port
//! and no other.
//!
//! Hand-rolled: the proxy is a few dozen lines over tokio, and a crate would bring a
//! second policy to keep in step with `guidepost_outbound::is_public`.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The fence's port inside every upstream's namespace.
pub const PORT: u16 = 3128;
/// The fence's address as an upstream's proxy variables name it.
pub fn proxy_url() -> String {
    format!("http://127.0.0.1:{PORT}")
}

/// Connections one fence relays at once: each holds two of Guidepost's descriptors, and
/// one upstream once took 19,846 of a node's 20,000 through an unbounded fence.
const MAX_CONNECTIONS: usize = 256;
/// The longest request head the proxy reads.
const HEAD_LIMIT: usize = 16 * 1024;
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the egress fence could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    #[error("the egress fence's thread panicked")]
    ThreadPanicked,
    #[error("cannot open the egress fence in the upstream's network: {0}")]
    NotOpened(#[source] io::Error),
    #[error(transparent)]
    NotServed(io::Error),
}

/// Why the fence did not connect a client to where it asked: its words go back to the
/// client in the fence's answer.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("{host} is not a registry this installer may reach")]
    NotARegistry { host: String },
    #[error("{host} is not among the hosts this upstream may reach (its network allow list)")]
    NotAllowed { host: String },
    #[error("cannot resolve {host}: {source}")]
    Unresolved {
        host: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{host}:{port} is not reachable from an upstream (private addresses and the platform's own ports are fenced)"
    )]
    Fenced { host: String, port: u16 },
    #[error("{host}:{port} did not accept within {CONNECT_TIMEOUT:?}")]
    TimedOut { host: String, port: u16 },
    #[error("cannot connect to {host}:{port}: {source}")]
    NotConnected {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
}

/// A running fence; dropping it stops it.
pub struct Egress {
    task: JoinHandle<()>,
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which destinations the fence lets through.
#[derive(Debug, Clone)]
pub struct Fence {
    allow_private: bool,
    platform_ports: Vec<u16>,
    /// Only these host names (an installer's registries, or an upstream's allow list),
    /// when set.
    only: Option<Vec<String>>,
    /// Whether `only` is an installer's registries (for the refusal's words).
    registries: bool,
    /// Connections relayed at once; one more is answered 503 and closed.
    max_connections: usize,
}

impl Fence {
    /// Any public address, private ones too when `allow_private`; never the platform's
    /// own ports on a non-public address.
    pub fn open(allow_private: bool, platform_ports: Vec<u16>) -> Self {
        Fence {
            allow_private,
            platform_ports,
            only: None,
            registries: false,
            max_connections: MAX_CONNECTIONS,
        }
    }

    /// This fence, to `hosts` only (an upstream's allow list): each must still resolve
    /// to an address the fence allows.
    pub fn limited_to(self, hosts: Vec<String>) -> Self {
        let hosts = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        Fence {
            only: Some(hosts),
            registries: false,
            ..self
        }
    }

    /// Only `hosts`, named by the operator (a registry mirror may be on a private
    /// network, so their private addresses are allowed), never the platform's own ports
    /// on a non-public address.
    pub fn only(hosts: Vec<String>, platform_ports: Vec<u16>) -> Self {
        let hosts = hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
        Fence {
            allow_private: true,
            platform_ports,
            only: Some(hosts),
            registries: true,
            max_connections: MAX_CONNECTIONS,
        }
    }

    /// Whether `host` (as the client named it) may be asked for at all.
    fn names(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.only.as_ref().is_none_or(|only| only.contains(&host))
    }

    fn allows(&self, address: SocketAddr) -> bool {
        let ip = address.ip();
        if ip.is_unspecified() {
            return false;
        }
        let public = guidepost_outbound::is_public(ip);
        if public {
            return true;
        }
        self.allow_private && !self.platform_ports.contains(&address.port())
    }
}

impl Egress {
    /// Opens the fence inside the network namespace of `pid`, and serves it (a
    /// container's, which the engine makes).
    pub fn start(pid: u32, fence: Fence) -> Result<Self, EgressError> {
        let listener = on_a_thread(move || listen_inside(pid))?;
        Self::serve(listener, fence)
    }

    /// Makes a network namespace with the fence already listening in it, and returns the
    /// fence and the namespace for a process to enter between fork and exec: its first
    /// connection cannot come before the fence is there.
    pub fn open(fence: Fence) -> Result<(Self, OwnedFd), EgressError> {
        let (listener, namespace) = on_a_thread(listen_in_a_new_namespace)?;
        Ok((Self::serve(listener, fence)?, namespace))
    }

    fn serve(listener: std::net::TcpListener, fence: Fence) -> Result<Self, EgressError> {
        listener
            .set_nonblocking(true)
            .map_err(EgressError::NotServed)?;
        let listener = TcpListener::from_std(listener).map_err(EgressError::NotServed)?;
        // The relays are the accept loop's own: stopping the fence ends them too.
        let task = tokio::spawn(async move {
            let mut relays = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { break };
                        if relays.len() >= fence.max_connections {
                            turn_away(client, fence.max_connections);
                            continue;
                        }
                        let fence = fence.clone();
                        relays.spawn(async move {
                            if let Err(error) = relay(client, &fence).await {
                                tracing::debug!(%error, "an egress connection ended");
                            }
                        });
                    }
                    Some(_) = relays.join_next(), if !relays.is_empty() => {}
                }
            }
        });
        Ok(Egress { task })
    }
}

/// Runs `work` on a thread of its own: a network namespace is entered or made per
/// thread, and Guidepost's own threads must stay in the host's.
fn on_a_thread<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, EgressError> {
    std::thread::spawn(work)
        .join()
        .map_err(|_| EgressError::ThreadPanicked)?
        .map_err(EgressError::NotOpened)
}

/// Makes a network namespace (for this thread only), brings its loopback up, listens on
/// the fence's port, and keeps the namespace open for the process to enter.
fn listen_in_a_new_namespace() -> io::Result<(std::net::TcpListener, OwnedFd)> {
    // SAFETY: a plain system call; CLONE_NEWNET alone changes only the calling thread.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loopback_up()?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", PORT))?;
    let namespace = std::fs::File::open("/proc/thread-self/ns/net")?;
    Ok((listener, OwnedFd::from(namespace)))
}

/// Enters the network namespace of `pid`, brings loopback up, and listens on the fence's
/// port.
fn listen_inside(pid: u32) -> io::Result<std::net::TcpListener> {
    let namespace = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
    // SAFETY: setns on a descriptor we opened; it changes only this thread.
    if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    loopback_up()?;
    std::net::TcpListener::bind(("127.0.0.1", PORT))
}

fn loopback_up() -> io::Result<()> {
    // SAFETY: a datagram socket used only for two ioctls on a zeroed, named request.
    unsafe {
        let socket = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if socket < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut request: libc::ifreq = std::mem::zeroed();
        for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
            *slot = *byte as libc::c_char;
        }
        let mut result = libc::ioctl(socket, libc::SIOCGIFFLAGS, &mut request);
        if result == 0 {
            request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(socket, libc::SIOCSIFFLAGS, &request);
        }
        let error = io::Error::last_os_error();
        libc::close(socket);
        if result != 0 {
            return Err(error);
        }
    }
    Ok(())
}

/// One client connection: read the head, check the destination, tunnel or forward.
async fn relay(mut client: TcpStream, fence: &Fence) -> io::Result<()> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut client))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request head"))??;
    let Some(request) = Request::parse(&head) else {
        return refuse(&mut client, "400 Bad Request", "not a proxy request").await;
    };
    let mut upstream = match connect(&request.host, request.port, fence).await {
        Ok(stream) => stream,
        Err(why) => return refuse(&mut client, "403 Forbidden", &why.to_string()).await,
    };
    if request.tunnel {
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
    } else {
        upstream.write_all(&request.forwarded).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// Answers a connection past the cap without reading it (a write that would block is
/// not waited for) and closes it.
fn turn_away(client: TcpStream, cap: usize) {
    let body = format!("guidepost egress fence: more than {cap} connections at once\n");
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.try_write(answer.as_bytes());
}

async fn refuse(client: &mut TcpStream, status: &str, why: &str) -> io::Result<()> {
    let body = format!("guidepost egress fence: {why}\n");
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    client.write_all(answer.as_bytes()).await
}

/// Reads up to the blank line that ends a request head (and whatever came with it).
async fn read_head(client: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buffer = [0u8; 2048];
    loop {
        let read = client.read(&mut buffer).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&buffer[..read]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > HEAD_LIMIT {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
    }
}

/// A proxy request: where to, and for a plain HTTP request, the bytes to send there.
#[derive(Debug, PartialEq)]
struct Request {
    host: String,
    port: u16,
    tunnel: bool,
    forwarded: Vec<u8>,
}

impl Request {
    fn parse(head: &[u8]) -> Option<Self> {
        let line_end = head.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&head[..line_end]).ok()?;
        let mut parts = line.split(' ');
        let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !version.starts_with("HTTP/1.") {
            return None;
        }
        if method == "CONNECT" {
            let (host, port) = split_host_port(target, None)?;
            return Some(Request {
                host,
                port,
                tunnel: true,
                forwarded: Vec::new(),
            });
        }
        let rest = target.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let (host, port) = split_host_port(authority, Some(80))?;
        let mut forwarded = format!("{method} {path} {version}").into_bytes();
        forwarded.extend_from_slice(&head[line_end..]);
        Some(Request {
            host,
            port,
            tunnel: false,
            forwarded,
        })
    }
}

/// `host:port`, `[v6]:port`, or a bare host with the default port.
fn split_host_port(authority: &str, default: Option<u16>) -> Option<(String, u16)> {
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        let port = match rest.strip_prefix(':') {
            Some(port) => port.parse().ok()?,
            None => default?,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default?)),
    }
}

/// Connects to an address of `host` that the fence allows.
async fn connect(host: &str, port: u16, fence: &Fence) -> Result<TcpStream, Refusal> {
    if !fence.names(host) {
        let host = host.to_owned();
        return Err(match fence.registries {
            true => Refusal::NotARegistry { host },
            false => Refusal::NotAllowed { host },
        });
    }
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| Refusal::Unresolved {
                host: host.into(),
                source,
            })?
            .collect(),
    };
    let allowed: Vec<SocketAddr> = addresses.into_iter().filter(|a| fence.allows(*a)).collect();
    if allowed.is_empty() {
        return Err(Refusal::Fenced {
            host: host.into(),
            port,
        });
    }
    connect_any(&allowed, host, port).await
}

/// Connects to the first of `addresses` that accepts, in the resolver's order, within
/// [`CONNECT_TIMEOUT`] for them all: a name with an address that refuses (a dual-stack
/// name whose service listens on one family, a record of a host that is down) still
/// reaches the next.
async fn connect_any(
    addresses: &[SocketAddr],
    host: &str,
    port: u16,
) -> Result<TcpStream, Refusal> {
    let attempts = async {
        let mut last = io::Error::from(io::ErrorKind::AddrNotAvailable);
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = error,
            }
        }
        Err(last)
    };
    tokio::time::timeout(CONNECT_TIMEOUT, attempts)
        .await
        .map_err(|_| Refusal::TimedOut {
            host: host.into(),
            port,
        })?
        .map_err(|source| Refusal::NotConnected {
            host: host.into(),
            port,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_allows_public_addresses_and_private_ones_only_when_told() {
        let strict = Fence::open(false, vec![5432, 8080]);
        let lax = Fence {
            allow_private: true,
            ..strict.clone()
        };
        let public: SocketAddr = "1.1.1.1:443".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:9000".parse().unwrap();
        let database: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let metadata: SocketAddr = "169.254.169.254:80".parse().unwrap();
        assert!(strict.allows(public) && lax.allows(public));
        assert!(!strict.allows(local) && lax.allows(local));
        assert!(!strict.allows(metadata));
        assert!(
            !lax.allows(database),
            "the platform's own port, even when private is allowed"
        );
        assert!(!lax.allows("0.0.0.0:9000".parse().unwrap()));
    }

    /// Whether the test runs as root (network namespaces are made by root only); a skip
    /// is recorded otherwise.
    fn as_root() -> bool {
        // SAFETY: geteuid only reads.
        let root = unsafe { libc::geteuid() } == 0;
        guidepost_testkit::require_environment(
            "root",
            root,
            "network namespaces are made by root only",
        )
    }

    #[test]
    fn the_fence_listens_before_any_process_enters_its_namespace() {
        if !as_root() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (fence, namespace) = Egress::open(Fence::open(false, Vec::new())).unwrap();
            // What a process does first, from inside: connect to the fence.
            let first = std::thread::spawn(move || {
                // SAFETY: setns on a descriptor we hold; it changes only this thread.
                if unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                std::net::TcpStream::connect(("127.0.0.1", PORT)).map(drop)
            })
            .join()
            .unwrap();
            assert!(first.is_ok(), "{first:?}");
            drop(fence);
        });
    }

    #[test]
    fn an_installers_fence_names_its_registries_only() {
        let fence = Fence::only(vec!["Registry.Example".into()], vec![5432]);
        assert!(fence.names("registry.example") && fence.names("REGISTRY.example."));
        assert!(!fence.names("evil.example") && !fence.names("127.0.0.1"));
        assert!(
            fence.allows("10.0.0.7:8080".parse().unwrap()),
            "a private mirror"
        );
        assert!(
            !fence.allows("127.0.0.1:5432".parse().unwrap()),
            "never the database"
        );
        assert!(Fence::open(false, Vec::new()).names("anything.example"));
    }

    #[test]
    fn a_fence_relays_at_most_its_cap_of_connections_at_once() {
        if !as_root() {
            return;
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fence = Fence {
            max_connections: 3,
            ..Fence::open(false, Vec::new())
        };
        let (egress, namespace) = runtime.block_on(async { Egress::open(fence) }).unwrap();
        // From inside: four connections that send nothing; the fourth is turned away.
        let answers = std::thread::spawn(move || {
            // SAFETY: setns on a descriptor we hold; it changes only this thread.
            assert_eq!(
                unsafe { libc::setns(namespace.as_raw_fd(), libc::CLONE_NEWNET) },
                0
            );
            let held: Vec<_> = (0..3)
                .map(|_| std::net::TcpStream::connect(("127.0.0.1", PORT)).unwrap())
                .collect();
            let mut fourth = std::net::TcpStream::connect(("127.0.0.1", PORT)).unwrap();
            let mut answer = String::new();
            std::io::Read::read_to_string(&mut fourth, &mut answer).unwrap();
            drop(held);
            answer
        })
        .join()
        .unwrap();
        assert!(answers.starts_with("HTTP/1.1 503"), "{answers}");
        assert!(answers.contains("more than 3 connections"), "{answers}");
        drop(egress);
    }

    #[test]
    fn proxy_requests_are_read_in_both_forms() {
        let connect =
            Request::parse(b"CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (connect.host.as_str(), connect.port, connect.tunnel),
            ("example.com", 443, true)
        );
        let get = Request::parse(b"GET http://[::1]:8080/a?b HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(
            (get.host.as_str(), get.port, get.tunnel),
            ("::1", 8080, false)
        );
        assert!(get.forwarded.starts_with(b"GET /a?b HTTP/1.1\r\nHost: x"));
        let bare = Request::parse(b"GET http://example.com HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(
            (bare.port, bare.forwarded.starts_with(b"GET / HTTP/1.0")),
            (80, true)
        );
        assert!(Request::parse(b"GET /relative HTTP/1.1\r\n\r\n").is_none());
        assert!(Request::parse(b"CONNECT user@host:1 HTTP/1.1\r\n\r\n").is_none());
    }

    #[tokio::test]
    async fn an_address_that_refuses_gives_way_to_the_next() {
        let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open_address = open.local_addr().unwrap();
        let closed_address = {
            let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
            closed.local_addr().unwrap()
        };
        let stream = connect_any(&[closed_address, open_address], "h", 1)
            .await
            .expect("the second address accepts");
        assert_eq!(stream.peer_addr().unwrap(), open_address);
        let refused = connect_any(&[closed_address], "h", 1).await;
        assert!(matches!(refused, Err(Refusal::NotConnected { .. })));
    }
}

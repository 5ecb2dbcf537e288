//! Opening one TCP connection to the gateway, optionally from the next of a list of local
//! source addresses (round-robin per address family). [`TcpConnector`] is a tower
//! `Service<Uri>` that sits under hyper-rustls's `HttpsConnector` in place of hyper-util's
//! `HttpConnector`; TLS, HTTP, agents and metrics are not its business.
//!
//! Why source addresses: on Linux one (source address, destination) pair gets at most the
//! ephemeral port range (~28,000 ports), and `connect()` slows sharply past ~14,000
//! connections on one pair. Binding each new socket to 127.0.0.2, .3, … in turn spreads
//! the connections over several pairs. Each socket is bound with `IP_BIND_ADDRESS_NO_PORT`
//! set, so `bind()` fixes only the address and the port is chosen at `connect()` per
//! 4-tuple — without it `bind()` would reserve a port per address for every destination
//! and the range would run out just the same.
//!
//! Errors stay `io::Error` with the kernel's kind (refused, timed out, address not
//! available), so the caller's classification keeps working; a source address that cannot
//! be bound is named in the message.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

/// Opens TCP connections, from the configured source addresses in turn (none: the kernel
/// picks the source, as a plain `connect()` does). Clones share the rotation.
#[derive(Clone, Debug, Default)]
pub struct TcpConnector {
    sources: Arc<Sources>,
}

#[derive(Debug, Default)]
struct Sources {
    v4: Rotation,
    v6: Rotation,
}

/// The addresses of one family and the turn counter.
#[derive(Debug, Default)]
struct Rotation {
    addrs: Vec<IpAddr>,
    next: AtomicUsize,
}

impl Rotation {
    fn next(&self) -> Option<IpAddr> {
        if self.addrs.is_empty() {
            return None;
        }
        let turn = self.next.fetch_add(1, Ordering::Relaxed);
        self.addrs.get(turn % self.addrs.len()).copied()
    }
}

impl TcpConnector {
    /// `sources`: local addresses to bind, used in turn within each family (empty: no
    /// binding).
    pub fn new(sources: &[IpAddr]) -> TcpConnector {
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = sources.iter().partition(|a| a.is_ipv4());
        TcpConnector {
            sources: Arc::new(Sources {
                v4: Rotation {
                    addrs: v4,
                    next: AtomicUsize::new(0),
                },
                v6: Rotation {
                    addrs: v6,
                    next: AtomicUsize::new(0),
                },
            }),
        }
    }

    fn has_sources(&self) -> bool {
        !(self.sources.v4.addrs.is_empty() && self.sources.v6.addrs.is_empty())
    }

    /// Checks that every source address can be bound here (it is an address of this
    /// machine), so a typo fails before any traffic rather than on every n-th connection.
    /// No port is taken: the sockets are bound with `IP_BIND_ADDRESS_NO_PORT` and closed.
    pub fn check_sources(&self) -> Result<(), String> {
        let all = self.sources.v4.addrs.iter().chain(&self.sources.v6.addrs);
        for &source in all {
            let socket = new_socket(source).map_err(|e| format!("cannot open a socket: {e}"))?;
            bind_source(&socket, source).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Opens one connection to `addr` (no timeout here: the caller bounds the whole
    /// connect), with TCP_NODELAY set.
    pub async fn connect_addr(&self, addr: SocketAddr) -> io::Result<TcpStream> {
        let socket = new_socket(addr.ip())?;
        let source = if self.has_sources() {
            let rotation = if addr.is_ipv4() {
                &self.sources.v4
            } else {
                &self.sources.v6
            };
            let source = rotation.next().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!(
                        "no {} source address is configured to reach {addr} from",
                        if addr.is_ipv4() { "IPv4" } else { "IPv6" }
                    ),
                )
            })?;
            bind_source(&socket, source)?;
            Some(source)
        } else {
            None
        };
        let stream = socket.connect(addr).await.map_err(|e| match source {
            // Out of ports for this 4-tuple: say which pair ran out.
            Some(source) if e.kind() == io::ErrorKind::AddrNotAvailable => io::Error::new(
                e.kind(),
                format!("no free port from source address {source} to {addr}: {e}"),
            ),
            _ => e,
        })?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Resolves `uri`'s host and connects to its addresses in order; the first that
    /// accepts wins, else the last error is returned.
    async fn connect_uri(self, uri: Uri) -> io::Result<TcpStream> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        for addr in resolve(&uri).await? {
            match self.connect_addr(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl tower_service::Service<Uri> for TcpConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect_uri(uri).await.map(TokioIo::new) })
    }
}

/// The socket addresses of `uri`'s host and port (default 443 for https, else 80); a
/// literal IP is used as is, a name is looked up.
async fn resolve(uri: &Uri) -> io::Result<Vec<SocketAddr>> {
    let host = uri
        .host()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the URL has no host"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ));
    }
    Ok(addrs)
}

fn new_socket(ip: IpAddr) -> io::Result<TcpSocket> {
    if ip.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
}

/// Binds `socket` to (`source`, any port), the port left to `connect()`. The error keeps
/// the kernel's kind and names the address.
fn bind_source(socket: &TcpSocket, source: IpAddr) -> io::Result<()> {
    bind_address_no_port(socket)
        .map_err(|e| io::Error::new(e.kind(), format!("source address {source}: {e}")))?;
    socket.bind(SocketAddr::new(source, 0)).map_err(|e| {
        let hint = if e.kind() == io::ErrorKind::AddrNotAvailable {
            " (it is not an address of this machine; any of 127.0.0.0/8 is, on Linux)"
        } else {
            ""
        };
        io::Error::new(
            e.kind(),
            format!("cannot bind source address {source}: {e}{hint}"),
        )
    })
}

/// Sets `IP_BIND_ADDRESS_NO_PORT` (Linux 4.2+): `bind()` takes the address only, the port
/// is chosen at `connect()` for the 4-tuple. Neither tokio nor socket2 exposes the option.
#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: the descriptor belongs to `socket`, which is open for the whole call; the
    // pointer and length describe `one`, a live c_int.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere `bind()` takes a port too; fine for the few connections of other systems.
#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &TcpSocket) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().expect("ip")).collect()
    }

    #[test]
    fn sources_rotate_within_each_family() {
        let c = TcpConnector::new(&ips(&["127.0.0.2", "::1", "127.0.0.3"]));
        let v4: Vec<_> = (0..4).map(|_| c.sources.v4.next().expect("v4")).collect();
        assert_eq!(
            v4,
            ips(&["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"])
        );
        assert_eq!(c.sources.v6.next(), Some(ips(&["::1"])[0]));
        let none = TcpConnector::new(&[]);
        assert!(!none.has_sources());
        assert_eq!(none.sources.v4.next(), None);
    }

    #[tokio::test]
    async fn a_missing_family_is_named() {
        let c = TcpConnector::new(&ips(&["::1"]));
        let e = c
            .connect_addr("127.0.0.1:9".parse().expect("addr"))
            .await
            .expect_err("no IPv4 source");
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
        assert!(e.to_string().contains("no IPv4 source address"), "{e}");
    }

    #[tokio::test]
    async fn resolves_literal_addresses_and_default_ports() {
        let uri: Uri = "https://[::1]/x".parse().expect("uri");
        assert_eq!(
            resolve(&uri).await.expect("literal"),
            vec!["[::1]:443".parse::<SocketAddr>().expect("addr")]
        );
        let uri: Uri = "http://127.0.0.1".parse().expect("uri");
        assert_eq!(
            resolve(&uri).await.expect("literal"),
            vec!["127.0.0.1:80".parse::<SocketAddr>().expect("addr")]
        );
    }
}

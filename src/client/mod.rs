//! The gateway client: a [`Target`] (base URL, TLS trust, timeouts, source addresses,
//! reachability) shared by all agents, and an [`AgentConn`] per agent that owns one
//! HTTP/1.1 keep-alive connection, as a real agent client does (oha's lesson: the number
//! of connections is a parameter of the experiment, so connections are owned explicitly,
//! not pooled). TCP connections are opened by [`connect::TcpConnector`], TLS over them by
//! hyper-rustls.
//!
//! It turns every call into exactly one [`Exchange`]: a parsed reply (retcode, GUID
//! headers, event type) or a failure kept as data (HTTP status or transport kind). It never
//! panics on what a gateway sends, and knows nothing of agents' state or of metrics.

pub mod certs;
mod conn;
pub mod connect;
pub mod cookies;
pub mod explain;
mod failure;
mod head;
mod live;
pub mod reply;
pub mod tls;
pub mod tls_facts;
pub mod verify;
mod wake;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Uri};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::rt::TokioIo;
use tokio_util::either::Either;
use tower_service::Service;

use failure::{classify_connect, classify_hyper, root_cause};
use live::Live;

pub use conn::AgentConn;
pub use connect::TcpConnector;
pub use failure::describe;
pub use reply::GatewayReply;
pub use tls::Trust;

use crate::outcome::TransportKind;

/// Largest reply body read; a gateway sending more is counted as a bad body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// The `Guid` request header's name, checked once at compile time.
const GUID: HeaderName = HeaderName::from_static(crate::protocol::HEADER_GUID);

/// Why a call produced no reply the protocol allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Http(u16),
    Transport(TransportKind),
}

/// One finished call.
#[derive(Debug)]
pub struct Exchange {
    /// When the call began (before connecting, if a connection had to be opened).
    pub sent_at: Instant,
    pub done_at: Instant,
    pub result: Result<GatewayReply, Failure>,
    /// The reply's body as it came (empty when none was read): a handle to the bytes the
    /// connection already holds, kept so that a failure can be shown with what was said.
    pub body: Bytes,
    /// Why the call failed, in words (serde's reason for a bad body, the connection's root
    /// cause, the status line): None for a reply the protocol allows.
    pub reason: Option<String>,
    /// On an HTTP 429 or 503 reply: how long its `Retry-After` asks the client to wait
    /// (seconds, or an HTTP date); None otherwise or when it gave none that reads.
    pub retry_after: Option<Duration>,
}

impl Exchange {
    /// Whether the gateway (or its load balancer) said it is overloaded: HTTP 429 or 503.
    pub fn throttled(&self) -> bool {
        matches!(self.result, Err(Failure::Http(429 | 503)))
    }
}

/// How to reach the gateway.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    pub url: String,
    pub trust: Trust,
    /// Longest wait for one call's full reply (connect included).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Local addresses new connections come from, in turn (empty: the kernel picks).
    pub source_addresses: Vec<IpAddr>,
    /// A fixed read buffer per connection (bytes); None: hyper's adaptive one, from 8 KiB.
    /// With 19,000 connections in one process this is the largest share of memory the
    /// harness decides (2 KiB: 19.8 KiB per agent, adaptive: 22.3 KiB; BENCHMARKS.md), but
    /// a reply's header block longer than the buffer is then a protocol error.
    pub read_buffer_bytes: Option<usize>,
}

/// A gateway, as every agent of a run reaches it.
pub struct Target {
    scheme_https: bool,
    authority: String,
    /// The host name or address without port, lowercase (cookie domains match it).
    cookie_host: String,
    /// The `Host` header every request carries (the authority, validated once; static, see
    /// [`static_host`]).
    host: HeaderValue,
    base_path: String,
    connector: HttpsConnector<TcpConnector>,
    timeout: Duration,
    connect_timeout: Duration,
    read_buffer_bytes: Option<usize>,
    created: Instant,
    /// Milliseconds after `created` (plus one) since which every connect attempt failed;
    /// 0 while the target is reachable.
    failing_since_ms: AtomicU64,
    /// A reply named the target agentstorm's simulated gateway.
    is_simulator: AtomicBool,
    /// Some call got an HTTP reply (any status).
    answered: AtomicBool,
    /// Calls whose reply was unreadable or cut off (protocol error, reset): with no reply
    /// at all, the sign of plain HTTP sent to a TLS port.
    unreadable: AtomicU64,
    /// The longest reply head read so far ([`head::Head::len`]), to warn before a fixed read
    /// buffer becomes too short.
    longest_head: AtomicU32,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Target {
    pub fn new(opts: &TargetOptions) -> Result<Arc<Target>, String> {
        let uri: Uri = opts
            .url
            .trim()
            .parse()
            .map_err(|e| format!("target URL {:?} is not a URL: {e}", opts.url))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(format!(
                    "target URL {:?} must start with http:// or https://",
                    opts.url
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("target URL {:?} has no host", opts.url))?
            .to_string();
        let base_path = uri.path().trim_end_matches('/').to_string();
        // Checked here, with the user's words on failure: `from_static` below panics on a
        // value that is not a header value.
        HeaderValue::from_str(&authority)
            .map_err(|e| format!("target URL {:?}: host is not a header value: {e}", opts.url))?;
        let host = HeaderValue::from_static(static_host(&authority));

        // The connect timeout bounds TCP and TLS together, in `connect_explained`.
        let tcp = TcpConnector::new(&opts.source_addresses);
        tcp.check_sources()
            .map_err(|e| format!("target.source_addresses: {e}"))?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match tls::client_config(&opts.trust)? {
            Some(config) => builder.with_tls_config(config),
            None => builder
                .with_native_roots()
                .map_err(|e| format!("cannot load the system's root certificates: {e}"))?,
        };
        let connector = builder.https_or_http().enable_http1().wrap_connector(tcp);
        Ok(Arc::new(Target {
            scheme_https: https,
            cookie_host: uri.host().unwrap_or_default().to_ascii_lowercase(),
            authority,
            host,
            base_path,
            connector,
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
            read_buffer_bytes: opts.read_buffer_bytes,
            created: Instant::now(),
            failing_since_ms: AtomicU64::new(0),
            is_simulator: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            unreadable: AtomicU64::new(0),
            longest_head: AtomicU32::new(0),
        }))
    }

    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            if self.scheme_https { "https" } else { "http" },
            self.authority,
            self.base_path
        )
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Notes how a call ended, for [`Target::plain_http_to_tls`].
    fn note_result(&self, result: &Result<GatewayReply, Failure>) {
        match result {
            Err(Failure::Transport(TransportKind::Protocol | TransportKind::Reset)) => {
                self.unreadable.fetch_add(1, Ordering::Relaxed);
            }
            Err(Failure::Transport(_)) => {}
            _ if !self.answered.load(Ordering::Relaxed) => {
                self.answered.store(true, Ordering::Relaxed)
            }
            _ => {}
        }
    }

    /// An `http://` target that has never answered and whose replies were unreadable.
    pub fn plain_http_suspect(&self) -> bool {
        !self.scheme_https
            && !self.answered.load(Ordering::Relaxed)
            && self.unreadable.load(Ordering::Relaxed) > 0
    }

    /// For an `http://` target that has never answered and whose replies were unreadable:
    /// whether its port speaks TLS instead (one TLS handshake that trusts nothing and sends
    /// nothing over the connection). Then the run cannot measure, and says why.
    pub async fn plain_http_to_tls(&self) -> Option<String> {
        if !self.plain_http_suspect() {
            return None;
        }
        let authority: http::uri::Authority = self.authority.parse().ok()?;
        let port = authority.port_u16().unwrap_or(80);
        tls_facts::read(authority.host(), port, self.connect_timeout)
            .await
            .ok()?;
        Some(format!(
            "target {} speaks TLS on that port (its replies to plain HTTP were unreadable; a TLS handshake succeeded): use https://{}{}",
            self.url(),
            self.authority,
            self.base_path
        ))
    }

    /// Notes a reply head's length, `n` bytes (read-mostly: written only when a longer one
    /// comes).
    fn note_head(&self, n: u32) {
        if n > self.longest_head.load(Ordering::Relaxed) {
            self.longest_head.fetch_max(n, Ordering::Relaxed);
        }
    }

    /// The longest reply head read so far, in bytes (status line and headers).
    pub fn longest_head(&self) -> u32 {
        self.longest_head.load(Ordering::Relaxed)
    }

    /// The fixed read buffer, None for hyper's adaptive one.
    pub fn read_buffer_bytes(&self) -> Option<usize> {
        self.read_buffer_bytes
    }

    /// A warning once reply heads have reached three quarters of a fixed read buffer: a
    /// somewhat longer head would fail to read.
    pub fn head_room_warning(&self) -> Option<String> {
        let n = self.read_buffer_bytes?;
        let longest = self.longest_head() as usize;
        (longest * 4 > n * 3).then(|| {
            format!(
                "reply heads reached {longest} bytes, near the {n}-byte read buffer: a longer one would fail to read; set [target] read_buffer_bytes larger, or to \"adaptive\""
            )
        })
    }

    /// Whether a reply named the target agentstorm's simulated gateway (the
    /// `x-agentstorm-gateway` header on a reply that hands out a GUID).
    pub fn is_simulator(&self) -> bool {
        self.is_simulator.load(Ordering::Relaxed)
    }

    /// How long every connect attempt has been failing, or None while reachable.
    pub fn unreachable_for(&self) -> Option<Duration> {
        match self.failing_since_ms.load(Ordering::Relaxed) {
            0 => None,
            since => {
                let now = self.created.elapsed().as_millis() as u64 + 1;
                Some(Duration::from_millis(now.saturating_sub(since)))
            }
        }
    }

    fn note_reachable(&self) {
        if self.failing_since_ms.load(Ordering::Relaxed) != 0 {
            self.failing_since_ms.store(0, Ordering::Relaxed);
        }
    }

    fn note_connect_failed(&self) {
        let now = self.created.elapsed().as_millis() as u64 + 1;
        let _ =
            self.failing_since_ms
                .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// Opens one connection (TCP, and TLS for https), within the connect timeout; a failure
    /// comes with its root cause in words.
    async fn connect_explained(&self) -> Result<Live, (TransportKind, String)> {
        let uri: Uri = format!(
            "{}://{}/",
            if self.scheme_https { "https" } else { "http" },
            self.authority
        )
        .parse()
        .map_err(|e: http::uri::InvalidUri| (TransportKind::Connect, e.to_string()))?;
        let mut connector = self.connector.clone();
        let io = match tokio::time::timeout(self.connect_timeout, connector.call(uri)).await {
            Err(_) => Err((TransportKind::ConnectTimeout, String::new())),
            Ok(Err(e)) => Err((classify_connect(e.as_ref()), root_cause(e.as_ref()))),
            Ok(Ok(io)) => Ok(io),
        };
        let io = io.inspect_err(|_| self.note_connect_failed())?;
        // hyper keeps the stream inside the connection's state, which every agent holds for
        // its whole session: hyper-rustls's stream type is as large as its TLS variant
        // (1.1 KiB) even over plain HTTP, so the TLS stream goes behind a box of its own.
        let io = TokioIo::new(match io {
            MaybeHttpsStream::Http(plain) => Either::Left(plain.into_inner()),
            MaybeHttpsStream::Https(tls) => Either::Right(Box::new(tls.into_inner())),
        });
        let (sender, conn) = hyper::client::conn::http1::Builder::new()
            .read_buf_exact_size(self.read_buffer_bytes)
            .handshake(io)
            .await
            .map_err(|e| (classify_hyper(&e), e.to_string()))?;
        self.note_reachable();
        Ok(Live {
            wake: wake::SelfWake::new(),
            sender,
            driver: Some(Box::pin(conn)),
        })
    }

    /// Checks once that the target accepts a connection (TCP and TLS), for a clear exit
    /// before any load when it does not.
    pub async fn preflight(&self) -> Result<(), String> {
        match self.connect_explained().await {
            Ok(_) => Ok(()),
            Err((kind, cause)) if cause.is_empty() => Err(format!(
                "target {} unreachable: {}",
                self.url(),
                describe(kind)
            )),
            Err((kind, cause)) => Err(format!(
                "target {} unreachable: {} ({cause})",
                self.url(),
                describe(kind)
            )),
        }
    }
}

/// `authority` for the life of the process, for the `Host` header. A header value made
/// from a `&'static str` is cloned into each request with no reference count; one made
/// from a `String` counts its clones in one shared counter, written twice per request (the
/// clone and, once the request is written, the drop) by every thread that runs agents, so
/// its cache line moved between the cores on every request. One copy is kept per distinct
/// authority, never freed: a process targets a handful.
fn static_host(authority: &str) -> &'static str {
    static HOSTS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut hosts = HOSTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(kept) = hosts.iter().find(|h| **h == authority) {
        return kept;
    }
    let kept: &'static str = Box::leak(authority.into());
    hosts.push(kept);
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_kept_once_per_authority_and_the_header_carries_it() {
        let a = static_host("127.0.0.1:18080");
        let b = static_host(&String::from("127.0.0.1:18080"));
        assert_eq!(a, "127.0.0.1:18080");
        assert!(std::ptr::eq(a, b), "the same authority was kept twice");
        let other = static_host("gw.example:8043");
        assert_eq!(other, "gw.example:8043");
        assert!(!std::ptr::eq(a, other));
        let opts = TargetOptions {
            url: "http://127.0.0.1:18080/base".into(),
            trust: Trust::Insecure,
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            source_addresses: Vec::new(),
            read_buffer_bytes: None,
        };
        let target = Target::new(&opts).expect("target");
        assert_eq!(target.host.as_bytes(), b"127.0.0.1:18080");
    }
}

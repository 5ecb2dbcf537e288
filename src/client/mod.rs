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

pub mod connect;
pub mod reply;
pub mod tls;

use std::error::Error as StdError;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_rustls::HttpsConnector;
use tower_service::Service;

pub use connect::TcpConnector;
pub use reply::GatewayReply;
pub use tls::Trust;

use crate::metrics::TransportKind;
use crate::protocol::CONTENT_TYPE_JSON;

/// Largest reply body read; a gateway sending more is counted as a bad body.
const MAX_BODY_BYTES: usize = 1 << 20;

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
}

/// A gateway, as every agent of a run reaches it.
pub struct Target {
    scheme_https: bool,
    authority: String,
    base_path: String,
    connector: HttpsConnector<TcpConnector>,
    timeout: Duration,
    connect_timeout: Duration,
    created: Instant,
    /// Milliseconds after `created` (plus one) since which every connect attempt failed;
    /// 0 while the target is reachable.
    failing_since_ms: AtomicU64,
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
            authority,
            base_path,
            connector,
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
            created: Instant::now(),
            failing_since_ms: AtomicU64::new(0),
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

    /// Opens one connection (TCP, and TLS for https), within the connect timeout.
    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, TransportKind> {
        self.connect_explained().await.map_err(|(kind, _)| kind)
    }

    /// Like `connect`, with the failure's root cause in words.
    async fn connect_explained(&self) -> Result<SendRequest<Full<Bytes>>, (TransportKind, String)> {
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
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| (classify_hyper(&e), e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
        });
        self.note_reachable();
        Ok(sender)
    }

    /// Checks once that the target accepts a connection (TCP and TLS), for a clear exit
    /// before any load when it does not.
    pub async fn preflight(&self) -> Result<(), String> {
        match self.connect_explained().await {
            Ok(_) => Ok(()),
            Err((kind, cause))
                if cause.is_empty() || cause.to_lowercase().contains(describe(kind)) =>
            {
                Err(format!(
                    "target {} unreachable: {}",
                    self.url(),
                    describe(kind)
                ))
            }
            Err((kind, cause)) => Err(format!(
                "target {} unreachable: {} ({cause})",
                self.url(),
                describe(kind)
            )),
        }
    }
}

/// A human phrase for a transport failure.
pub fn describe(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::ConnectRefused => "connection refused",
        TransportKind::ConnectTimeout => "connect timed out",
        TransportKind::Connect => "cannot connect",
        TransportKind::Tls => "TLS handshake failed",
        TransportKind::Reset => "connection reset",
        TransportKind::Timeout => "no reply in time",
        TransportKind::Protocol => "reply is not valid HTTP/1.1",
        TransportKind::BadBody => "reply body is not the gateway's JSON",
    }
}

/// The innermost cause of a connect error, for people (`invalid peer certificate:
/// UnknownIssuer`, `Connection refused (os error 111)`).
fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = next_cause(e);
    while let Some(err) = cur {
        last = err.to_string();
        cur = next_cause(err);
    }
    last
}

/// The error inside `e`: for a wrapped io::Error its payload (io::Error's `source()`
/// skips the payload and returns the payload's own source), else `source()`.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => e.source(),
    }
}

fn classify_connect(e: &(dyn StdError + 'static)) -> TransportKind {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return TransportKind::Tls;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return TransportKind::ConnectRefused,
                std::io::ErrorKind::TimedOut => return TransportKind::ConnectTimeout,
                std::io::ErrorKind::InvalidData => return TransportKind::Tls,
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof => {
                    return TransportKind::Tls
                }
                _ => {}
            }
        }
        cur = next_cause(err);
    }
    TransportKind::Connect
}

fn classify_hyper(e: &hyper::Error) -> TransportKind {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() {
        TransportKind::Protocol
    } else if e.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Reset
    }
}

/// One agent's connection to the gateway: opened on first use, kept alive, reopened after
/// the gateway or a failure closed it.
pub struct AgentConn {
    target: Arc<Target>,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl AgentConn {
    pub fn new(target: Arc<Target>) -> AgentConn {
        AgentConn {
            target,
            sender: None,
        }
    }

    pub fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Drops the connection (the next call opens a new one).
    pub fn close(&mut self) {
        self.sender = None;
    }

    /// The kept connection if it is still usable, else a new one.
    async fn ready_sender(&mut self) -> Result<SendRequest<Full<Bytes>>, TransportKind> {
        if let Some(mut s) = self.sender.take() {
            if s.ready().await.is_ok() {
                return Ok(s);
            }
        }
        self.target.connect().await
    }

    /// Makes one call. `guid` goes in the `Guid` header; `body` (JSON) only when Some.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        guid: Option<&str>,
    ) -> Exchange {
        let sent_at = Instant::now();
        let timeout = self.target.timeout;
        let result =
            match tokio::time::timeout(timeout, self.call_inner(method, path, body, guid)).await {
                Ok(r) => r,
                Err(_) => Err(Failure::Transport(TransportKind::Timeout)),
            };
        if matches!(result, Err(Failure::Transport(_))) {
            // The connection's state is unknown after a transport failure: start afresh.
            self.sender = None;
        }
        Exchange {
            sent_at,
            done_at: Instant::now(),
            result,
        }
    }

    async fn call_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        guid: Option<&str>,
    ) -> Result<GatewayReply, Failure> {
        let mut sender = self.ready_sender().await.map_err(Failure::Transport)?;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.target.base_path, path))
            .header(header::HOST, &self.target.authority);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, CONTENT_TYPE_JSON);
        }
        if let Some(g) = guid {
            req = req.header(crate::protocol::HEADER_GUID, g);
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|_| Failure::Transport(TransportKind::Protocol))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Failure::Transport(classify_hyper(&e)))?;
        self.target.note_reachable();
        let (parts, incoming) = resp.into_parts();
        let bytes = Limited::new(incoming, MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    Failure::Transport(TransportKind::BadBody)
                } else {
                    Failure::Transport(TransportKind::Reset)
                }
            })?
            .to_bytes();
        // Keep the connection for the next call unless the gateway said it closes it.
        let closes = parts
            .headers
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if !closes {
            self.sender = Some(sender);
        }
        if parts.status != http::StatusCode::OK {
            return Err(Failure::Http(parts.status.as_u16()));
        }
        reply::parse(&parts.headers, &bytes).map_err(|_| Failure::Transport(TransportKind::BadBody))
    }

    /// A plain GET returning the body of a 200 reply (for the simulator's stats).
    pub async fn get_raw(&mut self, path: &str) -> Option<Bytes> {
        let mut sender = self.ready_sender().await.ok()?;
        let req = Request::builder()
            .method(Method::GET)
            .uri(format!("{}{}", self.target.base_path, path))
            .header(header::HOST, &self.target.authority)
            .body(Full::new(Bytes::new()))
            .ok()?;
        let fut = async {
            let resp = sender.send_request(req).await.ok()?;
            if resp.status() != http::StatusCode::OK {
                return None;
            }
            Some(
                Limited::new(resp.into_body(), MAX_BODY_BYTES)
                    .collect()
                    .await
                    .ok()?
                    .to_bytes(),
            )
        };
        tokio::time::timeout(self.target.timeout, fut)
            .await
            .ok()
            .flatten()
    }
}

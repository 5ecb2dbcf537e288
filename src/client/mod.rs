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
pub mod connect;
pub mod reply;
pub mod tls;
pub mod verify;
mod wake;

use std::error::Error as StdError;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{header, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;
use hyper::client::conn::http1::SendRequest;
use hyper_rustls::HttpsConnector;
use tower_service::Service;

pub use connect::TcpConnector;
pub use reply::GatewayReply;
pub use tls::Trust;

use crate::outcome::TransportKind;
use crate::protocol::CONTENT_TYPE_JSON;

/// Largest reply body read; a gateway sending more is counted as a bad body.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Largest header map (in headers) an agent keeps between calls for its next request.
const SPARE_HEADERS_MAX: usize = 32;

/// The `Guid` request header's name, checked once at compile time.
const GUID: HeaderName = HeaderName::from_static(crate::protocol::HEADER_GUID);
const SIM_GATEWAY: HeaderName = HeaderName::from_static(crate::protocol::HEADER_SIM_GATEWAY);

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
    /// harness controls (1 KiB: 19.5 KiB per agent, default: 23.8 KiB; BENCHMARKS.md), but a
    /// reply's header block longer than the buffer is then a protocol error.
    pub read_buffer_bytes: Option<usize>,
}

/// A gateway, as every agent of a run reaches it.
pub struct Target {
    scheme_https: bool,
    authority: String,
    /// The `Host` header every request carries (the authority, validated once).
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
        let host = HeaderValue::from_str(&authority)
            .map_err(|e| format!("target URL {:?}: host is not a header value: {e}", opts.url))?;

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
            host,
            base_path,
            connector,
            timeout: opts.timeout,
            connect_timeout: opts.connect_timeout,
            read_buffer_bytes: opts.read_buffer_bytes,
            created: Instant::now(),
            failing_since_ms: AtomicU64::new(0),
            is_simulator: AtomicBool::new(false),
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

/// The cause of a connect error, for people: a TLS failure in words ([`certs::explain`]:
/// `the gateway's certificate is not signed by a CA you trust: …`), else the innermost
/// cause (`Connection refused (os error 111)`).
fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return certs::explain(tls);
        }
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

/// Reads a reply body whole. More than [`MAX_BODY_BYTES`] (announced or sent) is a bad
/// body, a failure to read it a reset. A body that comes in one frame (a gateway's reply
/// usually does: hyper hands over what arrived with the head) is returned as that frame,
/// with no copy and no list of chunks.
async fn read_body(mut body: hyper::body::Incoming) -> Result<Bytes, Failure> {
    if body.size_hint().lower() > MAX_BODY_BYTES as u64 {
        return Err(Failure::Transport(TransportKind::BadBody));
    }
    let mut whole = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    // A body of known length ends with its last byte: stop there, without polling the body
    // once more for its end.
    while !body.is_end_stream() {
        let Some(frame) = body.frame().await else {
            break;
        };
        let frame = frame.map_err(|_| Failure::Transport(TransportKind::Reset))?;
        // Trailers carry nothing the protocol uses.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let len = joined.as_ref().map_or(whole.len(), BytesMut::len) + data.len();
        if len > MAX_BODY_BYTES {
            return Err(Failure::Transport(TransportKind::BadBody));
        }
        match &mut joined {
            Some(buf) => buf.extend_from_slice(&data),
            None if whole.is_empty() => whole = data,
            None => {
                let mut buf = BytesMut::with_capacity(len);
                buf.extend_from_slice(&whole);
                buf.extend_from_slice(&data);
                joined = Some(buf);
            }
        }
    }
    Ok(joined.map_or(whole, BytesMut::freeze))
}

/// The future that runs one connection's I/O (hyper's `Connection`), boxed so the agent's
/// state does not name the TLS stream type.
type Driver = Pin<Box<dyn Future<Output = Result<(), hyper::Error>> + Send>>;

/// One open connection: the handle requests go through, and the connection's I/O future.
///
/// The I/O future is polled by the agent's own task, alongside each call, instead of being
/// spawned as a second task: a call's request and reply then need no wake-up of another
/// task and no hand-over between worker threads (the profile of the request engine showed
/// that hand-over as a large share of the harness's own CPU per request). Between calls
/// nothing needs to run: HTTP/1.1 keep-alive has no background work, and a connection the
/// gateway closed meanwhile is found closed when the next call polls it.
struct Live {
    sender: SendRequest<Full<Bytes>>,
    /// None once the connection has ended.
    driver: Option<Driver>,
    /// Wakes from inside the task's own poll of this connection make another pass, not a
    /// reschedule.
    wake: wake::SelfWake,
}

impl Live {
    /// Waits until the connection takes a request; false if it cannot any more.
    async fn ready(&mut self) -> bool {
        let Live {
            sender,
            driver,
            wake,
        } = self;
        std::future::poll_fn(|cx| {
            wake.poll(cx, |pass| {
                if let Some(mut cx) = pass.call() {
                    if let Poll::Ready(r) = sender.poll_ready(&mut cx) {
                        return Poll::Ready(r.is_ok());
                    }
                }
                let Some(mut cx) = pass.conn() else {
                    return Poll::Pending;
                };
                match driver.as_mut().map(|d| d.as_mut().poll(&mut cx)) {
                    Some(Poll::Pending) => Poll::Pending,
                    Some(Poll::Ready(_)) | None => {
                        *driver = None;
                        Poll::Ready(false)
                    }
                }
            })
        })
        .await
    }

    /// Runs `work` to completion while driving the connection's I/O. When the connection
    /// ends first, `work` still completes: hyper fails whatever was waiting on it.
    async fn drive<F: Future>(
        driver: &mut Option<Driver>,
        wake: &wake::SelfWake,
        work: F,
    ) -> F::Output {
        let mut work = std::pin::pin!(work);
        std::future::poll_fn(|cx| {
            wake.poll(cx, |pass| {
                if let Some(mut cx) = pass.call() {
                    if let Poll::Ready(out) = work.as_mut().poll(&mut cx) {
                        return Poll::Ready(out);
                    }
                }
                if let (Some(mut cx), Some(d)) = (pass.conn(), driver.as_mut()) {
                    if let Poll::Ready(end) = d.as_mut().poll(&mut cx) {
                        if let Err(e) = end {
                            tracing::debug!("connection ended: {e}");
                        }
                        *driver = None;
                        // The connection's end fails or finishes `work`: poll it once more.
                        return work.as_mut().poll(&mut pass.call_now());
                    }
                }
                Poll::Pending
            })
        })
        .await
    }
}

/// One agent's connection to the gateway: opened on first use, kept alive, reopened after
/// the gateway or a failure closed it.
pub struct AgentConn {
    target: Arc<Target>,
    live: Option<Live>,
    /// The last request path and its parsed URI: an agent asks for the same path over and
    /// over (its poll), so it is parsed once.
    last_uri: Option<(String, Uri)>,
    /// The last reply's header map, emptied: the next request's headers go in it, so a call
    /// allocates no header map (hyper parses each reply into the map its request was sent
    /// with, and the map then comes back here). Boxed: while a long poll waits it is None,
    /// and every agent's task would otherwise carry the map's size.
    spare_headers: Option<Box<http::HeaderMap>>,
    /// The call deadline's timer, kept between calls (see [`AgentConn::call`]).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl AgentConn {
    pub fn new(target: Arc<Target>) -> AgentConn {
        AgentConn {
            target,
            live: None,
            last_uri: None,
            spare_headers: None,
            timer: None,
        }
    }

    pub fn target(&self) -> &Arc<Target> {
        &self.target
    }

    /// Drops the connection (the next call opens a new one).
    pub fn close(&mut self) {
        self.live = None;
    }

    /// The kept connection if it is still usable, else a new one.
    async fn ready_live(&mut self) -> Result<Live, (TransportKind, String)> {
        if let Some(mut live) = self.live.take() {
            if live.ready().await {
                return Ok(live);
            }
        }
        // Boxed: opening a connection (TCP, TLS, handshake) is the largest state of a call;
        // unboxed it would size every agent's task, while it lasts only until connected.
        let mut live = Box::pin(self.target.connect_explained()).await?;
        if live.ready().await {
            Ok(live)
        } else {
            Err((
                TransportKind::Reset,
                "the connection closed as soon as it opened".into(),
            ))
        }
    }

    /// `path` below the target's base path, parsed once per distinct path in a row.
    fn uri(&mut self, path: &str) -> Result<Uri, Failure> {
        if let Some((p, uri)) = &self.last_uri {
            if p == path {
                return Ok(uri.clone());
            }
        }
        let uri: Uri = format!("{}{}", self.target.base_path, path)
            .parse()
            .map_err(|_| Failure::Transport(TransportKind::Protocol))?;
        self.last_uri = Some((path.to_string(), uri.clone()));
        Ok(uri)
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
        let deadline = tokio::time::Instant::from_std(sent_at) + self.target.timeout;
        // One timer per agent, moved to each call's deadline: a later deadline only updates
        // the registered timer (no wheel insert and removal per call, as a fresh
        // `tokio::time::timeout` costs), and it fires at most once per timeout between calls.
        let mut timer = match self.timer.take() {
            Some(mut t) => {
                t.as_mut().reset(deadline);
                t
            }
            None => Box::pin(tokio::time::sleep_until(deadline)),
        };
        let timeout = self.target.timeout;
        let (result, body, reason) = tokio::select! {
            biased;
            r = self.call_inner(method, path, body, guid) => r,
            _ = timer.as_mut() => (
                Err(Failure::Transport(TransportKind::Timeout)),
                Bytes::new(),
                Some(format!("no full reply within the {} call timeout", humantime::format_duration(timeout))),
            ),
        };
        self.timer = Some(timer);
        if matches!(result, Err(Failure::Transport(_))) {
            // The connection's state is unknown after a transport failure: start afresh.
            self.live = None;
        }
        Exchange {
            sent_at,
            done_at: Instant::now(),
            result,
            body,
            reason,
        }
    }

    fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        guid: Option<&str>,
    ) -> Result<Request<Full<Bytes>>, Failure> {
        let uri = self.uri(path)?;
        let has_body = body.is_some();
        let mut req = Request::new(Full::new(body.unwrap_or_default()));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        if let Some(spare) = self.spare_headers.take() {
            *req.headers_mut() = *spare;
        }
        let headers = req.headers_mut();
        headers.insert(header::HOST, self.target.host.clone());
        if has_body {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_JSON),
            );
        }
        if let Some(g) = guid {
            let value = HeaderValue::from_str(g)
                .map_err(|_| Failure::Transport(TransportKind::Protocol))?;
            headers.insert(GUID, value);
        }
        Ok(req)
    }

    async fn call_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        guid: Option<&str>,
    ) -> (Result<GatewayReply, Failure>, Bytes, Option<String>) {
        let failed = |f: Failure, reason: String| (Err(f), Bytes::new(), Some(reason));
        let req = match self.request(method, path, body, guid) {
            Ok(req) => req,
            Err(f) => {
                return failed(
                    f,
                    "the request could not be built (path or GUID not valid in HTTP)".into(),
                )
            }
        };
        let mut live = match self.ready_live().await {
            Ok(live) => live,
            Err((kind, cause)) => {
                let reason = if cause.is_empty() {
                    describe(kind).to_string()
                } else {
                    format!("{}: {cause}", describe(kind))
                };
                return failed(Failure::Transport(kind), reason);
            }
        };
        let sent = {
            let sender = &mut live.sender;
            let exchange = async {
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|e| (Failure::Transport(classify_hyper(&e)), e.to_string()))?;
                let (parts, incoming) = resp.into_parts();
                let bytes = read_body(incoming).await.map_err(|f| {
                    let why = match f {
                        Failure::Transport(TransportKind::BadBody) => {
                            format!("reply body over the {} KiB limit", MAX_BODY_BYTES / 1024)
                        }
                        _ => "the connection ended while the reply body was read".to_string(),
                    };
                    (f, why)
                })?;
                Ok::<_, (Failure, String)>((parts, bytes))
            };
            Live::drive(&mut live.driver, &live.wake, exchange).await
        };
        let (parts, bytes) = match sent {
            Ok(done) => done,
            Err((f, reason)) => return failed(f, reason),
        };
        self.target.note_reachable();
        // Keep the connection for the next call unless the gateway said it closes it.
        let closes = parts
            .headers
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if !closes {
            self.live = Some(live);
        }
        let (result, reason) = if parts.status != http::StatusCode::OK {
            let status = parts.status;
            // `StatusCode`'s Display is "503 Service Unavailable" (and
            // "<unknown status code>" after the number for a non-standard status).
            (
                Err(Failure::Http(status.as_u16())),
                Some(format!(
                    "HTTP {status} (the gateway answers 200 and puts the outcome in retcode)"
                )),
            )
        } else {
            match reply::parse(&parts.headers, &bytes) {
                Ok(r) => {
                    // Looked for only on replies that hand out a GUID (sign-in, rotation).
                    if r.guid.is_some()
                        && !self.target.is_simulator()
                        && parts.headers.contains_key(SIM_GATEWAY)
                    {
                        self.target.is_simulator.store(true, Ordering::Relaxed);
                    }
                    (Ok(r), None)
                }
                Err(why) => (Err(Failure::Transport(TransportKind::BadBody)), Some(why)),
            }
        };
        // A reply with many headers is not worth its memory for the rest of the session.
        let mut headers = parts.headers;
        if headers.capacity() <= SPARE_HEADERS_MAX {
            headers.clear();
            self.spare_headers = Some(Box::new(headers));
        }
        (result, bytes, reason)
    }

    /// A plain GET returning the body of a 200 reply (for the simulator's stats).
    pub async fn get_raw(&mut self, path: &str) -> Option<Bytes> {
        let req = self.request(Method::GET, path, None, None).ok()?;
        let timeout = self.target.timeout;
        let mut live = self.ready_live().await.ok()?;
        let sender = &mut live.sender;
        let fut = async {
            let resp = sender.send_request(req).await.ok()?;
            if resp.status() != http::StatusCode::OK {
                return None;
            }
            read_body(resp.into_body()).await.ok()
        };
        tokio::time::timeout(timeout, Live::drive(&mut live.driver, &live.wake, fut))
            .await
            .ok()
            .flatten()
    }
}

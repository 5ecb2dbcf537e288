//! [`AgentConn`]: one agent's connection to the gateway and its calls. Each call becomes
//! exactly one [`Exchange`], within the call timeout, with the reply parsed or the failure
//! kept with its reason; the deadline timer is reused between calls.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Uri};
use http_body_util::Full;

use super::cookies::{Jar, Origin};
use super::failure::{classify_hyper, describe, hyper_reason};
use super::head::Head;
use super::live::{read_body, Live};
use super::{reply, Exchange, Failure, GatewayReply, Target, GUID, MAX_BODY_BYTES};
use crate::outcome::TransportKind;
use crate::protocol::CONTENT_TYPE_JSON;

/// One agent's connection to the gateway: opened on first use, kept alive, reopened after
/// the gateway or a failure closed it.
pub struct AgentConn {
    target: Arc<Target>,
    live: Option<Live>,
    /// The last request's parsed URI: an agent asks for the same path over and over (its
    /// poll), so it is parsed once. The path is compared against the URI itself, with no
    /// copy of it kept beside (every waiting agent would carry one).
    last_uri: Option<Uri>,
    /// The call deadline's timer, kept between calls (see [`AgentConn::call`]).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The session's cookies (a load balancer's stickiness): sent on every call, emptied
    /// by [`AgentConn::end_session`].
    jar: Jar,
}

impl AgentConn {
    pub fn new(target: Arc<Target>) -> AgentConn {
        AgentConn {
            target,
            live: None,
            last_uri: None,
            timer: None,
            jar: Jar::default(),
        }
    }

    /// The session ended: its cookies are forgotten (the next sign-in starts afresh, and
    /// a load balancer may place it on another node).
    pub fn end_session(&mut self) {
        self.jar.clear();
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
        Self::fresh_live(&self.target).await
    }

    /// A new connection, ready for a request.
    async fn fresh_live(target: &Target) -> Result<Live, (TransportKind, String)> {
        // Boxed: opening a connection (TCP, TLS, handshake) is the largest state of a call;
        // unboxed it would size every agent's task, while it lasts only until connected.
        let mut live = Box::pin(target.connect_explained()).await?;
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
        if let Some(uri) = &self.last_uri {
            let same = uri
                .path_and_query()
                .and_then(|pq| pq.as_str().strip_prefix(&*self.target.base_path))
                .is_some_and(|p| p == path);
            if same {
                return Ok(uri.clone());
            }
        }
        let uri: Uri = format!("{}{}", self.target.base_path, path)
            .parse()
            .map_err(|_| Failure::Transport(TransportKind::Protocol))?;
        self.last_uri = Some(uri.clone());
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
        let (result, body, reason, retry_after) = tokio::select! {
            biased;
            r = self.call_inner(method, path, body, guid) => r,
            _ = timer.as_mut() => (
                Err(Failure::Transport(TransportKind::Timeout)),
                Bytes::new(),
                Some(format!("no full reply within the {} call timeout", humantime::format_duration(timeout))),
                None,
            ),
        };
        self.timer = Some(timer);
        self.target.note_result(&result);
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
            retry_after,
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
        // The header map and the `Guid` value are made afresh for each request, not kept
        // per agent between calls: new ones come from memory the thread has just freed (the
        // last reply's), which is still in the core's cache, while a kept one is one more
        // object per agent, touched once per call, that a thousand other agents' calls
        // have pushed out of the cache in between.
        let headers = req.headers_mut();
        headers.insert(header::HOST, self.target.host.clone());
        if has_body {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(CONTENT_TYPE_JSON),
            );
        }
        if let Some(g) = guid {
            let g = HeaderValue::from_str(g)
                .map_err(|_| Failure::Transport(TransportKind::Protocol))?;
            headers.insert(GUID, g);
        }
        if !self.jar.is_empty() {
            let https = self.target.scheme_https;
            if let Some(cookies) = self.jar.header(req.uri().path(), https, Instant::now()) {
                req.headers_mut().insert(header::COOKIE, cookies);
            }
        }
        Ok(req)
    }

    async fn call_inner(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        guid: Option<&str>,
    ) -> (
        Result<GatewayReply, Failure>,
        Bytes,
        Option<String>,
        Option<Duration>,
    ) {
        let failed = |f: Failure, reason: String| (Err(f), Bytes::new(), Some(reason), None);
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
        let (parts, bytes) = match Self::exchange(&self.target, &mut live, Box::new(req)).await {
            Ok(done) => done,
            Err((f, reason)) => return failed(f, reason),
        };
        self.target.note_reachable();
        let head = Head::read(&parts.headers);
        self.target.note_head(head.len(parts.status));
        if head.sets_cookie {
            self.keep_cookies(&parts.headers);
        }
        // Keep the connection for the next call unless the gateway said it closes it.
        if !head.closes {
            self.live = Some(live);
        }
        let (result, reason, retry_after) = if parts.status != http::StatusCode::OK {
            let (failure, why, retry_after) = http_failure(&parts);
            (Err(failure), Some(why), retry_after)
        } else {
            match reply::parse_with(&head, &bytes) {
                Ok(r) => {
                    // Looked for only on replies that hand out a GUID (sign-in, rotation).
                    if r.guid.is_some() && head.names_simulator && !self.target.is_simulator() {
                        self.target.is_simulator.store(true, Ordering::Relaxed);
                    }
                    (Ok(r), None, None)
                }
                Err(why) => (
                    Err(Failure::Transport(TransportKind::BadBody)),
                    Some(why),
                    None,
                ),
            }
        };
        (result, bytes, reason, retry_after)
    }

    /// Sends `req` on `live` and reads the whole reply: its head and body, or the failure
    /// with its reason. `live` is replaced when the request had to go on a new connection.
    /// `req` comes boxed: every layer of the call that holds it would otherwise carry its
    /// 256 bytes in the agent's task for as long as a long poll waits.
    async fn exchange(
        target: &Target,
        live: &mut Live,
        req: Box<Request<Full<Bytes>>>,
    ) -> Result<(http::response::Parts, Bytes), (Failure, String)> {
        // A request hyper hands back unsent (the kept connection had closed before it could
        // be written: a gateway or load balancer that drops idle connections) goes once
        // more on a new connection, as a browser or connection pool does; it never reached
        // the gateway, so it is not a second attempt.
        let mut req = req;
        let mut resent = false;
        loop {
            let sent = {
                let sender = &mut live.sender;
                let exchange = async {
                    let resp = sender.try_send_request(*req).await.map_err(|mut e| {
                        let unsent = e.take_message().map(Box::new);
                        let e = e.into_error();
                        (
                            Failure::Transport(classify_hyper(&e)),
                            hyper_reason(&e, target.read_buffer_bytes),
                            unsent,
                        )
                    })?;
                    let (parts, incoming) = resp.into_parts();
                    let bytes = read_body(incoming).await.map_err(|f| {
                        let why = match f {
                            Failure::Transport(TransportKind::BadBody) => {
                                format!("reply body over the {} KiB limit", MAX_BODY_BYTES / 1024)
                            }
                            _ => "the connection ended while the reply body was read".to_string(),
                        };
                        (f, why, None)
                    })?;
                    Ok::<_, (Failure, String, Option<Box<Request<Full<Bytes>>>>)>((parts, bytes))
                };
                Live::drive(&mut live.driver, &live.wake, std::pin::pin!(exchange)).await
            };
            match sent {
                Ok(done) => return Ok(done),
                Err((_, _, Some(unsent))) if !resent => {
                    resent = true;
                    req = unsent;
                    *live = match Self::fresh_live(target).await {
                        Ok(fresh) => fresh,
                        Err((kind, cause)) => {
                            let reason = format!("{}: {cause}", describe(kind));
                            return Err((Failure::Transport(kind), reason));
                        }
                    };
                }
                Err((f, reason, _)) => return Err((f, reason)),
            }
        }
    }

    /// Takes the reply's `Set-Cookie`s into the session's jar.
    fn keep_cookies(&mut self, headers: &http::HeaderMap) {
        let path = self.last_uri.as_ref().map_or("/", Uri::path);
        let origin = Origin {
            host: &self.target.cookie_host,
            path,
            https: self.target.scheme_https,
            now: Instant::now(),
            wall: SystemTime::now(),
        };
        self.jar.store_from(headers, origin);
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
        let fut = std::pin::pin!(fut);
        tokio::time::timeout(timeout, Live::drive(&mut live.driver, &live.wake, fut))
            .await
            .ok()
            .flatten()
    }
}

/// A reply other than HTTP 200: the failure, why in words, and on a 429 or 503 the wait
/// its `Retry-After` asks for.
fn http_failure(parts: &http::response::Parts) -> (Failure, String, Option<Duration>) {
    let status = parts.status;
    let retry_after = matches!(status.as_u16(), 429 | 503)
        .then(|| parts.headers.get(header::RETRY_AFTER))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| reply::retry_after(v, SystemTime::now()));
    // `StatusCode`'s Display is "503 Service Unavailable" (and "<unknown status code>"
    // after the number for a non-standard status).
    let why = match (status.as_u16(), retry_after) {
        (429 | 503, Some(wait)) => format!(
            "HTTP {status}: the gateway or its load balancer is throttling; it asks for {} before the next try",
            humantime::format_duration(wait)
        ),
        (429 | 503, None) => {
            format!("HTTP {status}: the gateway or its load balancer is throttling (no Retry-After)")
        }
        _ => format!("HTTP {status} (the gateway answers 200 and puts the outcome in retcode)"),
    };
    (Failure::Http(status.as_u16()), why, retry_after)
}

//! `run --metrics-push URL`: the pusher task. Every `--metrics-push-interval` it encodes
//! the latest snapshot as a remote-write request and POSTs it (`Content-Encoding: snappy`,
//! `Content-Type: application/x-protobuf`, `X-Prometheus-Remote-Write-Version: 0.1.0`);
//! when the run ends, one final push carries the last totals.
//!
//! Latest-only: a push that is slow is cut off by its timeout and the ticks it missed are
//! skipped, so nothing queues and the run never waits on it. A failed push is counted
//! (`agentstorm_metrics_push_failures_total`) and the first failure is warned about on
//! stderr; the run goes on. The URL's user and password, if any, become basic auth and
//! are never printed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::remote_write::{self, CONTENT_TYPE, VERSION, VERSION_HEADER};
use super::Shared;
use crate::exit::Exit;

/// Longest a periodic push may take (also bounded by the interval).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the final push may hold up the end of the run.
const FINAL_TIMEOUT: Duration = Duration::from_secs(5);
/// Shortest `--metrics-push-interval`: the collector publishes once a second.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Most bytes of an error reply quoted in the warning.
const QUOTED_BYTES: usize = 200;

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A checked `--metrics-push` URL (shared: it sits in the command line's types).
#[derive(Clone, PartialEq, Eq)]
pub struct PushUrl(Arc<Endpoint>);

#[derive(PartialEq, Eq)]
struct Endpoint {
    /// Without user and password.
    uri: Uri,
    /// `Authorization` value from the URL's `user:password@`.
    auth: Option<String>,
}

impl std::fmt::Debug for PushUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PushUrl({})", self.0.uri)
    }
}

impl std::fmt::Display for PushUrl {
    /// The URL without its credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.uri)
    }
}

/// Checks a `--metrics-push` URL: `http://` or `https://`, with a host;
/// `https://user:password@host/…` sends basic auth.
pub fn parse_push_url(s: &str) -> Result<PushUrl, String> {
    let bad = |why: &str| {
        format!(
            "{:?}: {why} (e.g. http://127.0.0.1:9090/api/v1/write)",
            mask(s)
        )
    };
    let uri: Uri = s.trim().parse().map_err(|_| bad("not a URL"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(bad("the URL must start with http:// or https://"));
    }
    let authority = uri.authority().ok_or_else(|| bad("the URL has no host"))?;
    let (auth, host) = match authority.as_str().rsplit_once('@') {
        Some((user, host)) => {
            let basic = base64::engine::general_purpose::STANDARD.encode(user);
            (Some(format!("Basic {basic}")), host)
        }
        None => (None, authority.as_str()),
    };
    if host.is_empty() || host.starts_with(':') {
        return Err(bad("the URL has no host"));
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let uri: Uri = format!("{}://{host}{path}", uri.scheme_str().unwrap_or("http"))
        .parse()
        .map_err(|_| bad("not a URL"))?;
    Ok(PushUrl(Arc::new(Endpoint { uri, auth })))
}

/// `s` with any `user:password@` replaced, for messages.
fn mask(s: &str) -> String {
    match (s.find("://"), s.rfind('@')) {
        (Some(i), Some(j)) if j > i => format!("{}://***@{}", &s[..i], &s[j + 1..]),
        _ => s.to_string(),
    }
}

/// Checks a `--metrics-push-interval`: a duration of at least 1 s (`5s`, `1m`).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("{s:?}: not a duration ({e}); write e.g. 5s or 1m"))?;
    if d < MIN_INTERVAL {
        return Err(format!(
            "{s:?}: at least 1s (the live metrics change once a second)"
        ));
    }
    Ok(d)
}

pub(super) struct Pusher {
    url: PushUrl,
    client: HttpsClient,
    shared: Arc<Shared>,
    task: AbortOnDrop,
    first_error: Arc<Mutex<Option<String>>>,
}

impl Pusher {
    pub(super) fn start(
        url: PushUrl,
        interval: Duration,
        shared: Arc<Shared>,
    ) -> Result<Pusher, Exit> {
        let client = client()
            .map_err(|e| Exit::bad_input(format!("--metrics-push {url}: no TLS client: {e}")))?;
        let first_error = Arc::new(Mutex::new(None));
        let task = tokio::spawn(push_loop(
            client.clone(),
            url.clone(),
            interval,
            shared.clone(),
            first_error.clone(),
        ));
        Ok(Pusher {
            url,
            client,
            shared,
            task: AbortOnDrop(Some(task)),
            first_error,
        })
    }

    pub(super) fn shown(&self) -> String {
        self.url.to_string()
    }

    /// Stops the periodic pushes (one in flight is dropped) and makes the final one.
    pub(super) async fn finish(self) {
        let mut task = self.task;
        if let Some(t) = task.0.take() {
            t.abort();
            let _ = t.await;
        }
        push_counted(
            &self.client,
            &self.url,
            &self.shared,
            FINAL_TIMEOUT,
            &self.first_error,
        )
        .await;
        let failed = self.shared.push_failures.load(Ordering::Relaxed);
        if failed > 0 {
            let all = failed + self.shared.pushes.load(Ordering::Relaxed);
            let first = lock(&self.first_error).clone().unwrap_or_default();
            crate::util::term::message(&format!(
                "agentstorm: --metrics-push {}: {failed} of {all} pushes failed (first failure: {first})",
                self.url
            ));
        }
    }
}

/// Stops the periodic pushes when the pusher goes, finished or not (a run that fails to
/// start after the pusher started).
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn client() -> anyhow::Result<HttpsClient> {
    use hyper_rustls::ConfigBuilderExt as _;
    let provider = Arc::new(crate::util::tls::crypto());
    let builder = || {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
    };
    let tls = match builder()?.with_native_roots() {
        Ok(b) => b.with_no_client_auth(),
        Err(_) => builder()?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(FINAL_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

async fn push_loop(
    client: HttpsClient,
    url: PushUrl,
    interval: Duration,
    shared: Arc<Shared>,
    first_error: Arc<Mutex<Option<String>>>,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if shared.has_data() {
            push_counted(
                &client,
                &url,
                &shared,
                PUSH_TIMEOUT.min(interval),
                &first_error,
            )
            .await;
        }
    }
}

/// One push of the latest snapshot, counted; the first failure is warned about.
async fn push_counted(
    client: &HttpsClient,
    url: &PushUrl,
    shared: &Shared,
    timeout: Duration,
    first_error: &Mutex<Option<String>>,
) {
    let now_ms = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let req = remote_write::write_request(&shared.families(), &shared.run_labels, now_ms);
    let body = Bytes::from(remote_write::encode(&req));
    let outcome = match tokio::time::timeout(timeout, send(client, url, body)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(timeout)
        )),
    };
    match outcome {
        Ok(()) => {
            shared.pushes.fetch_add(1, Ordering::Relaxed);
        }
        Err(why) => {
            shared.push_failures.fetch_add(1, Ordering::Relaxed);
            let mut first = lock(first_error);
            if first.is_none() {
                tracing::warn!(
                    "--metrics-push {url}: push failed: {why}; the run goes on, further failures \
                     are counted in agentstorm_metrics_push_failures_total"
                );
                *first = Some(why);
            }
        }
    }
}

async fn send(client: &HttpsClient, url: &PushUrl, body: Bytes) -> Result<(), String> {
    let mut req = Request::post(url.0.uri.clone())
        .header(header::CONTENT_ENCODING, "snappy")
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .header(VERSION_HEADER, VERSION)
        .header(
            header::USER_AGENT,
            concat!("agentstorm/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    if let Some(auth) = &url.0.auth {
        let v =
            HeaderValue::from_str(auth).map_err(|_| "bad credentials in the URL".to_string())?;
        req.headers_mut().insert(header::AUTHORIZATION, v);
    }
    let resp = client.request(req).await.map_err(|e| {
        let mut why = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            why = format!("{why}: {s}");
            src = s.source();
        }
        why
    })?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if status.is_success() {
        return Ok(());
    }
    let quoted = String::from_utf8_lossy(&body[..body.len().min(QUOTED_BYTES)])
        .trim()
        .to_string();
    Err(format!("HTTP {status}: {quoted}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_urls_are_checked_and_credentials_kept_apart() {
        let u = parse_push_url("http://127.0.0.1:9090/api/v1/write").expect("ok");
        assert_eq!(u.to_string(), "http://127.0.0.1:9090/api/v1/write");
        assert!(u.0.auth.is_none());
        let a = parse_push_url("https://me:secret@prom.example/api/v1/push").expect("ok");
        assert_eq!(a.to_string(), "https://prom.example/api/v1/push");
        assert_eq!(a.0.auth.as_deref(), Some("Basic bWU6c2VjcmV0"));
        assert!(!format!("{a:?}").contains("secret"));
        for bad in ["ftp://x/y", "127.0.0.1:9090", "http://", "not a url"] {
            assert!(parse_push_url(bad).is_err(), "{bad}");
        }
        let e = parse_push_url("ftp://me:secret@x/").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn intervals_are_at_least_a_second() {
        assert_eq!(parse_interval("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_interval("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_interval("200ms").unwrap_err().contains("at least 1s"));
        assert!(parse_interval("soon").is_err());
    }
}

//! The harness's push-mode callback receiver: an HTTP/1.1 listener where the gateway POSTs
//! event batches (`{"workNo":…,"eventList":[…]}`, as the vendor documents show them). Each batch is routed to
//! the inbox of the agent it names, stamped with its receipt time so agents can measure
//! delivery latency (`eventGenTime` → receipt).
//!
//! It answers every POST (`{"message":"success","retcode":"0"}`, or `100-001` for a wrong
//! `service_token`) and counts what it could not route; it never panics on a bad body. It
//! knows nothing of sessions: agents register an inbox for the time they are signed in.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::{PushBatch, CONTENT_TYPE_JSON};

/// Path the receiver tells the gateway to call (any path is accepted).
pub const CALLBACK_PATH: &str = "/agentstorm/callback";
const MAX_BATCH_BYTES: usize = 1 << 20;

/// One pushed event as an agent receives it.
#[derive(Debug, Clone)]
pub struct PushedEvent {
    pub event_type: String,
    /// `eventGenTime`, ms since the Unix epoch, where the gateway gave it.
    pub gen_ms: Option<u64>,
    pub received: SystemTime,
}

/// Counters of what arrived, for the run's report.
#[derive(Debug, Default)]
pub struct PushCounters {
    pub batches: AtomicU64,
    pub events: AtomicU64,
    /// Events for an agent with no open inbox (not signed in as far as the harness knows).
    pub unrouted: AtomicU64,
    pub bad_token: AtomicU64,
    pub bad_body: AtomicU64,
}

type Inboxes = Mutex<HashMap<u32, mpsc::UnboundedSender<PushedEvent>>>;

pub struct PushReceiver {
    addr: SocketAddr,
    callback_url: String,
    token: String,
    inboxes: Inboxes,
    pub counters: PushCounters,
}

/// An agent's inbox; dropping it stops routing to that agent.
pub struct Inbox {
    receiver: Arc<PushReceiver>,
    agent_id: u32,
    rx: mpsc::UnboundedReceiver<PushedEvent>,
}

impl Inbox {
    pub async fn recv(&mut self) -> Option<PushedEvent> {
        self.rx.recv().await
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        if let Ok(mut map) = self.receiver.inboxes.lock() {
            map.remove(&self.agent_id);
        }
    }
}

impl PushReceiver {
    /// Binds `listen` and serves until `shutdown`. `callback_url` overrides the URL given to
    /// the gateway (default `http://<bound address>/agentstorm/callback`).
    pub async fn start(
        listen: SocketAddr,
        callback_url: Option<String>,
        token: String,
        shutdown: CancellationToken,
    ) -> std::io::Result<Arc<PushReceiver>> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let receiver = Arc::new(PushReceiver {
            addr,
            callback_url: callback_url.unwrap_or_else(|| format!("http://{addr}{CALLBACK_PATH}")),
            token,
            inboxes: Mutex::new(HashMap::new()),
            counters: PushCounters::default(),
        });
        let r = receiver.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    a = listener.accept() => match a {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!("push receiver: accept failed: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                    _ = shutdown.cancelled() => return,
                };
                let r = r.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let r = r.clone();
                        async move { Ok::<_, std::convert::Infallible>(r.handle(req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = shutdown.cancelled() => conn.as_mut().graceful_shutdown(),
                    }
                });
            }
        });
        Ok(receiver)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Opens the inbox of `agent_id` (replacing any earlier one).
    pub fn register(self: &Arc<Self>, agent_id: u32) -> Inbox {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Ok(mut map) = self.inboxes.lock() {
            map.insert(agent_id, tx);
        }
        Inbox {
            receiver: self.clone(),
            agent_id,
            rx,
        }
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let received = SystemTime::now();
        let token_ok = req
            .headers()
            .get("service_token")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t == self.token);
        let body = match Limited::new(req.into_body(), MAX_BATCH_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                self.counters.bad_body.fetch_add(1, Ordering::Relaxed);
                return reply(crate::protocol::retcode::MESSAGE_PARAM, "body unreadable");
            }
        };
        if !token_ok {
            self.counters.bad_token.fetch_add(1, Ordering::Relaxed);
            return reply(
                crate::protocol::retcode::SIGNIN_PARAM_EMPTY,
                "invalid service_token",
            );
        }
        let Ok(batch) = serde_json::from_slice::<PushBatch>(&body) else {
            self.counters.bad_body.fetch_add(1, Ordering::Relaxed);
            return reply(
                crate::protocol::retcode::MESSAGE_PARAM,
                "not an event batch",
            );
        };
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(batch.event_list.len() as u64, Ordering::Relaxed);
        let tx = batch
            .work_no
            .trim()
            .parse::<u32>()
            .ok()
            .and_then(|id| self.inboxes.lock().ok()?.get(&id).cloned());
        match tx {
            Some(tx) => {
                for ev in batch.event_list {
                    let pushed = PushedEvent {
                        gen_ms: ev.event_gen_time,
                        event_type: ev.event_type,
                        received,
                    };
                    if tx.send(pushed).is_err() {
                        self.counters.unrouted.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            None => {
                self.counters
                    .unrouted
                    .fetch_add(batch.event_list.len() as u64, Ordering::Relaxed);
            }
        }
        reply(crate::protocol::retcode::SUCCESS, "success")
    }
}

fn reply(retcode: &str, message: &str) -> Response<Full<Bytes>> {
    let body =
        serde_json::to_vec(&crate::protocol::Reply::code(retcode, message)).unwrap_or_default();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    if let Ok(v) = http::HeaderValue::from_str(CONTENT_TYPE_JSON) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(addr: SocketAddr, token: Option<&str>, body: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let token = token
            .map(|t| format!("service_token: {t}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "POST {CALLBACK_PATH} HTTP/1.1\r\nhost: x\r\n{token}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn routes_batches_to_inboxes_and_counts_the_rest() {
        let stop = CancellationToken::new();
        let r = PushReceiver::start(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            "tok".into(),
            stop.clone(),
        )
        .await
        .expect("start");
        assert!(r.callback_url().starts_with("http://127.0.0.1:"));
        let mut inbox = r.register(1001);
        let batch = r#"{"workNo":"1001","eventList":[{"eventType":"AgentOther_InService","workNo":"1001","content":null,"eventGenTime":"1700000000000"},{"eventType":"AgentState_Ready","workNo":"1001","content":null}]}"#;
        let resp = post(r.addr(), Some("tok"), batch).await;
        assert!(resp.contains("\"retcode\":\"0\""), "{resp}");
        let a = inbox.recv().await.expect("first");
        assert_eq!(a.event_type, "AgentOther_InService");
        assert_eq!(a.gen_ms, Some(1_700_000_000_000));
        assert_eq!(
            inbox.recv().await.expect("second").event_type,
            "AgentState_Ready"
        );
        // wrong token, bad body, unknown agent
        assert!(post(r.addr(), Some("nope"), batch)
            .await
            .contains("100-001"));
        assert!(post(r.addr(), None, "{not json").await.contains("000-006"));
        let other = batch.replace("\"1001\"", "\"2002\"");
        assert!(post(r.addr(), None, &other)
            .await
            .contains("\"retcode\":\"0\""));
        drop(inbox);
        assert!(post(r.addr(), None, batch)
            .await
            .contains("\"retcode\":\"0\""));
        let c = &r.counters;
        assert_eq!(c.bad_token.load(Ordering::Relaxed), 1);
        assert_eq!(c.bad_body.load(Ordering::Relaxed), 1);
        assert_eq!(
            c.unrouted.load(Ordering::Relaxed),
            4,
            "2 for 2002, 2 after the inbox closed"
        );
        stop.cancel();
    }
}

//! The call timeout counts from each call's own start, on a connection kept across calls.
//! The client keeps one timer per agent and moves it to each call's deadline: a call that
//! starts after an earlier one must not be timed out at the earlier call's deadline, and a
//! call that gets no reply must still end at its own. A server written here (port 0)
//! answers the first request at once, the second after a delay that ends past the first
//! call's deadline but within the second's, and never answers the third.
//!
//! In its own test binary: the assertions depend on wall-clock timing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agentstorm::client::{AgentConn, Failure, Target, TargetOptions, Trust};
use agentstorm::metrics::TransportKind;
use http::Method;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

// The test only counts requests: it reads none of their fields.
#[allow(dead_code)]
#[path = "it/support/raw.rs"]
mod raw;

const TIMEOUT: Duration = Duration::from_secs(2);
/// The pause between the first call and the second.
const GAP: Duration = Duration::from_millis(1200);
/// How long the server takes over the second reply: with the gap, past the first call's
/// deadline; alone, well within the second call's.
const SLOW_REPLY: Duration = Duration::from_millis(1200);

const REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 28\r\n\r\n{\"message\":\"\",\"retcode\":\"0\"}";

/// Answers on one accepted connection: the first request at once, the second after
/// `SLOW_REPLY`, none after that (the connection stays open).
async fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((sock, _)) = listener.accept().await else {
            return;
        };
        let mut requests = raw::Requests::new(sock);
        for n in 0.. {
            if requests.next().await.is_none() {
                return;
            }
            match n {
                0 => {}
                1 => tokio::time::sleep(SLOW_REPLY).await,
                // Never answers; holds the connection until the test ends.
                _ => std::future::pending::<()>().await,
            }
            if requests.sock().write_all(REPLY).await.is_err() {
                return;
            }
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn each_call_times_out_at_its_own_deadline_not_an_earlier_calls() {
    let target = Target::new(&TargetOptions {
        url: serve().await,
        trust: Trust::Native,
        timeout: TIMEOUT,
        connect_timeout: Duration::from_secs(5),
        source_addresses: Vec::new(),
        read_buffer_bytes: None,
    })
    .expect("target");
    let mut conn = AgentConn::new(Arc::clone(&target));
    let path = "/agentgateway/resource/agentevent/1001";

    let first = conn.call(Method::GET, path, None, None).await;
    assert!(first.result.is_ok(), "first call: {:?}", first.reason);

    tokio::time::sleep(GAP).await;
    // Ends past the first call's deadline (GAP + SLOW_REPLY > TIMEOUT): answered all the same.
    let second = conn.call(Method::GET, path, None, None).await;
    assert!(
        second.result.is_ok(),
        "the second call was cut at the first call's deadline: {:?}",
        second.reason
    );
    assert!(second.done_at - second.sent_at >= SLOW_REPLY);

    // No reply at all: a timeout, counted from this call's own start.
    let started = Instant::now();
    let third = conn.call(Method::GET, path, None, None).await;
    let waited = started.elapsed();
    assert_eq!(
        third.result.expect_err("no reply"),
        Failure::Transport(TransportKind::Timeout)
    );
    assert!(
        waited >= TIMEOUT,
        "timed out after {waited:?}, before its own {TIMEOUT:?}"
    );
    assert!(waited < TIMEOUT * 3, "not timed out in {waited:?}");
    let reason = third.reason.expect("a timeout says why");
    assert!(reason.contains("2s call timeout"), "{reason}");
}

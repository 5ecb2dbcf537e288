//! The client against replies shaped unlike the simulated gateway's: a raw loopback server
//! (port 0) sends what a test wants, byte for byte. Pins that a reply larger than the
//! client's fixed read buffer (a long header block, a long body) is read whole, on a kept
//! connection; that with `target.read_buffer_bytes` a long body still is, while a header
//! block longer than the buffer is a counted protocol error (the documented trade); and
//! that a body that is not the gateway's JSON is a counted bad body, not a crash. A chunked
//! body is joined whole, a body over the client's 1 MiB cap (announced or sent) is a bad
//! body, and the `Guid` header sent follows the GUID the agent holds (and nothing of the
//! previous reply's headers goes with it), and every call goes to its own path below the
//! target's base path.

use std::sync::Arc;
use std::time::Duration;

use agentstorm::client::{AgentConn, Failure, Target, TargetOptions, Trust};
use agentstorm::metrics::TransportKind;
use http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `replies` in turn on one accepted connection, one per request head read.
async fn serve(replies: Vec<Vec<u8>>) -> String {
    serve_recording(replies).await.0
}

/// Like `serve`, also handing over each request head it read.
async fn serve_recording(
    replies: Vec<Vec<u8>>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let (heads, heads_rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let mut buf = vec![0u8; 16 * 1024];
        for reply in replies {
            // Read until the end of a request head (requests here have no body).
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let _ = heads.send(String::from_utf8_lossy(&seen).into_owned());
            if sock.write_all(&reply).await.is_err() {
                return;
            }
        }
    });
    (format!("http://{addr}"), heads_rx)
}

fn reply(extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn target(url: String, read_buffer_bytes: Option<usize>) -> Arc<Target> {
    Target::new(&TargetOptions {
        url,
        trust: Trust::Native,
        timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(5),
        source_addresses: Vec::new(),
        read_buffer_bytes,
    })
    .expect("target")
}

#[tokio::test]
async fn replies_larger_than_the_read_buffer_are_read_whole_on_a_kept_connection() {
    // A 6 KB header block and an 8 KB event body: several times the client's read buffer.
    let long_header = format!("X-Padding: {}\r\n", "h".repeat(6000));
    let content = "c".repeat(8000);
    let event = format!(
        r#"{{"message":"","retcode":"0","event":{{"eventType":"AgentState_Ready","content":"{content}","eventGenTime":"1700000000000"}}}}"#
    );
    let url = serve(vec![
        reply(&long_header, r#"{"message":"","retcode":"0"}"#),
        reply("", &event),
        reply("Guid: g-2\r\n", r#"{"message":"","retcode":"100-006"}"#),
    ])
    .await;
    let mut conn = AgentConn::new(target(url, None));
    let path = "/agentgateway/resource/agentevent/1001";
    let first = conn.call(Method::GET, path, None, None).await;
    let first = first.result.expect("long header block read");
    assert!(first.retcode.is_success());
    let second = conn.call(Method::GET, path, None, None).await;
    let second = second.result.expect("long body read");
    assert_eq!(second.event_type.as_deref(), Some("AgentState_Ready"));
    assert_eq!(second.event_gen_ms, Some(1_700_000_000_000));
    // The third reply comes on the same connection (the server accepts only one).
    let third = conn.call(Method::GET, path, None, None).await;
    let third = third.result.expect("kept connection");
    assert_eq!(third.retcode.as_str(), "100-006");
    assert_eq!(third.guid.as_deref(), Some("g-2"));
}

#[tokio::test]
async fn a_body_that_is_not_the_gateway_json_is_a_bad_body() {
    let url = serve(vec![reply("", &"x".repeat(5000))]).await;
    let mut conn = AgentConn::new(target(url, None));
    let ex = conn
        .call(
            Method::GET,
            "/agentgateway/resource/agentevent/1",
            None,
            None,
        )
        .await;
    assert_eq!(
        ex.result.expect_err("not JSON"),
        Failure::Transport(TransportKind::BadBody)
    );
    // The reason and the body stay with the exchange, for the failure's exemplar.
    let reason = ex.reason.expect("a reason");
    assert!(
        reason.contains("expected value at line 1 column 1"),
        "{reason}"
    );
    assert_eq!(ex.body.len(), 5000);
}

#[tokio::test]
async fn the_newest_documented_poll_reply_reads_with_its_number_time() {
    let body = r#"{"message":"","retcode":"0","event":{"eventType":"AgentState_Ready","eventGenTime":1784529722590,"workNo":"1001","content":null}}"#;
    let url = serve(vec![reply(
        "Set-GUID: JSESSIONID=g2.AgentGateway1\r\n",
        body,
    )])
    .await;
    let mut conn = AgentConn::new(target(url, None));
    let ex = conn
        .call(
            Method::GET,
            "/agentgateway/resource/agentevent/1001",
            None,
            Some("g1"),
        )
        .await;
    assert_eq!(ex.reason, None);
    let r = ex.result.expect("read");
    assert_eq!(r.event_type.as_deref(), Some("AgentState_Ready"));
    assert_eq!(r.event_gen_ms, Some(1_784_529_722_590));
    assert_eq!(r.guid.as_deref(), Some("g2.AgentGateway1"));
}

#[tokio::test]
async fn a_fixed_read_buffer_reads_long_bodies_but_caps_the_header_block() {
    let content = "c".repeat(8000);
    let event = format!(
        r#"{{"message":"","retcode":"0","event":{{"eventType":"AgentState_Ready","content":"{content}"}}}}"#
    );
    let url = serve(vec![
        reply("", &event),
        reply(
            &format!("X-Padding: {}\r\n", "h".repeat(3000)),
            r#"{"retcode":"0"}"#,
        ),
    ])
    .await;
    let mut conn = AgentConn::new(target(url, Some(1024)));
    let path = "/agentgateway/resource/agentevent/1001";
    let long_body = conn.call(Method::GET, path, None, None).await;
    assert_eq!(
        long_body
            .result
            .expect("long body read")
            .event_type
            .as_deref(),
        Some("AgentState_Ready")
    );
    let long_head = conn.call(Method::GET, path, None, None).await;
    assert_eq!(
        long_head.result.expect_err("head over the buffer"),
        Failure::Transport(TransportKind::Protocol)
    );
    // The reason names the setting that decides it and what to set.
    let reason = long_head.reason.expect("a reason");
    assert!(
        reason.contains("1024-byte read buffer") && reason.contains("read_buffer_bytes"),
        "{reason}"
    );
}

/// A 200 reply whose body comes in the given chunks (`Transfer-Encoding: chunked`).
fn chunked(chunks: &[&str]) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for c in chunks {
        out.extend_from_slice(format!("{:x}\r\n{c}\r\n", c.len()).as_bytes());
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[tokio::test]
async fn a_chunked_body_is_joined_and_an_oversized_one_is_a_bad_body() {
    let path = "/agentgateway/resource/agentevent/1001";
    let big = "y".repeat(64 * 1024);
    let url = serve(vec![
        chunked(&[
            r#"{"message":"","ret"#,
            r#"code":"0","event":{"eventType":"#,
            r#""AgentState_Ready"}}"#,
        ]),
        // Valid JSON of 2 MiB sent in 64 KiB chunks: over the cap only once read.
        chunked(
            &[r#"{"retcode":"0","message":""#]
                .into_iter()
                .chain(vec![big.as_str(); 32])
                .chain([r#""}"#])
                .collect::<Vec<_>>(),
        ),
    ])
    .await;
    let mut conn = AgentConn::new(target(url, None));
    let joined = conn.call(Method::GET, path, None, None).await;
    let joined = joined.result.expect("chunks joined");
    assert!(joined.retcode.is_success());
    assert_eq!(joined.event_type.as_deref(), Some("AgentState_Ready"));
    let sent_big = conn.call(Method::GET, path, None, None).await;
    assert_eq!(
        sent_big.result.expect_err("2 MiB sent"),
        Failure::Transport(TransportKind::BadBody)
    );

    // Announced over the cap: refused without reading it.
    let announced = b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n{".to_vec();
    let url = serve(vec![announced]).await;
    let mut conn = AgentConn::new(target(url, None));
    let ex = conn.call(Method::GET, path, None, None).await;
    assert_eq!(
        ex.result.expect_err("2 MB announced"),
        Failure::Transport(TransportKind::BadBody)
    );
}

#[tokio::test]
async fn the_guid_header_follows_the_guid_the_agent_holds() {
    // Each reply's own headers must not leak into the next request (hyper parses a reply
    // into the header map its request went out with), nor a GUID the agent no longer holds.
    let ok = || reply("X-Reply: 1\r\n", r#"{"message":"","retcode":"0"}"#);
    let (url, mut heads) = serve_recording(vec![ok(), ok(), ok(), ok()]).await;
    let mut conn = AgentConn::new(target(url, None));
    let path = "/agentgateway/resource/agentevent/1001";
    for guid in [Some("g-1"), Some("g-1"), Some("g-2"), None] {
        let ex = conn.call(Method::GET, path, None, guid).await;
        assert!(ex.result.expect("reply").retcode.is_success());
        let head = heads.recv().await.expect("head").to_ascii_lowercase();
        let sent: Vec<&str> = head
            .lines()
            .filter_map(|l| l.strip_prefix("guid: "))
            .collect();
        assert_eq!(sent, guid.into_iter().collect::<Vec<_>>(), "{head}");
        for leaked in ["x-reply:", "content-length:", "content-type:"] {
            assert!(!head.contains(leaked), "{leaked} in {head}");
        }
    }
}

#[tokio::test]
async fn each_call_goes_to_its_own_path_below_the_target_base_path() {
    // The client keeps the last request's parsed URI and reuses it while the path is the
    // same: a changed path, or the same path after another, must go out as asked.
    let ok = || reply("", r#"{"message":"","retcode":"0"}"#);
    let (url, mut heads) = serve_recording(vec![ok(), ok(), ok(), ok(), ok()]).await;
    let mut conn = AgentConn::new(target(format!("{url}/lb/"), None));
    let poll = "/agentgateway/resource/agentevent/1001";
    let poll_2 = "/agentgateway/resource/agentevent/10011";
    let logout = "/agentgateway/resource/onlineagent/1001/logout";
    let calls = [
        (Method::GET, poll),
        (Method::GET, poll),
        (Method::GET, poll_2),
        (Method::DELETE, logout),
        (Method::GET, poll),
    ];
    for (method, path) in calls {
        let ex = conn.call(method.clone(), path, None, None).await;
        assert!(ex.result.expect("reply").retcode.is_success());
        let head = heads.recv().await.expect("head");
        let line = head.lines().next().unwrap_or_default().to_string();
        assert_eq!(line, format!("{method} /lb{path} HTTP/1.1"), "{head}");
    }
}

#[tokio::test]
async fn the_longest_reply_head_is_counted_as_sent_and_warned_of_near_the_buffer() {
    let short = reply("", r#"{"retcode":"0"}"#);
    let long = reply(
        &format!("Set-Cookie: LB={}\r\n", "v".repeat(700)),
        r#"{"retcode":"0"}"#,
    );
    let head_of = |r: &[u8]| r.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let (short_head, long_head) = (head_of(&short), head_of(&long));
    let url = serve(vec![short, long]).await;
    let target = target(url, Some(1024));
    let mut conn = AgentConn::new(target.clone());
    let path = "/agentgateway/resource/agentevent/1001";
    conn.call(Method::GET, path, None, None)
        .await
        .result
        .expect("short head read");
    assert_eq!(target.longest_head() as usize, short_head);
    assert_eq!(
        target.head_room_warning(),
        None,
        "{short_head} of 1024 bytes"
    );
    conn.call(Method::GET, path, None, None)
        .await
        .result
        .expect("a head under the buffer is read");
    assert_eq!(target.longest_head() as usize, long_head);
    let warning = target
        .head_room_warning()
        .expect("within a quarter of the buffer");
    assert!(
        warning.contains(&format!("{long_head} bytes")) && warning.contains("read_buffer_bytes"),
        "{warning}"
    );
}

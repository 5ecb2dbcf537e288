//! Robustness: a seeded, bounded fuzz loop of raw HTTP requests (random methods, paths,
//! headers and bodies, truncated and oversized ones) against the gateway, which must
//! answer every complete request with a retcode (HTTP 200 + JSON) or a 4xx and keep
//! serving; and `agentstorm gateway`'s runner (`standalone::run`) end to end.

use std::net::SocketAddr;
use std::time::Duration;

use agentstorm::protocol::{self, event};
use agentstorm::sim::standalone::{self, Options};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::support::sim::{config, start, Client};

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn random_text(rng: &mut StdRng, len: usize) -> String {
    (0..len)
        .map(|_| rng.random_range(0x21u8..0x7f) as char)
        .collect()
}

fn random_path(rng: &mut StdRng) -> String {
    let ids = [
        "101",
        "999999",
        "100",
        "1000000",
        "0",
        "-1",
        "abc",
        "",
        "4242",
        "00101",
        "18446744073709551616",
    ];
    let actions = [
        "",
        "/forcelogin",
        "/loginex",
        "/logout",
        "/forcelogout",
        "/forcelogoutwithreason/7",
        "/forcelogoutwithreason/0",
        "/handshake",
        "/updateGuid",
        "/resetskill/true?skillid=1;2",
        "/resetskill",
        "/x/y/z",
        "/%00",
        "/..",
        "//",
    ];
    let id = pick(rng, &ids);
    match rng.random_range(0..8) {
        0 => format!("{}/agentevent/{id}", protocol::BASE_PATH),
        1 => format!(
            "{}/onlineagent/{id}{}",
            protocol::BASE_PATH,
            pick(rng, &actions)
        ),
        2 => protocol::STATS_PATH.to_string(),
        3 => format!("/{}", random_text(rng, 40).replace(' ', "")),
        4 => "*".to_string(),
        5 => format!(
            "{}/onlineagent/{id}{}?{}",
            protocol::BASE_PATH,
            pick(rng, &actions),
            random_text(rng, 20)
        ),
        6 => format!("/{}", "a/".repeat(rng.random_range(1..3000))),
        _ => format!(
            "{}/agentevent/{id}?calldata={}",
            protocol::BASE_PATH,
            random_text(rng, 10)
        ),
    }
}

fn random_body(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..9) {
        0 => Vec::new(),
        1 => br#"{"password":"","phonenum":"40038"}"#.to_vec(),
        2 => {
            let vals = [
                "1",
                "\"4\"",
                "true",
                "null",
                "[]",
                "{}",
                "\"true\"",
                "-3",
                "1e309",
                "\"\u{00e9}\"",
                "99999999999999999999",
            ];
            let keys = [
                "password",
                "phonenum",
                "status",
                "agenttype",
                "ip",
                "time",
                "restcause",
                "serviceToken",
                "callBackUri",
                "phonelinkage",
                "checkInWebm",
            ];
            let n = rng.random_range(0..8);
            let fields: Vec<String> = (0..n)
                .map(|_| format!("\"{}\":{}", pick(rng, &keys), pick(rng, &vals)))
                .collect();
            format!("{{{}}}", fields.join(",")).into_bytes()
        }
        3 => (0..rng.random_range(1..300))
            .map(|_| rng.random::<u8>())
            .collect(),
        4 => vec![b'x'; rng.random_range(60_000..70_000)],
        5 => vec![b' '; rng.random_range(100_000..900_000)],
        6 => b"{\"password\":\"\",\"phonenum\":\"1\"".to_vec(),
        7 => "[".repeat(rng.random_range(1..5000)).into_bytes(),
        _ => random_text(rng, 100).into_bytes(),
    }
}

/// One raw request: bytes and whether it was cut short on purpose.
fn random_request(rng: &mut StdRng, guids: &[String]) -> (Vec<u8>, bool) {
    let methods = [
        "GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH", "G@T", "put",
    ];
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
        pick(rng, &methods),
        random_path(rng)
    );
    let body = random_body(rng);
    let chunked = rng.random_bool(0.15);
    if rng.random_bool(0.6) {
        let guid = match rng.random_range(0..4) {
            0 => pick(rng, guids).clone(),
            1 => String::new(),
            2 => random_text(rng, 60),
            _ => format!("JSESSIONID={}", pick(rng, guids)),
        };
        head.push_str(&format!("Guid: {guid}\r\n"));
    }
    if rng.random_bool(0.5) {
        head.push_str("Content-Type: application/json; charset=UTF-8\r\n");
    }
    if rng.random_bool(0.2) {
        let name = random_text(rng, 8).replace(':', "");
        let len = rng.random_range(0..2000);
        let value = random_text(rng, len);
        head.push_str(&format!("X-{name}: {value}\r\n"));
    }
    if rng.random_bool(0.05) {
        head.push_str(&format!("X-Big: {}\r\n", "v".repeat(200_000)));
    }
    if rng.random_bool(0.1) {
        head.push_str("service_token: tok\r\n");
    }
    let mut bytes;
    if chunked {
        head.push_str("Transfer-Encoding: chunked\r\n\r\n");
        bytes = head.into_bytes();
        for chunk in body.chunks(rng.random_range(1..5000)) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        if rng.random_bool(0.9) {
            bytes.extend_from_slice(b"0\r\n\r\n");
        } else {
            bytes.extend_from_slice(b"zz\r\n"); // broken chunk size
        }
    } else {
        let declared = match rng.random_range(0..10) {
            0 => "abc".to_string(),
            1 => "-1".to_string(),
            _ => body.len().to_string(),
        };
        if !body.is_empty() || rng.random_bool(0.3) {
            head.push_str(&format!("Content-Length: {declared}\r\n"));
        }
        head.push_str("\r\n");
        bytes = head.into_bytes();
        bytes.extend_from_slice(&body);
    }
    let truncated = rng.random_bool(0.15);
    if truncated {
        let cut = rng.random_range(0..bytes.len().max(1));
        bytes.truncate(cut);
    }
    (bytes, truncated)
}

/// Sends raw bytes, half-closes, reads until EOF. None: no bytes came back.
async fn exchange(addr: SocketAddr, bytes: Vec<u8>) -> Option<Vec<u8>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&bytes).await;
        let _ = wr.shutdown().await;
        wr
    });
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), rd.read_to_end(&mut out)).await;
    assert!(
        read.is_ok(),
        "the gateway neither answered nor closed within 5 s"
    );
    let _ = writer.await;
    (!out.is_empty()).then_some(out)
}

/// Checks a raw reply: `HTTP/1.1 200` with a JSON body carrying a retcode, or a 4xx.
fn check_reply(raw: &[u8], request: &str) -> u16 {
    let text = String::from_utf8_lossy(raw);
    let status: u16 = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP/1.1 reply: {text:.200} (request {request:.200})"));
    assert!(
        status == 200 || (400..500).contains(&status),
        "status {status} for {request:.200}"
    );
    let Some(split) = text.find("\r\n\r\n") else {
        panic!("reply without end of headers: {text:.300}");
    };
    let head = text[..split].to_ascii_lowercase();
    if status == 200 {
        assert!(head.contains("content-type: application/json"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("200 without content-length: {head}"));
        let body = &raw[split + 4..split + 4 + len];
        let v: serde_json::Value = serde_json::from_slice(body).expect("200 body is JSON");
        let stats = request
            .lines()
            .next()
            .is_some_and(|l| l.contains(protocol::STATS_PATH));
        assert!(
            v["retcode"].is_string() || (stats && v["requests"].is_object()),
            "200 body has a retcode: {v}"
        );
    }
    status
}

#[tokio::test]
async fn fuzz_every_request_is_answered_and_the_gateway_keeps_working() {
    let gw = start(config(r#"poll_wait = "5ms""#)).await;
    let mut c = gw.client().await;
    let mut guids = Vec::new();
    for id in [101u32, 4242, 999_999] {
        guids.push(c.sign_in(id).await);
    }
    let seed = std::env::var("AGENTSTORM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2025_u64);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut answered = 0;
    let mut statuses = std::collections::BTreeSet::new();
    for case in 0..400 {
        let (bytes, truncated) = random_request(&mut rng, &guids);
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).to_string();
        match exchange(gw.addr, bytes).await {
            Some(raw) => {
                statuses.insert(check_reply(&raw, &shown));
                answered += 1;
            }
            None => assert!(
                truncated,
                "case {case} (seed {seed}): no answer to {shown:?}"
            ),
        }
    }
    assert!(answered > 300, "{answered}");
    for expected in [200, 400, 404, 405, 413] {
        assert!(
            statuses.contains(&expected),
            "the fuzz reached {expected}: {statuses:?}"
        );
    }
    // A body declared over 1 MiB is refused without being read.
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n",
        protocol::signin_path(555)
    );
    let raw = exchange(gw.addr, head.into_bytes())
        .await
        .expect("answered");
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 413"));
    // Still serving normally.
    assert!(!gw.task.is_finished());
    let mut c = Client::connect(gw.addr).await;
    let g = c.sign_in(777_777).await;
    assert_eq!(
        c.poll(777_777, &g).await.event_type().as_deref(),
        Some(event::IN_SERVICE)
    );
    gw.stop().await;
}

/// A free loopback port (bound, then released).
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

async fn connect_retrying(addr: SocketAddr) {
    for _ in 0..200 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gateway did not start listening on {addr}");
}

fn options(listen: SocketAddr) -> Options {
    Options {
        listen,
        config: None,
        plain_http: false,
        cert: None,
        key: None,
        cert_out: None,
    }
}

#[tokio::test]
async fn standalone_serves_https_writes_its_cert_and_stops_on_cancel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("gateway.toml");
    std::fs::write(&cfg, "poll_wait = \"10ms\"\nauth_mode = \"static\"\n").expect("write");
    let cert_out = dir.path().join("gateway-cert.pem");
    let addr = free_port();
    let shutdown = CancellationToken::new();
    let opts = Options {
        config: Some(cfg),
        cert_out: Some(cert_out.clone()),
        ..options(addr)
    };
    let task = tokio::spawn(standalone::run(opts, shutdown.clone()));
    connect_retrying(addr).await;
    let pem = std::fs::read_to_string(&cert_out).expect("cert written");
    let mut c = Client::connect_tls(addr, &pem).await;
    let g = c.sign_in(8001).await;
    let r = c.poll(8001, &g).await;
    assert_eq!(r.event_type().as_deref(), Some(event::IN_SERVICE));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops promptly")
        .expect("join")
        .expect("run returns Ok");
}

#[tokio::test]
async fn standalone_refuses_bad_files_and_option_mixes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "poll_wait = \"1s\"\nmax_agent = 5\n").expect("write");
    let run = |opts| standalone::run(opts, CancellationToken::new());
    let err = run(Options {
        config: Some(cfg.clone()),
        ..options(free_port())
    })
    .await
    .expect_err("unknown key");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("{}:2:1: ", cfg.display())),
        "{msg}"
    );
    assert!(
        msg.contains("max_agent") && msg.contains("max_agents"),
        "{msg}"
    );
    let cert = dir.path().join("c.pem");
    let err = run(Options {
        cert: Some(cert),
        ..options(free_port())
    })
    .await
    .expect_err("cert without key");
    assert!(err.to_string().contains("--key"), "{err}");
    let err = run(Options {
        plain_http: true,
        cert_out: Some(dir.path().join("x")),
        ..options(free_port())
    })
    .await
    .expect_err("plain http with a cert");
    assert!(err.to_string().contains("--plain-http"), "{err}");
    let missing = dir.path().join("missing.toml");
    let err = run(Options {
        config: Some(missing),
        ..options(free_port())
    })
    .await
    .expect_err("missing file");
    assert!(err.to_string().contains("missing.toml"), "{err}");
}

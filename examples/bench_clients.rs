//! Not a test: a load client for measuring the simulated gateway from outside its process
//! (run against the `bench_gateway_server` example; see scripts/bench/gateway/capacity.sh).
//! Traffic goes only to the loopback target given. Build and run:
//! `cargo build --release --example bench_clients`, then
//! `target/release/examples/bench_clients` (it takes no arguments).
//!
//! Holds long polls: signs in `AGENTSTORM_BENCH_AGENTS` agents (default 19000), each on its
//! own connection (client sockets spread over 127.0.0.2, .3, … so no source address needs
//! more than 10,000 ports) to `AGENTSTORM_BENCH_TARGET` (default 127.0.0.1:18043), drains
//! their sign-in events and leaves one poll waiting per agent; prints `holding N` and
//! holds for `AGENTSTORM_BENCH_HOLD_S` seconds (default 20). Over TLS when
//! `AGENTSTORM_BENCH_CA` names the gateway's certificate.
//!
//! (TLS handshake rates are measured with oha against `agentstorm gateway` itself.)

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn target() -> SocketAddr {
    env(
        "AGENTSTORM_BENCH_TARGET",
        "127.0.0.1:18043".parse().expect("addr"),
    )
}

/// Reads one HTTP/1.1 reply with a Content-Length body; returns (head, body).
async fn read_reply<S: AsyncRead + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
) -> Option<(String, Vec<u8>)> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Some((head, body));
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn request<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    buf: &mut Vec<u8>,
    req: &str,
) -> Option<(String, Vec<u8>)> {
    s.write_all(req.as_bytes()).await.ok()?;
    read_reply(s, buf).await
}

/// A connection kept open while its poll waits.
enum Held {
    Plain(#[allow(dead_code)] TcpStream),
    Tls(#[allow(dead_code)] Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Signs in, drains the sign-in events and sends the poll that waits.
async fn sign_in_and_wait<S: AsyncRead + AsyncWrite + Unpin>(id: u32, s: &mut S) -> Option<()> {
    let mut buf = Vec::new();
    let body = r#"{"password":"","phonenum":"40038"}"#;
    let signin = format!(
        "PUT /agentgateway/resource/onlineagent/{id} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (head, _) = request(s, &mut buf, &signin).await?;
    let guid = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("guid").then(|| v.trim().to_string())
    })?;
    let poll = format!(
        "GET /agentgateway/resource/agentevent/{id} HTTP/1.1\r\nHost: x\r\nGuid: {guid}\r\n\r\n"
    );
    for _ in 0..2 {
        request(s, &mut buf, &poll).await?;
    }
    s.write_all(poll.as_bytes()).await.ok()?;
    s.flush().await.ok()
}

/// One agent: connect from `source` (TLS when a connector is given), sign in, wait.
async fn hold_one(
    id: u32,
    source: IpAddr,
    target: SocketAddr,
    tls: Option<tokio_rustls::TlsConnector>,
) -> Option<Held> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(source, 0)).ok()?;
    let mut s = socket.connect(target).await.ok()?;
    match tls {
        None => {
            sign_in_and_wait(id, &mut s).await?;
            Some(Held::Plain(s))
        }
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from("localhost").ok()?;
            let mut t = connector.connect(name, s).await.ok()?;
            sign_in_and_wait(id, &mut t).await?;
            Some(Held::Tls(Box::new(t)))
        }
    }
}

/// A TLS connector trusting the PEM in `AGENTSTORM_BENCH_CA` (None when unset).
fn connector() -> Option<tokio_rustls::TlsConnector> {
    use rustls::pki_types::pem::PemObject as _;
    let ca = std::env::var("AGENTSTORM_BENCH_CA").ok()?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(&ca).expect("AGENTSTORM_BENCH_CA")
    {
        roots.add(cert.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    Some(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Holds the long polls (see the file's doc), then exits.
fn main() {
    let agents: u32 = env("AGENTSTORM_BENCH_AGENTS", 19_000);
    let hold = Duration::from_secs(env("AGENTSTORM_BENCH_HOLD_S", 20));
    let target = target();
    let tls = connector();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        let mut tasks = Vec::new();
        for i in 0..agents {
            let gate = gate.clone();
            let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i / 10_000) as u8));
            let tls = tls.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.ok()?;
                hold_one(1000 + i, source, target, tls).await
            }));
        }
        let mut held = Vec::new();
        for t in tasks {
            if let Ok(Some(s)) = t.await {
                held.push(s);
            }
        }
        println!("holding {}", held.len());
        tokio::time::sleep(hold).await;
        println!("released {}", held.len());
    });
}

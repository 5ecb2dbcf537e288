//! Not a test: the floor of hyper 1.x's HTTP/1.1 client on this machine, for the request
//! engine benchmark (scripts/bench/engine.sh, `FLOOR=1`). It does what agentstorm's poll
//! loop does with none of agentstorm's own work: the same connector settings (TCP_NODELAY,
//! a fixed 2 KiB read buffer), the connection polled in the requesting task, one
//! current-thread runtime per thread, the same request bytes (`Host` and `Guid`), and the
//! reply body read whole, then thrown away: no reply parse, no recording, no session.
//! What it reaches is what any client built on hyper can reach; agentstorm's rate divided
//! by it is the share of hyper's floor that agentstorm keeps.
//!
//! Over HTTPS when `AGENTSTORM_FLOOR_CA` names a PEM CA file: tokio-rustls with the
//! client config agentstorm's agents use (`client::tls::client_config`: its crypto
//! provider, that file trusted), so the floor pays the same TLS as agentstorm does.
//!
//! A loopback target only; bounded by its duration. Build and run:
//! `cargo build --release --example hyper_floor`, then
//! `target/release/examples/hyper_floor` with `AGENTSTORM_FLOOR_TARGET` (default
//! 127.0.0.1:18080), `AGENTSTORM_FLOOR_PATH` (default the poll of agent 100001),
//! `AGENTSTORM_FLOOR_CONNS` (default 1000), `AGENTSTORM_FLOOR_THREADS` (default 2) and
//! `AGENTSTORM_FLOOR_SECONDS` (default 10). Prints its own request count on stderr as a
//! check; the benchmark counts on the server's side.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One connection (over TLS when `tls` is given): requests back to back until `until`;
/// returns how many were answered.
async fn connection(
    addr: SocketAddr,
    path: Arc<str>,
    until: Instant,
    tls: Option<tokio_rustls::TlsConnector>,
) -> u64 {
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else {
        return 0;
    };
    let _ = stream.set_nodelay(true);
    match tls {
        None => requests(TokioIo::new(stream), addr, path, until).await,
        Some(tls) => {
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            match tls.connect(name, stream).await {
                Ok(stream) => requests(TokioIo::new(stream), addr, path, until).await,
                Err(e) => {
                    eprintln!("hyper_floor: TLS handshake failed: {e}");
                    0
                }
            }
        }
    }
}

/// Requests back to back over `io` until `until`; returns how many were answered.
async fn requests<IO>(io: IO, addr: SocketAddr, path: Arc<str>, until: Instant) -> u64
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let Ok((mut sender, conn)) = hyper::client::conn::http1::Builder::new()
        .read_buf_exact_size(Some(2048))
        .handshake::<_, Full<Bytes>>(io)
        .await
    else {
        return 0;
    };
    let host = hyper::header::HeaderValue::from_str(&addr.to_string()).expect("host");
    let guid = hyper::header::HeaderValue::from_static(
        "6f1c2a8e-bench-0000-0000-000000000000.AgentGateway0",
    );
    let uri: hyper::Uri = path.parse().expect("path");
    let requests = async move {
        let mut done = 0;
        while Instant::now() < until {
            let mut req = Request::new(Full::new(Bytes::new()));
            *req.uri_mut() = uri.clone();
            req.headers_mut().insert(hyper::header::HOST, host.clone());
            req.headers_mut().insert("guid", guid.clone());
            let Ok(reply) = sender.send_request(req).await else {
                break;
            };
            if reply.into_body().collect().await.is_err() {
                break;
            }
            done += 1;
        }
        done
    };
    // The connection ends when `requests` drops the sender.
    let (_, done) = tokio::join!(conn, requests);
    done
}

fn main() {
    let addr: SocketAddr = env(
        "AGENTSTORM_FLOOR_TARGET",
        "127.0.0.1:18080".parse().expect("addr"),
    );
    assert!(
        addr.ip().is_loopback(),
        "hyper_floor sends load to loopback only, not {addr}"
    );
    let path: Arc<str> = env(
        "AGENTSTORM_FLOOR_PATH",
        "/agentgateway/resource/agentevent/100001".to_string(),
    )
    .into();
    let conns: usize = env("AGENTSTORM_FLOOR_CONNS", 1000);
    let threads: usize = env::<usize>("AGENTSTORM_FLOOR_THREADS", 2).max(1);
    let secs: u64 = env::<u64>("AGENTSTORM_FLOOR_SECONDS", 10).min(600);
    let tls = std::env::var("AGENTSTORM_FLOOR_CA").ok().map(|file| {
        let pem = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let config = agentstorm::client::tls::client_config(&agentstorm::client::Trust::Pem(pem))
            .expect("TLS config")
            .expect("a config for a PEM file");
        tokio_rustls::TlsConnector::from(Arc::new(config))
    });
    let until = Instant::now() + Duration::from_secs(secs);
    let total = Arc::new(AtomicU64::new(0));
    let lanes: Vec<_> = (0..threads)
        .map(|lane| {
            let (path, total, tls) = (path.clone(), total.clone(), tls.clone());
            // Connections spread over the lanes as agents do.
            let mine = conns / threads + usize::from(lane < conns % threads);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    let tasks: Vec<_> = (0..mine)
                        .map(|_| tokio::spawn(connection(addr, path.clone(), until, tls.clone())))
                        .collect();
                    for t in tasks {
                        total.fetch_add(t.await.unwrap_or(0), Ordering::Relaxed);
                    }
                });
            })
        })
        .collect();
    for lane in lanes {
        lane.join().expect("lane");
    }
    let n = total.load(Ordering::Relaxed);
    eprintln!(
        "hyper_floor: {n} requests over {conns} connections in {secs} s ({:.0}/s, own count)",
        n as f64 / secs as f64
    );
}

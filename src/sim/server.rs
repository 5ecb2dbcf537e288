//! The accept loop and connections: TCP (optionally TLS) → HTTP/1.1 keep-alive → `handle`.
//!
//! Owns connection lifetime and graceful shutdown: on cancel it stops accepting, asks
//! every connection to finish its in-flight request (waiting polls end with the empty
//! reply), and waits for them a short grace. No protocol rule lives here.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Duration;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SimGateway;

/// How long in-flight requests may take to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// A TLS handshake slower than this is abandoned.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request whose headers take longer than this to arrive is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What every request of every connection shares (one Arc clone per request).
struct Shared {
    gw: Arc<SimGateway>,
    shutdown: CancellationToken,
}

pub async fn serve(
    gw: Arc<SimGateway>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    let acceptor = tls.map(TlsAcceptor::from);
    let shared = Arc::new(Shared {
        gw: gw.clone(),
        shutdown: shutdown.clone(),
    });
    let mut builder = http1::Builder::new();
    builder
        .keep_alive(true)
        // A client may shut its write side after a (possibly truncated) request and still
        // read the answer.
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    tracker.spawn(gw.clone().run_clock(shutdown.clone()));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => r,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of descriptors or a connection that died in the backlog: keep serving.
                tracing::debug!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tracker.spawn(connection(
            shared.clone(),
            stream,
            acceptor.clone(),
            builder.clone(),
        ));
    }
    drop(listener);
    gw.stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
    Ok(())
}

async fn connection(
    shared: Arc<Shared>,
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    builder: http1::Builder,
) {
    match acceptor {
        None => serve_io(shared, stream, builder).await,
        Some(acceptor) => {
            let handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream));
            let tls = tokio::select! {
                r = handshake => match r {
                    Ok(Ok(tls)) => tls,
                    _ => return,
                },
                _ = shared.shutdown.cancelled() => return,
            };
            serve_io(shared, tls, builder).await
        }
    }
}

async fn serve_io<I>(shared: Arc<Shared>, io: I, builder: http1::Builder)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shutdown = shared.shutdown.clone();
    let service = service_fn(move |req| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(shared.gw.handle(req, &shared.shutdown).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
        }
    }
}

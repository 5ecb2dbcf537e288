//! The accept loop and connections: TCP (optionally TLS) → HTTP/1.1 keep-alive → `handle`.
//!
//! Owns connection lifetime and graceful shutdown: on cancel it stops accepting, asks
//! every connection to finish its in-flight request (waiting polls end with the empty
//! reply), and waits for them a short grace. No protocol rule lives here. A cluster's
//! front (D19) serves each connection with a tag (`cluster::ConnTag`) that its node
//! failure can use to close it without a reply.
//!
//! Memory per connection matters (issue 3: 19,000 concurrent HTTPS long polls in
//! < 400 MiB): a connection's task holds only an `Arc` and a box; the TLS handshake and
//! the HTTP connection each live in their own heap allocation, sized to what they are.

use std::convert::Infallible;
use std::future::Future;
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

use super::cluster::ConnTag;
use super::SimGateway;

/// How long in-flight requests may take to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// A TLS handshake slower than this is abandoned.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request whose headers take longer than this to arrive is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What every connection and every request shares (one Arc clone per connection and per
/// request).
struct Shared {
    gw: Arc<SimGateway>,
    shutdown: CancellationToken,
    http: http1::Builder,
    tls: Option<TlsAcceptor>,
}

pub async fn serve(
    gw: Arc<SimGateway>,
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        // A client may shut its write side after a (possibly truncated) request and still
        // read the answer.
        .half_close(true)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        // Head and body copied into one buffer (replies are small) rather than queued:
        // saves the queue hyper keeps per connection, 2-3 MiB at 19,000 held long polls
        // (HTTPS 396 -> 394 MiB, HTTP 257 -> 254 MiB); requests/s unchanged within the
        // noise of scripts/bench/gateway/run.sh.
        .writev(false);
    let shared = Arc::new(Shared {
        gw: gw.clone(),
        shutdown: shutdown.clone(),
        http,
        tls: tls.map(TlsAcceptor::from),
    });
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
        tracker.spawn(connection(shared.clone(), stream));
    }
    drop(listener);
    gw.stop.cancel();
    tracker.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await;
    Ok(())
}

/// One connection, as its own task. Its future is kept small (232 bytes in a release
/// build, against 3,608 when the handshake and the HTTP connection were held inline): an
/// async fn keeps room for every state it can be in, and keeps an argument's slot after
/// the argument moves on, so the TLS stream (1.2 KiB of rustls state) was stored twice and
/// the handshake's space stayed reserved for the connection's whole life. Boxing both
/// brought 19,000 held long polls from 423 to 396 MiB resident over HTTPS and from 306 to
/// 257 MiB over HTTP (scripts/bench/gateway/capacity.sh).
async fn connection(shared: Arc<Shared>, stream: TcpStream) {
    let front = shared.gw.is_front();
    let Some(acceptor) = shared.tls.clone() else {
        if front {
            return Box::pin(serve_front_io(&shared, stream)).await;
        }
        return serve_io(&shared, stream).await;
    };
    // Boxed: freed once the handshake is over, instead of reserving 1.3 KiB in the task.
    let handshake = Box::pin(tokio::time::timeout(
        TLS_HANDSHAKE_TIMEOUT,
        acceptor.accept(stream),
    ));
    let tls = tokio::select! {
        r = handshake => match r {
            Ok(Ok(tls)) => tls,
            _ => return,
        },
        _ = shared.shutdown.cancelled() => return,
    };
    if front {
        return Box::pin(serve_front_io(&shared, tls)).await;
    }
    serve_io(&shared, tls).await
}

/// Serves HTTP/1.1 on `io` until the peer leaves or shutdown asks it to finish. Not an
/// async fn: the connection is built and boxed here, so the returned future holds the
/// box, not a second copy of `io`.
fn serve_io<I>(shared: &Arc<Shared>, io: I) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let for_requests = shared.clone();
    let service = service_fn(move |req| {
        let shared = for_requests.clone();
        async move { Ok::<_, Infallible>(shared.gw.handle(req, &shared.shutdown).await) }
    });
    let mut conn = Box::pin(shared.http.serve_connection(TokioIo::new(io), service));
    let shutdown = shared.shutdown.clone();
    async move {
        tokio::select! {
            _ = conn.as_mut() => {}
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, conn).await;
            }
        }
    }
}

/// [`serve_io`] for a cluster's front: each request is routed to a node, and the
/// connection is closed at once, nothing more sent, when the node its latest request went
/// to fails in `refuse` mode (checked first, so a reply made as the node fails is not sent).
fn serve_front_io<I>(shared: &Arc<Shared>, io: I) -> impl Future<Output = ()> + Send + 'static
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let tag = Arc::new(ConnTag::new(shared.gw.clone()));
    let secure = shared.tls.is_some();
    let for_requests = shared.clone();
    let for_service = tag.clone();
    let service = service_fn(move |req| {
        let shared = for_requests.clone();
        let tag = for_service.clone();
        async move { Ok::<_, Infallible>(shared.gw.front(req, &shared.shutdown, &tag, secure).await) }
    });
    let mut conn = Box::pin(shared.http.serve_connection(TokioIo::new(io), service));
    let shutdown = shared.shutdown.clone();
    async move {
        tokio::select! {
            biased;
            _ = tag.killed() => {}
            _ = conn.as_mut() => {}
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    biased;
                    _ = tag.killed() => {}
                    _ = tokio::time::timeout(SHUTDOWN_GRACE, conn) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every held connection pays for its task's future (issue 3's memory budget): it must
    /// hold neither the TLS handshake nor the HTTP connection inline (3,608 bytes when it
    /// did; 1.2 KiB of that is one rustls connection).
    #[tokio::test]
    async fn a_connection_task_stays_small() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stream = TcpStream::connect(addr).await.expect("connect");
        let tls = super::super::tls::self_signed().expect("certificate");
        let shared = Arc::new(Shared {
            gw: SimGateway::new(Default::default()),
            shutdown: CancellationToken::new(),
            http: http1::Builder::new(),
            tls: Some(TlsAcceptor::from(tls.server_config)),
        });
        let task = connection(shared, stream);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 512, "a connection's future is {size} bytes");
    }
}

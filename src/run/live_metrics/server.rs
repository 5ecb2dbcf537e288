//! The `/metrics` endpoint of `run --metrics-listen ADDR`: an HTTP/1.1 server (hyper) on
//! a tokio task that answers `GET /metrics` with the latest snapshot in the format the
//! scraper's `Accept` header asks for, `/` with a pointer to it, anything else with 404.
//! A scrape only reads the snapshot the collector already made; it never touches the
//! recorder.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use super::expose::{self, Format};
use super::Shared;
use crate::exit::Exit;

pub(super) struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Server {
    /// Binds `addr` and serves until [`Server::stop`]. A bad or busy address is bad input,
    /// named by its flag.
    pub(super) async fn start(addr: SocketAddr, shared: Arc<Shared>) -> Result<Server, Exit> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Exit::bad_input(bind_error(addr, &e)))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Exit::bad_input(bind_error(addr, &e)))?;
        let registry = Arc::new(expose::registry(shared));
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, registry, stop.clone()));
        Ok(Server { addr: bound, stop })
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(super) fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Server {
    /// A run that fails to start after binding does not leave the endpoint behind.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn bind_error(addr: SocketAddr, e: &std::io::Error) -> String {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            ": port {} is in use by another process; choose another port, or port 0 for a free one",
            addr.port()
        ),
        std::io::ErrorKind::AddrNotAvailable => {
            ": that address is not one of this machine's (use 127.0.0.1 or 0.0.0.0)".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            ": ports below 1024 need privileges; choose a port above 1024".to_string()
        }
        _ => String::new(),
    };
    format!("--metrics-listen {addr}: cannot listen: {e}{hint}")
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    registry: Arc<Registry>,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!("--metrics-listen: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let registry = registry.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let r = registry.clone();
                async move { Ok::<_, Infallible>(handle(&r, &req)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.cancelled() => conn.as_mut().graceful_shutdown(),
            }
        });
    }
}

fn handle(registry: &Registry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
    }
    match req.uri().path() {
        "/metrics" => {
            let accept = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            let format = Format::from_accept(accept);
            let body = expose::encode(registry, format);
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static(format.content_type()),
            );
            r
        }
        "/" => text(StatusCode::OK, "agentstorm live metrics: GET /metrics\n"),
        _ => text(StatusCode::NOT_FOUND, "not found: GET /metrics\n"),
    }
}

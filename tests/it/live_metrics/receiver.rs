//! The remote-write receiver of the live-metrics tests: a small hyper server on
//! 127.0.0.1:0 that keeps every push it is sent, its headers and its body decompressed
//! with snap and decoded with prost, and the sums the tests read from a push.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use agentstorm::run::live_metrics::remote_write::{TimeSeries, WriteRequest};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use prost::Message as _;

/// One push as received.
#[derive(Debug)]
pub struct Push {
    pub encoding: String,
    pub content_type: String,
    pub version: String,
    pub req: WriteRequest,
}

/// A remote-write receiver on 127.0.0.1:0 keeping every push; stops with the runtime.
pub async fn receiver() -> (SocketAddr, Arc<Mutex<Vec<Push>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let pushes = Arc::new(Mutex::new(Vec::new()));
    let kept = pushes.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let h = |k: &str| {
                                req.headers()
                                    .get(k)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("")
                                    .to_string()
                            };
                            let (encoding, content_type, version) = (
                                h("content-encoding"),
                                h("content-type"),
                                h("x-prometheus-remote-write-version"),
                            );
                            let body = req.into_body().collect().await.expect("body").to_bytes();
                            let raw = snap::raw::Decoder::new()
                                .decompress_vec(&body)
                                .expect("snappy block format");
                            let req = WriteRequest::decode(raw.as_slice()).expect("a WriteRequest");
                            kept.lock().expect("lock").push(Push {
                                encoding,
                                content_type,
                                version,
                                req,
                            });
                            let mut ok = hyper::Response::new(Full::new(Bytes::new()));
                            *ok.status_mut() = hyper::StatusCode::NO_CONTENT;
                            Ok::<_, std::convert::Infallible>(ok)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, pushes)
}

pub fn label<'a>(t: &'a TimeSeries, name: &str) -> &'a str {
    t.labels
        .iter()
        .find(|l| l.name == name)
        .map(|l| l.value.as_str())
        .unwrap_or("")
}

/// The sum over a push's series named `name` that carry every `(label, value)`.
pub fn pushed_total(req: &WriteRequest, name: &str, labels: &[(&str, &str)]) -> f64 {
    req.timeseries
        .iter()
        .filter(|t| label(t, "__name__") == name && labels.iter().all(|(k, v)| label(t, k) == *v))
        .map(|t| t.samples[0].value)
        .sum()
}

/// The push with the latest timestamp: the final one.
pub fn final_push(pushes: &[Push]) -> &Push {
    pushes
        .iter()
        .max_by_key(|p| {
            p.req
                .timeseries
                .first()
                .map(|t| t.samples[0].timestamp)
                .unwrap_or(0)
        })
        .expect("at least one push")
}

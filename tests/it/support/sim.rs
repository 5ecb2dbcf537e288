//! Shared helpers for the simulated gateway's tests: start a gateway on 127.0.0.1:0 (HTTP
//! or HTTPS with its generated certificate trusted) and talk to it with a plain hyper
//! HTTP/1.1 client over one keep-alive connection. Not agentstorm's own client, so the
//! tests pin the wire behaviour independently.
//!
//! `crate::support::sim`, used by the `sim_*` modules of the `it` test binary.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use agentstorm::protocol::{self, GatewayStats};
use agentstorm::sim::{tls, GatewayConfig, SimGateway};
use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running gateway.
pub struct Gw {
    pub addr: SocketAddr,
    pub sim: Arc<SimGateway>,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<std::io::Result<()>>,
    /// PEM of the certificate when serving HTTPS.
    pub cert_pem: Option<String>,
}

pub async fn start(config: GatewayConfig) -> Gw {
    start_with(config, false).await
}

pub async fn start_tls(config: GatewayConfig) -> Gw {
    start_with(config, true).await
}

pub async fn start_with(config: GatewayConfig, https: bool) -> Gw {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let sim = SimGateway::new(config);
    let shutdown = CancellationToken::new();
    let (tls, cert_pem) = if https {
        let s = tls::self_signed().expect("self-signed cert");
        (Some(s.server_config), Some(s.cert_pem))
    } else {
        (None, None)
    };
    let task = tokio::spawn(sim.clone().serve(listener, tls, shutdown.clone()));
    Gw {
        addr,
        sim,
        shutdown,
        task,
        cert_pem,
    }
}

impl Gw {
    pub async fn client(&self) -> Client {
        match &self.cert_pem {
            None => Client::connect(self.addr).await,
            Some(pem) => Client::connect_tls(self.addr, pem).await,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task
            .await
            .expect("serve task joins")
            .expect("serve returns Ok");
    }
}

/// One reply.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("reply body is not JSON ({e}): {:?}", self.body))
    }

    pub fn retcode(&self) -> String {
        self.json()["retcode"]
            .as_str()
            .unwrap_or("<none>")
            .to_string()
    }

    /// The event type of a poll reply, None for `event: null`.
    pub fn event_type(&self) -> Option<String> {
        let j = self.json();
        assert!(j.get("event").is_some(), "poll reply has an event key: {j}");
        j["event"]["eventType"].as_str().map(str::to_string)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The GUID from `Set-GUID`, if any.
    pub fn set_guid(&self) -> Option<String> {
        self.header("set-guid")
            .and_then(|v| protocol::guid_from_set_guid(&v).map(str::to_string))
    }

    pub fn assert_json_content_type(&self) {
        assert_eq!(
            self.header("content-type").as_deref(),
            Some(protocol::CONTENT_TYPE_JSON),
            "JSON content type on every reply"
        );
    }
}

/// A plain HTTP/1.1 client on one keep-alive connection.
pub struct Client {
    sender: SendRequest<Full<Bytes>>,
    conn: JoinHandle<()>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client::handshake(TokioIo::new(stream)).await
    }

    pub async fn connect_tls(addr: SocketAddr, cert_pem: &str) -> Client {
        use rustls::pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(cert_pem.as_bytes()) {
            roots.add(cert.expect("cert pem")).expect("add root");
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = TcpStream::connect(addr).await.expect("connect");
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let tls = connector
            .connect(name, stream)
            .await
            .expect("TLS handshake with the trusted self-signed cert");
        Client::handshake(TokioIo::new(tls)).await
    }

    async fn handshake<I>(io: I) -> Client
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("http1 handshake");
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        Client { sender, conn }
    }

    /// Sends one request; panics on a transport error (tests that expect one use
    /// `try_send`).
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        self.try_send(
            method,
            path,
            headers,
            Bytes::copy_from_slice(body.as_bytes()),
        )
        .await
        .expect("request answered")
    }

    pub async fn try_send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Resp, String> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !body.is_empty() {
            req = req.header("content-type", protocol::CONTENT_TYPE_JSON);
        }
        let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Resp {
            status,
            headers: parts.headers,
            body,
        })
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    // ----- protocol helpers -----

    pub async fn sign_in_with(&mut self, id: u32, body: &str) -> Resp {
        self.send(Method::PUT, &protocol::signin_path(id), &[], body)
            .await
    }

    /// Signs in with a minimal valid body; returns the GUID. Panics unless `0`.
    pub async fn sign_in(&mut self, id: u32) -> String {
        let r = self
            .sign_in_with(id, r#"{"password":"","phonenum":"40038"}"#)
            .await;
        assert_eq!(r.retcode(), "0", "sign-in of {id}: {:?}", r.body);
        r.set_guid().expect("Set-GUID on sign-in")
    }

    pub async fn poll(&mut self, id: u32, guid: &str) -> Resp {
        self.send(Method::GET, &protocol::poll_path(id), &[("Guid", guid)], "")
            .await
    }

    pub async fn forcelogin(&mut self, id: u32) -> Resp {
        self.send(
            Method::PUT,
            &protocol::forcelogin_path(id),
            &[],
            r#"{"password":"","phonenum":"40038"}"#,
        )
        .await
    }

    /// Any call with the agent's GUID: `action` is the path after `onlineagent/{id}/`.
    pub async fn call(&mut self, method: Method, id: u32, action: &str, guid: &str) -> Resp {
        let path = format!("{}/onlineagent/{id}/{action}", protocol::BASE_PATH);
        self.send(method, &path, &[("Guid", guid)], "").await
    }

    pub async fn logout(&mut self, id: u32, guid: &str) -> Resp {
        self.send(
            Method::DELETE,
            &protocol::logout_path(id),
            &[("Guid", guid)],
            "",
        )
        .await
    }

    pub async fn stats(&mut self) -> GatewayStats {
        let r = self.send(Method::GET, protocol::STATS_PATH, &[], "").await;
        assert_eq!(r.status, 200);
        serde_json::from_slice(&r.body).expect("stats JSON is GatewayStats")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.conn.abort();
    }
}

/// A configuration from TOML text (the same keys as `[gateway]`).
pub fn config(toml_text: &str) -> GatewayConfig {
    let c: GatewayConfig = toml::from_str(toml_text).expect("test gateway config parses");
    c.validate().expect("test gateway config is valid");
    c
}

/// A configuration with millisecond timing knobs, for tests on the real clock.
pub fn fast_config() -> GatewayConfig {
    config(r#"poll_wait = "20ms""#)
}

/// Counter of one endpoint and outcome in a stats snapshot (0 when absent).
pub fn count(stats: &GatewayStats, endpoint: &str, outcome: &str) -> u64 {
    stats
        .requests
        .get(endpoint)
        .and_then(|m| m.get(outcome))
        .copied()
        .unwrap_or(0)
}

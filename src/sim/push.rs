//! Push mode (D16): for an agent signed in with both `callBackUri` and `serviceToken`,
//! one task POSTs its events to the callback as `{"workNo":…,"eventList":[…]}`, oldest
//! first, with headers `Guid` and `service_token`; a failed batch is sent again after
//! `push_retry`. A forced or timeout sign-out pushes `AgentOther_ShutdownService` and then
//! ends the session (D12).
//!
//! Callbacks must be HTTPS (TLS 1.2+, system roots or `push_ca_file`) or HTTP to a
//! loopback address. Owns the callback client and the push task; nothing else.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;

use super::events;
use super::session::{lock, Mode, Phase, Session};
use super::SimGateway;
use crate::protocol::{retcode, CONTENT_TYPE_JSON, HEADER_GUID};

pub type PushClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Attempts at delivering the final ShutdownService batch before giving up.
const FINAL_ATTEMPTS: u32 = 3;

/// Whether `host` (as in a URI, IPv6 in brackets) is a loopback address.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks a callback URI: HTTPS anywhere, HTTP only to loopback.
pub fn check_callback(uri: &str) -> Result<Uri, &'static str> {
    let parsed: Uri = uri.parse().map_err(|_| retcode::SIGNIN_PARAM_INVALID)?;
    let host = parsed.host().ok_or(retcode::SIGNIN_PARAM_INVALID)?;
    match parsed.scheme_str() {
        Some("https") => Ok(parsed),
        Some("http") if is_loopback(host) => Ok(parsed),
        _ => Err(retcode::SIGNIN_PARAM_INVALID),
    }
}

/// The callback client: TLS 1.2+ with `push_ca_file` as the only root when given, else
/// the system roots.
pub fn build_client(ca_file: Option<&std::path::Path>) -> anyhow::Result<PushClient> {
    use hyper_rustls::ConfigBuilderExt as _;
    let provider = Arc::new(crate::util::tls::crypto());
    let builder = || {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
    };
    let tls = match ca_file {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)? {
                roots.add(cert?)?;
            }
            builder()?
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
        None => match builder()?.with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            Err(_) => builder()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        },
    };
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(https))
}

impl SimGateway {
    /// D16: refuses a callback the gateway may not call (`100-011`).
    pub(crate) fn push_target(&self, callback: &str) -> Result<(), &'static str> {
        check_callback(callback).map(|_| ())
    }

    /// Starts the push task of a new push-mode session.
    pub(crate) fn start_push(&self, session: Arc<Session>) {
        if let Some(gw) = self.me.upgrade() {
            tokio::spawn(gw.push_loop(session));
        }
    }

    fn push_client(&self) -> Option<&PushClient> {
        self.push_client
            .get_or_init(|| match build_client(self.config.push_ca_file.as_deref()) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "push callbacks disabled: no TLS client");
                    None
                }
            })
            .as_ref()
    }

    async fn push_loop(self: Arc<Self>, session: Arc<Session>) {
        let Mode::Push { callback, token } = &session.mode else {
            return;
        };
        let (Ok(uri), Some(client)) = (check_callback(callback), self.push_client()) else {
            return;
        };
        let mut final_attempts = 0;
        loop {
            let notified = session.notify.notified();
            let mut notified = std::pin::pin!(notified);
            let (batch, closing, guid) = {
                let mut st = lock(&session.state);
                let closing = match st.phase {
                    Phase::Active => false,
                    Phase::Closing => true,
                    _ => return,
                };
                let batch: Vec<Bytes> = st.events.drain(..).collect();
                if batch.is_empty() {
                    if closing {
                        drop(st);
                        self.sessions.remove(&session);
                        return;
                    }
                    notified.as_mut().enable();
                }
                (batch, closing, st.guids.current.as_str().to_string())
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = &mut notified => continue,
                    _ = self.stop.cancelled() => return,
                }
            }
            // The events were built in the dialect's shape when queued (D18).
            let body = events::push_batch(session.agent_id, &batch);
            if self.push_once(client, &uri, &guid, token, body).await {
                final_attempts = 0;
                continue;
            }
            // Not delivered: put the batch back in front, oldest first, and wait.
            {
                let mut st = lock(&session.state);
                if !matches!(st.phase, Phase::Active | Phase::Closing) {
                    return;
                }
                for e in batch.into_iter().rev() {
                    st.events.push_front(e);
                }
            }
            if closing {
                final_attempts += 1;
                if final_attempts >= FINAL_ATTEMPTS {
                    self.sessions.remove(&session);
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(self.config.push_retry.get()) => {}
                _ = self.stop.cancelled() => return,
            }
        }
    }

    /// One callback POST; true when the third party answered 2xx and not a failure code.
    async fn push_once(
        &self,
        client: &PushClient,
        uri: &Uri,
        guid: &str,
        token: &str,
        body: Bytes,
    ) -> bool {
        let req = Request::post(uri.clone())
            .header(http::header::CONTENT_TYPE, CONTENT_TYPE_JSON)
            .header(HEADER_GUID, guid)
            .header("service_token", token)
            .body(Full::new(body));
        let Ok(req) = req else {
            return false;
        };
        let exchange = async {
            let resp = client.request(req).await.ok()?;
            let ok_status = resp.status().is_success();
            let bytes = resp.into_body().collect().await.ok()?.to_bytes();
            let code_ok = match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v) => v
                    .get("retcode")
                    .and_then(|c| c.as_str())
                    .is_none_or(|c| c == retcode::SUCCESS),
                Err(_) => true,
            };
            Some(ok_status && code_ok)
        };
        matches!(
            tokio::time::timeout(self.config.push_timeout.get(), exchange).await,
            Ok(Some(true))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_https_anywhere_http_only_loopback() {
        assert!(check_callback("https://crm.example/cb").is_ok());
        assert!(check_callback("http://127.0.0.1:8080/cb").is_ok());
        assert!(check_callback("http://[::1]:8080/cb").is_ok());
        assert!(check_callback("http://localhost/cb").is_ok());
        assert!(check_callback("http://crm.example/cb").is_err());
        assert!(check_callback("ftp://127.0.0.1/cb").is_err());
        assert!(check_callback("not a uri").is_err());
        assert!(check_callback("/relative").is_err());
    }
}

//! TLS for the simulated gateway (placeholder).
use std::sync::Arc;

pub struct SelfSigned {
    pub server_config: Arc<rustls::ServerConfig>,
    pub cert_pem: String,
}

pub fn self_signed() -> anyhow::Result<SelfSigned> {
    anyhow::bail!("not yet")
}

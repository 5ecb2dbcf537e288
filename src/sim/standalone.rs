//! `agentstorm gateway` (placeholder).
use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    pub config: Option<PathBuf>,
    pub plain_http: bool,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub cert_out: Option<PathBuf>,
}

pub async fn run(_opts: Options, _shutdown: CancellationToken) -> anyhow::Result<()> {
    anyhow::bail!("not yet")
}

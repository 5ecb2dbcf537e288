//! The simulated CC-Gateway (placeholder API; the simulator helper replaces this module).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::duration::HumanDuration;
use crate::protocol::GatewayStats;

pub mod standalone;
pub mod tls;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default = "d10")]
    pub poll_wait: HumanDuration,
}
fn d10() -> HumanDuration {
    HumanDuration::from_secs(10)
}
impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig { poll_wait: d10() }
    }
}

pub struct SimGateway {
    _config: GatewayConfig,
}

impl SimGateway {
    pub fn new(config: GatewayConfig) -> Arc<SimGateway> {
        Arc::new(SimGateway { _config: config })
    }
    pub fn stats(&self) -> GatewayStats {
        GatewayStats::default()
    }
    pub async fn serve(
        self: Arc<Self>,
        _listener: TcpListener,
        _tls: Option<Arc<rustls::ServerConfig>>,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        shutdown.cancelled().await;
        Ok(())
    }
}

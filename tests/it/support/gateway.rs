//! Test support: a simulated gateway on 127.0.0.1:0 (plain HTTP), stopped when dropped.
//! A module of the `it` test binary (`crate::support::gateway`), and included with
//! `#[path]` by the timing-sensitive test binaries in `tests/`.

use std::sync::Arc;

use agentstorm::sim::{GatewayConfig, SimGateway};
use tokio_util::sync::CancellationToken;

#[allow(dead_code)] // not every test reads the gateway's own counters
pub struct Gateway {
    pub sim: Arc<SimGateway>,
    pub url: String,
    shutdown: CancellationToken,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts a gateway with `config` (the TOML of a `[gateway]` table).
pub async fn gateway(config: &str) -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let config: GatewayConfig = toml::from_str(config).expect("gateway config");
    let sim = SimGateway::new(config);
    let shutdown = CancellationToken::new();
    tokio::spawn(sim.clone().serve(listener, None, shutdown.clone()));
    Gateway { sim, url, shutdown }
}

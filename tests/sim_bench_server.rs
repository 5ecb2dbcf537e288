//! Not a test: runs the simulated gateway from a release test binary, for
//! `scripts/bench/gateway/run.sh` when no `agentstorm gateway` binary is at hand. Ignored
//! unless asked for by name; serves plain HTTP until killed.
//!
//! Env: `AGENTSTORM_BENCH_LISTEN` (default 127.0.0.1:18043), `AGENTSTORM_BENCH_CONFIG`
//! (a gateway config file), `TOKIO_WORKER_THREADS` (default 1).

use agentstorm::sim::standalone::{self, Options};
use tokio_util::sync::CancellationToken;

#[test]
#[ignore = "bench helper: serves until killed (scripts/bench/gateway/run.sh)"]
fn bench_gateway_server() {
    let listen = std::env::var("AGENTSTORM_BENCH_LISTEN")
        .unwrap_or_else(|_| "127.0.0.1:18043".to_string())
        .parse()
        .expect("AGENTSTORM_BENCH_LISTEN is host:port");
    let config = std::env::var_os("AGENTSTORM_BENCH_CONFIG").map(Into::into);
    let threads = std::env::var("TOKIO_WORKER_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    let opts = Options {
        listen,
        config,
        plain_http: true,
        cert: None,
        key: None,
        cert_out: None,
    };
    rt.block_on(standalone::run(opts, CancellationToken::new()))
        .expect("gateway runs");
}

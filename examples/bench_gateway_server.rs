//! Not a test or a user-facing tool: runs the simulated gateway from a release build, for
//! `scripts/bench/gateway/run.sh` when no `agentstorm gateway` binary is at hand, and for
//! `scripts/bench/gateway/capacity.sh`. Serves until killed. Build and run:
//! `cargo build --release --example bench_gateway_server`, then
//! `target/release/examples/bench_gateway_server` (it takes no arguments).
//!
//! Env: `AGENTSTORM_BENCH_LISTEN` (default 127.0.0.1:18043), `AGENTSTORM_BENCH_CONFIG`
//! (a gateway config file), `TOKIO_WORKER_THREADS` (default 1), `AGENTSTORM_BENCH_CERT_OUT`
//! (serve HTTPS with a generated certificate written there), `AGENTSTORM_BENCH_CERT` and
//! `AGENTSTORM_BENCH_KEY` (serve HTTPS with these PEM files); default plain HTTP.

use agentstorm::sim::standalone::{self, Options};
use tokio_util::sync::CancellationToken;

fn main() {
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
    let cert_out: Option<std::path::PathBuf> =
        std::env::var_os("AGENTSTORM_BENCH_CERT_OUT").map(Into::into);
    let cert: Option<std::path::PathBuf> =
        std::env::var_os("AGENTSTORM_BENCH_CERT").map(Into::into);
    let key: Option<std::path::PathBuf> = std::env::var_os("AGENTSTORM_BENCH_KEY").map(Into::into);
    let opts = Options {
        listen,
        config,
        plain_http: cert_out.is_none() && cert.is_none(),
        cert,
        key,
        cert_out,
    };
    rt.block_on(standalone::run(opts, CancellationToken::new()))
        .expect("gateway runs");
}

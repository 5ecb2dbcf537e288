//! The command line. This file: the definitions (clap), raw arguments kept apart from the
//! resolved configuration so the parser could be replaced without touching the rest.
//! [`dispatch`]: one function per subcommand, printing what the user reads and returning
//! the exit code; [`offline`]: the commands on results already written (`report`,
//! `compare`, `merge`); [`processes`]: `run --processes N`, shard processes on one machine
//! merged into one report.

pub mod dispatch;
pub mod offline;
pub mod processes;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `probe --help`'s examples and exit codes.
const PROBE_HELP: &str = "Examples:
  agentstorm probe
      probe the embedded simulated gateway (nothing to set up)
  agentstorm probe --target https://gw.example:8043 --agent 1001 --password-env GW_PASSWORD
      one agent against a real gateway, its password from $GW_PASSWORD
  agentstorm probe scenarios/shift-start.toml --target https://10.0.0.5:8043 --ca-file gw.pem
      with a scenario's agent settings, trusting a self-signed certificate

Exit codes:
  0  the agent signed in, became ready and signed out: ready to load-test
  2  bad usage, bad scenario or bad input file (nothing was sent)
  3  not ready: the verdict says what is wrong and what to change";

#[derive(Debug, Parser)]
#[command(
    name = "agentstorm",
    version,
    about = "Load and soak testing for mass call-center agent sign-in against CC-Gateway (AgentGateway) style gateways",
    after_help = crate::exit::HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario and write its reports.
    #[command(after_help = crate::exit::HELP)]
    Run {
        /// Scenario file (TOML).
        scenario: PathBuf,
        /// Gateway base URL (http:// or https://), overriding the scenario's target.
        #[arg(long, value_name = "URL")]
        target: Option<String>,
        /// PEM file of the CA that signed the gateway's certificate.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Report folder (default: reports/<scenario>-<UTC timestamp>/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Override a scenario value by its dotted path, e.g. --set load.max_in_flight=500.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// Print nothing but errors and the final verdict.
        #[arg(long)]
        quiet: bool,
        /// Run shard K of N (0-based): a disjoint slice of the agent ids and 1/N of the load.
        /// Without it, AGENTSTORM_SHARDS (N) with JOB_COMPLETION_INDEX (K) are used if set.
        #[arg(long, value_name = "K/N")]
        shard: Option<String>,
        /// Wait until this time (RFC 3339, e.g. 2026-03-01T08:00:00Z) before starting, so
        /// shards start together; a late start is recorded.
        #[arg(long, value_name = "RFC3339", env = "AGENTSTORM_START_AT")]
        start_at: Option<String>,
        /// Run N shard processes on this machine and merge their results into one report.
        #[arg(long, value_name = "N", conflicts_with = "shard")]
        processes: Option<u32>,
        /// Threads the agents run on (default: one per CPU core; with --processes, per
        /// process).
        #[arg(long, value_name = "N")]
        threads: Option<std::num::NonZeroUsize>,
        /// Serve live metrics at http://ADDR/metrics during the run, for Prometheus to scrape
        /// (text format; OpenMetrics when asked), e.g. 127.0.0.1:9464; port 0 takes a free
        /// port. The address is printed on stderr.
        #[arg(long, value_name = "ADDR", help_heading = "Live metrics")]
        metrics_listen: Option<SocketAddr>,
        /// Push live metrics by Prometheus remote write to URL (e.g.
        /// http://prometheus:9090/api/v1/write) every --metrics-push-interval, and once more
        /// when the run ends; user:password@ in the URL sends basic auth.
        #[arg(long, value_name = "URL", help_heading = "Live metrics",
              value_parser = crate::run::live_metrics::parse_push_url)]
        metrics_push: Option<crate::run::live_metrics::PushUrl>,
        /// How often to push (at least 1s).
        #[arg(long, value_name = "DURATION", default_value = "5s", help_heading = "Live metrics",
              requires = "metrics_push", value_parser = crate::run::live_metrics::parse_interval)]
        metrics_push_interval: std::time::Duration,
        /// The run_id label of every live series (default: <scenario>-<UTC start time>, the
        /// time of --start-at when given, so the shards of one run agree).
        #[arg(long, value_name = "ID", env = "AGENTSTORM_RUN_ID", help_heading = "Live metrics",
              value_parser = crate::run::live_metrics::parse_run_id)]
        run_id: Option<String>,
    },
    /// Preflight before a storm: one agent signs in, polls until ready, signs out, and
    /// every exchange is shown with what was understood of it and a verdict.
    #[command(after_help = PROBE_HELP)]
    Probe {
        /// Scenario file whose target, agents (password, phone number, status) and session
        /// settings the probe uses; without it, the defaults of an empty scenario.
        scenario: Option<PathBuf>,
        /// Gateway base URL (http:// or https://); default: the scenario's target, or the
        /// embedded simulated gateway.
        #[arg(long, value_name = "URL")]
        target: Option<String>,
        /// PEM file of the CA that signed the gateway's certificate, or the gateway's own
        /// self-signed certificate (as with curl --cacert).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Agent id to sign in (default: the scenario's first, else 101).
        #[arg(long, value_name = "ID")]
        agent: Option<u32>,
        /// Environment variable holding the agent's password (default: the scenario's
        /// agents.password, else an empty password).
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
        /// Override a scenario value by its dotted path, as `run --set` does; repeat it for
        /// more than one.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Run the simulated gateway standalone.
    Gateway {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8043", value_name = "ADDR")]
        listen: SocketAddr,
        /// Behaviour model (TOML, the keys of a scenario's [gateway] table at top level).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Serve plain HTTP instead of HTTPS.
        #[arg(long)]
        plain_http: bool,
        /// Certificate (PEM) to serve instead of a generated one; needs --key.
        #[arg(long, value_name = "PEM", requires = "key")]
        cert: Option<PathBuf>,
        /// Private key (PEM) for --cert.
        #[arg(long, value_name = "PEM", requires = "cert")]
        key: Option<PathBuf>,
        /// Write the served certificate as PEM, so clients can trust it.
        #[arg(long, value_name = "FILE")]
        cert_out: Option<PathBuf>,
        /// Cluster mode: serve N simulated nodes (1-64) behind the listener, as a gateway
        /// cluster behind its load balancer; each has its own sessions, GUIDs
        /// (`.AgentGateway0` ... `.AgentGateway{N-1}`) and counters. Overrides `nodes` of
        /// --config (which also takes `fail_node`, `signin_rate_limit`, `signin_burst`).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
        nodes: Option<u32>,
        /// How the front keeps an agent on its node: `cookie` (a cookie it sets on the
        /// first reply; the name is `sticky_cookie` of --config, default AGWNODE), `guid`
        /// (the GUID's node suffix) or `none` (round robin every request). Overrides
        /// `stickiness` of --config.
        #[arg(long, value_name = "MODE", value_parser = ["cookie", "guid", "none"])]
        stickiness: Option<String>,
    },
    /// Re-render every report file from a results.json (and the latency.hlog beside it).
    #[command(after_help = crate::exit::HELP)]
    Report {
        /// A results.json written by `run` or `merge`.
        results: PathBuf,
        /// Folder to write into (default: the results file's folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Compare a candidate run with a baseline; exit 1 on a regression.
    #[command(after_help = crate::exit::HELP)]
    Compare {
        baseline: PathBuf,
        candidate: PathBuf,
        /// Folder for comparison.html (default: the candidate's folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// A latency regresses only if it rises by more than this percent ...
        #[arg(long, value_name = "PCT", default_value_t = 10.0)]
        latency_pct: f64,
        /// ... and by more than this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1.0)]
        latency_ms: f64,
        /// An error rate regresses if it rises by more than this many percentage points.
        #[arg(long, value_name = "PP", default_value_t = 0.1)]
        errors_pp: f64,
        /// Latency gates only with at least this many samples on both sides.
        #[arg(long, value_name = "N", default_value_t = 100)]
        min_samples: u64,
    },
    /// Merge the results of several shards of one scenario exactly, and write every report.
    #[command(after_help = crate::exit::HELP)]
    Merge {
        #[arg(required = true)]
        results: Vec<PathBuf>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check scenario files without sending any traffic.
    #[command(after_help = crate::exit::HELP)]
    Validate {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Apply these overrides before validating, as `run --set` does.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

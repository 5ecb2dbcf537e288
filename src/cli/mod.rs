//! The command line. This file: the definitions (clap), raw arguments kept apart from the
//! resolved configuration so the parser could be replaced without touching the rest.
//! [`dispatch`]: one function per subcommand, printing what the user reads and returning
//! the exit code; [`offline`]: the commands on results already written (`report`,
//! `compare`, `merge`); [`processes`]: `run --processes N`, shard processes on one machine
//! merged into one report; [`help`]: each subcommand's examples and exit codes; [`args`]:
//! the parsers that refuse a bad number or address in words.

pub mod args;
pub mod dispatch;
pub mod help;
pub mod offline;
pub mod processes;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Run a scenario against a gateway (the embedded one by default) and write its reports.
    #[command(after_help = help::run())]
    Run {
        /// Scenario file (TOML; every key is in docs/scenarios.md).
        scenario: PathBuf,
        /// Gateway base URL (http:// or https://, or `embedded`), overriding the scenario's
        /// [target] url.
        #[arg(long, value_name = "URL")]
        target: Option<String>,
        /// PEM file of the CA that signed the gateway's certificate, or the gateway's own
        /// self-signed certificate (as with curl --cacert); only for an https:// target.
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
        /// Report folder (default: reports/<scenario>-<UTC timestamp>/); refused if it
        /// already holds a report, unless --force.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Write into an --out folder that already holds a report, overwriting it.
        #[arg(long)]
        force: bool,
        /// Override a scenario value by its dotted path, e.g. --set load.max_in_flight=500;
        /// repeat it for more than one (applied in order, validated like the file).
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
        /// shards start together; a late start is recorded; more than 24 h ahead or 1 h in
        /// the past is refused.
        #[arg(long, value_name = "RFC3339", env = "AGENTSTORM_START_AT")]
        start_at: Option<String>,
        /// Run N shard processes (1 to 256) on this machine and merge their results into
        /// one report.
        #[arg(long, value_name = "N", conflicts_with = "shard", value_parser = args::processes, allow_negative_numbers = true)]
        processes: Option<u32>,
        /// Threads the agents run on, at least 1 (default: one per 128 agents or per
        /// 2,000 sign-ins/s at the run's peak, at most one per CPU core; with --processes,
        /// per process).
        #[arg(long, value_name = "N", value_parser = args::threads, allow_negative_numbers = true)]
        threads: Option<std::num::NonZeroUsize>,
        /// Serve live metrics at http://ADDR/metrics during the run, for Prometheus to scrape
        /// (text format; OpenMetrics when asked), e.g. 127.0.0.1:9464; port 0 takes a free
        /// port. The address is printed on stderr.
        #[arg(long, value_name = "ADDR", help_heading = "Live metrics", value_parser = args::listen)]
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
    #[command(after_help = help::probe())]
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
        #[arg(long, value_name = "ID", value_parser = args::agent_id, allow_negative_numbers = true)]
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
    /// Run the simulated gateway on its own, until Ctrl-C, for rehearsals and clients.
    #[command(after_help = help::gateway())]
    Gateway {
        /// IP address and port to listen on.
        #[arg(long, default_value = "127.0.0.1:8043", value_name = "ADDR", value_parser = args::listen)]
        listen: SocketAddr,
        /// Behaviour model (TOML, the keys of a scenario's [gateway] table at top level;
        /// docs/gateway.md).
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
    /// Re-render every report file from a results.json (and the latency.hlog beside it),
    /// judging its thresholds again.
    #[command(after_help = help::report())]
    Report {
        /// A results.json written by `run` or `merge` (its latency.hlog, if beside it, is
        /// read too).
        results: PathBuf,
        /// Folder to write into (default: the results file's folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Compare a candidate run with a baseline, operation by operation; exit 1 on a
    /// regression.
    #[command(after_help = help::compare())]
    Compare {
        /// The results.json to compare against (the earlier, accepted run).
        baseline: PathBuf,
        /// The results.json under test (the new run).
        candidate: PathBuf,
        /// Folder for comparison.html and comparison-junit.xml (default: the candidate's
        /// folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// A latency regresses only if it rises by more than this percent ...
        #[arg(long, value_name = "PCT", default_value_t = 10.0, value_parser = args::tolerance, allow_negative_numbers = true)]
        latency_pct: f64,
        /// ... and by more than this many milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 1.0, value_parser = args::tolerance, allow_negative_numbers = true)]
        latency_ms: f64,
        /// An error rate regresses if it rises by more than this many percentage points.
        #[arg(long, value_name = "PP", default_value_t = 0.1, value_parser = args::tolerance, allow_negative_numbers = true)]
        errors_pp: f64,
        /// Latency gates only with at least this many samples on both sides.
        #[arg(long, value_name = "N", default_value_t = 100, value_parser = args::count, allow_negative_numbers = true)]
        min_samples: u64,
    },
    /// Merge the results of the shards of one run exactly, and write every report.
    #[command(after_help = help::merge())]
    Merge {
        /// The shards' results.json files, one per shard of the run (each with the
        /// latency.hlog beside it); a shell pattern such as shard-*/results.json works.
        #[arg(required = true, value_name = "RESULTS")]
        results: Vec<PathBuf>,
        /// Folder for the merged results.json, latency.hlog and every report file.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Check scenario files (and their thresholds) without sending any traffic.
    #[command(after_help = help::validate())]
    Validate {
        /// Scenario files (TOML) to check; each is reported ok or with its errors.
        #[arg(required = true, value_name = "SCENARIOS")]
        scenarios: Vec<PathBuf>,
        /// Apply an override before validating, as `run --set` does; repeat it for more
        /// than one.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

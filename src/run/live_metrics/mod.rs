//! Live metrics while a run goes on: `run --metrics-listen ADDR` serves `/metrics` for
//! Prometheus to scrape, `run --metrics-push URL` sends the same series by Prometheus
//! remote write every `--metrics-push-interval` and once more when the run ends (also when
//! it was interrupted or its target failed), so a short run or a Kubernetes shard loses
//! nothing.
//!
//! Execution publishes, nothing on the agents' hot path: once per tick the collector hands
//! the run's merged totals to a [`Publisher`], which turns them into plain metric families
//! ([`family`], built by [`snapshot`]) and keeps only the latest. A scrape ([`server`],
//! written by [`expose`] through `prometheus-client`) and a push ([`push`], encoded by
//! [`remote_write`]) read that latest snapshot; neither can slow the collector, and a
//! failed or slow push is counted and dropped, never queued.
//!
//! Every series carries the run's labels `run_id`, `scenario` and `shard` ([`run_labels`]).

pub mod expose;
pub mod family;
mod push;
pub mod remote_write;
mod server;
pub mod snapshot;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::exit::Exit;
use crate::metrics::process;
use crate::metrics::recorder::{Aggregate, Recorder};
use crate::run::shard::ShardSpec;

use family::{Family, Kind, Number, Value};
pub use push::{parse_interval, parse_push_url, PushUrl};

/// Default of `--metrics-push-interval`.
pub const DEFAULT_PUSH_INTERVAL: Duration = Duration::from_secs(5);
/// Longest `--run-id`, in bytes.
pub const MAX_RUN_ID: usize = 128;

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// `--metrics-listen`: serve `/metrics` here (port 0: a free port, printed on stderr).
    pub listen: Option<SocketAddr>,
    /// `--metrics-push`: the remote-write endpoint.
    pub push: Option<PushUrl>,
    /// `--metrics-push-interval`.
    pub push_interval: Duration,
    /// `--run-id` (or `AGENTSTORM_RUN_ID`); default: see [`run_labels`].
    pub run_id: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            listen: None,
            push: None,
            push_interval: DEFAULT_PUSH_INTERVAL,
            run_id: None,
        }
    }
}

/// Checks a `--run-id`: 1 to 128 bytes, no control characters.
pub fn parse_run_id(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() || t.len() > MAX_RUN_ID || t.chars().any(char::is_control) {
        return Err(format!(
            "{s:?}: a run id is 1 to {MAX_RUN_ID} bytes of printable text"
        ));
    }
    Ok(t.to_string())
}

/// The labels every series carries: `run_id` (`--run-id`, else `<scenario>-<UTC time>` of
/// the agreed start `--start-at` when given — the same in every shard of one run — else of
/// `now`), `scenario` (the scenario's name) and `shard` (the shard's 0-based index; `0`
/// for a run that is not sharded, which is its only shard).
pub fn run_labels(
    run_id: Option<&str>,
    scenario: &str,
    shard: Option<ShardSpec>,
    start_at: Option<SystemTime>,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let run_id = match run_id {
        Some(id) => id.to_string(),
        None => {
            let stamp: String = humantime::format_rfc3339_seconds(start_at.unwrap_or(now))
                .to_string()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            format!("{scenario}-{stamp}")
        }
    };
    let shard = shard.map(|s| s.index).unwrap_or(0).to_string();
    vec![
        ("run_id", run_id),
        ("scenario", scenario.to_string()),
        ("shard", shard),
    ]
}

/// What the collector, the server and the pusher share.
#[derive(Debug)]
pub struct Shared {
    pub(crate) run_labels: Vec<(&'static str, String)>,
    latest: Mutex<Arc<Vec<Family>>>,
    finished: AtomicBool,
    pushing: bool,
    pushes: AtomicU64,
    push_failures: AtomicU64,
}

impl Shared {
    pub fn new(run_labels: Vec<(&'static str, String)>, pushing: bool) -> Arc<Shared> {
        Arc::new(Shared {
            run_labels,
            latest: Mutex::new(Arc::new(Vec::new())),
            finished: AtomicBool::new(false),
            pushing,
            pushes: AtomicU64::new(0),
            push_failures: AtomicU64::new(0),
        })
    }

    fn latest(&self) -> Arc<Vec<Family>> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the snapshot (the collector, once per tick).
    pub fn set(&self, families: Vec<Family>) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(families);
    }

    /// Whether anything was published yet.
    pub fn has_data(&self) -> bool {
        !self.latest().is_empty()
    }

    /// The latest snapshot and the families about the live metrics themselves.
    pub fn families(&self) -> Vec<Family> {
        let mut out: Vec<Family> = self.latest().as_ref().clone();
        let finished = self.finished.load(Ordering::Relaxed);
        out.push(
            Family::new(
                "run_finished",
                "1 once the run has ended (the final push carries it), else 0.",
                None,
                Kind::Gauge,
            )
            .with(Vec::new(), Value::Gauge(Number::Int(u64::from(finished)))),
        );
        if self.pushing {
            let n = |a: &AtomicU64| Value::Counter(Number::Int(a.load(Ordering::Relaxed)));
            out.push(
                Family::new(
                    "metrics_pushes",
                    "Remote-write pushes the endpoint accepted.",
                    None,
                    Kind::Counter,
                )
                .with(Vec::new(), n(&self.pushes)),
            );
            out.push(
                Family::new(
                    "metrics_push_failures",
                    "Remote-write pushes that failed (refused, timed out, not answered 2xx).",
                    None,
                    Kind::Counter,
                )
                .with(Vec::new(), n(&self.push_failures)),
            );
        }
        out
    }
}

/// The collector's handle: publishes the totals once per tick.
#[derive(Debug, Clone)]
pub struct Publisher {
    shared: Arc<Shared>,
    start_unix_s: f64,
}

impl Publisher {
    /// Makes the snapshot of `totals` with the gauges read now and keeps it as the latest.
    pub fn publish(&self, totals: &Aggregate, recorder: &Recorder) {
        let gauges = snapshot::Gauges {
            active_agents: recorder.active_agents(),
            signed_in: recorder.signed_in(),
            rss_bytes: process::rss_bytes(),
            cpu_seconds: process::cpu_seconds(),
            start_unix_s: self.start_unix_s,
        };
        self.shared.set(snapshot::families(totals, &gauges));
    }
}

/// The live metrics of one run, from the start of the run to its final push.
pub struct LiveMetrics {
    shared: Arc<Shared>,
    server: Option<server::Server>,
    pusher: Option<push::Pusher>,
}

impl LiveMetrics {
    /// Binds `--metrics-listen` and starts the pusher: None when neither is asked for. A
    /// listen address that cannot be bound is bad input (exit 2), before any traffic.
    pub async fn start(
        opts: &Options,
        run_labels: Vec<(&'static str, String)>,
    ) -> Result<Option<LiveMetrics>, Exit> {
        if opts.listen.is_none() && opts.push.is_none() {
            return Ok(None);
        }
        let run_id = run_labels[0].1.clone();
        let shared = Shared::new(run_labels, opts.push.is_some());
        let server = match opts.listen {
            Some(addr) => Some(server::Server::start(addr, shared.clone()).await?),
            None => None,
        };
        let pusher = match &opts.push {
            Some(url) => Some(push::Pusher::start(
                url.clone(),
                opts.push_interval,
                shared.clone(),
            )?),
            None => None,
        };
        let mut parts = vec![format!("run_id {run_id}")];
        if let Some(s) = &server {
            parts.push(format!("serving http://{}/metrics", s.addr()));
        }
        if let Some(p) = &pusher {
            parts.push(format!(
                "pushing to {} every {}",
                p.shown(),
                humantime::format_duration(opts.push_interval)
            ));
        }
        crate::util::term::message(&format!("agentstorm: live metrics: {}", parts.join("; ")));
        Ok(Some(LiveMetrics {
            shared,
            server,
            pusher,
        }))
    }

    /// The collector's handle; `started` is when the run's clock started.
    pub fn publisher(&self, started: SystemTime) -> Publisher {
        Publisher {
            shared: self.shared.clone(),
            start_unix_s: started
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        }
    }

    /// Where `/metrics` is served, when it is.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(|s| s.addr())
    }

    /// The run has ended (the collector published its last totals): marks it finished,
    /// makes the final push and stops serving.
    pub async fn finish(self) {
        self.shared.finished.store(true, Ordering::Relaxed);
        if let Some(p) = self.pusher {
            p.finish().await;
        }
        if let Some(s) = self.server {
            s.stop();
        }
    }
}

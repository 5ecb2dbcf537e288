//! What a run needs running beside its agents: the other side (the embedded simulated
//! gateway, or the target the scenario names, with the trust it asks for), the sign-out
//! gate's dispatcher, the push-mode callback receiver, and the threads agents run on. And
//! the simulated gateway's own counters, asked only of agentstorm's gateway (or a target
//! the scenario says to ask): read just before the run's clock starts and again at the
//! end, the run keeps what the gateway counted in between, so a gateway reused across runs
//! reconciles with each run's own counts. And the live metrics (`--metrics-listen`,
//! `--metrics-push`), started before the other side so a busy port stops the run first.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use super::live_metrics::{self, LiveMetrics};
use super::prepare::Prepared;
use super::RunOptions;
use crate::agent::lanes::Lanes;
use crate::agent::push::PushReceiver;
use crate::agent::signout_gate::SignoutGate;
use crate::client::{AgentConn, Target, TargetOptions, Trust};
use crate::exit::Exit;
use crate::protocol::{GatewayStats, STATS_PATH};
use crate::scenario::{LoadModel, Loaded, Reconcile};
use crate::scheduler::plan::Plan;
use crate::sim::SimGateway;

/// The embedded gateway, while it runs.
pub(crate) struct Embedded {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Embedded {
    /// Stops the gateway and waits (at most 5 s) for it to close.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// The gateway a run talks to.
pub(super) struct OtherSide {
    pub target: Arc<Target>,
    /// The embedded gateway, when it is the target.
    pub embedded: Option<Embedded>,
}

/// The embedded gateway started, or the scenario's (or command line's) target with the
/// trust it asks for.
pub(super) async fn other_side(p: &Prepared) -> Result<OtherSide, Exit> {
    let loaded = &p.loaded;
    let sc = &loaded.scenario;
    let url = sc.target.url.clone();
    let embedded_wanted = p.embedded;
    // The other side: the embedded gateway, or the scenario's / command line's target.
    let (target_url, trust, embedded) = if embedded_wanted {
        let (addr, cert_pem, emb) = start_embedded(loaded).await?;
        (format!("https://{addr}"), Trust::Pem(cert_pem), Some(emb))
    } else {
        let trust = if sc.target.insecure_skip_verify {
            Trust::Insecure
        } else if let Some(ca) = &sc.target.ca_file {
            let pem = std::fs::read_to_string(ca).map_err(|e| {
                Exit::bad_input(format!("CA file {}: cannot read: {e}", ca.display()))
            })?;
            Trust::Pem(pem)
        } else {
            Trust::Native
        };
        (url.trim().to_string(), trust, None)
    };
    let target = Target::new(&TargetOptions {
        url: target_url,
        trust,
        timeout: sc.target.timeout.get(),
        connect_timeout: sc.target.connect_timeout.get(),
        read_buffer_bytes: sc.target.read_buffer_bytes.exact_bytes(),
        source_addresses: p.sources.clone(),
    })
    .map_err(Exit::bad_input)?;

    Ok(OtherSide { target, embedded })
}

/// The live metrics, when asked for: `/metrics` bound (a bad or busy address is bad input)
/// and the pusher started, every series labelled with the run's id, scenario and shard.
pub(super) async fn start_live_metrics(
    opts: &RunOptions,
    p: &Prepared,
) -> Result<Option<LiveMetrics>, Exit> {
    let labels = live_metrics::run_labels(
        opts.metrics.run_id.as_deref(),
        &p.loaded.scenario.name,
        opts.shard,
        opts.start_at,
        SystemTime::now(),
    );
    LiveMetrics::start(&opts.metrics, labels).await
}

/// What runs beside the agents for the whole run; `token` ends it.
pub(super) struct Services {
    pub token: CancellationToken,
    pub gate: Arc<SignoutGate>,
    pub push: Option<Arc<PushReceiver>>,
    pub lanes: Arc<Lanes>,
}

/// Sign-ins per second at the plan's peak, for the lane count: an open plan's peak rate;
/// none for a closed population (its stages are agents, and its size is counted as
/// agents); unbounded for a capacity search, which looks for the gateway's limit, so the
/// harness must not be the limit.
fn peak_arrivals(plan: Option<&Plan>, model: LoadModel) -> f64 {
    match (plan, model) {
        (Some(plan), LoadModel::Open) => plan.peak_level(),
        (Some(_), LoadModel::Closed) => 0.0,
        (_, LoadModel::CapacitySearch) | (None, _) => f64::INFINITY,
    }
}

/// Starts the sign-out gate, the push receiver (push mode) and the agents' threads.
pub(super) async fn start(p: &Prepared, threads: Option<NonZeroUsize>) -> Result<Services, Exit> {
    let sc = &p.loaded.scenario;
    let peak_agents = p.peak_agents;
    // The sign-out gate and the push receiver live as long as the run.
    let end = CancellationToken::new();
    let signout_rate = NonZeroU32::new(sc.stop.signout_rate).unwrap_or(NonZeroU32::MIN);
    let gate = SignoutGate::new(signout_rate);
    tokio::spawn(gate.clone().dispatch(end.clone()));
    let push = match &sc.session.push {
        Some(p) => {
            let token = match &p.service_token {
                Some(secret) => secret.resolve().map_err(Exit::bad_input)?,
                None => uuid::Uuid::new_v4().simple().to_string(),
            };
            let receiver =
                PushReceiver::start(p.listen, p.callback_url.clone(), token, end.clone())
                    .await
                    .map_err(|e| {
                        Exit::bad_input(format!(
                            "session.push.listen {}: cannot listen: {e}",
                            p.listen
                        ))
                    })?;
            tracing::info!("push callback receiver at {}", receiver.callback_url());
            Some(receiver)
        }
        None => None,
    };

    // Started here, on a runtime thread of ordinary priority, before any arrival thread
    // (see `crate::agent::lanes` on why that matters).
    // The runtime has one worker per core (or as TOKIO_WORKER_THREADS says).
    let cores = NonZeroUsize::new(tokio::runtime::Handle::current().metrics().num_workers())
        .unwrap_or(NonZeroUsize::MIN);
    let peak_arrivals = peak_arrivals(p.plan.as_ref(), sc.load.model);
    let lanes = Arc::new(
        Lanes::for_run(peak_agents, peak_arrivals, threads, cores)
            .map_err(|e| Exit::cannot_measure(format!("cannot start the agent threads: {e}")))?,
    );
    tracing::debug!(
        "agents on {lanes:?} (peak {peak_agents} agents, {peak_arrivals}/s, {cores} cores)"
    );
    Ok(Services {
        token: end,
        gate,
        push,
        lanes,
    })
}

/// Starts the scenario's simulated gateway on a free loopback port (TLS, with a generated
/// certificate): its address, the certificate's PEM, and the handle that stops it.
pub(crate) async fn start_embedded(
    loaded: &Loaded,
) -> Result<(SocketAddr, String, Embedded), Exit> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| Exit::cannot_measure(format!("cannot start the embedded gateway: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Exit::cannot_measure(format!("cannot start the embedded gateway: {e}")))?;
    let tls = crate::sim::tls::self_signed().map_err(|e| {
        Exit::cannot_measure(format!(
            "cannot make the embedded gateway's certificate: {e:#}"
        ))
    })?;
    let gateway = SimGateway::new(loaded.scenario.gateway.clone());
    let shutdown = CancellationToken::new();
    let task =
        tokio::spawn(gateway.serve(listener, Some(tls.server_config.clone()), shutdown.clone()));
    tracing::info!("embedded gateway listening on https://{addr}");
    Ok((addr, tls.cert_pem, Embedded { shutdown, task }))
}

/// The gateway's counters as read at the run's start.
#[derive(Debug)]
pub(super) enum AtStart {
    /// Not asked: not wanted when the run began (`reconcile = "auto"` asks a non-embedded
    /// target only once a reply has named it agentstorm's simulated gateway, which is
    /// never before the first sign-in).
    NotAsked,
    /// Asked, and no counters came back.
    Unreadable,
    Read(GatewayStats),
}

/// What the gateway counted during the run (the difference between its counters at the
/// end and at the start), with its counters at the start.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DuringRun {
    pub at_start: GatewayStats,
    pub during: GatewayStats,
}

/// Reads the gateway's counters at the start, when the scenario wants them of this
/// target. Run just before the run's clock starts (after `--start-at`'s wait), so that the
/// request's round trip is not counted against the first arrivals' schedule. Only the
/// preflight comes between it and the first arrival, and the preflight is a bare
/// connection (TCP, TLS), which the simulator does not count, as it does not count the
/// stats request itself: nothing of the run's is in these, and nothing is missing.
pub(super) async fn gateway_at_start(
    target: &Arc<Target>,
    reconcile: Reconcile,
    embedded: bool,
) -> AtStart {
    if !reconcile.wanted(embedded, target.is_simulator()) {
        return AtStart::NotAsked;
    }
    match fetch_gateway_stats(target).await {
        Some(stats) => AtStart::Read(stats),
        None => AtStart::Unreadable,
    }
}

/// Reads the gateway's counters at the end, when they are wanted, and returns what it
/// counted since `at_start`. A gateway's lifetime counters are never compared: without
/// counters from the start there is no reconciliation, and the log says why.
pub(super) async fn gateway_during_run(
    target: &Arc<Target>,
    at_start: AtStart,
    reconcile: Reconcile,
    embedded: bool,
) -> Option<DuringRun> {
    if !reconcile.wanted(embedded, target.is_simulator()) {
        return None;
    }
    let url = target.url();
    let start = match at_start {
        AtStart::Read(stats) => stats,
        // Only `auto` can want the counters at the end and not at the start: the target
        // named itself agentstorm's simulated gateway during the run.
        AtStart::NotAsked => {
            tracing::warn!(
                "no reconciliation: {url} named itself agentstorm's simulated gateway during the \
                 run, after the start, when its counters were not read (reconcile = \"auto\" \
                 asks only the embedded gateway then); its lifetime counters would count earlier \
                 runs too. Set [target] reconcile = \"always\" to reconcile against it"
            );
            return None;
        }
        AtStart::Unreadable => {
            if fetch_gateway_stats(target).await.is_some() {
                tracing::warn!(
                    "no reconciliation: {url} served its counters at the end of the run but not at \
                     the start, and its lifetime counters would count earlier runs too"
                );
            } else {
                tracing::warn!(
                    "no reconciliation: {url} does not serve agentstorm's simulated gateway's \
                     counters ({STATS_PATH})"
                );
            }
            return None;
        }
    };
    match fetch_gateway_stats(target).await {
        Some(end) => Some(DuringRun {
            during: end.since(&start),
            at_start: start,
        }),
        None => {
            tracing::warn!(
                "no reconciliation: {url} served its counters at the start of the run but not at the end"
            );
            None
        }
    }
}

/// Asks the target for the simulator's counters; None when it is not agentstorm's
/// simulated gateway (or does not answer).
async fn fetch_gateway_stats(target: &Arc<Target>) -> Option<GatewayStats> {
    let mut conn = AgentConn::new(target.clone());
    let body = conn.get_raw(STATS_PATH).await?;
    serde_json::from_slice(&body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::plan::Phase;
    use std::time::Duration;

    #[test]
    fn the_lane_count_sees_an_open_plans_peak_rate_only() {
        // The storm benchmark's plan: 10,000 sign-ins/s for 2 s, after a ramp to it.
        let plan = Plan {
            phases: vec![
                Phase {
                    duration: Duration::from_secs(1),
                    from_rate: 0.0,
                    to_rate: 10_000.0,
                },
                Phase {
                    duration: Duration::from_secs(2),
                    from_rate: 10_000.0,
                    to_rate: 10_000.0,
                },
            ],
        };
        assert_eq!(peak_arrivals(Some(&plan), LoadModel::Open), 10_000.0);
        // A closed plan's numbers are agents, not rates.
        assert_eq!(peak_arrivals(Some(&plan), LoadModel::Closed), 0.0);
        assert_eq!(
            peak_arrivals(None, LoadModel::CapacitySearch),
            f64::INFINITY
        );
    }
}

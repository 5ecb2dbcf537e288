//! End-to-end runs in-process against the simulated gateway on port 0: every agent signs
//! in, reaches ready and signs out, and the harness's counts equal the gateway's own.
//!
//! A test binary of its own, not a module of `tests/it`: 300 agents arrive within a second
//! and every one must reach ready before the plan's end stops the run, which depends on
//! the machine's cores not being taken by other tests.

use std::path::Path;
use std::sync::Arc;

use agentstorm::metrics::results::RunStatus;
use agentstorm::metrics::Results;
use agentstorm::protocol::Endpoint;
use agentstorm::run::{run, RunOptions};
use agentstorm::sim::{GatewayConfig, SimGateway};
use tokio_util::sync::CancellationToken;

fn scenario(dir: &Path, agents: u32, rate: u32, target: &str) -> std::path::PathBuf {
    let last = 1000 + agents;
    let text = format!(
        r#"
name = "e2e"
[target]
url = "{target}"
timeout = "5s"
[agents]
ids = "1001-{last}"
phonenum = "7{{agentid}}"
[session]
hold = {{ min = "100ms", max = "300ms" }}
poll_gap = {{ min = "10ms", max = "30ms" }}
[load]
stages = [{{ hold = "1s", rate = {rate} }}]
[gateway]
poll_wait = "200ms"
"#
    );
    let path = dir.join("e2e.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn assert_every_agent_completed(r: &Results, agents: u64) {
    assert!(matches!(r.status, RunStatus::Completed), "{:?}", r.status);
    let s = &r.sessions;
    assert_eq!(
        (s.started, s.signed_in, s.ready, s.signed_out_clean),
        (agents, agents, agents, agents),
        "started, signed in, ready, clean"
    );
    assert_eq!(s.signed_in, agents);
    assert_eq!(s.ready, agents);
    assert_eq!(s.signed_out_clean, agents);
    assert_eq!(
        s.left_signed_in + s.signed_out_unexpected + s.signin_given_up,
        0
    );
    assert_eq!(s.time_to_ready.count(), agents);
    let signin = &r.operations["signin"];
    assert_eq!((signin.count, signin.ok), (agents, agents));
    assert_eq!(r.operations["logout"].ok, agents);
    let poll = &r.operations["poll"];
    assert_eq!(
        r.operations["poll_event"].count + r.operations.get("poll_empty").map_or(0, |p| p.count),
        poll.ok
    );
    assert!(
        r.operations["poll_event"].count >= 2 * agents,
        "InService and Ready per agent"
    );
    for (name, op) in &r.operations {
        assert!(op.reconciles(), "{name} does not reconcile: {op:?}");
    }
    assert_eq!(r.events["AgentState_Ready"], agents);
    assert_eq!(r.scheduler.started, agents);
}

fn assert_matches_gateway(r: &Results) {
    let g = r
        .gateway
        .as_ref()
        .expect("simulated gateway answered its stats");
    for (op, endpoint) in [
        ("signin", Endpoint::Login),
        ("poll", Endpoint::GetAgentEvent),
        ("logout", Endpoint::Logout),
    ] {
        assert_eq!(
            r.operations[op].count,
            g.endpoint_total(endpoint),
            "{op}: harness vs gateway"
        );
    }
    assert_eq!(g.signed_in, 0, "everyone signed out");
    assert_eq!(g.signouts.logout, r.sessions.signed_out_clean);
}

/// 300 agents on one thread run on a lane (`agentstorm::agent::lanes`: at least 128 per thread);
/// on three threads (100 each) they share the runtime's workers. Both ways every agent
/// completes and the counts are the gateway's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_complete_on_lanes_and_on_shared_workers() {
    for threads in [1, 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = RunOptions::new(scenario(dir.path(), 300, 300, "embedded"));
        opts.out = Some(dir.path().join("out"));
        opts.threads = std::num::NonZeroUsize::new(threads);
        let outcome = run(opts).await.expect("run");
        assert_eq!(outcome.exit_code, 0, "{threads} threads");
        assert_every_agent_completed(&outcome.results, 300);
        assert_matches_gateway(&outcome.results);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_against_the_embedded_gateway() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(dir.path(), 50, 50, "embedded"));
    opts.out = Some(dir.path().join("out"));
    let outcome = run(opts).await.expect("run");
    assert_eq!(outcome.exit_code, 0);
    assert!(outcome.results.target.embedded);
    assert!(outcome.results.target.url.starts_with("https://127.0.0.1:"));
    assert_every_agent_completed(&outcome.results, 50);
    assert_matches_gateway(&outcome.results);
    // the report folder holds what the run wrote, and results.json reads back equal
    let back = Results::load(&dir.path().join("out/results.json")).expect("results.json");
    let (a, b) = (
        serde_json::to_string(&back).expect("ser"),
        serde_json::to_string(&outcome.results).expect("ser"),
    );
    if a != b {
        let at = a
            .bytes()
            .zip(b.bytes())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        panic!(
            "results.json differs from the run's Results near: {:?} vs {:?}",
            &a[at.saturating_sub(120)..(at + 40).min(a.len())],
            &b[at.saturating_sub(120)..(at + 40).min(b.len())]
        );
    }
    assert!(back == outcome.results, "results.json reads back equal");
    for f in ["summary.csv", "retcodes.csv"] {
        assert!(dir.path().join("out").join(f).is_file(), "{f} written");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_agents_against_a_standalone_plain_http_gateway() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config: GatewayConfig = toml::from_str("poll_wait = \"200ms\"").expect("config");
    let gateway = SimGateway::new(config);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(Arc::clone(&gateway).serve(listener, None, shutdown.clone()));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(dir.path(), 50, 50, "embedded"));
    opts.target = Some(format!("http://{addr}"));
    // Read at the start too, before the target has named itself in a reply.
    opts.overrides = vec!["target.reconcile=\"always\"".into()];
    opts.out = Some(dir.path().join("out"));
    let outcome = run(opts).await.expect("run");
    assert!(!outcome.results.target.embedded);
    assert_every_agent_completed(&outcome.results, 50);
    assert_matches_gateway(&outcome.results);
    // the gateway's in-process view says the same as what the run fetched over HTTP
    let stats = gateway.stats();
    assert_eq!(stats.endpoint_total(Endpoint::Login), 50);
    assert_eq!(
        stats.signed_in_peak,
        outcome
            .results
            .gateway
            .as_ref()
            .map_or(0, |g| g.signed_in_peak)
    );
    shutdown.cancel();
    server.await.expect("join").expect("served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_a_tls_failure_named_before_any_traffic() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tls = agentstorm::sim::tls::self_signed().expect("cert");
    let shutdown = CancellationToken::new();
    tokio::spawn(SimGateway::new(GatewayConfig::default()).serve(
        listener,
        Some(tls.server_config.clone()),
        shutdown.clone(),
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(dir.path(), 5, 5, "embedded"));
    opts.target = Some(format!("https://{addr}"));
    opts.out = Some(dir.path().join("out"));
    let outcome = run(opts).await.expect("run");
    assert_eq!(outcome.exit_code, 3);
    match &outcome.results.status {
        RunStatus::Aborted { reason } => {
            assert!(reason.contains("TLS handshake failed"), "{reason}");
            assert!(reason.contains("not signed by a CA you trust"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(outcome.results.operations.is_empty(), "no traffic");
    shutdown.cancel();
}

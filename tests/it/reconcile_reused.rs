//! Reconciliation against a reused standalone gateway (issue 18 item 7): one simulated
//! gateway, two runs in a row against it. Each run compares its own counts with what the
//! gateway counted during that run (its counters read at the start and at the end), so both
//! reconcile, and the second run's gateway counts are its own, not the gateway's lifetime
//! totals. With `reconcile = "auto"` a non-embedded target is not asked at the start (it has
//! not named itself yet), so there is no reconciliation rather than a false MISMATCH.

use std::path::{Path, PathBuf};

use agentstorm::metrics::Results;
use agentstorm::protocol::Endpoint;
use agentstorm::report::console::{reconcile_rows, MISMATCH};
use agentstorm::run::{run, RunOptions};

use crate::support::gateway::gateway;

const AGENTS: u64 = 20;

fn scenario(dir: &Path, reconcile: &str) -> PathBuf {
    let path = dir.join("reused.toml");
    std::fs::write(
        &path,
        format!(
            r#"
name = "reused"
[target]
reconcile = "{reconcile}"
[agents]
ids = "1001-1020"
phonenum = "7{{agentid}}"
[session]
hold = {{ min = "100ms", max = "200ms" }}
poll_gap = {{ min = "10ms", max = "20ms" }}
[load]
stages = [{{ hold = "1s", rate = 20 }}]
"#
        ),
    )
    .expect("write scenario");
    path
}

async fn run_against(url: &str, reconcile: &str) -> (i32, Results) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(dir.path(), reconcile));
    opts.target = Some(url.to_string());
    opts.out = Some(dir.path().join("out"));
    let outcome = run(opts).await.expect("run");
    (outcome.exit_code, outcome.results)
}

fn assert_reconciles(r: &Results, which: &str) {
    assert_eq!(
        r.sessions.signed_in, AGENTS,
        "{which}: every agent signed in"
    );
    assert_eq!(r.sessions.signed_out_clean, AGENTS, "{which}");
    let rows = reconcile_rows(r);
    assert!(!rows.is_empty(), "{which}: reconciliation rows");
    for row in &rows {
        assert!(row.matches(), "{which}: {row:?}");
    }
    let text = agentstorm::report::console_summary(r);
    assert!(!text.contains(MISMATCH), "{which}: {text}");
    assert!(text.contains("every operation matches"), "{which}: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_against_one_standalone_gateway_both_reconcile() {
    let gw = gateway(r#"poll_wait = "200ms""#).await;

    let (code, first) = run_against(&gw.url, "always").await;
    assert_eq!(code, 0);
    assert_reconciles(&first, "first run");

    let (code, second) = run_against(&gw.url, "always").await;
    assert_eq!(code, 0);
    assert_reconciles(&second, "second run");
    let g = second
        .gateway
        .as_ref()
        .expect("second run's gateway counts");
    // What the gateway counted during the second run: its own sign-ins, not both runs'.
    assert_eq!(
        g.endpoint_total(Endpoint::Login),
        second.operations["signin"].count
    );
    assert_eq!(g.endpoint_total(Endpoint::Login), AGENTS);
    assert_eq!(g.signouts.logout, second.sessions.signed_out_clean);
    assert_eq!(g.signed_in, 0, "gauge: signed in at the end");
    let lifetime = gw.sim.stats();
    assert_eq!(lifetime.endpoint_total(Endpoint::Login), 2 * AGENTS);
    assert_eq!(
        g.endpoint_total(Endpoint::GetAgentEvent) + first_polls(&first),
        lifetime.endpoint_total(Endpoint::GetAgentEvent)
    );

    // `auto`: the target names itself only in its sign-in replies, after the start, so its
    // counters were not read then and its lifetime counters are not compared.
    let (code, third) = run_against(&gw.url, "auto").await;
    assert_eq!(code, 0);
    assert!(third.gateway.is_none(), "{:?}", third.gateway);
    assert!(reconcile_rows(&third).is_empty());
}

fn first_polls(r: &Results) -> u64 {
    r.gateway
        .as_ref()
        .map_or(0, |g| g.endpoint_total(Endpoint::GetAgentEvent))
}

//! Coordinated omission (issue 6, item 5): with at most 10 agents in flight and 100
//! sign-ins per second, the gateway stops answering for about a second in the middle of
//! the run. Arrivals queue behind the in-flight cap, so the latency measured from each
//! arrival's intended start (corrected) must show the stall, while the latency measured
//! from the actual send (raw) must not — the shape wrk2 reports. Asserts on the shape, not
//! on exact times. In a file of its own so it runs alone.

use agentstorm::run::{run, RunOptions};

#[path = "it/support/gateway.rs"]
mod support;
use support::gateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrected_latency_shows_a_stall_that_raw_latency_hides() {
    // Every request arriving in a 300 ms window at 6 s is held for 1 s. About 30 sign-ins
    // are due in that window, so all ten in-flight slots fill with held requests and every
    // later arrival waits behind the cap; those reach the gateway after the window and are
    // answered at once (their raw latency stays short, their corrected latency does not).
    let gw = gateway(
        r#"poll_wait = "100ms"
[[faults]]
operation = "any"
kind = "stall"
stall = "1s"
from = "6s"
until = "6300ms"
"#,
    )
    .await;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("co.toml");
    std::fs::write(
        &path,
        r#"name = "co"
[agents]
ids = "1001-3000"
[session]
hold = "0s"
poll_gap = "0s"
[load]
stages = [{ hold = "15s", rate = 100 }]
max_in_flight = 10
"#,
    )
    .expect("write scenario");
    let mut opts = RunOptions::new(path);
    opts.target = Some(gw.url.clone());
    opts.out = Some(dir.path().join("out"));
    let out = run(opts).await.expect("run");

    let signin = &out.results.operations["signin"];
    let corrected = signin.corrected.percentile_ms(99.0).expect("sign-ins");
    let raw = signin.raw.percentile_ms(99.0).expect("sign-ins");
    eprintln!(
        "signin corrected p99 {corrected} max {:?}; raw p99 {raw} max {:?}; held ≥ 900 ms: {}; lag p99 {:?}",
        signin.corrected.max_ms(),
        signin.raw.max_ms(),
        signin.raw.0.count_between(900_000, u64::MAX),
        out.results.scheduler.lag.percentile_ms(99.0)
    );
    assert!(signin.count >= 1400, "{} sign-ins", signin.count);
    assert!(
        corrected >= 500.0,
        "corrected p99 {corrected} ms must show the 1 s stall"
    );
    assert!(
        raw < 250.0,
        "raw p99 {raw} ms must not: only the few requests held show it"
    );
    assert!(corrected > 3.0 * raw, "corrected {corrected} vs raw {raw}");
    // the queueing shows in the scheduler's own lag too
    assert!(out.results.scheduler.lag.percentile_ms(99.0).expect("lag") >= 300.0);
}

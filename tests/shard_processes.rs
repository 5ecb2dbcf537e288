//! Sharded runs end to end with the real binary: four `run --shard K/4` processes against
//! one standalone simulated gateway, merged, equal the same scenario run as one process
//! (counts per operation and retcode, agent ids, planned arrivals), with merged
//! percentiles that come from the added histograms; `run --processes 2` against the
//! embedded target merges by itself; a stop sent to `--processes` reaches every shard.
//!
//! The scenario is deterministic in its counts: no hold after ready, a poll wait long
//! enough that each of an agent's two events comes back on its own poll, and a quiet
//! trailing stage so the plan's end (a stop) never cuts a session short (the run ends as
//! soon as the last agent is done).
//!
//! A test binary of its own, not a module of `tests/it`: up to four agentstorm processes
//! share the cores with this one, start together at an agreed time and must finish within
//! deadlines, so they run away from other tests' CPU load.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentstorm::metrics::results::RunStatus;
use agentstorm::metrics::{Hist, Results};
use agentstorm::protocol::Endpoint;
use agentstorm::report::read_hlog_beside;
use agentstorm::scenario::values::IdRanges;
use agentstorm::sim::{GatewayConfig, SimGateway};
use tokio_util::sync::CancellationToken;

const AGENTS: u64 = 200;

fn scenario(dir: &Path, rate: u32, seconds: u32) -> PathBuf {
    // `reconcile = "always"`: the standalone gateway's counters are read at each run's
    // start too, before it has named itself in a reply.
    let text = format!(
        r#"name = "sharded"
[target]
timeout = "5s"
reconcile = "always"
[agents]
ids = "1001-1150,2001-2050"
phonenum = "7{{agentid}}"
[session]
hold = "0s"
poll_gap = "10ms"
[load]
stages = [{{ hold = "{seconds}s", rate = {rate} }}, {{ hold = "5s", rate = 0 }}]
[gateway]
poll_wait = "1s"
"#
    );
    let path = dir.join("sharded.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

struct Gateway {
    addr: SocketAddr,
    sim: Arc<SimGateway>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn gateway() -> Gateway {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let config: GatewayConfig = toml::from_str("poll_wait = \"1s\"").expect("config");
    let sim = SimGateway::new(config);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(Arc::clone(&sim).serve(listener, None, shutdown.clone()));
    Gateway {
        addr,
        sim,
        shutdown,
        task,
    }
}

impl Gateway {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("join").expect("served");
    }
}

fn agentstorm() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_agentstorm"));
    c.env_remove("RUST_LOG")
        .env_remove("AGENTSTORM_SHARDS")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AGENTSTORM_START_AT")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

fn ids_of(text: &str) -> Vec<u32> {
    IdRanges::parse(text).expect("id ranges").iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shard_processes_merge_into_the_one_process_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), 100, 2);

    // Four shard processes against one gateway, starting together.
    let gw = gateway().await;
    let start_at = SystemTime::now() + Duration::from_millis(800);
    let start_at = humantime::format_rfc3339_millis(start_at).to_string();
    let mut children = Vec::new();
    for k in 0..4 {
        let out = dir.path().join(format!("shard-{k}"));
        let child = agentstorm()
            .arg("run")
            .arg(&path)
            .args([
                "--shard",
                &format!("{k}/4"),
                "--quiet",
                "--start-at",
                &start_at,
            ])
            .args(["--target", &format!("http://{}", gw.addr)])
            .arg("--out")
            .arg(&out)
            .output();
        children.push((out, tokio::spawn(child)));
    }
    let mut shard_files = Vec::new();
    for (out, child) in children {
        let o = child.await.expect("join").expect("shard process ran");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        shard_files.push(out.join("results.json"));
    }
    let gateway_stats = gw.sim.stats();
    gw.stop().await;

    // Merged with `agentstorm merge`'s code.
    let merged_dir = dir.path().join("merged");
    let code = agentstorm::cli::offline::merge(&shard_files, &merged_dir).expect("merges");
    assert_eq!(code, 0);
    let merged = Results::load(&merged_dir.join("results.json")).expect("merged results");
    let shards: Vec<Results> = shard_files
        .iter()
        .map(|p| Results::load(p).expect("shard results"))
        .collect();

    // The same scenario as one process, against a fresh gateway.
    let gw = gateway().await;
    let mut opts = agentstorm::run::RunOptions::new(&path);
    opts.target = Some(format!("http://{}", gw.addr));
    opts.out = Some(dir.path().join("whole"));
    let whole = agentstorm::run::run(opts).await.expect("whole run").results;
    gw.stop().await;

    // Counts per operation and per outcome (retcode, HTTP status, transport error).
    assert_eq!(merged.status, RunStatus::Completed);
    assert_eq!(whole.status, RunStatus::Completed);
    let keys = |r: &Results| r.operations.keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&merged), keys(&whole));
    for (name, w) in &whole.operations {
        let m = &merged.operations[name];
        assert_eq!((m.count, m.ok), (w.count, w.ok), "{name}");
        assert_eq!(m.outcome_counts(), w.outcome_counts(), "{name} outcomes");
        assert!(m.reconciles(), "{name}");
    }
    assert_eq!(merged.operations["signin"].count, AGENTS);
    assert_eq!(merged.operations["poll"].count, 2 * AGENTS);
    assert_eq!(merged.events, whole.events);
    assert_eq!(merged.sessions.started, whole.sessions.started);
    assert_eq!(merged.sessions.signed_out_clean, AGENTS);
    assert_eq!(
        merged.scheduler.planned_arrivals,
        whole.scheduler.planned_arrivals
    );
    assert_eq!(merged.scheduler.started, AGENTS);

    // Every shard records its slice; the slices are disjoint and their union is the
    // scenario's ids. The shards' scenario hash is the whole scenario's.
    let mut union: Vec<u32> = Vec::new();
    for (k, s) in shards.iter().enumerate() {
        let info = s.shard.as_ref().expect("shard record");
        assert_eq!((info.index, info.count), (k as u32, 4));
        assert!(info.late_start_s < 5.0, "{info:?}");
        let ids = ids_of(&info.ids);
        assert_eq!(ids.len() as u64, AGENTS / 4, "shard {k}: {}", info.ids);
        assert_eq!(s.sessions.started, AGENTS / 4, "shard {k} ran its slice");
        union.extend(ids);
        assert_eq!(s.scenario.hash, shards[0].scenario.hash);
    }
    let scenario_ids = ids_of("1001-1150,2001-2050");
    let mut sorted = union.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), union.len(), "slices are disjoint");
    assert_eq!(sorted, scenario_ids);
    let m = merged.shard.as_ref().expect("merged shard record");
    assert_eq!((m.count, m.merged), (4, 4));

    // The merged percentiles come from the added histograms.
    let mut by_hand = Hist::new();
    for s in &shards {
        by_hand.add(&s.operations["signin"].corrected);
    }
    let signin = &merged.operations["signin"];
    assert_eq!(signin.corrected, by_hand);
    assert_eq!(
        signin.corrected.percentile_ms(99.0),
        by_hand.percentile_ms(99.0)
    );
    assert!(by_hand.percentile_ms(99.0).is_some());
    // ... and the merged interval log holds every shard's interval histograms.
    let hlog = read_hlog_beside(&merged_dir.join("results.json"))
        .expect("hlog reads")
        .expect("merged hlog written");
    let logged: u64 = hlog
        .iter()
        .filter(|i| i.tag == "signin.corrected")
        .map(|i| i.hist.count())
        .sum();
    assert_eq!(logged, AGENTS);

    // One gateway: the merged run's counts reconcile with its own.
    for (op, endpoint) in [
        ("signin", Endpoint::Login),
        ("poll", Endpoint::GetAgentEvent),
        ("logout", Endpoint::Logout),
    ] {
        assert_eq!(
            merged.operations[op].count,
            gateway_stats.endpoint_total(endpoint),
            "{op}"
        );
    }
    assert_eq!(merged.gateway.as_ref(), Some(&gateway_stats));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_two_against_the_embedded_target_merge_into_one_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = scenario(dir.path(), 50, 2);
    let out = dir.path().join("out");
    let o = agentstorm()
        .arg("run")
        .arg(&path)
        .args(["--processes", "2"])
        .arg("--out")
        .arg(&out)
        .output()
        .await
        .expect("runs");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // progress from every shard, prefixed
    for k in 0..2 {
        assert!(stderr.contains(&format!("[shard {k}] [")), "{stderr}");
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("merged 2 results"), "{stdout}");

    let merged = Results::load(&out.join("results.json")).expect("merged");
    assert_eq!(merged.status, RunStatus::Completed);
    let info = merged.shard.as_ref().expect("shard record");
    assert_eq!((info.count, info.merged), (2, 2));
    assert_eq!(merged.sessions.started, 100);
    assert_eq!(merged.sessions.signed_out_clean, 100);
    assert_eq!(merged.operations["signin"].ok, 100);
    // one shared gateway: its counts are the harness's
    assert!(merged.target.url.starts_with("https://127.0.0.1:"));
    let g = merged.gateway.as_ref().expect("gateway stats");
    assert_eq!(g.endpoint_total(Endpoint::Login), 100);
    assert_eq!(
        g.endpoint_total(Endpoint::GetAgentEvent),
        merged.operations["poll"].count
    );
    let a = Results::load(&out.join("shard-0/results.json")).expect("shard 0");
    let b = Results::load(&out.join("shard-1/results.json")).expect("shard 1");
    let ids = |r: &Results| ids_of(&r.shard.as_ref().expect("shard").ids);
    assert_eq!(ids(&a).len() + ids(&b).len(), 200);
    assert!(ids(&a).iter().all(|id| !ids(&b).contains(id)));
    for f in ["summary.csv", "report.html", "latency.hlog"] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_sent_to_processes_reaches_every_shard() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 60 s planned at 20/s: the stop comes long before the end.
    let path = scenario(dir.path(), 20, 60);
    let gw = gateway().await;
    let out = dir.path().join("out");
    let child = agentstorm()
        .arg("run")
        .arg(&path)
        .args(["--processes", "2", "--quiet"])
        .args(["--target", &format!("http://{}", gw.addr)])
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let pid = child.id().expect("pid");
    // Wait for sign-ins from both shards (each has its own id block).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while gw.sim.stats().endpoint_total(Endpoint::Login) < 10 {
        assert!(tokio::time::Instant::now() < deadline, "no sign-ins");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = tokio::process::Command::new("kill")
        .args(["-s", "INT", &pid.to_string()])
        .status()
        .await
        .expect("kill runs");
    assert!(sent.success());
    let o = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("ends soon after the stop")
        .expect("waits");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(agentstorm::exit::INTERRUPTED),
        "interrupted: {stderr}"
    );
    for k in 0..2 {
        assert!(
            stderr.contains(&format!("[shard {k}] agentstorm: stopping")),
            "{stderr}"
        );
    }
    let merged = Results::load(&out.join("results.json")).expect("merged");
    assert_eq!(merged.status, RunStatus::Interrupted);
    let s = &merged.sessions;
    assert_eq!(merged.scheduler.planned_arrivals, 1200);
    assert!(s.started >= 10 && s.started < 300, "stopped early: {s:?}");
    assert_eq!(s.signed_out_clean, s.started, "every agent signed out");
    assert_eq!(gw.sim.stats().signed_in, 0);
    gw.stop().await;
}

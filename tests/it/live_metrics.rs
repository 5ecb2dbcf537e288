//! Live metrics end to end: `run --metrics-listen 127.0.0.1:0` scraped while a short run
//! goes on, `run --metrics-push` received by a small remote-write receiver written here
//! (hyper; the body decompressed with snap and decoded with prost), whose final push
//! matches `summary.csv`, also when the run is stopped early or the endpoint is down; bad
//! flags refused with exit 2; and every metric the Grafana dashboard queries is served
//! (`dashboard`). The receiver is in `receiver`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod dashboard;
mod receiver;

use receiver::{final_push, label, pushed_total, receiver};

/// About 4 s: 30 sign-ins over 2 s, a 1 s hold, polls every 100 ms.
const SCENARIO: &str = r#"name = "live"
[target]
timeout = "5s"
[agents]
ids = "1001-1030"
[session]
hold = "1s"
poll_gap = "100ms"
[load]
stages = [{ hold = "2s", rate = 15 }, { hold = "2s", rate = 0 }]
[gateway]
poll_wait = "500ms"
[report]
interval = "1s"
"#;

fn scenario(dir: &Path) -> PathBuf {
    let p = dir.join("live.toml");
    std::fs::write(&p, SCENARIO).expect("write scenario");
    p
}

fn agentstorm(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentstorm"));
    c.args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env_remove("AGENTSTORM_RUN_ID")
        .env_remove("AGENTSTORM_SHARDS")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("AGENTSTORM_START_AT")
        .env_remove("GITHUB_STEP_SUMMARY");
    c
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "live.toml", "--out", "out", "--quiet"];
    args.extend(extra);
    agentstorm(dir, &args).output().expect("runs agentstorm")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// summary.csv's count for `operation`.
fn summary_count(out: &Path, operation: &str) -> f64 {
    let mut r = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let headers = r.headers().expect("header").clone();
    let col = headers
        .iter()
        .position(|h| h == "count")
        .expect("count column");
    r.records()
        .map(|rec| rec.expect("row"))
        .find(|rec| &rec[0] == operation)
        .map(|rec| rec[col].parse().expect("a count"))
        .unwrap_or(0.0)
}

/// `GET /metrics` with a plain socket; None if nothing answers.
fn scrape(addr: SocketAddr, accept: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// The sum of a sample's values over the lines that carry every `(label, value)`.
fn scraped_total(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn metrics_are_scraped_during_the_run_and_end_at_the_reports_counts() {
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(dir.path());
    let mut child = agentstorm(
        dir.path(),
        &[
            "run",
            "live.toml",
            "--out",
            "out",
            "--quiet",
            "--metrics-listen",
            "127.0.0.1:0",
            "--run-id",
            "e2e-1",
        ],
    )
    .stderr(Stdio::piped())
    .stdout(Stdio::null())
    .spawn()
    .expect("starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let addr: SocketAddr = loop {
        let line = lines
            .next()
            .expect("an address line before stderr ends")
            .expect("utf-8");
        if let Some(rest) = line.split("serving http://").nth(1) {
            break rest
                .trim_end_matches("/metrics")
                .parse()
                .expect("an address");
        }
    };
    // Scrape until the run ends (bounded): the sign-in total only grows.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut seen, mut last, mut mid_run) = (0usize, 0.0, String::new());
    while Instant::now() < deadline {
        let Some(text) = scrape(addr, "text/plain") else {
            break;
        };
        let now = scraped_total(
            &text,
            "agentstorm_operations_total",
            &[("operation", "signin")],
        );
        assert!(now >= last, "the total went back from {last} to {now}");
        if now > 0.0 && mid_run.is_empty() {
            mid_run = text;
        }
        last = now;
        seen += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    let status = child.wait().expect("ends");
    assert_eq!(status.code(), Some(0));
    assert!(seen >= 3, "scraped {seen} times");
    assert!(!mid_run.is_empty(), "a scrape saw sign-ins");
    for needle in [
        "run_id=\"e2e-1\"",
        "scenario=\"live\"",
        "shard=\"0\"",
        "agentstorm_agents_active{",
        "agentstorm_latency_seconds_bucket{",
    ] {
        assert!(mid_run.contains(needle), "{needle} not in\n{mid_run}");
    }
    let reported = summary_count(&dir.path().join("out"), "signin");
    assert_eq!(reported, 30.0);
    assert_eq!(last, reported, "the last scrape holds every sign-in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_arrive_and_the_final_one_equals_summary_csv() {
    let (addr, pushes) = receiver().await;
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(dir.path());
    let url = format!("http://{addr}/api/v1/write");
    let d = dir.path().to_path_buf();
    let o = tokio::task::spawn_blocking(move || {
        run(
            &d,
            &[
                "--metrics-push",
                &url,
                "--metrics-push-interval",
                "1s",
                "--run-id",
                "push-1",
            ],
        )
    })
    .await
    .expect("joins");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let pushes = pushes.lock().expect("lock");
    assert!(
        pushes.len() >= 3,
        "{} pushes: periodic ones and the final one",
        pushes.len()
    );
    for p in pushes.iter() {
        assert_eq!(p.encoding, "snappy");
        assert_eq!(p.content_type, "application/x-protobuf");
        assert_eq!(p.version, "0.1.0");
        assert!(p
            .req
            .timeseries
            .iter()
            .all(|t| label(t, "run_id") == "push-1" && label(t, "shard") == "0"));
    }
    let last = &final_push(&pushes).req;
    let reported = summary_count(&dir.path().join("out"), "signin");
    assert_eq!(reported, 30.0);
    let signin = pushed_total(
        last,
        "agentstorm_operations_total",
        &[("operation", "signin")],
    );
    assert_eq!(signin, reported);
    assert_eq!(pushed_total(last, "agentstorm_run_finished", &[]), 1.0);
    assert_eq!(
        pushed_total(last, "agentstorm_metrics_push_failures_total", &[]),
        0.0
    );
    let polls = pushed_total(
        last,
        "agentstorm_latency_seconds_count",
        &[("operation", "poll"), ("kind", "raw")],
    );
    assert_eq!(polls, summary_count(&dir.path().join("out"), "poll"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_early_still_makes_its_final_push() {
    let (addr, pushes) = receiver().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut opts = agentstorm::run::RunOptions::new(scenario(dir.path()));
    opts.out = Some(dir.path().join("out"));
    opts.metrics.push = Some(
        agentstorm::run::live_metrics::parse_push_url(&format!("http://{addr}/api/v1/write"))
            .expect("url"),
    );
    opts.metrics.push_interval = Duration::from_secs(60);
    let stop = opts.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        stop.cancel();
    });
    let outcome = agentstorm::run::run(opts).await.expect("runs");
    assert_eq!(outcome.exit_code, 4, "interrupted");
    let pushes = pushes.lock().expect("lock");
    assert_eq!(
        pushes.len(),
        1,
        "no periodic push within 60 s: only the final one"
    );
    let signin = pushed_total(
        &pushes[0].req,
        "agentstorm_operations_total",
        &[("operation", "signin")],
    );
    assert!(signin > 0.0);
    assert_eq!(signin, outcome.results.operations["signin"].count as f64);
    assert_eq!(signin, summary_count(&outcome.out_dir, "signin"));
}

#[test]
fn a_push_endpoint_that_is_down_is_warned_about_once_and_the_run_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(dir.path());
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let started = Instant::now();
    let o = run(
        dir.path(),
        &["--metrics-push", &url, "--metrics-push-interval", "1s"],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(err.matches("push failed").count(), 1, "warned once:\n{err}");
    assert!(
        err.contains("pushes failed"),
        "the summary of failures:\n{err}"
    );
    assert_eq!(summary_count(&dir.path().join("out"), "signin"), 30.0);
}

#[test]
fn bad_live_metrics_flags_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(dir.path());
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy_addr = busy.local_addr().expect("addr").to_string();
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (vec!["--metrics-listen", "localhost"], &["--metrics-listen"]),
        (
            vec!["--metrics-listen", &busy_addr],
            &["--metrics-listen", "in use"],
        ),
        (
            vec!["--metrics-push", "ftp://x/y"],
            &["--metrics-push", "http://"],
        ),
        (
            vec![
                "--metrics-push",
                "http://127.0.0.1:1/w",
                "--metrics-push-interval",
                "100ms",
            ],
            &["--metrics-push-interval", "at least 1s"],
        ),
        (vec!["--metrics-push-interval", "5s"], &["--metrics-push"]),
        (vec!["--run-id", ""], &["--run-id"]),
        (
            vec!["--processes", "2", "--metrics-listen", "127.0.0.1:0"],
            &["--processes"],
        ),
    ];
    for (args, needles) in cases {
        let o = run(dir.path(), &args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} not in {err}");
        }
        assert!(
            !dir.path().join("out/results.json").exists(),
            "{args:?}: nothing ran"
        );
    }
    drop(busy);
}

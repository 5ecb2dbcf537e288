//! Issue 18 item 10: memory stays bounded whatever names a gateway sends. A gateway written
//! here signs agents in, then answers every event poll alternately with an event whose
//! `eventType` is new and ~200 KB long, and with a retcode never seen before; every
//! sign-out gets a new retcode too. The real binary runs against it while the test watches
//! the process's peak resident memory from outside, as an observer would: the kernel's
//! maximum RSS for the child (`wait4`'s `ru_maxrss`, what `/usr/bin/time -v` prints as
//! "Maximum resident set size"). The report folder must stay small and `results.json`
//! must say how many names were counted under `(other)` instead of their own.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::raw::Requests;

/// Length of every event type the gateway sends.
const EVENT_TYPE_BYTES: usize = 200_000;
/// The harness's peak resident memory must stay below this.
const MAX_RSS_BYTES: u64 = 100 << 20;
/// The report folder's total size must stay below this.
const MAX_REPORT_BYTES: u64 = 5 << 20;
/// The run is killed (and the test fails) past this memory or this time: the loop that
/// watches it is bounded even when the harness is not.
const KILL_RSS_BYTES: u64 = 2 << 30;
const KILL_AFTER: Duration = Duration::from_secs(60);
/// The name the harness counts folded names under (`agentstorm::metrics::names::OTHER`,
/// spelled out so the test reads results.json as any script would).
const OTHER: &str = "(other)";

#[derive(Default)]
struct Counts {
    events: AtomicU64,
    poll_failures: AtomicU64,
    /// Numbers every new name.
    serial: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn answer(counts: &Counts, method: &str, path: &str) -> String {
    let n = counts.serial.fetch_add(1, Ordering::Relaxed);
    if method == "PUT" && path.contains("/onlineagent/") {
        return r#"{"message":"","retcode":"0","result":{"vdnid":1,"workno":"1001","mediatype":"TTF"}}"#.into();
    }
    if method == "GET" && path.contains("/agentevent/") {
        if n % 2 == 0 {
            counts.events.fetch_add(1, Ordering::Relaxed);
            let pad = "x".repeat(EVENT_TYPE_BYTES);
            return format!(
                r#"{{"message":"","retcode":"0","event":{{"eventType":"Hostile_{n:09}_{pad}","eventGenTime":{},"workNo":"1001","content":null}}}}"#,
                now_ms()
            );
        }
        counts.poll_failures.fetch_add(1, Ordering::Relaxed);
        return format!(r#"{{"message":"no such thing","retcode":"R{n:06}"}}"#);
    }
    if method == "DELETE" && path.ends_with("/logout") {
        return format!(r#"{{"message":"","retcode":"L{n:06}"}}"#);
    }
    r#"{"message":"","retcode":"000-002"}"#.into()
}

async fn serve(counts: Arc<Counts>, sock: TcpStream) {
    let mut requests = Requests::new(sock);
    while let Some(req) = requests.next().await {
        let body = answer(&counts, &req.method, &req.path);
        if req.method == "GET" {
            // Paced, so that the unbounded harness this guards against grows by ~100 MB/s,
            // not by what loopback can carry.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if requests.sock().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn start() -> (Arc<Counts>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let counts = Arc::new(Counts::default());
    let serving = counts.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(serving.clone(), sock));
        }
    });
    (counts, url)
}

const SCENARIO: &str = r#"
name = "hostile"
[target]
timeout = "5s"
[agents]
ids = "1001-1010"
[session]
hold = { min = "200ms", max = "300ms" }
poll_gap = { min = "5ms", max = "10ms" }
ready_timeout = "3s"
[load]
stages = [{ hold = "1s", rate = 10 }, { hold = "4s", rate = 0 }]   # then time for each agent to wait out its ready_timeout
[report]
interval = "1s"
"#;

/// The resident memory (`VmRSS`) of a running process, bytes; None once it has exited.
fn rss_now(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Waits for the child without blocking the runtime, killing it past the memory or time
/// bound; its exit status and peak resident memory in bytes (the kernel's own count).
async fn wait_with_peak(child: &mut std::process::Child) -> (i32, u64) {
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero `rusage` is a valid value; wait4 writes only the two locals.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own child, not yet reaped (std's `Child` never waited).
        let done = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        assert!(done >= 0, "wait4: {}", std::io::Error::last_os_error());
        if done == pid {
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                -1
            };
            // ru_maxrss is in KiB on Linux.
            return (code, usage.ru_maxrss as u64 * 1024);
        }
        let rss = rss_now(child.id()).unwrap_or(0);
        if rss > KILL_RSS_BYTES || started.elapsed() > KILL_AFTER {
            let _ = child.kill();
            panic!(
                "killed the harness: {} MiB resident after {:.1} s",
                rss >> 20,
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("report folder")
        .map(|e| e.expect("entry").metadata().expect("metadata").len())
        .sum()
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_18_unique_long_event_types_and_retcodes_keep_memory_and_reports_small() {
    let (counts, url) = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("hostile.toml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let out = dir.path().join("out");
    let console = dir.path().join("console.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .arg("run")
        .arg(&scenario)
        .args(["--target", &url, "--out"])
        .arg(&out)
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&console).expect("console file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("start agentstorm");
    let (code, peak) = wait_with_peak(&mut child).await;

    let events = counts.events.load(Ordering::Relaxed);
    let failures = counts.poll_failures.load(Ordering::Relaxed);
    assert!(
        events > 300 && failures > 300,
        "the gateway sent {events} events and {failures} failed polls: not enough names to pass the caps"
    );
    assert!(
        peak < MAX_RSS_BYTES,
        "peak RSS {} MiB after {events} unique {EVENT_TYPE_BYTES}-byte event types (limit {} MiB)",
        peak >> 20,
        MAX_RSS_BYTES >> 20
    );
    let size = folder_bytes(&out);
    assert!(
        size < MAX_REPORT_BYTES,
        "report folder {size} bytes (limit {MAX_REPORT_BYTES})"
    );
    assert_eq!(code, 0, "the run itself completes");

    let text = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    let r: serde_json::Value = serde_json::from_str(&text).expect("results.json is JSON");
    // Every event type was too long to keep: all are counted under the one name, and how
    // many were folded by the caps is reported.
    let ev = r["events"].as_object().expect("events");
    assert_eq!(ev.len(), 1, "only {OTHER} kept: {:?}", ev.keys());
    let received = ev[OTHER].as_u64().expect("count");
    assert!(
        received > 300 && received <= events,
        "{received} of {events}"
    );
    assert_eq!(r["events_folded"].as_u64(), Some(received), "events_folded");
    // Poll retcodes: the first 256 kept by name (and success), the rest folded.
    let poll = &r["operations"]["poll"];
    let codes = poll["retcodes"].as_object().expect("retcodes");
    assert!(codes.len() <= 256 + 2, "{} retcodes kept", codes.len());
    assert!(codes.contains_key("0") && codes.contains_key(OTHER));
    let sum: u64 = codes.values().filter_map(|v| v.as_u64()).sum();
    assert_eq!(
        Some(sum),
        poll["count"].as_u64(),
        "every poll still counted"
    );
    let folded_polls = codes[OTHER].as_u64().expect("count");
    assert!(folded_polls > 0);
    assert_eq!(
        poll["retcodes_folded"].as_u64(),
        Some(folded_polls),
        "retcodes_folded"
    );
    // Per interval, failures by label stay few.
    for iv in r["intervals"].as_array().expect("intervals") {
        if let Some(errors) = iv["operations"]["poll"]["errors"].as_object() {
            assert!(
                errors.len() <= 17,
                "{} labels in one interval",
                errors.len()
            );
        }
    }

    let console = std::fs::read_to_string(&console).expect("console");
    assert!(
        console.contains("event types") && console.contains(OTHER),
        "the console says names were folded: {console}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).expect("report.html");
    assert!(
        html.contains("counted under") && html.contains(OTHER),
        "the report says names were folded"
    );
}

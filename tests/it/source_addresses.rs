//! `target.source_addresses` end to end: the connector binds each new connection to the
//! next source address in turn, a source that is not on this machine is named before any
//! traffic, refused and timed-out connects still classify as before, bad values are
//! scenario errors with a position, and a run through the harness from 127.0.0.2-.3 is
//! clean with every connection coming from those two addresses.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentstorm::client::{Target, TargetOptions, TcpConnector, Trust};
use agentstorm::metrics::results::RunStatus;
use agentstorm::metrics::Results;
use agentstorm::run::{run, RunOptions};
use agentstorm::scenario::load_str;
use tokio::net::TcpListener;
use tower_service::Service;

use crate::support::gateway::gateway;
use crate::support::position::pos_of;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

/// TEST-NET-1 (RFC 5737): documentation only, never an address of this machine.
const NOT_LOCAL: &str = "192.0.2.1";

#[tokio::test]
async fn connections_come_from_the_source_addresses_in_turn() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut connector = TcpConnector::new(&[ip("127.0.0.2"), ip("127.0.0.3")]);
    connector.check_sources().expect("loopback sources bind");
    let uri: http::Uri = format!("http://{addr}/").parse().expect("uri");
    let mut peers = Vec::new();
    let mut kept = Vec::new();
    for _ in 0..4 {
        let io = connector.call(uri.clone()).await.expect("connect");
        let (_server_side, peer) = listener.accept().await.expect("accept");
        let stream = io.into_inner();
        assert_eq!(stream.local_addr().expect("local").ip(), peer.ip());
        assert!(stream.nodelay().expect("nodelay"), "TCP_NODELAY is set");
        peers.push(peer.ip().to_string());
        kept.push(stream);
    }
    assert_eq!(peers, ["127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"]);

    // No sources: the kernel picks (127.0.0.1 towards 127.0.0.1).
    let mut plain = TcpConnector::new(&[]);
    let _io = plain.call(uri).await.expect("connect");
    let (_s, peer) = listener.accept().await.expect("accept");
    assert_eq!(peer.ip(), ip("127.0.0.1"));
}

#[tokio::test]
async fn a_source_address_not_on_this_machine_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut connector = TcpConnector::new(&[ip(NOT_LOCAL)]);
    let e = connector
        .call(format!("http://{addr}/").parse().expect("uri"))
        .await
        .expect_err("cannot bind");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrNotAvailable, "{e}");
    assert!(e.to_string().contains(NOT_LOCAL), "{e}");

    // Target::new checks every source before any traffic, naming the key and the address.
    let e = Target::new(&options(
        format!("http://{addr}"),
        vec![ip("127.0.0.2"), ip(NOT_LOCAL)],
    ))
    .expect_err("not local");
    assert!(e.contains("target.source_addresses"), "{e}");
    assert!(e.contains(NOT_LOCAL), "{e}");
    assert!(e.contains("not an address of this machine"), "{e}");
}

fn options(url: String, sources: Vec<IpAddr>) -> TargetOptions {
    TargetOptions {
        url,
        trust: Trust::Insecure,
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        source_addresses: sources,
        read_buffer_bytes: None,
    }
}

#[tokio::test]
async fn a_refused_connect_from_a_source_address_still_reads_as_refused() {
    // A port that was just free: nothing listens there.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        l.local_addr().expect("addr").port()
    };
    let target = Target::new(&options(
        format!("http://127.0.0.1:{port}"),
        vec![ip("127.0.0.2")],
    ))
    .expect("target");
    let e = target.preflight().await.expect_err("refused");
    assert!(e.contains("connection refused"), "{e}");
}

/// A TCP relay to `upstream` that records each client's address: the simulated gateway
/// does not expose its peers, so the relay is where a run's source addresses are seen.
async fn recording_relay(
    upstream: SocketAddr,
) -> (
    SocketAddr,
    Arc<Mutex<Vec<IpAddr>>>,
    tokio::task::JoinHandle<()>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut client, peer)) = listener.accept().await {
            record.lock().expect("lock").push(peer.ip());
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    (addr, seen, task)
}

fn scenario(dir: &Path, agents: u32, sources: &str) -> PathBuf {
    let last = 1000 + agents;
    let text = format!(
        r#"
name = "sources"
[target]
timeout = "5s"
source_addresses = {sources}
[agents]
ids = "1001-{last}"
[session]
hold = {{ min = "50ms", max = "150ms" }}
poll_gap = {{ min = "10ms", max = "30ms" }}
[load]
stages = [{{ hold = "1s", rate = {agents} }}]
[gateway]
poll_wait = "200ms"
"#
    );
    let path = dir.join("sources.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

fn assert_clean(r: &Results, agents: u64) {
    assert!(matches!(r.status, RunStatus::Completed), "{:?}", r.status);
    let s = &r.sessions;
    assert_eq!(
        (s.started, s.signed_in, s.ready, s.signed_out_clean),
        (agents, agents, agents, agents),
        "started, signed in, ready, clean"
    );
    for (name, op) in &r.operations {
        assert_eq!(op.transport_errors, 0, "{name}: {op:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_from_two_loopback_sources_is_clean_and_uses_both() {
    let gw = gateway("poll_wait = \"200ms\"").await;
    let upstream: SocketAddr = gw
        .url
        .trim_start_matches("http://")
        .parse()
        .expect("gateway addr");
    let (relay, seen, relay_task) = recording_relay(upstream).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(dir.path(), 20, r#"["127.0.0.2-127.0.0.3"]"#));
    opts.target = Some(format!("http://{relay}"));
    opts.out = Some(dir.path().join("out"));
    let outcome = run(opts).await.expect("run");
    relay_task.abort();
    assert_eq!(outcome.exit_code, 0);
    assert_clean(&outcome.results, 20);
    let seen = seen.lock().expect("lock").clone();
    let from = |a: &str| seen.iter().filter(|p| **p == ip(a)).count();
    assert!(
        seen.len() >= 20,
        "one connection per agent at least: {seen:?}"
    );
    assert_eq!(
        from("127.0.0.2") + from("127.0.0.3"),
        seen.len(),
        "{seen:?}"
    );
    // Strict turns: the two addresses differ by at most one connection.
    assert!(
        from("127.0.0.2").abs_diff(from("127.0.0.3")) <= 1,
        "{seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_gateway_over_tls_from_source_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(
        dir.path(),
        10,
        r#"["127.0.0.2", "127.0.0.3-127.0.0.4"]"#,
    ));
    opts.out = Some(dir.path().join("out"));
    let outcome = run(opts).await.expect("run");
    assert_eq!(outcome.exit_code, 0);
    assert!(outcome.results.target.embedded);
    assert_clean(&outcome.results, 10);
}

#[tokio::test]
async fn a_run_with_a_source_not_on_this_machine_exits_2_before_traffic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario(dir.path(), 5, &format!("[\"{NOT_LOCAL}\"]")));
    opts.out = Some(dir.path().join("out"));
    let e = run(opts).await.expect_err("bad source");
    assert_eq!(e.code, 2, "{e:?}");
    assert!(e.message.contains(NOT_LOCAL), "{e:?}");
}

const BASE: &str = "name = \"t\"\n[target]\nsource_addresses = SOURCES\n[agents]\nids = \"1001-1100\"\n[load]\nstages = [ { hold = \"20s\", rate = 1 } ]\n";

#[test]
fn the_key_loads_with_ranges_and_overrides() {
    let text = BASE.replace("SOURCES", r#"["127.0.0.2-127.0.0.5", "::1"]"#);
    let l = load_str("t.toml", &text, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.scenario.target.source_addresses.len(), 5);
    let set = ["target.source_addresses=[\"127.0.0.9\"]".to_string()];
    let l = load_str("t.toml", &text, &set).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        l.scenario.target.source_addresses.addrs(),
        [ip("127.0.0.9")]
    );
    let none = BASE.replace("source_addresses = SOURCES\n", "");
    let l = load_str("t.toml", &none, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(l.scenario.target.source_addresses.is_empty());
}

#[test]
fn a_bad_value_is_a_scenario_error_at_its_position() {
    let text = BASE.replace("SOURCES", r#"["127.0.0.2", "127.0.0.9-127.0.0.3"]"#);
    let e = load_str("t.toml", &text, &[]).expect_err("reversed range");
    let (line, column) = pos_of(&text, "\"127.0.0.9-");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("t.toml:{line}:{column}: ")),
        "{shown}"
    );
    assert_eq!(
        e.key.as_deref(),
        Some("target.source_addresses[1]"),
        "{shown}"
    );
    assert!(shown.contains("`target.source_addresses[1]`"), "{shown}");
    assert!(
        shown.contains("\"127.0.0.9-127.0.0.3\""),
        "names the value: {shown}"
    );
    assert!(
        shown.contains("\"127.0.0.3-127.0.0.9\""),
        "what would be valid: {shown}"
    );

    let text = BASE.replace("SOURCES", r#"["gw.local"]"#);
    let e = load_str("t.toml", &text, &[]).expect_err("junk");
    assert_eq!((e.line, e.column), pos_of(&text, "\"gw.local\""), "{e}");
    assert!(e.to_string().contains("127.0.0.2-127.0.0.17"), "{e}");

    // Too many in all: reported at the list.
    let text = BASE.replace("SOURCES", r#"["10.0.0.0-10.0.3.255", "10.9.0.1"]"#);
    let e = load_str("t.toml", &text, &[]).expect_err("1,025 addresses");
    assert_eq!((e.line, e.column), pos_of(&text, "[\"10.0.0.0"), "{e}");
    assert_eq!(e.key.as_deref(), Some("target.source_addresses"), "{e}");
    assert!(e.to_string().contains("1025 addresses"), "{e}");

    let text = BASE.replace("SOURCES", r#""127.0.0.2""#);
    let e = load_str("t.toml", &text, &[]).expect_err("not a list");
    assert!(e.to_string().contains("a list of IP addresses"), "{e}");
}

//! Cluster mode (D19) and sign-in throttling (D20) of the simulated gateway over real HTTP,
//! with a plain hyper client (not agentstorm's), against what the documents and decisions
//! say: the front's stickiness by cookie, by GUID suffix or none; a GUID shown to a node
//! that did not issue it gets `000-003`; a failed node in `shutdown` and `refuse` mode and
//! its return; 429 with `Retry-After`; per-node stats that add up to the totals; the
//! configuration's errors; and `agentstorm gateway --nodes`.

use std::collections::BTreeMap;
use std::time::Duration;

use agentstorm::protocol::{self, event, retcode, GatewayStats};
use agentstorm::sim::standalone::{self, Options, Overrides};
use http::Method;
use tokio_util::sync::CancellationToken;

use crate::support::sim::{config, count, start, start_tls, Client, Gw, Resp};

const BODY: &str = r#"{"password":"","phonenum":"40038"}"#;

/// Sends a request carrying the sticky cookie `AGWNODE=<node>` when `node` is given.
async fn send(
    c: &mut Client,
    method: Method,
    path: &str,
    guid: Option<&str>,
    node: Option<&str>,
    body: &str,
) -> Resp {
    let cookie = node.map(|n| format!("theme=dark; AGWNODE={n}"));
    let mut headers = Vec::new();
    if let Some(g) = guid {
        headers.push(("Guid", g));
    }
    if let Some(c) = &cookie {
        headers.push(("Cookie", c.as_str()));
    }
    c.send(method, path, &headers, body).await
}

async fn sign_in(c: &mut Client, id: u32, node: Option<&str>) -> Resp {
    send(c, Method::PUT, &protocol::signin_path(id), None, node, BODY).await
}

async fn poll(c: &mut Client, id: u32, guid: &str, node: Option<&str>) -> Resp {
    send(
        c,
        Method::GET,
        &protocol::poll_path(id),
        Some(guid),
        node,
        "",
    )
    .await
}

/// The node the reply's `Set-Cookie` names (and that it has the attributes it should).
fn cookie_node(r: &Resp) -> Option<String> {
    let v = r.header("set-cookie")?;
    let (pair, attrs) = v.split_once(';')?;
    assert!(
        attrs.contains("Path=/") && attrs.contains("HttpOnly"),
        "{v}"
    );
    pair.strip_prefix("AGWNODE=").map(str::to_string)
}

/// The node suffix of a GUID (`<uuid>.AgentGateway1` → `AgentGateway1`).
fn guid_node(guid: &str) -> &str {
    guid.rsplit_once('.').map_or("", |(_, n)| n)
}

/// Signs in; returns the GUID (asserting success).
async fn signed_in(c: &mut Client, id: u32, node: Option<&str>) -> (String, Resp) {
    let r = sign_in(c, id, node).await;
    assert_eq!(r.retcode(), "0", "sign-in of {id}: {:?}", r.body);
    (r.set_guid().expect("Set-GUID"), r)
}

/// Takes the sign-in events (InService, Ready) off the agent's queue.
async fn drain(c: &mut Client, id: u32, guid: &str, node: Option<&str>) {
    for want in [event::IN_SERVICE, event::READY] {
        let r = poll(c, id, guid, node).await;
        assert_eq!(r.event_type().as_deref(), Some(want), "{:?}", r.body);
    }
}

/// The index of node `name` in the stats.
fn at(s: &GatewayStats, name: &str) -> usize {
    s.nodes
        .iter()
        .position(|n| n.name == name)
        .unwrap_or_else(|| panic!("node {name} in {s:?}"))
}

/// Waits (bounded) until `node`'s `up` is `want`.
async fn until_up(gw: &Gw, name: &str, want: bool) {
    for _ in 0..300 {
        if gw
            .sim
            .stats()
            .nodes
            .iter()
            .any(|n| n.name == name && n.up == want)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{name} up = {want} never came");
}

/// Cookie stickiness: the sign-in sets the cookie naming the node that issued the GUID; a
/// poll with the cookie reaches that node; without it, round robin takes it to the other
/// nodes, which did not issue the GUID: `000-003` (and each sets its own cookie).
#[tokio::test]
async fn cookie_keeps_an_agent_on_the_node_that_signed_it_in() {
    let gw = start(config("nodes = 3\npoll_wait = \"20ms\"")).await;
    let mut c = gw.client().await;
    let (guid, r) = signed_in(&mut c, 3001, None).await;
    let home = cookie_node(&r).expect("sign-in sets the sticky cookie");
    assert_eq!(home, "AgentGateway0", "the first round-robin node");
    assert_eq!(
        guid_node(&guid),
        home,
        "the GUID names the node that issued it"
    );
    let r = poll(&mut c, 3001, &guid, Some(&home)).await;
    assert_eq!(r.event_type().as_deref(), Some(event::IN_SERVICE));
    assert_eq!(
        r.header("set-cookie"),
        None,
        "a sticky request sets no cookie"
    );
    // No cookie: the next nodes round robin, which do not know the GUID.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = poll(&mut c, 3001, &guid, None).await;
        assert_eq!(r.retcode(), retcode::NO_PERMISSION, "{:?}", r.body);
        seen.push(cookie_node(&r).expect("round robin sets the cookie"));
    }
    assert_eq!(seen, ["AgentGateway1", "AgentGateway2"]);
    let r = poll(&mut c, 3001, &guid, None).await;
    assert_eq!(
        r.event_type().as_deref(),
        Some(event::READY),
        "back round to its node"
    );
    // A cookie naming no node is as good as none; D3 still holds without a GUID.
    let r = poll(&mut c, 3001, &guid, Some("AgentGateway9")).await;
    assert_eq!(cookie_node(&r).as_deref(), Some("AgentGateway1"));
    let r = send(
        &mut c,
        Method::GET,
        &protocol::poll_path(3001),
        None,
        Some("AgentGateway2"),
        "",
    )
    .await;
    assert_eq!(
        r.retcode(),
        retcode::NOT_SIGNED_IN,
        "no GUID, agent unknown there: D3"
    );
    let s = gw.sim.stats();
    assert_eq!(
        (s.signed_in, s.nodes[0].signed_in, s.nodes[1].signed_in),
        (1, 1, 0)
    );
    assert_eq!(count(&s, "getAgentEvent", retcode::NO_PERMISSION), 3);
    gw.stop().await;
}

/// Over HTTPS the sticky cookie is `Secure`.
#[tokio::test]
async fn the_cookie_is_secure_over_https() {
    let gw = start_tls(config("nodes = 2")).await;
    let mut c = gw.client().await;
    let r = sign_in(&mut c, 3002, None).await;
    let v = r.header("set-cookie").expect("cookie");
    assert_eq!(v, "AGWNODE=AgentGateway0; Path=/; HttpOnly; Secure");
    gw.stop().await;
}

/// GUID stickiness: the `.AgentGatewayK` suffix routes; no cookie is ever set; a GUID
/// naming no node goes round robin.
#[tokio::test]
async fn guid_suffix_routes_to_its_node() {
    let gw = start(config(
        "nodes = 3\nstickiness = \"guid\"\nsticky_cookie = \"X\"\npoll_wait = \"20ms\"",
    ))
    .await;
    let mut c = gw.client().await;
    let mut guids = Vec::new();
    for id in [3101, 3102, 3103] {
        let (g, r) = signed_in(&mut c, id, None).await;
        assert_eq!(r.header("set-cookie"), None);
        guids.push(g);
    }
    let nodes: Vec<&str> = guids.iter().map(|g| guid_node(g)).collect();
    assert_eq!(nodes, ["AgentGateway0", "AgentGateway1", "AgentGateway2"]);
    for (id, g) in [3101, 3102, 3103].into_iter().zip(&guids) {
        // Twice: each poll goes to the node its GUID names, not round robin.
        for want in [event::IN_SERVICE, event::READY] {
            let r = poll(&mut c, id, g, None).await;
            assert_eq!(r.event_type().as_deref(), Some(want), "{id}");
        }
    }
    // `JSESSIONID=` prefixed, as a client may echo Set-GUID: still its node.
    let prefixed = format!("JSESSIONID={}", guids[2]);
    let r = poll(&mut c, 3103, &prefixed, None).await;
    assert_eq!(r.retcode(), "0");
    let forged = "279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway7";
    let r = poll(&mut c, 3101, forged, None).await;
    assert_eq!(r.retcode(), retcode::NO_PERMISSION);
    let s = gw.sim.stats();
    let signed: Vec<u64> = s.nodes.iter().map(|n| n.signed_in).collect();
    assert_eq!(signed, [1, 1, 1]);
    gw.stop().await;
}

/// No stickiness: every request round robin, so an agent's polls land on nodes that do
/// not know it, and a second sign-in makes a second session on another node.
#[tokio::test]
async fn without_stickiness_requests_scatter() {
    let gw = start(config(
        "nodes = 3\nstickiness = \"none\"\npoll_wait = \"20ms\"",
    ))
    .await;
    let mut c = gw.client().await;
    let (guid, r) = signed_in(&mut c, 3201, Some("AgentGateway2")).await;
    assert_eq!(guid_node(&guid), "AgentGateway0", "the cookie is ignored");
    assert_eq!(r.header("set-cookie"), None);
    let codes: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(poll(&mut c, 3201, &guid, None).await.retcode());
        }
        v
    };
    assert_eq!(codes, [retcode::NO_PERMISSION, retcode::NO_PERMISSION, "0"]);
    let (again, _) = signed_in(&mut c, 3201, None).await;
    assert_eq!(
        guid_node(&again),
        "AgentGateway1",
        "a second session, elsewhere"
    );
    assert_eq!(gw.sim.stats().signed_in, 2);
    gw.stop().await;
}

/// `shutdown`: the node's waiting poll gets ShutdownService (D12, counted as forced); while
/// it is down its agents reach a live node (`000-003`, cookie re-set) and sign-ins land on
/// live nodes; after `for` it is back, empty, and in round robin again.
#[tokio::test]
async fn a_node_shut_down_ends_its_sessions_and_comes_back_empty() {
    let gw = start(config(
        r#"nodes = 2
poll_wait = "5s"
fail_node = { node = 0, at = "700ms", for = "500ms", mode = "shutdown" }"#,
    ))
    .await;
    let mut c = gw.client().await;
    let (guid, _) = signed_in(&mut c, 3301, None).await;
    let home = Some("AgentGateway0");
    drain(&mut c, 3301, &guid, home).await;
    let r = poll(&mut c, 3301, &guid, home).await; // waits until the failure
    assert_eq!(
        r.event_type().as_deref(),
        Some(event::SHUTDOWN_SERVICE),
        "{:?}",
        r.body
    );
    let s = gw.sim.stats();
    let k = at(&s, "AgentGateway0");
    assert!(!s.nodes[k].up);
    assert_eq!((s.nodes[k].lost_at_failure, s.nodes[k].failures), (1, 1));
    assert_eq!((s.nodes[k].signouts.forced, s.signouts.forced), (1, 1));
    assert_eq!((s.signed_in, s.nodes[k].signed_in), (0, 0));
    // Sticky to the failed node: a live node answers, and re-sets the cookie.
    let r = poll(&mut c, 3301, &guid, home).await;
    assert_eq!(r.retcode(), retcode::NO_PERMISSION);
    assert_eq!(cookie_node(&r).as_deref(), Some("AgentGateway1"));
    let (g2, _) = signed_in(&mut c, 3301, home).await;
    assert_eq!(guid_node(&g2), "AgentGateway1");
    let (g3, _) = signed_in(&mut c, 3302, None).await;
    assert_eq!(guid_node(&g3), "AgentGateway1", "the only node up");
    until_up(&gw, "AgentGateway0", true).await;
    // Back and empty: its old GUID is of its issue but unknown now (D3: 100-006).
    let r = poll(&mut c, 3301, &guid, home).await;
    assert_eq!(r.retcode(), retcode::NOT_SIGNED_IN);
    let mut landed = Vec::new();
    for id in [3303, 3304] {
        let (g, _) = signed_in(&mut c, id, None).await;
        landed.push(guid_node(&g).to_string());
    }
    assert!(landed.iter().any(|n| n == "AgentGateway0"), "{landed:?}");
    gw.stop().await;
}

/// `refuse`: the waiting poll's connection is closed without a reply, and so is an idle
/// connection whose last request that node took; its sessions vanish.
#[tokio::test]
async fn a_node_refusing_closes_its_connections_without_a_reply() {
    let gw = start(config(
        r#"nodes = 2
poll_wait = "5s"
fail_node = [{ node = 0, at = "700ms", for = "30s", mode = "refuse" }]"#,
    ))
    .await;
    let mut c = gw.client().await;
    let mut idle = gw.client().await;
    let mut other = gw.client().await;
    let (guid, _) = signed_in(&mut c, 3401, None).await;
    let (g1, _) = signed_in(&mut other, 3402, None).await;
    assert_eq!(guid_node(&g1), "AgentGateway1");
    let home = Some("AgentGateway0");
    // Node 0 takes this connection's last request, then it stays idle.
    let r = poll(&mut idle, 3401, &guid, home).await;
    assert_eq!(r.event_type().as_deref(), Some(event::IN_SERVICE));
    let r = poll(&mut c, 3401, &guid, home).await;
    assert_eq!(r.event_type().as_deref(), Some(event::READY));
    let path = protocol::poll_path(3401);
    let cookie = "AGWNODE=AgentGateway0";
    let waited = c
        .try_send(
            Method::GET,
            &path,
            &[("Guid", &guid), ("Cookie", cookie)],
            Default::default(),
        )
        .await;
    assert!(waited.is_err(), "closed without a reply: {waited:?}");
    for _ in 0..200 {
        if idle.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        idle.is_closed(),
        "an idle connection of that node is closed too"
    );
    assert!(!other.is_closed(), "connections of other nodes stay");
    let s = gw.sim.stats();
    let k = at(&s, "AgentGateway0");
    assert!(!s.nodes[k].up);
    assert_eq!((s.nodes[k].lost_at_failure, s.nodes[k].signed_in), (1, 0));
    assert_eq!((s.signed_in, s.signouts.forced), (1, 1));
    // The cut poll is counted, as `reset`, so the gateway's counts match its clients'.
    assert_eq!(s.nodes[k].requests["getAgentEvent"].get("reset"), Some(&1));
    assert_eq!(count(&s, "getAgentEvent", "reset"), 1);
    // A new connection is served by the node that is up.
    let mut fresh = gw.client().await;
    let r = poll(&mut fresh, 3401, &guid, home).await;
    assert_eq!(r.retcode(), retcode::NO_PERMISSION);
    assert_eq!(cookie_node(&r).as_deref(), Some("AgentGateway1"));
    assert_eq!(
        poll(&mut other, 3402, &g1, Some("AgentGateway1"))
            .await
            .retcode(),
        "0"
    );
    gw.stop().await;
}

/// D20: beyond the rate (after the burst) a sign-in or forcelogin is HTTP 429 with
/// `Retry-After` of at least a second and a JSON body; counted as `http_429` and in
/// `throttled`. Other calls are not limited.
#[tokio::test]
async fn sign_ins_beyond_the_rate_get_429_with_retry_after() {
    let gw = start(config("signin_rate_limit = 0.5\nsignin_burst = 2")).await;
    let mut c = gw.client().await;
    let (g, _) = signed_in(&mut c, 3501, None).await;
    signed_in(&mut c, 3502, None).await;
    for r in [sign_in(&mut c, 3503, None).await, c.forcelogin(3501).await] {
        assert_eq!(r.status, 429);
        r.assert_json_content_type();
        let secs: u64 = r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=2).contains(&secs), "{secs}");
        assert!(r.json().get("message").is_some(), "{:?}", r.body);
        assert!(!c.is_closed(), "the connection stays");
    }
    assert_eq!(c.logout(3501, &g).await.retcode(), "0", "other calls pass");
    let s = c.stats().await;
    assert_eq!(count(&s, "login", "http_429"), 1);
    assert_eq!(count(&s, "forceLogin", "http_429"), 1);
    assert_eq!((s.throttled, s.signed_in), (2, 1));
    gw.stop().await;
}

/// Per-node counters add up to the totals (requests by endpoint and outcome, signed in,
/// sign-outs), over the stats path as JSON with every node named; the 429s of the front's
/// limit are counted on the node the request went to.
#[tokio::test]
async fn node_stats_add_up_to_the_totals() {
    let gw = start(config(
        "nodes = 3\nstickiness = \"none\"\npoll_wait = \"10ms\"\nsignin_rate_limit = 1.0\nsignin_burst = 4",
    ))
    .await;
    let mut c = gw.client().await;
    for id in 3601..3607 {
        let _ = sign_in(&mut c, id, None).await; // 4 pass, 2 throttled
    }
    for id in 3601..3607 {
        let _ = poll(&mut c, id, "x.AgentGateway1", None).await;
    }
    let _ = send(&mut c, Method::GET, "/nope", None, None, "").await;
    let _ = send(&mut c, Method::GET, &protocol::poll_path(5), None, None, "").await;
    let r = c.send(Method::GET, protocol::STATS_PATH, &[], "").await;
    let json = r.json();
    let names: Vec<&str> = json["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(names, ["AgentGateway0", "AgentGateway1", "AgentGateway2"]);
    let s: GatewayStats = serde_json::from_value(json).expect("GatewayStats");
    let mut summed: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for n in &s.nodes {
        for (e, outcomes) in &n.requests {
            for (o, v) in outcomes {
                *summed
                    .entry(e.clone())
                    .or_default()
                    .entry(o.clone())
                    .or_default() += v;
            }
        }
    }
    assert_eq!(summed, s.requests);
    assert_eq!(count(&s, "login", "http_429"), 2);
    assert_eq!(s.throttled, 2);
    assert_eq!(
        s.nodes.iter().map(|n| n.signed_in).sum::<u64>(),
        s.signed_in
    );
    assert_eq!(s.signed_in, 4);
    assert!(s.nodes.iter().all(|n| n.up));
    gw.stop().await;
    // A single gateway's stats have no `nodes` and no `throttled`, as before.
    let gw = start(config("")).await;
    let mut c = gw.client().await;
    let body = c
        .send(Method::GET, protocol::STATS_PATH, &[], "")
        .await
        .body;
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("nodes") && !text.contains("throttled"),
        "{text}"
    );
    gw.stop().await;
}

/// The cluster keys' errors name the file, line, column and key.
#[test]
fn cluster_configuration_errors_name_the_key() {
    let err = |text: &str| {
        standalone::parse_config(text, "gw.toml")
            .expect_err(text)
            .to_string()
    };
    let m = err("nodes = 2\nfail_node = { node = 5, at = \"1s\", for = \"1s\" }");
    assert!(
        m.starts_with("gw.toml:2:1: fail_node: entry 1: node 5"),
        "{m}"
    );
    let m = err("nodes = 2\n[[fail_node]]\nnode = 1\nat = \"1s\"\nfor = \"0s\"");
    assert!(
        m.contains("fail_node: entry 1: for must be above zero"),
        "{m}"
    );
    let m = err("nodes = 0");
    assert!(m.starts_with("gw.toml:1:1: nodes: "), "{m}");
    let m = err("stickiness = \"sticky\"");
    assert!(
        m.starts_with("gw.toml:1:14: ") && m.contains("`cookie`"),
        "{m}"
    );
    let m = err("fail_node = { node = 0, at = \"1s\", for = \"1s\", mode = \"crash\" }");
    assert!(m.contains("`shutdown`") && m.contains("`refuse`"), "{m}");
    let m = err("signin_rate_limit = -1.0");
    assert!(m.contains("signin_rate_limit: "), "{m}");
    let m = err("signin_burst = 5");
    assert!(m.contains("signin_burst: needs signin_rate_limit"), "{m}");
    let m = err("sticky_cookie = \"\"");
    assert!(m.contains("sticky_cookie: "), "{m}");
    let m = err("node = 3");
    assert!(m.contains("did you mean `nodes`"), "{m}");
}

/// `agentstorm gateway --nodes 3 --stickiness cookie` serves a cluster; `--help` says so.
#[tokio::test]
async fn gateway_command_serves_a_cluster() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .args(["gateway", "--help"])
        .output()
        .expect("run agentstorm");
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["--nodes", "--stickiness", "cookie", "guid", "none"] {
        assert!(text.contains(word), "{word} in {text}");
    }
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let shutdown = CancellationToken::new();
    let opts = Options {
        listen,
        config: None,
        plain_http: true,
        cert: None,
        key: None,
        cert_out: None,
    };
    let overrides = Overrides {
        nodes: Some(3),
        stickiness: Some("cookie".into()),
    };
    let task = tokio::spawn(standalone::run_with(opts, overrides, shutdown.clone()));
    let mut c = None;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(listen).await.is_ok() {
            c = Some(Client::connect(listen).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut c = c.expect("the gateway listens");
    let (guid, r) = signed_in(&mut c, 3701, None).await;
    assert_eq!(cookie_node(&r).as_deref(), Some(guid_node(&guid)));
    assert_eq!(c.stats().await.nodes.len(), 3);
    shutdown.cancel();
    let done = tokio::time::timeout(Duration::from_secs(5), task).await;
    assert!(matches!(done, Ok(Ok(Ok(())))), "{done:?}");
}

/// With no node up (a cluster of one, failing) the front answers HTTP 503, counted on the
/// node so the nodes still add up to the totals.
#[tokio::test]
async fn no_node_up_is_503() {
    let gw = start(config(
        r#"fail_node = { node = 0, at = "0s", for = "1m", mode = "refuse" }"#,
    ))
    .await;
    until_up(&gw, "AgentGateway0", false).await;
    let mut c = gw.client().await;
    let r = sign_in(&mut c, 3801, None).await;
    assert_eq!(r.status, 503);
    r.assert_json_content_type();
    let s = gw.sim.stats();
    assert_eq!(count(&s, "login", "http_503"), 1);
    assert_eq!(s.nodes[0].requests, s.requests);
    gw.stop().await;
}

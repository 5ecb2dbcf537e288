//! The harness against a cluster as a load balancer makes it look, written here (not
//! agentstorm's simulator): two nodes behind one address, kept apart by a sticky cookie
//! the front sets on sign-in, and a front that throttles sign-ins with HTTP 429 and
//! `Retry-After`. Everything is counted on the gateway's side.
//!
//! - Cookie stickiness: a poll or sign-out without the cookie lands on a node round robin,
//!   and a node that did not issue the GUID answers `000-003`. Every agent must reach
//!   ready and sign out cleanly; its cookies must end with its session (the sign-in after a
//!   lost session carries none).
//! - Throttling: each agent's first sign-in gets 429 with `Retry-After: 1`; every agent
//!   must sign in on its second try, no earlier than a second after the 429.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentstorm::metrics::results::RunStatus;
use agentstorm::run::{run, RunOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::raw::{Request, Requests};

const COOKIE: &str = "NSLBNODE";

#[derive(Default)]
struct Counts {
    signin: AtomicU64,
    poll: AtomicU64,
    logout: AtomicU64,
    /// Calls after sign-in that came without the sticky cookie.
    unsticky: AtomicU64,
    /// Sign-ins that carried a cookie (one left over from an earlier session).
    signin_with_cookie: AtomicU64,
    /// Calls a node refused because it did not issue their GUID.
    wrong_node: AtomicU64,
    throttled: AtomicU64,
}

#[derive(Default)]
struct Agent {
    /// The node and GUID of the agent's session, if signed in.
    session: Option<(usize, String)>,
    /// Sessions begun.
    sessions: u32,
    /// Events still to send in this session (popped from the end).
    queued: Vec<&'static str>,
    /// When the front answered this agent's sign-in with 429, and when the next sign-in came.
    throttled_at: Option<Instant>,
    retried_at: Option<Instant>,
}

struct Cluster {
    counts: Counts,
    agents: Mutex<HashMap<u32, Agent>>,
    next_node: AtomicUsize,
    /// Answer each agent's first sign-in with 429 `Retry-After: 1`.
    throttle_first: bool,
    /// End each agent's first session with `AgentOther_ShutdownService` after it is ready.
    shutdown_first: bool,
}

/// A reply: status line, extra headers, body.
type Reply = (&'static str, Vec<String>, String);

fn json(body: &str) -> Reply {
    ("200 OK", Vec::new(), body.to_string())
}

impl Cluster {
    /// The node a request goes to: the one its sticky cookie names, else round robin.
    fn route(&self, req: &Request) -> (usize, bool) {
        let named = req.cookie.as_deref().and_then(|c| {
            c.split(';').find_map(|kv| {
                let (k, v) = kv.trim().split_once('=')?;
                (k == COOKIE).then(|| v.strip_prefix("node")?.parse().ok())?
            })
        });
        match named {
            Some(n) => (n, true),
            None => (self.next_node.fetch_add(1, Ordering::Relaxed) % 2, false),
        }
    }

    fn answer(&self, req: &Request) -> Reply {
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        let agent_id = parts.get(3).and_then(|p| p.parse::<u32>().ok());
        let (node, sticky) = self.route(req);
        let mut agents = self.agents.lock().expect("lock");
        match (req.method.as_str(), parts.as_slice(), agent_id) {
            ("PUT", ["agentgateway", "resource", "onlineagent", _], Some(id)) => {
                self.counts.signin.fetch_add(1, Ordering::Relaxed);
                if req.cookie.is_some() {
                    self.counts
                        .signin_with_cookie
                        .fetch_add(1, Ordering::Relaxed);
                }
                let a = agents.entry(id).or_default();
                if self.throttle_first && a.throttled_at.is_none() {
                    self.counts.throttled.fetch_add(1, Ordering::Relaxed);
                    a.throttled_at = Some(Instant::now());
                    return (
                        "429 Too Many Requests",
                        vec!["Retry-After: 1".into()],
                        r#"{"message":"too many sign-ins","retcode":"-1"}"#.into(),
                    );
                }
                if a.throttled_at.is_some() && a.retried_at.is_none() {
                    a.retried_at = Some(Instant::now());
                }
                a.sessions += 1;
                let guid = format!(
                    "279fe21d-2caa-4437-84c3-{id:08}{:04}.AgentGateway{node}",
                    a.sessions
                );
                a.session = Some((node, guid.clone()));
                a.queued = vec![
                    "AgentState_Ready",
                    "AgentOther_InService",
                    "AgentState_SetNotReady_Success",
                ];
                if self.shutdown_first && a.sessions == 1 {
                    a.queued.insert(0, "AgentOther_ShutdownService");
                }
                (
                    "200 OK",
                    vec![
                        format!("Set-GUID: JSESSIONID={guid}"),
                        format!("Set-Cookie: {COOKIE}=node{node}; Path=/; HttpOnly"),
                    ],
                    r#"{"result":{"vdnid":1,"workno":"x","loginTime":"1"},"message":"success","retcode":"0"}"#.into(),
                )
            }
            (method, ["agentgateway", "resource", kind, _, rest @ ..], Some(id)) => {
                let is_poll = method == "GET" && *kind == "agentevent" && rest.is_empty();
                let is_logout = method == "DELETE" && *kind == "onlineagent" && rest == ["logout"];
                if is_poll {
                    self.counts.poll.fetch_add(1, Ordering::Relaxed);
                } else if is_logout {
                    self.counts.logout.fetch_add(1, Ordering::Relaxed);
                } else {
                    return json(r#"{"message":"","retcode":"000-002"}"#);
                }
                if !sticky {
                    self.counts.unsticky.fetch_add(1, Ordering::Relaxed);
                }
                let a = agents.entry(id).or_default();
                let mine = matches!(&a.session, Some((n, g)) if *n == node && req.guid.as_deref() == Some(g));
                if !mine {
                    self.counts.wrong_node.fetch_add(1, Ordering::Relaxed);
                    return json(r#"{"message":"no permission","retcode":"000-003"}"#);
                }
                if is_logout {
                    a.session = None;
                    return json(r#"{"result":{},"message":"success","retcode":"0"}"#);
                }
                match a.queued.pop() {
                    Some(ev) => {
                        if ev == "AgentOther_ShutdownService" {
                            a.session = None;
                        }
                        json(&format!(
                            r#"{{"message":"","retcode":"0","event":{{"eventType":"{ev}","workNo":"{id}","content":{{}},"eventGenTime":1700000000000}}}}"#
                        ))
                    }
                    None => json(r#"{"message":"","retcode":"0","event":null}"#),
                }
            }
            _ => json(r#"{"message":"","retcode":"000-002"}"#),
        }
    }

    async fn serve(self: Arc<Self>, sock: TcpStream) {
        let mut requests = Requests::new(sock);
        while let Some(req) = requests.next().await {
            let (status, headers, body) = self.answer(&req);
            if body.contains(r#""event":null"#) {
                // A long poll's wait, shortened.
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            let mut head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json; charset=UTF-8\r\nContent-Length: {}\r\n",
                body.len()
            );
            for h in headers {
                head.push_str(&h);
                head.push_str("\r\n");
            }
            let reply = format!("{head}\r\n{body}");
            if requests.sock().write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

async fn start(throttle_first: bool, shutdown_first: bool) -> (Arc<Cluster>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let gw = Arc::new(Cluster {
        counts: Counts::default(),
        agents: Mutex::new(HashMap::new()),
        next_node: AtomicUsize::new(0),
        throttle_first,
        shutdown_first,
    });
    let serving = gw.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serving.clone().serve(sock));
        }
    });
    (gw, url)
}

fn scenario(dir: &Path, agents: u32, session_extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "cluster"
[agents]
ids = "1001-{}"
[session]
hold = {{ min = "200ms", max = "300ms" }}
poll_gap = {{ min = "10ms", max = "20ms" }}
{session_extra}
[load]
stages = [{{ hold = "500ms", rate = {} }}, {{ hold = "2500ms", rate = 0 }}]
"#,
        1000 + agents,
        agents * 2
    );
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

async fn run_against(
    url: &str,
    dir: &Path,
    agents: u32,
    extra: &str,
) -> agentstorm::run::RunOutcome {
    let mut opts = RunOptions::new(scenario(dir, agents, extra));
    opts.target = Some(url.to_string());
    opts.out = Some(dir.join("out"));
    run(opts).await.expect("run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_cookie_sticky_front_every_agent_stays_on_its_node() {
    const AGENTS: u64 = 20;
    let (gw, url) = start(false, true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_against(
        &url,
        dir.path(),
        AGENTS as u32,
        r#"on_unexpected_signout = "signin-again""#,
    )
    .await;
    let r = &out.results;
    assert!(matches!(r.status, RunStatus::Completed), "{:?}", r.status);
    let c = &gw.counts;
    assert_eq!(
        c.unsticky.load(Ordering::Relaxed),
        0,
        "every call after sign-in carried the cookie"
    );
    assert_eq!(
        c.wrong_node.load(Ordering::Relaxed),
        0,
        "no call reached a node that did not issue its GUID"
    );
    assert_eq!(
        c.signin_with_cookie.load(Ordering::Relaxed),
        0,
        "the cookies ended with the session: the sign-in after the loss carried none"
    );
    // Each agent: a first session the gateway ended after ready, then a second one.
    let s = &r.sessions;
    assert_eq!(c.signin.load(Ordering::Relaxed), 2 * AGENTS);
    assert_eq!((s.signed_in, s.ready), (2 * AGENTS, 2 * AGENTS), "{s:?}");
    assert_eq!(
        (s.signed_out_unexpected, s.signed_out_clean),
        (AGENTS, AGENTS),
        "{s:?}"
    );
    assert_eq!(c.logout.load(Ordering::Relaxed), AGENTS);
    assert_eq!(r.operations["poll"].count, c.poll.load(Ordering::Relaxed));
    // Sessions by the node that issued their GUID (its suffix), both nodes used.
    let on = |n: &str| s.nodes.get(n).map_or(0, |x| x.signed_in);
    assert_eq!(
        on("AgentGateway0") + on("AgentGateway1"),
        2 * AGENTS,
        "{:?}",
        s.nodes.keys()
    );
    assert!(on("AgentGateway0") > 0 && on("AgentGateway1") > 0);
    let rec = r.derived.recovery.as_ref().expect("sessions were lost");
    assert_eq!((rec.lost, rec.back), (AGENTS, AGENTS));
    let per_node: u64 = rec.nodes.iter().map(|n| n.lost).sum();
    assert_eq!(per_node, AGENTS, "{:?}", rec.nodes);
    assert_eq!(rec.resignin_attempts, AGENTS);

    // And the gateway does need the cookie: a signed-in agent's polls without it are
    // refused by the node that did not issue the GUID.
    let (agent, guid) = {
        let mut agents = gw.agents.lock().expect("lock");
        let a = agents.entry(9999).or_default();
        a.session = Some((0, "g.AgentGateway0".into()));
        (9999u32, "g.AgentGateway0".to_string())
    };
    let refused_before = c.wrong_node.load(Ordering::Relaxed);
    let addr = url.trim_start_matches("http://").to_string();
    for _ in 0..2 {
        let mut sock = TcpStream::connect(&addr).await.expect("connect");
        let req = format!(
            "GET /agentgateway/resource/agentevent/{agent} HTTP/1.1\r\nHost: x\r\nGuid: {guid}\r\n\r\n"
        );
        sock.write_all(req.as_bytes()).await.expect("send");
        let mut reqs = Requests::new(sock);
        let _ = tokio::time::timeout(Duration::from_millis(200), reqs.next()).await;
    }
    assert_eq!(
        c.wrong_node.load(Ordering::Relaxed) - refused_before,
        1,
        "of two cookie-less polls, round robin sends one to the other node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_delays_the_agents_next_sign_in() {
    const AGENTS: u64 = 10;
    let (gw, url) = start(true, false).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run_against(&url, dir.path(), AGENTS as u32, "").await;
    let r = &out.results;
    assert_eq!(out.exit_code, 0, "{:?}", r.derived.verdict);
    let c = &gw.counts;
    assert_eq!(c.throttled.load(Ordering::Relaxed), AGENTS);
    assert_eq!(
        c.signin.load(Ordering::Relaxed),
        2 * AGENTS,
        "exactly one retry each"
    );
    {
        let agents = gw.agents.lock().expect("lock");
        assert_eq!(agents.len() as u64, AGENTS);
        for (id, a) in agents.iter() {
            let (t, again) = (
                a.throttled_at.expect("throttled"),
                a.retried_at.expect("retried"),
            );
            let gap = again - t;
            assert!(
                gap >= Duration::from_secs(1),
                "agent {id} came back after {gap:?}"
            );
            assert!(
                gap < Duration::from_secs(3),
                "agent {id} came back after {gap:?}"
            );
        }
    }
    let s = &r.sessions;
    assert_eq!(
        (s.signed_in, s.ready, s.signed_out_clean),
        (AGENTS, AGENTS, AGENTS)
    );
    assert_eq!(
        (s.throttled, s.throttled_agents, s.signin_retries),
        (AGENTS, AGENTS, AGENTS)
    );
    assert!(s.retry_wait_us >= AGENTS * 1_000_000, "{}", s.retry_wait_us);
    assert_eq!(
        r.operations["signin"].http_statuses.get(&429),
        Some(&AGENTS)
    );
    let console = agentstorm::report::console_summary(r);
    assert!(
        console.contains("HTTP 429/503 replies, to 10 agents"),
        "{console}"
    );
    // The failure kept its reason: the wait the gateway asked for.
    let why = r
        .failures
        .kinds
        .values()
        .flatten()
        .map(|e| e.reason.as_str())
        .find(|w| w.contains("429"));
    assert!(
        why.is_some_and(|w| w.contains("throttling") && w.contains("1s")),
        "{why:?}"
    );
}

//! Whole runs against a small gateway written here, not agentstorm's simulator: it answers
//! sign-in, event poll and sign-out with the vendor documents' example bodies, verbatim in
//! shape, in each of the three documented dialects, with the header names in the letter
//! case each one uses. It checks the `Guid` header the agents send, and counts every
//! request on its side. For each dialect every agent must sign in, reach ready and sign
//! out, and the harness's counts must equal the gateway's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentstorm::metrics::results::RunStatus;
use agentstorm::run::{run, RunOptions};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::raw::Requests;

#[derive(Clone, Copy, Debug)]
enum Dialect {
    /// Newest API pages: `eventGenTime` a JSON number, `message`, `Set-GUID` and `Guid`.
    Newest,
    /// Developer guide: `msg`, sign-out `result: null`, header names in lower case, a
    /// `Content-Type` without a space before `charset`.
    Devguide,
    /// Older pages: no `eventGenTime`, `vdnid` a string, only `SET-GUID`, an empty poll
    /// with no `event` key at all.
    Older,
    /// Not a dialect: newest sign-in, but every poll reply has an `eventType` that is a
    /// number and a GUID in its body (to see the failure's reason, masked).
    Broken,
}

#[derive(Default)]
struct Counts {
    signin: AtomicU64,
    poll: AtomicU64,
    logout: AtomicU64,
    /// Requests outside the agent interface.
    other: AtomicU64,
    /// Of those, asks for agentstorm's simulator counters.
    stats: AtomicU64,
    wrong_guid: AtomicU64,
}

struct Gateway {
    dialect: Dialect,
    counts: Counts,
    /// Agent id → (GUID, events still queued).
    sessions: Mutex<HashMap<u32, (String, Vec<&'static str>)>>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Gateway {
    fn answer(&self, method: &str, path: &str, guid: Option<&str>) -> (String, String) {
        let d = self.dialect;
        let json_type = match d {
            Dialect::Devguide => "Content-Type: application/json;charset=UTF-8\r\n",
            _ => "Content-Type: application/json; charset=UTF-8\r\n",
        };
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let id = |i: usize| parts.get(i).and_then(|p| p.parse::<u32>().ok());
        match (method, parts.as_slice()) {
            ("PUT", ["agentgateway", "resource", "onlineagent", _]) => {
                self.counts.signin.fetch_add(1, Ordering::Relaxed);
                let agent = id(3).expect("agent id");
                let g = format!("279fe21d-2caa-4437-84c3-{agent:012}.AgentGateway0");
                self.sessions.lock().expect("lock").insert(
                    agent,
                    (
                        g.clone(),
                        // Reversed: popped from the end. A type the harness does not know
                        // comes between InService and Ready.
                        vec![
                            "AgentState_Ready",
                            "AgentOther_PhoneAlerting",
                            "AgentOther_InService",
                        ],
                    ),
                );
                let (headers, body) = match d {
                    Dialect::Newest | Dialect::Broken => (
                        format!("Set-GUID: JSESSIONID={g}\r\nGuid: {g}\r\n"),
                        r#"{"message":"","retcode":"0","result":{"vdnid":1,"workno":"291","mediatype":"TTF","loginTime":"1471585949806","isForceChange":"false","serverName":"AgentGateway","timeRemaining":"9"}}"#.to_string(),
                    ),
                    Dialect::Devguide => (
                        format!("set-guid: JSESSIONID={g}\r\nguid: {g}\r\n"),
                        r#"{"retcode":"0","msg":"","result":{"workno":"6001","mediatype":"TTT"}}"#.to_string(),
                    ),
                    Dialect::Older => (
                        format!("SET-GUID: JSESSIONID={g}\r\n"),
                        r#"{"message":"","retcode":"0","result":{"vdnid":"1","workno":"291","mediatype":"TTF"}}"#.to_string(),
                    ),
                };
                (format!("{json_type}{headers}"), body)
            }
            ("GET", ["agentgateway", "resource", "agentevent", _]) => {
                self.counts.poll.fetch_add(1, Ordering::Relaxed);
                let agent = id(3).expect("agent id");
                let mut sessions = self.sessions.lock().expect("lock");
                let Some((g, queue)) = sessions.get_mut(&agent) else {
                    return (
                        json_type.into(),
                        r#"{"message":"","retcode":"100-006"}"#.into(),
                    );
                };
                if guid != Some(g.as_str()) {
                    self.counts.wrong_guid.fetch_add(1, Ordering::Relaxed);
                    return (
                        json_type.into(),
                        r#"{"message":"","retcode":"000-003"}"#.into(),
                    );
                }
                let key = match d {
                    Dialect::Devguide => "msg",
                    _ => "message",
                };
                if matches!(d, Dialect::Broken) {
                    let body = format!(
                        r#"{{"message":"","retcode":"0","guid":"{g}","event":{{"eventType":17,"workNo":"{agent}"}}}}"#
                    );
                    return (json_type.into(), body);
                }
                let body = match queue.pop() {
                    Some(t) => {
                        let content = if t == "AgentOther_PhoneAlerting" {
                            r#"{"caller":"88001","extra":[1,2]}"#
                        } else {
                            "null"
                        };
                        match d {
                            Dialect::Newest | Dialect::Broken => format!(
                                r#"{{"{key}":"","retcode":"0","event":{{"eventType":"{t}","eventGenTime":{},"workNo":"{agent}","content":{content}}}}}"#,
                                now_ms()
                            ),
                            Dialect::Devguide => format!(
                                r#"{{"retcode":"0","{key}":"","event":{{"eventType":"{t}","workNo":"{agent}","content":{content},"eventGenTime":"{}"}}}}"#,
                                now_ms()
                            ),
                            Dialect::Older => format!(
                                r#"{{"{key}":"","retcode":"0","event":{{"eventType":"{t}","workNo":"{agent}","content":{content}}}}}"#
                            ),
                        }
                    }
                    None => match d {
                        Dialect::Older => r#"{"message":"","retcode":"0"}"#.to_string(),
                        _ => format!(r#"{{"{key}":"","retcode":"0","event":null}}"#),
                    },
                };
                (json_type.into(), body)
            }
            ("DELETE", ["agentgateway", "resource", "onlineagent", _, "logout"]) => {
                self.counts.logout.fetch_add(1, Ordering::Relaxed);
                let agent = id(3).expect("agent id");
                let mut sessions = self.sessions.lock().expect("lock");
                match sessions.get(&agent) {
                    Some((g, _)) if guid == Some(g.as_str()) => {
                        sessions.remove(&agent);
                    }
                    _ => {
                        self.counts.wrong_guid.fetch_add(1, Ordering::Relaxed);
                        return (
                            json_type.into(),
                            r#"{"message":"","retcode":"100-006"}"#.into(),
                        );
                    }
                }
                let body = match d {
                    Dialect::Devguide => r#"{"retcode":"0","msg":"","result":null}"#,
                    _ => r#"{"result":{},"message":"success","retcode":"0"}"#,
                };
                (json_type.into(), body.into())
            }
            _ => {
                self.counts.other.fetch_add(1, Ordering::Relaxed);
                if path == agentstorm::protocol::STATS_PATH {
                    self.counts.stats.fetch_add(1, Ordering::Relaxed);
                }
                (
                    json_type.into(),
                    r#"{"message":"","retcode":"000-002"}"#.into(),
                )
            }
        }
    }

    /// One keep-alive connection: request heads (and sign-in bodies) in, replies out.
    async fn serve(self: Arc<Self>, sock: TcpStream) {
        let mut requests = Requests::new(sock);
        while let Some(req) = requests.next().await {
            let (method, path, guid) = (req.method, req.path, req.guid);
            let (headers, body) = self.answer(&method, &path, guid.as_deref());
            if body.contains(r#""event":null"#) || body == r#"{"message":"","retcode":"0"}"# {
                // A long poll's wait, shortened.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if requests.sock().write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

async fn start(dialect: Dialect) -> (Arc<Gateway>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let gw = Arc::new(Gateway {
        dialect,
        counts: Counts::default(),
        sessions: Mutex::new(HashMap::new()),
    });
    let serving = gw.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serving.clone().serve(sock));
        }
    });
    (gw, url)
}

fn scenario(dir: &Path, agents: u32) -> std::path::PathBuf {
    scenario_with(dir, agents, "")
}

fn scenario_with(dir: &Path, agents: u32, session_extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
name = "documented"
[agents]
ids = "1001-{}"
phonenum = "7{{agentid}}"
[session]
hold = {{ min = "200ms", max = "300ms" }}
poll_gap = {{ min = "10ms", max = "20ms" }}
{session_extra}
[load]
stages = [{{ hold = "1s", rate = {agents} }}]
"#,
        1000 + agents
    );
    let path = dir.join("documented.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_agent_reaches_ready_against_each_documented_dialect() {
    const AGENTS: u64 = 20;
    for dialect in [Dialect::Newest, Dialect::Devguide, Dialect::Older] {
        let (gw, url) = start(dialect).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = RunOptions::new(scenario(dir.path(), AGENTS as u32));
        opts.target = Some(url);
        opts.out = Some(dir.path().join("out"));
        let outcome = run(opts).await.expect("run");
        let r = &outcome.results;
        assert!(
            matches!(r.status, RunStatus::Completed),
            "{dialect:?}: {:?}",
            r.status
        );
        assert_eq!(outcome.exit_code, 0, "{dialect:?}");
        let s = &r.sessions;
        assert_eq!(
            (s.signed_in, s.ready, s.signed_out_clean),
            (AGENTS, AGENTS, AGENTS),
            "{dialect:?}: signed in, ready, clean"
        );
        let c = &gw.counts;
        assert_eq!(
            c.wrong_guid.load(Ordering::Relaxed),
            0,
            "{dialect:?}: Guid sent"
        );
        // A gateway that is not agentstorm's is sent the agent interface only.
        assert_eq!(
            c.other.load(Ordering::Relaxed),
            0,
            "{dialect:?}: foreign paths"
        );
        assert!(r.gateway.is_none(), "{dialect:?}: no simulator counters");
        for (op, served) in [
            ("signin", &c.signin),
            ("poll", &c.poll),
            ("logout", &c.logout),
        ] {
            let o = &r.operations[op];
            assert_eq!(
                o.count,
                served.load(Ordering::Relaxed),
                "{dialect:?} {op}: harness vs gateway"
            );
            // At the plan's end an agent whose turn to sign out comes during a long poll
            // gives that poll up (abandoned): every other call was read.
            assert_eq!(
                o.ok + o.abandoned,
                o.count,
                "{dialect:?} {op}: every call read"
            );
        }
        // The event the harness does not know is an event, not a failure.
        assert_eq!(
            r.events.get("AgentOther_PhoneAlerting"),
            Some(&AGENTS),
            "{dialect:?}"
        );
        assert_eq!(
            r.events.get("AgentState_Ready"),
            Some(&AGENTS),
            "{dialect:?}"
        );
        // Delivery latency where the events carry their time (newest: a number; devguide
        // here: a string), none where they do not.
        let delivered = r.sessions.event_delivery.count();
        let by_type = &r.sessions.event_delivery_by_type;
        match dialect {
            Dialect::Older => assert_eq!((delivered, by_type.len()), (0, 0), "{dialect:?}"),
            _ => {
                assert_eq!(delivered, 3 * AGENTS, "{dialect:?}");
                for t in [
                    "AgentOther_InService",
                    "AgentState_Ready",
                    "AgentOther_PhoneAlerting",
                ] {
                    assert_eq!(by_type[t].count(), AGENTS, "{dialect:?} {t}");
                }
                let csv = std::fs::read_to_string(dir.path().join("out/events.csv")).expect("csv");
                let ready = csv
                    .lines()
                    .find(|l| l.starts_with("AgentState_Ready,"))
                    .expect("row");
                assert!(
                    ready.starts_with(&format!("AgentState_Ready,{AGENTS},{AGENTS},")),
                    "{ready}"
                );
                let console = agentstorm::report::console_summary(r);
                assert!(console.contains("event delivery"), "{console}");
                assert!(console.contains("clocks agree"), "{console}");
                let html =
                    std::fs::read_to_string(dir.path().join("out/report.html")).expect("html");
                assert!(html.contains("Delivery p99") && html.contains("clocks agree"));
            }
        }
    }
}

/// A gateway whose every poll reply is unreadable: the run says why, on the console and
/// in every report, with the reply's GUID masked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_reply_is_shown_with_its_reason_in_every_report() {
    let (_gw, url) = start(Dialect::Broken).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = RunOptions::new(scenario_with(dir.path(), 3, "ready_timeout = \"1s\""));
    opts.target = Some(url);
    let out = dir.path().join("out");
    opts.out = Some(out.clone());
    let outcome = run(opts).await.expect("run");
    let r = &outcome.results;
    assert_eq!(r.sessions.ready, 0);
    let cases = &r.failures.kinds["poll transport:bad_body"];
    assert!(!cases.is_empty() && cases.len() <= agentstorm::metrics::exemplar::PER_KIND);
    let e = &cases[0];
    let why = "invalid type: integer `17`, expected";
    assert!(e.reason.contains(why), "{}", e.reason);
    assert!((1001..=1003).contains(&e.agent_id));
    assert!(e.reply.contains(r#""eventType":17"#), "{}", e.reply);
    assert!(!e.reply.contains("279fe21d"), "GUID masked: {}", e.reply);
    let console = agentstorm::report::console_summary(r);
    assert!(console.contains(why), "{console}");
    for file in ["failures.csv", "report.html", "results.json"] {
        let text = std::fs::read_to_string(out.join(file)).expect(file);
        assert!(text.contains("invalid type: integer"), "{file}");
        assert!(!text.contains("279fe21d-2caa"), "{file}: GUID masked");
    }
}

/// `target.reconcile`: a foreign gateway is asked for the simulator's counters only when
/// the scenario says so, at the start and at the end; what it answers is not taken for
/// counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counters_are_asked_of_a_foreign_gateway_only_when_the_scenario_says_so() {
    for (reconcile, asked) in [("auto", 0), ("never", 0), ("always", 2)] {
        let (gw, url) = start(Dialect::Newest).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = RunOptions::new(scenario(dir.path(), 3));
        opts.target = Some(url);
        opts.overrides = vec![format!("target.reconcile=\"{reconcile}\"")];
        opts.out = Some(dir.path().join("out"));
        let outcome = run(opts).await.expect("run");
        assert_eq!(outcome.results.sessions.ready, 3, "{reconcile}");
        let c = &gw.counts;
        assert_eq!(c.stats.load(Ordering::Relaxed), asked, "{reconcile}");
        assert_eq!(c.other.load(Ordering::Relaxed), asked, "{reconcile}");
        assert!(
            outcome.results.gateway.is_none(),
            "{reconcile}: not counters"
        );
    }
}

//! `agentstorm probe` against gateways written here (raw HTTP/1.1 over loopback, bodies as
//! the vendor documents show them) and against the embedded and a standalone simulated
//! gateway: a ready gateway is called ready with every exchange shown and nothing secret
//! in the output; each way a gateway can be not ready gives its reason and what to change;
//! the command's exit codes are 0 ready, 3 not ready, 2 bad input.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentstorm::probe::{self, render::render, Options, Verdict};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::support::raw::Requests;

/// What the test gateway was sent: (method, path, Guid header, body).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, String)>>>;

/// How the test gateway answers.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// The newest documents' bodies: sign-in, InService then Ready, sign-out.
    Documented,
    /// Sign-in refused: `100-004` with the gateway's own words.
    WrongPassword,
    /// Sign-in works; the poll refuses the GUID (`000-003`), as a non-sticky cluster does.
    GuidRefused,
    /// Sign-in works; the only event ever is InService, then empty polls.
    NeverReady,
}

const GUID: &str = "279fe21d-2caa-4437-84c3-ab9e9dae20f5.AgentGateway0";

fn answer(kind: Kind, method: &str, path: &str, polls: usize) -> (String, String) {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let json = "Content-Type: application/json; charset=UTF-8\r\n";
    let event = |t: &str| {
        format!(
            r#"{{"message":"","retcode":"0","event":{{"eventType":"{t}","eventGenTime":{now_ms},"workNo":"1001","content":null}}}}"#
        )
    };
    if method == "PUT" && path.contains("/onlineagent/") {
        if kind == Kind::WrongPassword {
            return (
                json.into(),
                r#"{"message":"wrong user name or password","retcode":"100-004"}"#.into(),
            );
        }
        return (
            format!("{json}Set-GUID: JSESSIONID={GUID}\r\n"),
            r#"{"message":"","retcode":"0","result":{"vdnid":1,"workno":"1001","mediatype":"TTF","loginTime":"1471585949806","isForceChange":"false","serverName":"AgentGateway","timeRemaining":"9"}}"#.into(),
        );
    }
    if method == "GET" && path.contains("/agentevent/") {
        return match (kind, polls) {
            (Kind::GuidRefused, _) => (
                json.into(),
                r#"{"message":"no permission","retcode":"000-003"}"#.into(),
            ),
            (_, 0) => (json.into(), event("AgentOther_InService")),
            (Kind::Documented, 1) => (json.into(), event("AgentState_Ready")),
            _ => (
                json.into(),
                r#"{"message":"","retcode":"0","event":null}"#.into(),
            ),
        };
    }
    if method == "DELETE" && path.ends_with("/logout") {
        return (
            json.into(),
            r#"{"result":{},"message":"success","retcode":"0"}"#.into(),
        );
    }
    (json.into(), r#"{"message":"","retcode":"000-002"}"#.into())
}

async fn serve(kind: Kind, sock: TcpStream, seen: Seen) {
    let mut requests = Requests::new(sock);
    while let Some(req) = requests.next().await {
        let (method, path, guid, body) = (req.method, req.path, req.guid, req.body);
        let polls = {
            let mut seen = seen.lock().expect("lock");
            let polls = seen.iter().filter(|s| s.0 == "GET").count();
            seen.push((method.clone(), path.clone(), guid, body));
            polls
        };
        let (headers, reply) = answer(kind, &method, &path, polls);
        if reply.contains(r#""event":null"#) {
            // A long poll's wait, shortened.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\n{headers}Content-Length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if requests.sock().write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn start(kind: Kind) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let seen: Seen = Arc::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(serve(kind, sock, s.clone()));
        }
    });
    (url, seen)
}

/// A scenario whose agent password comes from a file, and a short ready timeout.
fn scenario(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("pw"), "s3cret-pw").expect("password file");
    let path = dir.join("probe.toml");
    std::fs::write(
        &path,
        r#"
name = "probe-test"
[agents]
ids = "1001-1100"
phonenum = "7{agentid}"
password = { file = "pw" }
[session]
ready_timeout = "1s"
[load]
stages = [{ hold = "1s", rate = 1 }]
"#,
    )
    .expect("scenario");
    path
}

fn aimed(dir: &Path, url: &str) -> Options {
    Options {
        scenario: Some(scenario(dir)),
        target: Some(url.into()),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_documented_gateway_is_ready_and_every_exchange_is_shown_masked() {
    let (url, seen) = start(Kind::Documented).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = probe::run(&aimed(dir.path(), &url)).await.expect("probe");
    assert!(
        matches!(p.verdict, Verdict::Ready { .. }),
        "{:?}",
        p.verdict
    );
    assert_eq!(p.agent, 1001, "the scenario's first agent");
    // What the gateway saw: sign-in with the scenario's password and phone, two polls and
    // the sign-out carrying the GUID it handed out.
    let seen = seen.lock().expect("lock").clone();
    let methods: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(methods, ["PUT", "GET", "GET", "DELETE"]);
    assert!(
        seen[0].3.contains(r#""password":"s3cret-pw""#),
        "{}",
        seen[0].3
    );
    assert!(seen[0].3.contains(r#""phonenum":"71001""#), "{}", seen[0].3);
    assert!(seen[1..].iter().all(|s| s.2.as_deref() == Some(GUID)));
    assert_eq!(p.exchanges.len(), 4);
    let text = render(&p, SystemTime::now());
    for want in [
        "PUT /agentgateway/resource/onlineagent/1001  ->  200 OK",
        "GUID handed out (***.AgentGateway0)",
        "event AgentOther_InService",
        "eventGenTime",
        "event AgentState_Ready",
        "DELETE /agentgateway/resource/onlineagent/1001/logout  ->  200 OK",
        "READY to load-test: agent 1001",
    ] {
        assert!(text.contains(want), "{want:?} in\n{text}");
    }
    assert!(!text.contains("s3cret"), "password masked:\n{text}");
    assert!(!text.contains("279fe21d"), "GUID masked:\n{text}");
    assert!(p.tls.is_none() && p.trust.is_none(), "http: no TLS block");
}

#[tokio::test]
async fn a_wrong_password_is_not_ready_with_the_gateways_words_and_the_fix() {
    let (url, seen) = start(Kind::WrongPassword).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = probe::run(&aimed(dir.path(), &url)).await.expect("probe");
    let Verdict::NotReady(a) = &p.verdict else {
        panic!("{:?}", p.verdict)
    };
    assert!(a.problem.contains("100-004") && a.problem.contains("wrong user name or password"));
    assert!(a.fix.contains("--password-env"), "{a:?}");
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "nothing after a refused sign-in"
    );
    assert!(!render(&p, SystemTime::now()).contains("s3cret"));
}

#[tokio::test]
async fn a_refused_guid_on_poll_points_at_stickiness_and_the_agent_is_signed_out() {
    let (url, seen) = start(Kind::GuidRefused).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = probe::run(&aimed(dir.path(), &url)).await.expect("probe");
    let Verdict::NotReady(a) = &p.verdict else {
        panic!("{:?}", p.verdict)
    };
    assert!(
        a.problem.contains("000-003") && a.fix.contains("sticky"),
        "{a:?}"
    );
    let methods: Vec<String> = seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert_eq!(
        methods,
        ["PUT", "GET", "DELETE"],
        "signed out after the failure"
    );
}

#[tokio::test]
async fn an_agent_that_never_becomes_ready_is_named_with_the_events_it_got() {
    let (url, seen) = start(Kind::NeverReady).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let p = probe::run(&aimed(dir.path(), &url)).await.expect("probe");
    let Verdict::NotReady(a) = &p.verdict else {
        panic!("{:?}", p.verdict)
    };
    assert!(
        a.problem
            .contains("no AgentState_Ready within 1s (only AgentOther_InService)"),
        "{a:?}"
    );
    let seen = seen.lock().expect("lock");
    let polls = seen.iter().filter(|s| s.0 == "GET").count();
    assert!(
        (2..=probe::MAX_POLLS).contains(&polls),
        "{polls} polls in the 1 s wait"
    );
    assert_eq!(seen.last().map(|s| s.0.as_str()), Some("DELETE"));
}

#[tokio::test]
async fn the_embedded_gateway_is_ready_over_tls_with_its_certificate_described() {
    let p = probe::run(&Options::default()).await.expect("probe");
    assert!(p.embedded && p.is_ready(), "{:?}", p.verdict);
    let facts = p.tls.as_ref().expect("https").as_ref().expect("read");
    assert!(facts.version.starts_with("TLSv1."), "{facts:?}");
    assert!(
        facts.chain[0].names.contains(&"127.0.0.1".to_string()),
        "{facts:?}"
    );
    let text = render(&p, SystemTime::now());
    assert!(
        text.contains("the embedded gateway's generated certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_described_and_explained() {
    // A standalone simulated gateway with its own certificate, not given as --ca-file.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tls = agentstorm::sim::tls::self_signed().expect("certificate");
    let gw = agentstorm::sim::SimGateway::new(Default::default());
    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn(gw.serve(listener, Some(tls.server_config.clone()), stop.clone()));
    let opts = Options {
        target: Some(format!("https://{addr}")),
        ..Options::default()
    };
    let p = probe::run(&opts).await.expect("probe");
    let Verdict::NotReady(a) = &p.verdict else {
        panic!("{:?}", p.verdict)
    };
    assert!(a.problem.contains("TLS handshake failed"), "{a:?}");
    assert!(!a.problem.contains("UnknownIssuer"), "in words: {a:?}");
    let facts = p
        .tls
        .as_ref()
        .expect("https")
        .as_ref()
        .expect("read anyway");
    assert!(facts.chain[0].self_signed, "{facts:?}");
    // The same gateway, its certificate trusted: ready.
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("gw.pem");
    std::fs::write(&pem, &tls.cert_pem).expect("pem");
    let opts = Options {
        ca_file: Some(pem.clone()),
        ..opts
    };
    let p = probe::run(&opts).await.expect("probe");
    assert!(p.is_ready(), "{:?}", p.verdict);
    let text = render(&p, SystemTime::now());
    assert!(
        text.contains(&format!("checked against the CA file {}", pem.display())),
        "{text}"
    );
    stop.cancel();
}

fn agentstorm(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agentstorm"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_command_exits_0_ready_3_not_ready_2_bad_input() {
    let (code, out, _) = agentstorm(&["probe"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("READY to load-test"), "{out}");
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let (code, out, _) = agentstorm(&["probe", "--target", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("NOT READY: nothing accepts connections"),
        "{out}"
    );
    let (code, _, err) = agentstorm(&["probe", "--target", "ftp://x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("target.url"), "{err}");
    let (code, help, _) = agentstorm(&["probe", "--help"]);
    assert_eq!(code, 0);
    for want in ["Examples:", "--password-env", "Exit codes:", "3  not ready"] {
        assert!(help.contains(want), "{want:?} in {help}");
    }
}

//! Scenario diagnostics as a user sees them: every error names the file (or the `--set`),
//! the line and column of the offending key or value, and the key path, on one line.

use agentstorm::scenario::{
    load_file, load_file_aimed, load_str, Loaded, ReadBuffer, ScenarioError,
};

use crate::support::position::{pos_at, pos_of};

const FILE: &str = "t.toml";

/// A valid scenario the tests bend one key at a time.
const BASE: &str = r#"name = "t"
[agents]
ids = "1001-1100"
password = { env = "AGENTSTORM_PASSWORD" }
[session]
hold = { min = "1s", max = "2s" }
[load]
stages = [ { ramp = "10s", to = 5 }, { hold = "20s" } ]
"#;

fn ok(text: &str, sets: &[&str]) -> Loaded {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load_str(FILE, text, &sets).unwrap_or_else(|e| panic!("should load: {e}"))
}

fn err(text: &str, sets: &[&str]) -> ScenarioError {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match load_str(FILE, text, &sets) {
        Ok(_) => panic!("should fail:\n{text}\n{sets:?}"),
        Err(e) => e,
    }
}

/// Asserts position, key and that the one-line display carries them.
fn assert_at(e: &ScenarioError, text: &str, needle: &str, key: &str) {
    let (line, column) = pos_of(text, needle);
    assert_eq!(e.file, FILE, "{e}");
    assert_eq!((e.line, e.column), (line, column), "{e}");
    assert_eq!(e.key.as_deref(), Some(key), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{FILE}:{line}:{column}: ")),
        "{shown}"
    );
    assert!(shown.contains(&format!("`{key}`")), "{shown}");
    assert!(!shown.contains('\n'), "one line: {shown}");
}

#[test]
fn the_base_scenario_loads() {
    let l = ok(BASE, &[]);
    assert_eq!(l.scenario.name, "t");
    assert_eq!(l.scenario.agents.ids.len(), 100);
    assert_eq!(l.scenario.load.stages.len(), 2);
    assert!(l.scenario.target.is_embedded());
}

#[test]
fn unknown_key_points_at_the_key_and_suggests_the_nearest() {
    let text = BASE.replace("{ hold = \"20s\" }", "{ hlod = \"20s\" }");
    let e = err(&text, &[]);
    assert_at(&e, &text, "hlod", "load.stages[1].hlod");
    assert_eq!(
        e.message,
        "unknown key `load.stages[1].hlod`; did you mean `hold`? valid keys here: ramp, to, hold, rate"
    );

    let text = format!("{BASE}[target]\nzzz = 1\n");
    let e = err(&text, &[]);
    assert_at(&e, &text, "zzz", "target.zzz");
    assert!(!e.message.contains("did you mean"), "{}", e.message);
    assert!(e.message.contains("valid keys here: url,"), "{}", e.message);

    // Inside a hand-written value type (a duration range) too.
    let text = BASE.replace("max = \"2s\"", "mx = \"2s\"");
    let e = err(&text, &[]);
    assert_at(&e, &text, "mx", "session.hold.mx");
    assert!(e.message.contains("did you mean `max`?"), "{}", e.message);
}

#[test]
fn bad_duration_names_the_key_and_shows_a_valid_example() {
    let text = BASE.replace("min = \"1s\"", "min = \"5\"");
    let e = err(&text, &[]);
    assert_at(&e, &text, "\"5\"", "session.hold.min");
    assert!(e.message.contains("\"5\""), "{}", e.message);
    assert!(e.message.contains("e.g. \"250ms\""), "{}", e.message);

    let text = BASE.replace("ramp = \"10s\"", "ramp = 10");
    let e = err(&text, &[]);
    assert_at(&e, &text, "10,", "load.stages[0].ramp");
    assert!(e.message.contains("e.g. \"250ms\""), "{}", e.message);
}

#[test]
fn agent_id_out_of_range_is_reported_at_the_ids() {
    let text = BASE.replace("1001-1100", "100-200");
    let e = err(&text, &[]);
    assert_at(&e, &text, "\"100-200\"", "agents.ids");
    assert_eq!(
        e.to_string(),
        "t.toml:3:7: key `agents.ids`: agent id 100 is outside 101-999999, the range the gateway accepts"
    );
}

#[test]
fn missing_required_key_names_it_and_its_table() {
    let text = BASE.replace("ids = \"1001-1100\"\n", "");
    let e = err(&text, &[]);
    assert_at(&e, &text, "agents]", "agents.ids");
    assert_eq!(
        e.message,
        "missing required key `agents.ids`: table `agents` needs `ids`"
    );

    let text = BASE.replace("name = \"t\"\n", "");
    let e = err(&text, &[]);
    assert_eq!((e.line, e.column, e.key.as_deref()), (1, 1, Some("name")));
    assert!(e
        .message
        .contains("missing required key `name` at the top level"));
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let text = BASE.replace("ids = \"1001-1100\"", "ids = ");
    let e = err(&text, &[]);
    assert_eq!(e.file, FILE);
    assert_eq!(e.line, 3, "{e}");
    assert!(e.column >= 6, "{e}");
    assert!(e.message.starts_with("TOML syntax error: "), "{e}");
    assert!(!e.to_string().contains('\n'), "{e}");
}

#[test]
fn plain_string_password_is_refused_without_echoing_it() {
    let text = BASE.replace("{ env = \"AGENTSTORM_PASSWORD\" }", "\"hunter2\"");
    let e = err(&text, &[]);
    assert_at(&e, &text, "\"hunter2\"", "agents.password");
    assert!(
        e.message
            .contains("environment variable or a file, never the scenario text"),
        "{}",
        e.message
    );
    assert!(!format!("{e} {e:?}").contains("hunter2"));

    let text = BASE.replace("{ env = \"AGENTSTORM_PASSWORD\" }", "12345678");
    let e = err(&text, &[]);
    assert!(!format!("{e} {e:?}").contains("12345678"));

    let text = BASE.replace(
        "{ env = \"AGENTSTORM_PASSWORD\" }",
        "{ env = \"A\", file = \"p\" }",
    );
    let e = err(&text, &[]);
    assert_at(&e, &text, "{ env = \"A\"", "agents.password");
    assert!(e.message.contains("exactly one of"), "{}", e.message);
}

#[test]
fn set_overrides_apply_before_validation_and_change_the_hash() {
    let plain = ok(BASE, &[]);
    let l = ok(
        BASE,
        &[
            "load.stages[0].to=85",
            "load.stages.1.rate=10",
            "session.hold={ min = \"3s\", max = \"4s\" }",
            "target.timeout=30s",
            "thresholds.\"signin.p99\"=< 800ms",
        ],
    );
    let stages = &l.scenario.load.stages;
    assert_eq!(stages[0].to, Some(85.0));
    assert_eq!(stages[1].rate, Some(10.0));
    assert_eq!(l.scenario.session.hold.min.get().as_secs(), 3);
    assert_eq!(l.scenario.target.timeout.get().as_secs(), 30);
    assert_eq!(
        l.scenario.thresholds.get("signin.p99").map(String::as_str),
        Some("< 800ms")
    );
    assert_ne!(l.hash, plain.hash);
    assert!(l.text.contains("85"), "{}", l.text);
    assert_eq!(l.overrides.len(), 5);
    // The effective text is itself a scenario that loads to the same thing.
    let again = ok(&l.text, &[]);
    assert_eq!(again.scenario.load.stages, l.scenario.load.stages);
    // Without overrides the hash is of the file as written.
    assert_eq!(plain.text, BASE);
    assert_eq!(plain.hash.len(), 64);
    assert_eq!(plain.hash, ok(BASE, &[]).hash);
}

#[test]
fn read_buffer_bytes_out_of_range_names_the_bounds() {
    let e = err(BASE, &["target.read_buffer_bytes=100"]);
    assert!(e.message.contains("from 512 to 1048576"), "{}", e.message);
    assert!(e.to_string().contains("read_buffer_bytes"), "{e}");
    assert_eq!(
        ok(BASE, &["target.read_buffer_bytes=1024"])
            .scenario
            .target
            .read_buffer_bytes,
        ReadBuffer::Fixed(1024)
    );
    let read = |sets: &[&str]| ok(BASE, sets).scenario.target.read_buffer_bytes;
    assert_eq!(read(&[]), ReadBuffer::Fixed(2048), "the default");
    assert_eq!(
        read(&["target.read_buffer_bytes=\"adaptive\""]),
        ReadBuffer::Adaptive
    );
    let e = err(BASE, &["target.read_buffer_bytes=\"big\""]);
    assert!(
        e.to_string().contains("read_buffer_bytes") && e.to_string().contains("\"adaptive\""),
        "{e}"
    );
}

#[test]
fn target_and_ca_file_aim_the_run_without_changing_the_hash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.toml");
    std::fs::write(&path, BASE).expect("write");
    let aimed = |url: &str, sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load_file_aimed(&path, &sets, &[format!("target.url=\"{url}\"")])
            .unwrap_or_else(|e| panic!("should load: {e}"))
    };
    let a = aimed("http://127.0.0.1:18001", &[]);
    let b = aimed("http://127.0.0.2:18002", &[]);
    // Where the load went differs; what it was does not.
    assert_eq!(a.scenario.target.url, "http://127.0.0.1:18001");
    assert_eq!(b.scenario.target.url, "http://127.0.0.2:18002");
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash, load_file(&path, &[]).expect("loads").hash);
    // A --set still changes it.
    assert_ne!(
        aimed("http://127.0.0.1:18001", &["load.stages[0].to=6"]).hash,
        a.hash
    );
}

#[test]
fn set_errors_name_the_override_instead_of_a_position() {
    let e = err(BASE, &["load.stages[0].to=fast"]);
    assert_eq!(e.file, "--set load.stages[0].to=fast");
    assert_eq!((e.line, e.column), (0, 0));
    assert_eq!(e.key.as_deref(), Some("load.stages[0].to"));
    assert!(
        e.to_string()
            .starts_with("--set load.stages[0].to=fast: key `load.stages[0].to`: "),
        "{e}"
    );

    let e = err(BASE, &["load.stages[0].hlod=1m"]);
    assert_eq!(e.file, "--set load.stages[0].hlod=1m");
    assert!(e.message.contains("did you mean `hold`?"), "{e}");

    let e = err(BASE, &["load.stages[5].to=1"]);
    assert_eq!(e.file, "--set load.stages[5].to=1");
    assert!(e.message.contains("past the end"), "{e}");

    let e = err(BASE, &["load.stages[0].to"]);
    assert!(e.message.contains("KEY=VALUE"), "{e}");

    // Semantic checks hold for overridden values too.
    let e = err(BASE, &["agents.agenttype=5"]);
    assert_eq!(e.file, "--set agents.agenttype=5");
    assert_eq!(e.key.as_deref(), Some("agents.agenttype"));

    // A password given on the command line is refused and never shown.
    let e = err(BASE, &["agents.password=hunter2"]);
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e}");
    assert!(e.message.contains("never the scenario text"), "{e}");
}

#[test]
fn semantic_checks_point_at_the_offending_key() {
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        // (replace, with, needle for position, key, message fragment)
        (
            "{ ramp = \"10s\", to = 5 }",
            "{ ramp = \"10s\" }",
            "{ ramp",
            "load.stages[0]",
            "needs `to`",
        ),
        (
            "ramp = \"10s\"",
            "ramp = \"0s\"",
            "\"0s\"",
            "load.stages[0].ramp",
            "longer than 0",
        ),
        (
            "{ hold = \"20s\" }",
            "{ hold = \"20s\", to = 3 }",
            "3 }",
            "load.stages[1].to",
            "belongs to a ramp",
        ),
        (
            "{ hold = \"20s\" }",
            "{ hold = \"20s\", rate = -1 }",
            "-1 }",
            "load.stages[1].rate",
            "from 0 to",
        ),
        (
            "{ hold = \"20s\" }",
            "{ hold = \"20s\", rate = nan }",
            "nan",
            "load.stages[1].rate",
            "from 0 to",
        ),
        (
            "{ hold = \"20s\" }",
            "{ }",
            "{ }",
            "load.stages[1]",
            "needs `ramp`",
        ),
        (
            "to = 5",
            "to = 0",
            "[ {",
            "load.stages",
            "at least one agent",
        ),
        (
            "stages = [ { ramp = \"10s\", to = 5 }, { hold = \"20s\" } ]",
            "stages = []",
            "[]",
            "load.stages",
            "no stages",
        ),
        (
            "name = \"t\"",
            "name = \"a/b\"",
            "\"a/b\"",
            "name",
            "report directory",
        ),
    ];
    for (from, to, needle, key, fragment) in cases {
        let text = BASE.replace(from, to);
        assert_ne!(text, BASE, "{from}");
        let e = err(&text, &[]);
        assert_at(&e, &text, needle, key);
        assert!(e.message.contains(fragment), "{key}: {}", e.message);
    }
    let text = BASE.replace("stages = [", "max_in_flight = 0\nstages = [");
    let e = err(&text, &[]);
    assert_at(&e, &text, "0\nstages", "load.max_in_flight");
    assert!(e.message.contains("from 1 to 4294967295"), "{}", e.message);
    let text = BASE.replace("[session]", "agenttype = 5\n[session]");
    let e = err(&text, &[]);
    assert_at(&e, &text, "5\n[session]", "agents.agenttype");
    assert!(e.message.contains("4 (PC + phone) or 11"), "{}", e.message);

    let extra: &[(&str, &str, &str, &str)] = &[
        (
            "[target]\nurl = \"ftp://x\"\n",
            "\"ftp://x\"",
            "target.url",
            "http:// or https://",
        ),
        (
            "[target]\nurl = \"https://\"\n",
            "\"https://\"",
            "target.url",
            "\"embedded\"",
        ),
        (
            "[target]\ntimeout = \"0s\"\n",
            "\"0s\"",
            "target.timeout",
            "longer than 0",
        ),
        (
            "[target]\nca_file = \"/surely/missing.pem\"\n",
            "\"/surely",
            "target.ca_file",
            "does not exist",
        ),
        (
            "[session.poll_gap]\nmin = \"1s\"\nmax = \"2h\"\n",
            "[session.poll_gap]\nmin",
            "session.poll_gap",
            "longer than the limit",
        ),
        (
            "[thresholds]\n\"signin.p99\" = 800\n",
            "800",
            "thresholds.\"signin.p99\"",
            "thresholds are strings",
        ),
        (
            "[thresholds]\nsignin.p99 = \"< 800ms\"\n",
            "signin",
            "thresholds.signin",
            "\"signin.p99\" = \"< 800ms\"",
        ),
        (
            "[target]\ntimeout = \"5s\"\n",
            "\"5s\"",
            "target.timeout",
            "poll_wait",
        ),
    ];
    for (append, needle, key, fragment) in extra {
        let text = format!("{BASE}{append}");
        let e = err(&text, &[]);
        assert_eq!(e.key.as_deref(), Some(*key), "{e}");
        let (line, column) = pos_in_tail(&text, append, needle);
        assert_eq!((e.line, e.column), (line, column), "{e}");
        assert!(e.message.contains(fragment), "{key}: {}", e.message);
    }
}

/// Position of `needle` inside the `tail` appended at the end of `text`.
fn pos_in_tail(text: &str, tail: &str, needle: &str) -> (usize, usize) {
    pos_at(
        text,
        text.len() - tail.len() + tail.find(needle).expect("needle in tail"),
    )
}

#[test]
fn enum_values_and_the_gateway_table_are_checked_with_positions() {
    let text = BASE.replace("[session]\n", "[session]\nsignout = \"logot\"\n");
    let e = err(&text, &[]);
    assert_at(&e, &text, "\"logot\"", "session.signout");
    assert!(
        e.message.contains("did you mean `logout`?"),
        "{}",
        e.message
    );
    assert!(e
        .message
        .contains("valid values: logout, forcelogout, abandon"));

    let text = format!("{BASE}[gateway]\npoll_wiat = \"1s\"\n");
    let e = err(&text, &[]);
    assert_at(&e, &text, "poll_wiat", "gateway.poll_wiat");
}

#[test]
fn relative_paths_are_taken_from_the_scenario_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("certs")).expect("mkdir");
    // A real certificate: a CA file for an https:// target is read when the scenario loads.
    let pem = agentstorm::sim::tls::self_signed()
        .expect("certificate")
        .cert_pem;
    std::fs::write(dir.path().join("certs/ca.pem"), pem).expect("write");
    let path = dir.path().join("s.toml");
    let text = format!(
        "{}[target]\nurl = \"https://gw.example:8043\"\nca_file = \"certs/ca.pem\"\n",
        BASE.replace("env = \"AGENTSTORM_PASSWORD\"", "file = \"pw.txt\"")
    );
    std::fs::write(&path, &text).expect("write");
    let l = load_file(&path, &[]).unwrap_or_else(|e| panic!("loads: {e}"));
    assert_eq!(
        l.scenario.target.ca_file.as_deref(),
        Some(dir.path().join("certs/ca.pem").as_path())
    );
    let pw = l
        .scenario
        .agents
        .password
        .as_ref()
        .and_then(|p| p.file.clone());
    assert_eq!(pw, Some(dir.path().join("pw.txt")));
    assert_eq!(l.path, path);

    let missing = load_file(&dir.path().join("nope.toml"), &[]).expect_err("missing file");
    assert!(
        missing.to_string().contains("nope.toml: cannot read"),
        "{missing}"
    );
}

#[test]
fn every_scenario_in_the_repository_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("scenarios/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let l = load_file(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(!l.scenario.name.is_empty());
        seen += 1;
    }
    assert!(seen >= 1, "no scenario files in {}", dir.display());
}

#[test]
fn any_truncation_or_odd_override_is_an_error_never_a_panic() {
    for i in (0..=BASE.len()).filter(|i| BASE.is_char_boundary(*i)) {
        if let Err(e) = load_str(FILE, &BASE[..i], &[]) {
            assert_eq!(e.file, FILE);
            assert!(e.line >= 1 && e.column >= 1, "{e}");
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
    for set in [
        "=",
        "==",
        "a=",
        "[0]=1",
        "load.stages[]=1",
        "load.stages[99999999999999999999]=1",
        "\"\"=1",
        "load.\"x=1",
        "é=1",
        "load.stages[0][0]=1",
        "load.stages.-1=1",
        "load=",
        "load=[",
        "load.stages=[{ hold = \"1s\", rate = 1 }]",
    ] {
        let _ = load_str(FILE, BASE, &[set.to_string()]);
    }
}

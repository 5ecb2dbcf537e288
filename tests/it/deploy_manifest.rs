//! deploy/kubernetes and the Dockerfile: the fields the sharded flow depends on (an Indexed
//! Job with completions = parallelism = AGENTSTORM_SHARDS, the scenario from the ConfigMap
//! it mounts, the password from a Secret, no retries, the binary where the image puts it,
//! the same non-root user), the example scenario valid and shardable N ways, and the flow
//! itself run locally: the Job's own script for two shards, `collect.sh --from-logs` on
//! their logs, then merge.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use agentstorm::metrics::Results;
use agentstorm::run::shard::{self, ShardSpec};
use serde_json::Value;

use crate::deploy_yaml as yaml;

const BIN_IN_IMAGE: &str = "/usr/local/bin/agentstorm";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn manifest(name: &str) -> Value {
    let path = root().join("deploy/kubernetes").join(name);
    let text = std::fs::read_to_string(&path).expect("manifest readable");
    yaml::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn job() -> Value {
    manifest("job.yaml")
}

fn container(job: &Value) -> &Value {
    let containers = job["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    &containers[0]
}

fn env<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["env"]
        .as_array()
        .expect("env list")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("env {name} set"))
}

fn script(job: &Value) -> String {
    let c = container(job);
    assert_eq!(c["command"], serde_json::json!(["/bin/sh", "-c"]));
    c["args"][0].as_str().expect("script").to_string()
}

#[test]
fn the_job_is_indexed_with_n_in_step_and_no_retries() {
    let job = job();
    assert_eq!(job["apiVersion"], "batch/v1");
    assert_eq!(job["kind"], "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"]
        .as_u64()
        .expect("completions is a number");
    assert!(n >= 2, "an example worth sharding");
    assert_eq!(
        spec["parallelism"].as_u64(),
        Some(n),
        "all shards run at once"
    );
    assert_eq!(spec["backoffLimit"], 0, "a failed shard is not re-run");
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    let c = container(&job);
    assert_eq!(
        env(c, shard::ENV_SHARDS)["value"].as_str(),
        Some(n.to_string().as_str()),
        "AGENTSTORM_SHARDS = completions"
    );
    // the index comes from Kubernetes, never from the manifest
    assert!(c["env"]
        .as_array()
        .expect("env")
        .iter()
        .all(|e| e["name"] != shard::ENV_INDEX));
    assert!(script(&job).contains(&format!("${{{}}}", shard::ENV_INDEX)));
}

#[test]
fn scenario_password_and_start_time_come_from_the_configmap_and_secret() {
    let job = job();
    let cm = manifest("scenario-configmap.yaml");
    assert_eq!(cm["kind"], "ConfigMap");
    let cm_name = cm["metadata"]["name"].as_str().expect("configmap name");
    let c = container(&job);

    let volumes = job["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .expect("volumes");
    let scenario_volume = volumes
        .iter()
        .find(|v| v["configMap"]["name"] == cm_name)
        .expect("a volume from the scenario ConfigMap");
    let mount = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .find(|m| m["name"] == scenario_volume["name"])
        .expect("the scenario volume is mounted");
    let mount_path = mount["mountPath"].as_str().expect("mountPath");
    assert!(
        script(&job).contains(&format!("{mount_path}/scenario.toml")),
        "the script runs the mounted scenario"
    );

    let start = &env(c, shard::ENV_START_AT)["valueFrom"]["configMapKeyRef"];
    assert_eq!(start["name"], cm_name);
    assert_eq!(start["optional"], true, "a start time is optional");

    let password = &env(c, "AGENTSTORM_PASSWORD")["valueFrom"]["secretKeyRef"];
    assert_eq!(password["name"], "agentstorm-password");
    assert_eq!(password["key"], "password");

    // The example scenario is valid, reads its password from that variable, and splits
    // into the Job's N shards.
    let text = cm["data"]["scenario.toml"]
        .as_str()
        .expect("scenario.toml key");
    let loaded = agentstorm::scenario::load_str("scenario.toml", text, &[])
        .unwrap_or_else(|e| panic!("example scenario: {e}"));
    let sc = &loaded.scenario;
    let secret = sc.agents.password.as_ref().expect("a password source");
    assert_eq!(secret.env.as_deref(), Some("AGENTSTORM_PASSWORD"));
    assert!(!sc.target.is_embedded(), "the example points at a gateway");
    let n = job["spec"]["completions"].as_u64().expect("n") as u32;
    let whole = shard::planned_arrivals(&sc.load.stages).expect("plan");
    let mut arrivals = 0;
    for index in 0..n {
        let mut s = sc.clone();
        shard::apply(&mut s, &ShardSpec { index, count: n }).expect("shardable");
        arrivals += shard::planned_arrivals(&s.load.stages).expect("shard plan");
    }
    assert_eq!(arrivals, whole);
}

#[test]
fn the_dockerfile_builds_the_binary_the_job_runs_as_the_same_user() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(froms.len(), 2, "multi-stage: {froms:?}");
    assert!(froms[0].starts_with("FROM rust:") && froms[0].ends_with(" AS build"));
    assert_eq!(froms[1], "FROM debian:bookworm-slim", "small runtime image");
    // the toolchain is at least the crate's rust-version
    let image_version = froms[0]["FROM rust:".len()..]
        .split(['-', ' '])
        .next()
        .expect("version");
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let needed = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("rust-version");
    let num = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().expect("number")).collect() };
    assert!(
        num(image_version) >= num(needed),
        "{image_version} < {needed}"
    );

    assert!(
        lines.contains(
            &"COPY --from=build /build/target/release/agentstorm /usr/local/bin/agentstorm"
        ),
        "binary copied to {BIN_IN_IMAGE}"
    );
    assert!(lines.contains(&r#"ENTRYPOINT ["/usr/local/bin/agentstorm"]"#));
    assert!(script(&job()).contains(BIN_IN_IMAGE), "the Job runs it");
    let user = lines
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER");
    let uid: u64 = user
        .split(':')
        .next()
        .expect("uid")
        .parse()
        .expect("numeric uid");
    let sec = &job()["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(sec["runAsUser"].as_u64(), Some(uid));
    assert_eq!(sec["runAsNonRoot"], true);
    assert!(uid != 0);

    let ignore = std::fs::read_to_string(root().join(".dockerignore")).expect(".dockerignore");
    let ignored: Vec<&str> = ignore.lines().map(str::trim).collect();
    assert!(
        ignored.contains(&"target/"),
        "the build context leaves target/ out"
    );
    for needed in [
        "src/",
        "src",
        "Cargo.lock",
        "Cargo.toml",
        "scenarios/",
        "scenarios",
    ] {
        assert!(!ignored.contains(&needed), "{needed} must reach the build");
    }
}

/// The Job's script with the image's and the pod's paths pointed into `dir`.
fn local_script(job: &Value, dir: &Path) -> String {
    let s = script(job);
    let replacements = [
        (
            BIN_IN_IMAGE.to_string(),
            env!("CARGO_BIN_EXE_agentstorm").to_string(),
        ),
        (
            "/etc/agentstorm/".to_string(),
            format!("{}/etc/", dir.display()),
        ),
        (
            "results=/results".to_string(),
            format!("results={}/results", dir.display()),
        ),
    ];
    let mut local = s.clone();
    for (from, to) in replacements {
        assert!(s.contains(&from), "the script uses {from}");
        local = local.replace(&from, &to);
    }
    local
}

#[test]
fn the_flow_runs_locally_script_collect_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("etc")).expect("etc");
    std::fs::create_dir_all(d.join("results")).expect("results");
    std::fs::create_dir_all(d.join("logs")).expect("logs");
    std::fs::write(
        d.join("etc/scenario.toml"),
        r#"name = "flow"
[target]
timeout = "5s"
[agents]
ids = "1001-1010"
[session]
hold = "0s"
poll_gap = "10ms"
[load]
stages = [{ hold = "1s", rate = 10 }]
[gateway]
poll_wait = "1s"
"#,
    )
    .expect("scenario");
    let script = local_script(&job(), d);
    let pods: Vec<_> = (0..2)
        .map(|k| {
            let log = std::fs::File::create(d.join(format!("logs/{k}.log"))).expect("log");
            Command::new("sh")
                .args(["-c", &script])
                .env(shard::ENV_SHARDS, "2")
                .env(shard::ENV_INDEX, k.to_string())
                .env_remove(shard::ENV_START_AT)
                .env_remove("RUST_LOG")
                .stdin(Stdio::null())
                .stdout(log)
                .spawn()
                .expect("sh runs")
        })
        .collect();
    for mut pod in pods {
        assert!(
            pod.wait().expect("waits").success(),
            "the pod's script succeeds"
        );
    }
    let collected = d.join("collected");
    let o = Command::new("sh")
        .arg(root().join("deploy/kubernetes/collect.sh"))
        .arg("--from-logs")
        .arg(&collected)
        .arg(d.join("logs/0.log"))
        .arg(d.join("logs/1.log"))
        .output()
        .expect("collect.sh runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let inputs: Vec<PathBuf> = (0..2)
        .map(|k| collected.join(format!("shard-{k}/results.json")))
        .collect();
    for k in 0..2 {
        assert!(collected.join(format!("shard-{k}/latency.hlog")).is_file());
    }
    let merged_dir = d.join("merged");
    let code = agentstorm::cli::offline::merge(&inputs, &merged_dir).expect("merges");
    assert_eq!(code, 0);
    let merged = Results::load(&merged_dir.join("results.json")).expect("merged");
    let info = merged.shard.as_ref().expect("shard record");
    assert_eq!((info.count, info.merged), (2, 2));
    assert_eq!(merged.sessions.started, 10);
    assert_eq!(merged.operations["signin"].ok, 10);

    // a log without results is an error, not an empty folder
    std::fs::write(d.join("logs/empty.log"), "agentstorm: nothing\n").expect("log");
    let o = Command::new("sh")
        .arg(root().join("deploy/kubernetes/collect.sh"))
        .args(["--from-logs"])
        .arg(d.join("again"))
        .arg(d.join("logs/empty.log"))
        .output()
        .expect("collect.sh runs");
    assert!(!o.status.success());
}

#[test]
fn the_jobs_script_keeps_a_refusals_exit_code_and_prints_no_results() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir_all(d.join("etc")).expect("etc");
    std::fs::create_dir_all(d.join("results")).expect("results");
    std::fs::write(d.join("etc/scenario.toml"), "name = \"bad\"\n").expect("scenario");
    let o = Command::new("sh")
        .args(["-c", &local_script(&job(), d)])
        .env(shard::ENV_SHARDS, "2")
        .env(shard::ENV_INDEX, "0")
        .env_remove(shard::ENV_START_AT)
        .output()
        .expect("sh runs");
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("agentstorm results"));
}

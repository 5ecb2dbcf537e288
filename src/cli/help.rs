//! What each subcommand's `--help` shows after its options: two or three examples, each a
//! command line that runs as written from the repository root with the shipped
//! `scenarios/` files, and then the command's own exit codes (`crate::exit`).
//!
//! The examples are a contract checked by `tests/it/cli_help.rs`, which runs every one of
//! them in a copy of `scenarios/`, in the order listed here (`report`, `compare` and `merge`
//! read what the `run` examples wrote), and checks its exit code: 0, unless the line under
//! it says `(exit N)`. Each example is one line starting `  agentstorm `, followed by lines
//! indented six spaces that say what it does.

use crate::exit;

/// The examples, a blank line, the exit codes.
fn with_codes(examples: &str, codes: &str) -> String {
    format!("{}\n\n{codes}", examples.trim_end())
}

/// `run --help`.
pub fn run() -> String {
    with_codes(
    "Examples:
  agentstorm run scenarios/smoke.toml
      1,000 agents against the embedded gateway in about 15 s; reports in reports/smoke-<UTC time>/
  agentstorm run scenarios/smoke.toml --set 'load.stages[0].rate=50' --out reports/rate-50
      the same at 50 sign-ins per second (--set repeats, one KEY=VALUE each); reports in reports/rate-50/
  agentstorm run scenarios/smoke.toml --processes 2 --out reports/two
      two shard processes on this machine, merged into one report in reports/two/ (each shard's in reports/two/shard-K/)

",
        exit::RUN_HELP,
    )
}

/// `validate --help`.
pub fn validate() -> String {
    with_codes(
    "Examples:
  agentstorm validate scenarios/*.toml
      check every shipped scenario
  agentstorm validate scenarios/smoke.toml --set load.max_in_flight=500
      check the scenario as `run --set load.max_in_flight=500` would run it
  agentstorm validate scenarios/smoke.toml --set 'load.stages[0].to=120'
      refused (exit 2): smoke's first stage is a hold, which takes `rate`, not `to`; the error names the --set and the key

",
        exit::VALIDATE_HELP,
    )
}

/// `probe --help`.
pub fn probe() -> String {
    with_codes(
    "Examples:
  agentstorm probe
      probe the embedded simulated gateway (nothing to set up)
  agentstorm probe scenarios/smoke.toml --agent 1500
      sign in as the scenario's agents do (its phone number, status and agent type), as agent 1500
  agentstorm probe --target https://127.0.0.1:8043 --ca-file gateway-cert.pem --agent 1001
      a gateway elsewhere, trusting its certificate: here the one `agentstorm gateway --cert-out gateway-cert.pem` serves; a real gateway also wants --password-env VAR

",
        exit::PROBE_HELP,
    )
}

/// `gateway --help`.
pub fn gateway() -> String {
    with_codes(
    "Examples:
  agentstorm gateway --cert-out gateway-cert.pem
      HTTPS on 127.0.0.1:8043 until Ctrl-C; clients trust it with --ca-file gateway-cert.pem
  agentstorm gateway --plain-http --listen 127.0.0.1:8080
      plain HTTP on port 8080, for `run --target http://127.0.0.1:8080 --set target.reconcile=always`

",
        exit::GATEWAY_HELP,
    )
}

/// `report --help`.
pub fn report() -> String {
    with_codes(
    "Examples:
  agentstorm report reports/rate-50/results.json
      re-render every file of that report folder (the one `run ... --out reports/rate-50` wrote), judging its thresholds again
  agentstorm report reports/rate-50/results.json --out reports/rate-50-again
      render into another folder; latency.hlog is copied along

",
        exit::REPORT_HELP,
    )
}

/// `compare --help`.
pub fn compare() -> String {
    with_codes(
    "Examples:
  agentstorm compare reports/rate-50/results.json reports/two/results.json
      the 100/s run against the 50/s run, per operation; comparison.html and comparison-junit.xml go to reports/two/
  agentstorm compare reports/rate-50/results.json reports/two/results.json --latency-pct 20 --latency-ms 5 --out reports/cmp
      a looser latency tolerance (a rise must pass both 20 % and 5 ms), written to reports/cmp/

",
        exit::COMPARE_HELP,
    )
}

/// `merge --help`.
pub fn merge() -> String {
    with_codes(
    "Examples:
  agentstorm merge reports/two/shard-0/results.json reports/two/shard-1/results.json --out reports/two-merged
      merge the shards of the `run --processes 2` example again (each with the latency.hlog beside it)
  agentstorm merge reports/two/shard-*/results.json --out reports/two-again
      the same with a shell pattern: every shard folder of that run

",
        exit::MERGE_HELP,
    )
}

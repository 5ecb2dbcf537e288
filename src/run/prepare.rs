//! The first step of a run, before anything is started: the scenario loaded with the
//! command line's aim and overrides, sliced for a shard, its thresholds parsed, the
//! password read, the plan built, the peak of agents checked against this machine's
//! limits and source addresses, and the report folder made. Every failure here is bad
//! input (exit 2): nothing has been sent yet. Also here, for the command line to call
//! before it starts anything: [`check_out`] (`--out` into an old report needs `--force`),
//! [`check_start_at`] (a `--start-at` long past) and [`ca_file_unused`] (a CA file the
//! target cannot use, which is warned about).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{default_out_dir, RunOptions};
use crate::exit::Exit;
use crate::metrics::results::ShardInfo;
use crate::scenario::thresholds::Threshold;
use crate::scenario::{self, LoadModel, Loaded};
use crate::scheduler::pacer::Pacer;
use crate::scheduler::plan::Plan;

/// A run ready to start.
pub(super) struct Prepared {
    pub loaded: Loaded,
    pub shard: Option<ShardInfo>,
    pub thresholds: Vec<Threshold>,
    /// Never logged or reported.
    pub password: String,
    /// None for a capacity search, which plans its own steps.
    pub plan: Option<Plan>,
    /// The target is the embedded simulated gateway.
    pub embedded: bool,
    /// Most agents alive at once.
    pub peak_agents: u64,
    pub sources: Vec<IpAddr>,
    pub out_dir: PathBuf,
}

pub(super) fn prepare(opts: &RunOptions) -> Result<Prepared, Exit> {
    if let Some(at) = opts.start_at {
        check_start_at(at, SystemTime::now())?;
    }
    // --target and --ca-file are overrides like any --set, so they are validated with
    // the rest of the scenario (a real target has no embedded poll_wait to respect, …);
    // they aim the run and stay out of the scenario hash.
    let aim = aim(opts.target.as_deref(), opts.ca_file.as_deref());
    let mut loaded = scenario::load_file_aimed(&opts.scenario, &opts.overrides, &aim)
        .map_err(|e| Exit::bad_input(e.to_string()))?;
    // A shard runs its slice; the hash and text stay the whole scenario's.
    let shard = match &opts.shard {
        Some(_) if loaded.scenario.load.model == LoadModel::CapacitySearch => {
            return Err(Exit::bad_input(format!(
                "{}: a capacity search cannot be sharded (each shard would search alone); run it as one process, or shard a fixed-rate scenario",
                opts.scenario.display()
            )))
        }
        Some(spec) => Some(
            crate::run::shard::apply(&mut loaded.scenario, spec)
                .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?,
        ),
        None => None,
    };
    if let Some(why) = ca_file_unused(&loaded.scenario, opts.ca_file.as_deref()) {
        eprintln!("agentstorm: warning: {why}");
        // Nothing would check a certificate against it: the client is not to read it.
        loaded.scenario.target.ca_file = None;
    }
    let sc = &loaded.scenario;
    let thresholds = crate::analysis::thresholds::parse_all(&sc.thresholds)
        .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?;
    let password = match &sc.agents.password {
        Some(secret) => secret.resolve().map_err(Exit::bad_input)?,
        None => String::new(),
    };
    // Capacity search plans its own steps; the others follow the stages.
    let plan = match sc.load.model {
        LoadModel::CapacitySearch => None,
        _ => Some(
            Plan::from_stages(&sc.load.stages)
                .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?,
        ),
    };
    let embedded_wanted = sc.target.is_embedded();
    // One connection per agent (two files against the embedded gateway): raise the
    // open-file limit, and refuse a peak that cannot fit before any traffic.
    let file_limit = crate::util::limits::raise_nofile().unwrap_or(u64::MAX);
    let ids = sc.agents.ids.len();
    let peak_agents = match (&plan, sc.load.model) {
        (Some(p), LoadModel::Closed) => (p.peak_level().ceil() as u64).min(ids),
        (Some(p), _) => Pacer::new(p.clone()).planned_arrivals().min(ids),
        (None, _) => ids,
    }
    .min(u64::from(sc.load.max_in_flight));
    crate::util::limits::check_fit(peak_agents, if embedded_wanted { 2 } else { 1 }, file_limit)
        .map_err(|e| Exit::bad_input(format!("{}: {e}", opts.scenario.display())))?;
    // Source addresses must be this machine's: checked before anything starts.
    let sources = sc.target.source_addresses.addrs();
    crate::client::TcpConnector::new(&sources)
        .check_sources()
        .map_err(|e| {
            Exit::bad_input(format!(
                "{}: target.source_addresses: {e}",
                opts.scenario.display()
            ))
        })?;
    if let Some(w) = crate::util::limits::port_warning(peak_agents, sources.len()) {
        tracing::warn!("{}: {w}", opts.scenario.display());
    }
    let out_dir = opts.out.clone().unwrap_or_else(|| match &shard {
        Some(s) => default_out_dir(
            &format!("{}-shard{}of{}", sc.name, s.index, s.count),
            SystemTime::now(),
        ),
        None => default_out_dir(&sc.name, SystemTime::now()),
    });
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        Exit::bad_input(format!(
            "cannot create report folder {}: {e}",
            out_dir.display()
        ))
    })?;

    let embedded = embedded_wanted;
    Ok(Prepared {
        thresholds,
        password,
        plan,
        embedded,
        peak_agents,
        sources,
        out_dir,
        shard,
        loaded,
    })
}

/// Files that mark a folder as holding a run's report.
const REPORT_MARKS: [&str; 4] = [
    crate::report::RESULTS_JSON,
    crate::report::LATENCY_HLOG,
    crate::report::SUMMARY_CSV,
    crate::report::REPORT_HTML,
];

/// `--out DIR` must not hold a report already (its results would be overwritten, say last
/// week's baseline), unless `force` (`--force`).
pub(crate) fn check_out(dir: &Path, force: bool) -> Result<(), Exit> {
    if force {
        return Ok(());
    }
    match REPORT_MARKS.iter().find(|f| dir.join(f).exists()) {
        Some(found) => Err(Exit::bad_input(format!(
            "--out {}: that folder already holds a report ({found}), which this run would \
             overwrite; give another folder, or add --force to overwrite it",
            dir.display()
        ))),
        None => Ok(()),
    }
}

/// The furthest in the past a `--start-at` may be: a start an hour gone is a stale value
/// (an old `AGENTSTORM_START_AT`, a date typed wrong), not a late shard.
pub const MAX_START_AGO: Duration = Duration::from_secs(3600);

/// Refuses a `--start-at` more than [`MAX_START_AGO`] before `now`, saying both times.
pub(crate) fn check_start_at(at: SystemTime, now: SystemTime) -> Result<(), Exit> {
    match now.duration_since(at) {
        Ok(ago) if ago > MAX_START_AGO => Err(Exit::bad_input(format!(
            "--start-at {} is {} in the past (now is {}); a start more than {} ago is \
             surely stale (an old {}?): give a time ahead, or leave it out to start at once",
            humantime::format_rfc3339_seconds(at),
            roughly(ago),
            humantime::format_rfc3339_seconds(now),
            humantime::format_duration(MAX_START_AGO),
            crate::run::shard::ENV_START_AT,
        ))),
        _ => Ok(()),
    }
}

/// A span of time past an hour, as people say it: `3h 5m`, `12 days`.
fn roughly(d: Duration) -> String {
    let (h, m) = (d.as_secs() / 3600, d.as_secs() % 3600 / 60);
    match h {
        0..48 => format!("{h}h {m}m"),
        _ => format!("{} days", h / 24),
    }
}

/// Why the scenario's CA file (`--ca-file` when `flag` is its path, else `[target]
/// ca_file`) is not used, when it is not: the target is the embedded gateway, whose
/// generated certificate the harness trusts itself, or plain HTTP, which has none.
pub(crate) fn ca_file_unused(sc: &scenario::Scenario, flag: Option<&Path>) -> Option<String> {
    let ca = sc.target.ca_file.as_ref()?;
    let named = match flag {
        Some(p) => format!("--ca-file {}", p.display()),
        None => format!("[target] ca_file {}", ca.display()),
    };
    let url = sc.target.url.trim();
    if sc.target.is_embedded() {
        return Some(format!(
            "{named} is not used: the target is the embedded gateway, whose generated \
             certificate the harness trusts itself (give --target https://… to use it)"
        ));
    }
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
        .then(|| {
            format!(
                "{named} is not used: the target {url} is plain HTTP, with no certificate to \
                 check (write https:// if the gateway speaks TLS)"
            )
        })
}

/// `--target URL` and `--ca-file PEM` as the overrides that aim a scenario (the CA file's
/// path made absolute, as the scenario's own paths are resolved from its folder).
pub(crate) fn aim(target: Option<&str>, ca_file: Option<&Path>) -> Vec<String> {
    let mut aim = Vec::new();
    if let Some(url) = target {
        aim.push(format!("target.url={}", toml_string(url)));
    }
    if let Some(ca) = ca_file {
        let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.to_path_buf());
        aim.push(format!(
            "target.ca_file={}",
            toml_string(&ca.display().to_string())
        ));
    }
    aim
}

/// A TOML basic string holding `s` (for building `--set` values).
pub(crate) fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

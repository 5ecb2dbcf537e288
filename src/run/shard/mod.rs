//! Sharded runs (`run --shard K/N`): which shard a process is, the slice of the scenario
//! it runs, and the agreed start time. N shards together run exactly the scenario:
//!
//! - agent ids: shard K takes the K-th of N contiguous blocks of the id list in the order
//!   written (`IdRanges::get`), ids `[⌊L·K/N⌋, ⌊L·(K+1)/N⌋)` of `L`; sizes differ by at
//!   most one, the blocks are disjoint and cover every id;
//! - open model (arrivals per second): the whole plan calls for `T = ∫rate` arrivals and
//!   issues `A = ⌈T⌉` of them; shard K gets `A_K = ⌊A·(K+1)/N⌋ − ⌊A·K/N⌋` (so the shares
//!   add to `A` exactly) by scaling every stage rate (`to`, `rate`) by `A_K / T` (≈ 1/N;
//!   exactly `A_K / A` when `T` is whole, as in 100/s for 10 s);
//! - closed model (a population per stage): every stage number `v` is split the same way,
//!   `⌊v·(K+1)/N⌋ − ⌊v·K/N⌋`, so the shards' populations add to the scenario's;
//! - `load.max_in_flight` is split the same way (the most agents alive at once, summed
//!   over the shards, is the scenario's).
//!
//! A shard whose share of ids, arrivals or `max_in_flight` would be empty is an error
//! before any traffic. Everything here is pure; the agreed start time (`--start-at`, the
//! one use of the clock) is in the `start` submodule, re-exported here.
//! This file must not run traffic, print reports or touch the scenario's hash: the
//! scenario hash of a shard is the whole scenario's, so merge can tell shards of one run.

use std::fmt;

use crate::metrics::results::ShardInfo;
use crate::scenario::values::{ranges_text, IdRanges};
use crate::scenario::{Scenario, Stage};
use crate::scheduler::pacer::Pacer;
use crate::scheduler::plan::Plan;

mod start;
pub use start::*;

/// Environment variable holding the shard count, read when `--shard` is absent.
pub const ENV_SHARDS: &str = "AGENTSTORM_SHARDS";
/// Environment variable holding the shard index: set by a Kubernetes Indexed Job.
pub const ENV_INDEX: &str = "JOB_COMPLETION_INDEX";

/// Shard `index` of `count` (0-based, like `JOB_COMPLETION_INDEX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl ShardSpec {
    /// Checks `0 ≤ index < count`.
    pub fn new(index: u32, count: u32) -> Result<ShardSpec, String> {
        if count == 0 {
            return Err(format!(
                "shard {index}/0: the shard count must be at least 1"
            ));
        }
        if index >= count {
            return Err(format!(
                "shard {index}/{count}: the index is 0-based and must be below the count \
                 (0/{count} … {}/{count})",
                count - 1
            ));
        }
        Ok(ShardSpec { index, count })
    }

    /// This shard's part of `total` items: `⌊total·(K+1)/N⌋ − ⌊total·K/N⌋`. The N parts
    /// differ by at most one and add to `total`.
    pub fn share(&self, total: u64) -> u64 {
        let (k, n, t) = (
            u128::from(self.index),
            u128::from(self.count),
            u128::from(total),
        );
        ((t * (k + 1) / n) - (t * k / n)) as u64
    }

    /// Where this shard's part of `total` items starts: `⌊total·K/N⌋`.
    pub fn offset(&self, total: u64) -> u64 {
        (u128::from(total) * u128::from(self.index) / u128::from(self.count)) as u64
    }
}

/// Parses `K/N` (`--shard 2/8`).
pub fn parse(text: &str) -> Result<ShardSpec, String> {
    let t = text.trim();
    let Some((k, n)) = t.split_once('/') else {
        return Err(format!(
            "shard {t:?}: write K/N, the 0-based shard index and the shard count, e.g. 0/4"
        ));
    };
    let number = |s: &str, what: &str| {
        s.trim().parse::<u32>().map_err(|_| {
            format!(
                "shard {t:?}: {what} {:?} is not a whole number ≥ 0",
                s.trim()
            )
        })
    };
    ShardSpec::new(number(k, "index")?, number(n, "count")?)
}

/// The shard from the environment: `AGENTSTORM_SHARDS` (count) with
/// `JOB_COMPLETION_INDEX` (index, set by a Kubernetes Indexed Job). None when
/// `AGENTSTORM_SHARDS` is unset or empty; an error when it is set without an index.
pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Option<ShardSpec>, String> {
    let Some(count) = get(ENV_SHARDS).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("{ENV_SHARDS}={count:?} is not a shard count (a whole number ≥ 1)"))?;
    let Some(index) = get(ENV_INDEX).filter(|v| !v.trim().is_empty()) else {
        return Err(format!(
            "{ENV_SHARDS}={count} is set but {ENV_INDEX} is not: give the shard index \
             (a Kubernetes Indexed Job sets it) or use --shard K/N"
        ));
    };
    let index: u32 = index
        .trim()
        .parse()
        .map_err(|_| format!("{ENV_INDEX}={index:?} is not a shard index (a whole number ≥ 0)"))?;
    ShardSpec::new(index, count)
        .map(Some)
        .map_err(|e| format!("from {ENV_SHARDS} and {ENV_INDEX}: {e}"))
}

/// `--shard` when given, else the environment ([`from_env`]).
pub fn resolve(
    flag: Option<&str>,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<ShardSpec>, String> {
    match flag {
        Some(text) => parse(text).map(Some).map_err(|e| format!("--shard: {e}")),
        None => from_env(get),
    }
}

/// Shard `spec`'s block of `ids`, as id-range text in the order written.
pub fn slice_ids(ids: &IdRanges, spec: &ShardSpec) -> Result<IdRanges, String> {
    let total = ids.len();
    let (start, len) = (spec.offset(total), spec.share(total));
    if len == 0 {
        return Err(format!(
            "shard {spec} would get no agent ids: agents.ids holds {total}, so at most \
             {total} shards can run it"
        ));
    }
    let mut parts: Vec<(u32, u32)> = Vec::new();
    let (mut skip, mut take) = (start, len);
    for &(a, b) in ids.ranges() {
        let size = u64::from(b - a) + 1;
        if skip >= size {
            skip -= size;
            continue;
        }
        let n = (size - skip).min(take);
        // Within one range of u32 ids, so the offsets fit.
        let lo = a + skip as u32;
        parts.push((lo, lo + (n - 1) as u32));
        take -= n;
        skip = 0;
        if take == 0 {
            break;
        }
    }
    IdRanges::parse(&ranges_text(&parts))
}

/// Scales every stage number (`to`, `rate`) by `factor`.
fn scale_stages(stages: &mut [Stage], factor: f64) {
    for s in stages {
        for v in [&mut s.to, &mut s.rate].into_iter().flatten() {
            *v *= factor;
        }
    }
}

/// Shard `spec`'s part of a population `v` (closed model): an integer split when `v` is
/// whole, else `v / N`.
pub fn split_population(v: f64, spec: &ShardSpec) -> f64 {
    if v >= 0.0 && v.fract() == 0.0 && v < 2f64.powi(53) {
        spec.share(v as u64) as f64
    } else {
        v / f64::from(spec.count)
    }
}

/// Arrivals a stage list plans, as the pacer issues them.
pub fn planned_arrivals(stages: &[Stage]) -> Result<u64, String> {
    Plan::from_stages(stages).map(|p| Pacer::new(p).planned_arrivals())
}

/// Cuts `scenario` down to shard `spec`'s slice (ids, load, `max_in_flight`) and returns
/// the record of it for Results (`late_start_s` 0: the caller fills it in).
pub fn apply(scenario: &mut Scenario, spec: &ShardSpec) -> Result<ShardInfo, String> {
    let ids = slice_ids(&scenario.agents.ids, spec)?;
    let load = &mut scenario.load;
    if model_name_is_closed(&model_name_of(load.model)) {
        for s in &mut load.stages {
            for v in [&mut s.to, &mut s.rate].into_iter().flatten() {
                *v = split_population(*v, spec);
            }
        }
    } else {
        let whole = planned_arrivals(&load.stages)?;
        let share = spec.share(whole);
        if share == 0 {
            return Err(format!(
                "shard {spec} would plan no arrivals: the scenario plans {whole}, so at most \
                 {whole} shards can run it"
            ));
        }
        // Scaled to exactly `share` arrivals: the pacer then issues every whole n below
        // it, i.e. `share` of them, and the shard's plan is never below one arrival.
        let total = Plan::from_stages(&load.stages)?.total_arrivals();
        scale_stages(&mut load.stages, share as f64 / total);
        let got = planned_arrivals(&load.stages)?;
        if got != share {
            return Err(format!(
                "shard {spec}: scaling the stages gave {got} arrivals instead of {share} of {whole}"
            ));
        }
    }
    let max_in_flight = spec.share(u64::from(load.max_in_flight));
    if max_in_flight == 0 {
        return Err(format!(
            "shard {spec}: load.max_in_flight {} is split across {} shards, which leaves this \
             one none; raise it to at least {}",
            load.max_in_flight, spec.count, spec.count
        ));
    }
    load.max_in_flight = u32::try_from(max_in_flight).unwrap_or(u32::MAX);
    scenario.agents.ids = ids;
    Ok(ShardInfo {
        index: spec.index,
        count: spec.count,
        ids: scenario.agents.ids.as_text().to_string(),
        merged: 1,
        late_start_s: 0.0,
    })
}

fn model_name_of(model: crate::scenario::LoadModel) -> String {
    serde_json::to_value(model)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn model_name_is_closed(name: &str) -> bool {
    name == "closed"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(k: u32, n: u32) -> ShardSpec {
        ShardSpec::new(k, n).expect("valid spec")
    }

    #[test]
    fn parse_accepts_zero_based_k_of_n_and_refuses_the_rest() {
        assert_eq!(parse(" 3/4 "), Ok(spec(3, 4)));
        assert_eq!(parse("0/1"), Ok(spec(0, 1)));
        assert!(parse("4/4").expect_err("k = n").contains("0-based"));
        assert!(parse("1/0").expect_err("n = 0").contains("at least 1"));
        assert!(parse("-1/4").expect_err("negative").contains("index"));
        assert!(parse("1/x").expect_err("text").contains("count"));
        assert!(parse("3").expect_err("no slash").contains("K/N"));
        assert_eq!(spec(2, 8).to_string(), "2/8");
    }

    #[test]
    fn env_gives_the_count_and_the_job_completion_index() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(from_env(env(&[])), Ok(None));
        assert_eq!(from_env(env(&[(ENV_INDEX, "2")])), Ok(None));
        assert_eq!(
            from_env(env(&[(ENV_SHARDS, "4"), (ENV_INDEX, "2")])),
            Ok(Some(spec(2, 4)))
        );
        assert!(from_env(env(&[(ENV_SHARDS, "4")]))
            .expect_err("no index")
            .contains(ENV_INDEX));
        assert!(from_env(env(&[(ENV_SHARDS, "4"), (ENV_INDEX, "4")]))
            .expect_err("index too big")
            .contains("below the count"));
        assert!(from_env(env(&[(ENV_SHARDS, "four"), (ENV_INDEX, "0")])).is_err());
        // --shard wins over the environment
        assert_eq!(
            resolve(Some("1/2"), env(&[(ENV_SHARDS, "4"), (ENV_INDEX, "3")])),
            Ok(Some(spec(1, 2)))
        );
    }

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        for total in [0u64, 1, 2, 7, 100, 1001, 999_999] {
            for n in 1..=9 {
                let parts: Vec<u64> = (0..n).map(|k| spec(k, n).share(total)).collect();
                assert_eq!(parts.iter().sum::<u64>(), total, "{total} over {n}");
                let (lo, hi) = (parts.iter().min(), parts.iter().max());
                assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1), "{parts:?}");
                for k in 1..n {
                    let s = spec(k, n);
                    let prev = spec(k - 1, n);
                    assert_eq!(s.offset(total), prev.offset(total) + prev.share(total));
                }
            }
        }
    }

    #[test]
    fn id_slices_are_contiguous_disjoint_and_cover_the_list_in_order() {
        let ids = IdRanges::parse("2001-2005,1001-1003,5000").expect("ids");
        let slices: Vec<String> = (0..3)
            .map(|k| {
                slice_ids(&ids, &spec(k, 3))
                    .expect("slice")
                    .as_text()
                    .to_string()
            })
            .collect();
        assert_eq!(slices, ["2001-2003", "2004-2005,1001", "1002-1003,5000"]);
        let all: Vec<u32> = slices
            .iter()
            .flat_map(|s| {
                IdRanges::parse(s)
                    .expect("parses")
                    .iter()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(all, ids.iter().collect::<Vec<_>>());
        assert_eq!(ids.ranges(), [(2001, 2005), (1001, 1003), (5000, 5000)]);
        for n in 1..=9 {
            let joined: Vec<u32> = (0..n)
                .flat_map(|k| {
                    slice_ids(&ids, &spec(k, n))
                        .expect("slice")
                        .iter()
                        .collect::<Vec<_>>()
                })
                .collect();
            assert_eq!(joined, ids.iter().collect::<Vec<_>>(), "{n} shards");
        }
        let e = slice_ids(&ids, &spec(0, 10)).expect_err("10 shards of 9 ids");
        assert!(e.contains("no agent ids") && e.contains("holds 9"), "{e}");
    }

    fn scenario(stages: &str, ids: &str, max_in_flight: u32) -> Scenario {
        let text = format!(
            "name = \"s\"\n[agents]\nids = \"{ids}\"\n[load]\nmax_in_flight = {max_in_flight}\nstages = {stages}\n"
        );
        crate::scenario::load_str("s.toml", &text, &[])
            .expect("valid scenario")
            .scenario
    }

    #[test]
    fn shards_plan_exactly_the_whole_runs_arrivals() {
        let plans = [
            "[{ hold = \"10s\", rate = 100 }]",
            "[{ ramp = \"7s\", to = 13 }, { hold = \"3s\" }]",
            "[{ ramp = \"2m\", to = 85 }, { hold = \"10m\" }, { ramp = \"1m\", to = 0 }]",
            "[{ hold = \"3s\", rate = 0.35 }]",
            "[{ ramp = \"1s\", to = 1 }, { hold = \"1s\" }]",
            "[{ hold = \"1s\", rate = 7.3 }, { ramp = \"13s\", to = 1.1 }]",
        ];
        for stages in plans {
            let whole = scenario(stages, "1001-1500,3001-999999", 20_000);
            let want = planned_arrivals(&whole.load.stages).expect("whole plan");
            for n in 1..=7u32 {
                if u64::from(n) > want {
                    continue;
                }
                let mut sum = 0;
                for k in 0..n {
                    let mut s = whole.clone();
                    apply(&mut s, &spec(k, n)).expect("applies");
                    let got = planned_arrivals(&s.load.stages).expect("shard plan");
                    assert_eq!(got, spec(k, n).share(want), "{stages} shard {k}/{n}");
                    sum += got;
                }
                assert_eq!(sum, want, "{stages} over {n} shards");
            }
        }
    }

    #[test]
    fn apply_scales_rates_by_the_share_and_splits_ids_and_max_in_flight() {
        let whole = scenario(
            "[{ ramp = \"10s\", to = 100 }, { hold = \"10s\" }]",
            "1001-1010",
            5,
        );
        let mut s = whole.clone();
        let info = apply(&mut s, &spec(1, 4)).expect("applies");
        assert_eq!((info.index, info.count, info.merged), (1, 4, 1), "{info:?}");
        assert_eq!(info.ids, "1003-1005");
        assert_eq!(s.agents.ids.as_text(), "1003-1005");
        assert_eq!(s.load.max_in_flight, 1); // 5 over 4: 1, 1, 1, 2
        assert_eq!(s.load.stages[0].to, Some(25.0)); // 1500 arrivals: 375 each
        assert_eq!(s.load.stages[1], whole.load.stages[1]);
        let mut s = whole.clone();
        let e = apply(&mut s, &spec(0, 6)).expect_err("max_in_flight 5 over 6");
        assert!(e.contains("max_in_flight"), "{e}");
        let mut s = scenario("[{ hold = \"3s\", rate = 1 }]", "1001-1100", 100);
        let e = apply(&mut s, &spec(0, 4)).expect_err("3 arrivals over 4");
        assert!(e.contains("no arrivals") && e.contains("plans 3"), "{e}");
    }

    #[test]
    fn populations_split_into_whole_agents() {
        let parts: Vec<f64> = (0..4)
            .map(|k| split_population(10.0, &spec(k, 4)))
            .collect();
        assert_eq!(parts, [2.0, 3.0, 2.0, 3.0]);
        assert_eq!(split_population(2.5, &spec(0, 2)), 1.25);
        assert!(model_name_is_closed("closed") && !model_name_is_closed("open"));
        assert_eq!(model_name_of(crate::scenario::LoadModel::Open), "open");
    }
}

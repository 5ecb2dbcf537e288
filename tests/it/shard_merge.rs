//! merge of sharded runs: the shard checks (shards only — no whole run, no merge of a
//! merge —, one of each shard, disjoint id slices that add up to the scenario's ids) and
//! the merged shard record. Results are built by hand; the refusals through the command
//! line are in `merge_refusals`, the end-to-end runs in `shard_processes.rs`.

use agentstorm::analysis::merge::{check_shards, merge, MergeError, MergeInput};
use agentstorm::metrics::results::ShardInfo;
use agentstorm::metrics::Results;
use agentstorm::run::shard::{self, ShardSpec};
use agentstorm::scenario::values::IdRanges;

use crate::support::fixture;

const SCENARIO: &str = r#"name = "sharded"
[agents]
ids = "1001-1010,2001-2003"
password = { env = "AGENTSTORM_PASSWORD" }
[target]
url = "https://gw.example:8043"
ca_file = "/nowhere/ca.pem"
[load]
stages = [{ hold = "10s", rate = 10 }]
"#;

/// Shard `k` of `n` of [`SCENARIO`], sliced by the real slicing code.
fn shard_of(k: u32, n: u32) -> Results {
    let mut r = fixture::empty_results("sharded");
    r.scenario.text = SCENARIO.into();
    let spec = ShardSpec::new(k, n).expect("spec");
    let ids = IdRanges::parse("1001-1010,2001-2003").expect("ids");
    r.shard = Some(ShardInfo {
        index: k,
        count: n,
        ids: shard::slice_ids(&ids, &spec)
            .expect("slice")
            .as_text()
            .to_string(),
        merged: 1,
        late_start_s: 0.0,
    });
    r
}

fn inputs(shards: Vec<Results>) -> Vec<MergeInput> {
    // No operations: the empty interval log holds all of their latencies.
    shards.into_iter().map(|r| (r, vec![])).collect()
}

fn refused(shards: Vec<Results>) -> MergeError {
    merge(&inputs(shards)).expect_err("refused")
}

#[test]
fn every_shard_once_merges_and_says_how_many_it_holds() {
    let mut shards: Vec<Results> = (0..4).map(|k| shard_of(k, 4)).collect();
    shards[2].shard.as_mut().expect("shard").late_start_s = 1.5;
    // any order
    shards.reverse();
    let (m, _) = merge(&inputs(shards)).expect("merges");
    let s = m.shard.expect("merged shard record");
    assert_eq!((s.count, s.merged, s.index), (4, 4, 0));
    assert_eq!(s.ids, "1001-1010,2001-2003");
    assert_eq!(s.late_start_s, 1.5);
    // a single shard of one is a whole run in shard form
    let (m, _) = merge(&inputs(vec![shard_of(0, 1)])).expect("one of one");
    assert_eq!(m.shard.map(|s| (s.count, s.merged)), Some((1, 1)));
}

#[test]
fn whole_runs_are_refused_even_of_one_scenario() {
    // the same whole run twice would otherwise merge into a run twice as large
    let mut whole = fixture::empty_results("sharded");
    whole.scenario.text = SCENARIO.into();
    let e = refused(vec![whole.clone(), whole]);
    assert_eq!(e, MergeError::WholeRun { index: 0 });
    let text = e.to_string();
    assert!(
        text.contains("input 0: a whole run (its results have no `shard` record)")
            && text.contains("`run --shard K/N`")
            && text.contains("`run --processes N`"),
        "{text}"
    );
}

#[test]
fn a_missing_shard_is_named() {
    let e = refused(vec![shard_of(0, 4), shard_of(1, 4), shard_of(3, 4)]);
    assert_eq!(
        e,
        MergeError::MissingShards {
            count: 4,
            missing: vec![2]
        }
    );
    assert!(
        e.to_string()
            .contains("shard 2/4 of this 4-shard run is missing"),
        "{e}"
    );
    let e = refused(vec![shard_of(1, 4)]);
    assert!(e.to_string().contains("shards 0/4, 2/4, 3/4"), "{e}");
}

#[test]
fn duplicates_mixed_counts_and_merges_of_merges_are_refused() {
    let e = refused(vec![shard_of(0, 2), shard_of(1, 2), shard_of(1, 2)]);
    assert_eq!(
        e,
        MergeError::SameShardTwice {
            index: 2,
            other: 1,
            shard: "1/2".into()
        }
    );
    assert!(
        e.to_string()
            .contains("input 2 is shard 1/2, and so is input 1: the same shard was given twice"),
        "{e}"
    );
    // the whole run given twice: every shard twice
    let twice: Vec<Results> = (0..4).map(|k| shard_of(k % 2, 2)).collect();
    assert!(matches!(
        refused(twice),
        MergeError::SameShardTwice {
            index: 2,
            other: 0,
            ..
        }
    ));
    // the same file twice reads as such
    let same = MergeError::SameShardTwice {
        index: 1,
        other: 0,
        shard: "0/1".into(),
    };
    assert_eq!(
        same.describe(&|_| "a/results.json".into()),
        "a/results.json was given twice: each shard's results go in once"
    );

    let e = refused(vec![shard_of(0, 2), shard_of(1, 3)]);
    assert!(
        matches!(e, MergeError::CountMismatch { index: 1, .. }),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("input 1 is shard 1/3, but input 0 is shard 0/2: the shards of one run share their count"),
        "{e}"
    );

    let mut merged = shard_of(0, 2);
    merged.shard.as_mut().expect("shard").merged = 2;
    let e = refused(vec![merged, shard_of(1, 2)]);
    assert_eq!(
        e,
        MergeError::AlreadyMerged {
            index: 0,
            merged: 2
        }
    );
    assert!(e.to_string().contains("already a merge of 2"), "{e}");

    let mut past = shard_of(1, 2);
    past.shard.as_mut().expect("shard").index = 2;
    let e = refused(vec![shard_of(0, 2), past]);
    assert!(matches!(e, MergeError::NoSuchShard { index: 1, .. }), "{e}");
}

#[test]
fn shards_and_whole_runs_do_not_mix() {
    let whole = fixture::empty_results("sharded");
    let mut whole = whole;
    whole.scenario.text = SCENARIO.into();
    let e = refused(vec![shard_of(0, 2), whole]);
    assert_eq!(e, MergeError::WholeRun { index: 1 });
}

#[test]
fn overlapping_slices_are_refused_naming_an_id_in_both() {
    let mut b = shard_of(1, 2);
    // shard 0/2 has 1001-1006; this one claims 1006 too
    b.shard.as_mut().expect("shard").ids = "1006-1010,2001-2003".into();
    let e = refused(vec![shard_of(0, 2), b]);
    assert_eq!(
        e,
        MergeError::Overlap {
            index: 1,
            other: 0,
            id: 1006
        }
    );
    assert!(
        e.to_string()
            .contains("input 1: its agent ids overlap input 0's (id 1006 is in both)"),
        "{e}"
    );
}

#[test]
fn slices_that_leave_ids_out_or_add_ids_are_refused() {
    let mut b = shard_of(1, 2);
    b.shard.as_mut().expect("shard").ids = "1008-1010,2001-2003,3001".into();
    let e = refused(vec![shard_of(0, 2), b]);
    let text = e.to_string();
    assert!(matches!(e, MergeError::IdsNotCovered { .. }), "{text}");
    assert!(text.contains("missing from every shard: 1007"), "{text}");
    assert!(text.contains("not in the scenario: 3001"), "{text}");
}

#[test]
fn a_different_scenario_hash_is_refused_before_the_slices() {
    let mut b = shard_of(1, 2);
    b.scenario.hash = "other".into();
    let e = refused(vec![shard_of(0, 2), b]);
    assert!(
        matches!(e, MergeError::ScenarioMismatch { index: 1, .. }),
        "{e}"
    );
}

#[test]
fn scenario_text_without_ids_cannot_be_checked() {
    let mut shards: Vec<Results> = (0..2).map(|k| shard_of(k, 2)).collect();
    for s in &mut shards {
        s.scenario.text = "name = \"x\"".into();
    }
    let e = check_shards(&inputs(shards)).expect_err("unchecked");
    assert!(matches!(e, MergeError::ScenarioIds { index: 0, .. }), "{e}");
    assert!(e.to_string().contains("no agents.ids"), "{e}");
}

#[test]
fn shards_shorter_than_one_interval_merge_into_one_interval() {
    use agentstorm::metrics::results::IntervalSnapshot;
    let mut shards: Vec<Results> = (0..2).map(|k| shard_of(k, 2)).collect();
    for (s, (len, arrivals)) in shards.iter_mut().zip([(3.109, 4), (3.358, 6)]) {
        s.intervals = vec![IntervalSnapshot {
            start_s: 0.0,
            end_s: len,
            arrivals,
            ..Default::default()
        }];
        (s.scheduler.planned_arrivals, s.scheduler.started) = (arrivals, arrivals);
        for _ in 0..arrivals {
            s.scheduler.lag.record_us(100);
        }
    }
    let (m, _) = merge(&inputs(shards)).expect("partial intervals of different lengths merge");
    assert_eq!(m.intervals.len(), 1);
    assert_eq!(m.intervals[0].arrivals, 10);
    assert!(
        (m.intervals[0].end_s - 3.358).abs() < 1e-9,
        "{:?}",
        m.intervals[0]
    );
}

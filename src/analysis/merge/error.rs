//! Why a merge was refused: one variant per refusal, each naming the input (or inputs) at
//! fault by index, so that the command line can name them by file (`describe`) and a
//! library caller by position (`Display`: `input 2`).

use crate::metrics::hlog::LatencyKind;
use crate::metrics::invariants::{self, Broken};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MergeError {
    /// Nothing was given.
    Empty,
    /// The input's own counts do not add up (see `metrics::invariants`).
    Inconsistent { index: usize, broken: Vec<Broken> },
    /// A whole run (no `shard` record): complete as it is, nothing to merge it with.
    WholeRun { index: usize },
    /// The input is itself a merge.
    AlreadyMerged { index: usize, merged: u32 },
    /// Another scenario (hash) than input 0's.
    ScenarioMismatch {
        index: usize,
        name: String,
        found: String,
        first_name: String,
        expected: String,
    },
    /// A shard of a run split into another number of shards than input 0's.
    CountMismatch {
        index: usize,
        shard: String,
        first: String,
    },
    /// A shard index at or past the count.
    NoSuchShard { index: usize, shard: String },
    /// The same shard twice: `index` is the later input, `other` the earlier.
    SameShardTwice {
        index: usize,
        other: usize,
        shard: String,
    },
    /// The input's shard record's ids cannot be read.
    ShardIds { index: usize, message: String },
    /// The scenario's `agents.ids` cannot be read from the input's scenario text.
    ScenarioIds { index: usize, message: String },
    /// Two inputs' id slices share `id`.
    Overlap { index: usize, other: usize, id: u32 },
    /// Some shards of the run were not given.
    MissingShards { count: u32, missing: Vec<u32> },
    /// The shards' id slices, together, are not the scenario's ids.
    IdsNotCovered { detail: String },
    /// The input's `latency.hlog` holds another number of latencies of an operation than
    /// its results count: cut short, empty, or another run's.
    HlogCounts {
        index: usize,
        operation: String,
        kind: LatencyKind,
        logged: u64,
        counted: u64,
    },
    /// The input's `latency.hlog` has a line whose tag no run writes.
    HlogTag { index: usize, tag: String },
    /// A start or end time that is not RFC 3339.
    BadTime {
        index: usize,
        field: &'static str,
        value: String,
    },
    /// Another interval length than input `first`'s.
    IntervalMismatch {
        index: usize,
        found: f64,
        first: usize,
        expected: f64,
    },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe(&|i| format!("input {i}")))
    }
}

impl MergeError {
    /// The message, with each input named by `name(index)` (the command line passes the
    /// results file's path).
    pub fn describe(&self, name: &dyn Fn(usize) -> String) -> String {
        use MergeError as E;
        match self {
            E::Empty => "nothing to merge: no results were given".into(),
            E::Inconsistent { index, broken } => invariants::refusal(&name(*index), broken),
            E::WholeRun { index } => format!(
                "{}: a whole run (its results have no `shard` record): merge is for the shards \
                 of one sharded run (`run --shard K/N` on each machine, or `run --processes N`), \
                 which together are the run; a whole run is complete as it is, and adding runs \
                 together would report them as one run of their summed load",
                name(*index)
            ),
            E::AlreadyMerged { index, merged } => format!(
                "{}: already a merge of {merged} shards; merge the shards' own results instead",
                name(*index)
            ),
            E::ScenarioMismatch {
                index,
                name: scenario,
                found,
                first_name,
                expected,
            } => format!(
                "{} ran scenario {scenario:?} (hash {found}), but {} ran {first_name:?} (hash \
                 {expected}): only the shards of one run of one (effective) scenario merge",
                name(*index),
                name(0)
            ),
            E::CountMismatch {
                index,
                shard,
                first,
            } => format!(
                "{} is shard {shard}, but {} is shard {first}: the shards of one run share \
                 their count",
                name(*index),
                name(0)
            ),
            E::NoSuchShard { index, shard } => format!(
                "{}: names shard {shard}, which does not exist (shards count from 0)",
                name(*index)
            ),
            E::SameShardTwice {
                index,
                other,
                shard,
            } => {
                let (this, that) = (name(*index), name(*other));
                if this == that {
                    format!("{this} was given twice: each shard's results go in once")
                } else {
                    format!(
                        "{this} is shard {shard}, and so is {that}: the same shard was given \
                         twice (a copy, or shards of two runs?); each shard's results go in once"
                    )
                }
            }
            E::ShardIds { index, message } => {
                format!("{}: its shard record's ids: {message}", name(*index))
            }
            E::ScenarioIds { index, message } => format!("{}: {message}", name(*index)),
            E::Overlap { index, other, id } => format!(
                "{}: its agent ids overlap {}'s (id {id} is in both): the shards of one run \
                 take disjoint slices",
                name(*index),
                name(*other)
            ),
            E::MissingShards { count, missing } => super::shards::missing_message(*count, missing),
            E::IdsNotCovered { detail } => format!(
                "the shards' agent ids do not add up to the scenario's agents.ids: {detail}"
            ),
            E::HlogCounts {
                index,
                operation,
                kind,
                logged,
                counted,
            } => format!(
                "{}: the latency.hlog beside it holds {logged} {} latencies of {operation}, but \
                 its results count {counted} {operation} operations: the log is cut short, \
                 empty or another run's, and merge needs each shard's complete log",
                name(*index),
                kind.name()
            ),
            E::HlogTag { index, tag } => format!(
                "{}: the latency.hlog beside it has a line tagged {tag:?}, which no agentstorm \
                 run writes (tags are <operation>.corrected and <operation>.raw)",
                name(*index)
            ),
            E::BadTime {
                index,
                field,
                value,
            } => format!(
                "{}: {field} {value:?} is not an RFC 3339 time",
                name(*index)
            ),
            E::IntervalMismatch {
                index,
                found,
                first,
                expected,
            } => format!(
                "{} uses {found:.3} s intervals, {} uses {expected:.3} s: shards must share an \
                 interval length to be aligned",
                name(*index),
                name(*first)
            ),
        }
    }
}

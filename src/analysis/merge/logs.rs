//! A shard's `latency.hlog` against its results: per operation and latency kind, the
//! log's interval histograms together hold exactly the operation's count (the run logs
//! every sample of every interval, the last partial one included). A log that holds fewer
//! is cut short (a killed writer, a copy that stopped) or empty, one that holds other
//! counts is another run's; either would give the merged log, and every windowed threshold
//! judged on it, a part of the run presented as the whole.

use std::collections::BTreeMap;

use super::MergeError;
use crate::metrics::hlog::{HlogInterval, LatencyKind};
use crate::metrics::Results;

const KINDS: [LatencyKind; 2] = [LatencyKind::Corrected, LatencyKind::Raw];

/// Checks input `index`'s log against its results.
pub(super) fn check_log(index: usize, r: &Results, log: &[HlogInterval]) -> Result<(), MergeError> {
    let mut logged: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for iv in log {
        let parsed = iv
            .tag
            .rsplit_once('.')
            .filter(|(op, kind)| !op.is_empty() && KINDS.iter().any(|k| k.name() == *kind));
        let Some(key) = parsed else {
            return Err(MergeError::HlogTag {
                index,
                tag: iv.tag.clone(),
            });
        };
        *logged.entry(key).or_insert(0) += iv.hist.count();
    }
    let wrong = |operation: &str, kind: LatencyKind, logged: u64, counted: u64| {
        Err(MergeError::HlogCounts {
            index,
            operation: operation.to_string(),
            kind,
            logged,
            counted,
        })
    };
    for (name, op) in &r.operations {
        for kind in KINDS {
            let n = logged.remove(&(name.as_str(), kind.name())).unwrap_or(0);
            // Calls cut short by a hard stop have no latency.
            if n != op.judged() {
                return wrong(name, kind, n, op.judged());
            }
        }
    }
    // Latencies of an operation the results do not have.
    for ((name, kind), n) in logged {
        if n > 0 {
            let kind = KINDS
                .into_iter()
                .find(|k| k.name() == kind)
                .unwrap_or(LatencyKind::Corrected);
            return wrong(name, kind, n, 0);
        }
    }
    Ok(())
}

//! Threshold verdicts: each of the scenario's thresholds (grammar in
//! `scenario::thresholds`) evaluated against a run's Results and, for windowed latency
//! thresholds, the `latency.hlog` intervals (`eval`, with the sliding windows in `window`).
//! It never reads files itself except through [`evaluate_with_hlog_file`]; the console
//! block and `thresholds.csv` are rendered by `report::thresholds`.

mod eval;
mod window;

pub use crate::scenario::thresholds::*;
pub use eval::{evaluate, evaluate_with_hlog_file};

/// The outcome of one threshold: the same record Results carry, so `report` re-renders
/// verdicts without re-evaluating them.
pub use crate::metrics::results::ThresholdVerdict as Verdict;

/// Whether every verdict passed.
pub fn all_passed(verdicts: &[Verdict]) -> bool {
    verdicts.iter().all(|v| v.passed)
}

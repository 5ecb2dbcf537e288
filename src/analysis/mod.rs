//! What is derived from measured results: drift over the run, threshold verdicts (their
//! grammar, windows and evaluation), the one `finalize` step that computes every derived
//! field and the exit code, and the exact merge of shards' results.

pub mod drift;
pub mod finalize;
pub mod merge;
pub mod thresholds;

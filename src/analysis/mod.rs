//! What is derived from measured results: drift over the run, threshold verdicts (their
//! grammar, windows and evaluation), and the exact merge of shards' results.

pub mod drift;
pub mod merge;
pub mod thresholds;

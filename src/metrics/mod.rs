//! Measurement: the `Sample` record agents emit, the recorder that accumulates samples into
//! per-worker shards and merges them every interval, and the `Results` document every
//! report reads (docs/architecture.md), with the gateway's names in bounded maps (`names`).
//!
//! Nothing here sends traffic or renders output.

pub mod derived;
pub mod exemplar;
pub mod histogram;
pub mod hlog;
pub mod invariants;
pub mod names;
pub mod nodes;
pub mod process;
pub mod recorder;
pub mod results;
pub mod sample;
pub mod stats;

pub use histogram::Hist;
pub use results::Results;
pub use sample::{Operation, Outcome, PollResult, Retcode, Sample, TransportKind};
pub use stats::{OpStats, SessionStats};

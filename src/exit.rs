//! Exit codes: a public contract, the same for every subcommand.

/// Ran, and every threshold held (or there were none).
pub const OK: i32 = 0;
/// A threshold or a comparison failed.
pub const FAILED: i32 = 1;
/// Bad usage, bad scenario or bad input file: nothing was run.
pub const BAD_INPUT: i32 = 2;
/// The run could not measure: target unreachable, no agent could ever sign in because
/// every attempt failed without a reply, harness overloaded beyond its validity limits.
pub const CANNOT_MEASURE: i32 = 3;
/// Interrupted (Ctrl-C or a signal) before the plan's end; the reports hold what was
/// recorded until then.
pub const INTERRUPTED: i32 = 4;

/// The text `--help` shows under "Exit codes".
pub const HELP: &str = "Exit codes:
  0  ran, and every threshold held
  1  a threshold or a comparison failed
  2  bad usage, bad scenario or bad input file (nothing was run)
  3  the run could not measure (target unreachable, no agent could sign in: every attempt failed without a reply)
  4  interrupted (Ctrl-C): the reports hold what was recorded until then";

/// An error that ends a command with a given exit code and a one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

impl Exit {
    pub fn bad_input(message: impl Into<String>) -> Exit {
        Exit {
            code: BAD_INPUT,
            message: message.into(),
        }
    }
    pub fn cannot_measure(message: impl Into<String>) -> Exit {
        Exit {
            code: CANNOT_MEASURE,
            message: message.into(),
        }
    }
}

//! Exit codes: a public contract. The numbers mean the same for every subcommand; which of
//! them a command can return, and what each means for it, is its `--help`'s "Exit codes"
//! block below (one per command, each listing only what that command returns).

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

/// `agentstorm --help`: what the numbers mean across commands.
pub const HELP: &str = "Exit codes (each command's --help lists the ones it returns):
  0  done: the run (or merged or re-judged run) passed, nothing regressed, the scenario is valid
  1  a threshold failed, or a comparison found a regression
  2  bad usage, bad scenario or bad input file: nothing was run or overwritten
  3  could not measure (target unreachable, no agent could sign in), or the probe found it not ready
  4  interrupted (Ctrl-C or SIGTERM): the reports hold what was recorded until then";

/// `run --help`.
pub const RUN_HELP: &str = "Exit codes:
  0  ran, and every threshold held (or the scenario has none)
  1  ran, and a threshold failed (the verdict lists which)
  2  bad usage or bad scenario, or --out already holds a report: nothing was run, nothing overwritten
  3  the run could not measure: target unreachable, or no agent could sign in (every attempt failed without a reply); what was recorded is written
  4  interrupted (Ctrl-C or SIGTERM): the reports hold what was recorded until then";

/// `validate --help`.
pub const VALIDATE_HELP: &str = "Exit codes:
  0  every scenario is valid
  2  bad usage, or a scenario is not valid: each error is printed with its file:line:column (or option) and key";

/// `report --help`: the re-judged verdict of the run the results record.
pub const REPORT_HELP: &str = "Exit codes (the recorded run's verdict, judged again from its measurements):
  0  the run passed every threshold (or has none)
  1  a threshold failed
  2  bad usage, or RESULTS is unreadable, of another schema version, or its counts do not add up: nothing written
  3  the recorded run could not measure, or a report file could not be written
  4  the recorded run was interrupted";

/// `compare --help`.
pub const COMPARE_HELP: &str = "Exit codes:
  0  nothing regressed beyond the tolerance
  1  the candidate regressed (each regression is listed)
  2  bad usage, or an input is unreadable or its counts do not add up, or --out cannot be created: nothing written
  3  comparison.html or comparison-junit.xml could not be written";

/// `merge --help`: the merged run's verdict, judged as one run.
pub const MERGE_HELP: &str = "Exit codes (the merged run's verdict, judged as one run):
  0  merged, and the merged run passed every threshold (or has none)
  1  merged, and a threshold failed
  2  bad usage, or the inputs cannot be merged exactly (the file and the reason are named): nothing written
  3  a shard could not measure (so the merged run could not), or a file could not be written
  4  a shard was interrupted (so the merged run was)";

/// `gateway --help`.
pub const GATEWAY_HELP: &str = "Exit codes:
  0  stopped by Ctrl-C or SIGTERM
  2  bad usage, a bad --config, --cert or --key file, or the address cannot be listened on";

/// `probe --help`.
pub const PROBE_HELP: &str = "Exit codes:
  0  the agent signed in, became ready and signed out: ready to load-test
  2  bad usage, bad scenario or bad input file (nothing was sent)
  3  not ready: the verdict says what is wrong and what to change";

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

//! What the user sees while a run goes on: on a terminal, a live status line (indicatif)
//! refreshed every second; elsewhere (CI logs), one plain line per interval; with
//! `--quiet`, nothing. Everything goes to stderr, so stdout keeps only the summary.
//!
//! It only formats numbers it is handed; it never reads the recorder's shards itself.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::recorder::{Aggregate, Recorder};
use crate::metrics::results::IntervalSnapshot;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A live line on a terminal.
    Live,
    /// A plain line per interval.
    Lines,
    Quiet,
}

impl Mode {
    /// Live on a terminal, lines otherwise, nothing when quiet.
    pub fn detect(quiet: bool) -> Mode {
        if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Live
        } else {
            Mode::Lines
        }
    }
}

pub struct Progress {
    mode: Mode,
    planned: Duration,
    bar: Option<ProgressBar>,
    last: Option<(Instant, u64)>,
    /// The run's stop (Ctrl-C), and the stop phase's sign-out rate: once stopping (or past
    /// the plan's end) the live line counts down the agents still to sign out.
    stop: Option<(tokio_util::sync::CancellationToken, u32)>,
}

impl Progress {
    pub fn new(mode: Mode, planned: Duration) -> Progress {
        let bar = (mode == Mode::Live).then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(planned.as_secs().max(1)),
                ProgressDrawTarget::stderr(),
            );
            // `wide_msg` fills the terminal's width and is cut there, so the line never
            // wraps, whatever the width.
            let style = ProgressStyle::with_template("{bar:24} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            crate::util::term::set_live(Some(bar.clone()));
            bar
        });
        Progress {
            mode,
            planned,
            bar,
            last: None,
            stop: None,
        }
    }

    /// Shows the stop phase: after `stop` is cancelled or the plan's end, the agents still
    /// to sign out at `signout_rate` per second.
    pub fn with_stop(
        mut self,
        stop: tokio_util::sync::CancellationToken,
        signout_rate: u32,
    ) -> Self {
        self.stop = Some((stop, signout_rate));
        self
    }

    pub fn quiet() -> Progress {
        Progress::new(Mode::Quiet, Duration::ZERO)
    }

    /// Called every tick with the run's totals so far.
    pub fn update(
        &mut self,
        elapsed: Duration,
        recorder: &Recorder,
        totals: &Aggregate,
        _last_interval: Option<&IntervalSnapshot>,
    ) {
        let Some(bar) = &self.bar else { return };
        let now = Instant::now();
        let signins = totals.series[crate::metrics::Operation::Signin.index()].count;
        let rate = match self.last {
            Some((t, n)) if now > t => (signins - n.min(signins)) as f64 / (now - t).as_secs_f64(),
            _ => 0.0,
        };
        self.last = Some((now, signins));
        bar.set_position(elapsed.as_secs().min(self.planned.as_secs().max(1)));
        let stopping = self
            .stop
            .as_ref()
            .filter(|(stop, _)| stop.is_cancelled() || elapsed >= self.planned)
            .map(|(_, rate)| *rate);
        let line = match stopping {
            Some(rate) => stop_line(elapsed, recorder.signed_in(), rate),
            None => status_line(elapsed, self.planned, recorder, totals, rate),
        };
        bar.set_message(line);
    }

    /// Called when an interval closes.
    pub fn interval(&mut self, s: &IntervalSnapshot) {
        if self.mode != Mode::Lines {
            return;
        }
        crate::util::term::message(&interval_line(s));
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            crate::util::term::set_live(None);
            bar.finish_and_clear();
        }
    }
}

/// The live line while stopping: the agents still signed in count down at the sign-out
/// rate.
fn stop_line(elapsed: Duration, signed_in: u64, signout_rate: u32) -> String {
    let left_s = signed_in.div_ceil(u64::from(signout_rate.max(1)));
    format!(
        "{}s  stopping: {signed_in} agents still to sign out at {signout_rate}/s (about {left_s} s)",
        elapsed.as_secs()
    )
}

fn status_line(
    elapsed: Duration,
    planned: Duration,
    recorder: &Recorder,
    totals: &Aggregate,
    signin_rate: f64,
) -> String {
    let mut line = format!(
        "{}s/{}s  active {}  signed in {}  sign-ins {:.1}/s",
        elapsed.as_secs(),
        planned.as_secs(),
        recorder.active_agents(),
        recorder.signed_in(),
        signin_rate,
    );
    let mut errors = 0;
    for (name, op) in totals.operations() {
        errors += op.failed();
        if name == crate::metrics::results::POLL_EMPTY || name == "poll" {
            continue; // an empty poll's latency is the gateway's hold time
        }
        if let Some(p99) = op.corrected.percentile_ms(99.0) {
            line.push_str(&format!("  {name} p99 {p99:.1}ms"));
        }
    }
    line.push_str(&format!("  errors {errors}"));
    line
}

/// One plain line per interval, for logs.
pub fn interval_line(s: &IntervalSnapshot) -> String {
    let secs = (s.end_s - s.start_s).max(1e-9);
    let signin = s.operations.get("signin");
    let mut line = format!(
        "[{:>7.1}s] active {} signed in {} arrivals {:.1}/s",
        s.end_s,
        s.active_agents,
        s.signed_in,
        s.arrivals as f64 / secs,
    );
    if let Some(op) = signin {
        line.push_str(&format!(
            " signin ok {} failed {} p99 {:.1}ms",
            op.ok, op.failed, op.corrected_p99_ms
        ));
    }
    let errors: u64 = s
        .operations
        .iter()
        .filter(|(k, _)| k.as_str() != "poll_event" && k.as_str() != "poll_empty")
        .map(|(_, o)| o.failed)
        .sum();
    line.push_str(&format!(" errors {errors}"));
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stop_line_counts_down_the_agents_still_to_sign_out() {
        let line = super::stop_line(Duration::from_secs(42), 1_000, 200);
        assert_eq!(
            line,
            "42s  stopping: 1000 agents still to sign out at 200/s (about 5 s)"
        );
        assert!(super::stop_line(Duration::ZERO, 1, 200)
            .contains("1 agents still to sign out at 200/s (about 1 s)"));
        assert!(super::stop_line(Duration::ZERO, 0, 200).contains("(about 0 s)"));
    }

    use super::*;
    use crate::metrics::results::IntervalOp;

    #[test]
    fn interval_line_reports_rates_and_errors() {
        let mut s = IntervalSnapshot {
            start_s: 10.0,
            end_s: 20.0,
            active_agents: 7,
            signed_in: 5,
            arrivals: 1000,
            ..Default::default()
        };
        s.operations.insert(
            "signin".into(),
            IntervalOp {
                count: 1000,
                ok: 990,
                failed: 10,
                corrected_p99_ms: 12.5,
                ..Default::default()
            },
        );
        s.operations.insert(
            "logout".into(),
            IntervalOp {
                failed: 2,
                ..Default::default()
            },
        );
        let line = interval_line(&s);
        assert!(line.contains("arrivals 100.0/s"), "{line}");
        assert!(line.contains("p99 12.5ms"), "{line}");
        assert!(line.contains("errors 12"), "{line}");
    }
}

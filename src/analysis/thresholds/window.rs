//! The sliding window behind `over <duration>` thresholds: fed intervals one at a time in
//! start order, it judges one window per interval start that fits in the run (each holding
//! the intervals that end within it, at least its first) and keeps the worst value. It
//! holds only the intervals of the current window, so a 72-hour `latency.hlog` streams
//! through it in bounded memory.

use std::collections::VecDeque;

use super::Cmp;

/// Slack for comparing interval boundaries written with millisecond precision.
pub(crate) const EPS_S: f64 = 1e-3;

/// A window accumulator that can slide: add the interval entering, take away the one
/// leaving (false when it cannot; the window is then rebuilt from scratch).
pub(crate) trait Slide<T> {
    fn add(&mut self, item: &T);
    fn sub(&mut self, item: &T) -> bool;
    /// An empty accumulator with the same settings.
    fn cleared(&self) -> Self;
    /// The measured value of the window, None when it has no samples.
    fn value(&self, span_s: f64) -> Option<f64>;
}

/// The worst value found and its window (seconds since the run's start).
pub(crate) type Worst = (f64, Option<(f64, f64)>);

pub(crate) struct Slider<T, A> {
    window_s: f64,
    goal: (Cmp, f64),
    /// Intervals from the current window's first on, in start order.
    queue: VecDeque<(f64, f64, T)>,
    /// The accumulator holds `queue[..in_acc]`.
    acc: A,
    in_acc: usize,
    worst: Option<(f64, (f64, f64))>,
    judged_any: bool,
    last_start: f64,
    out_of_order: bool,
}

impl<T, A: Slide<T>> Slider<T, A> {
    pub(crate) fn new(window_s: f64, goal: (Cmp, f64), acc: A) -> Self {
        Slider {
            window_s,
            goal,
            queue: VecDeque::new(),
            acc,
            in_acc: 0,
            worst: None,
            judged_any: false,
            last_start: f64::NEG_INFINITY,
            out_of_order: false,
        }
    }

    /// Adds the next interval (intervals must come in start order).
    pub(crate) fn push(&mut self, start_s: f64, end_s: f64, item: T) {
        if start_s < self.last_start - EPS_S {
            self.out_of_order = true;
        }
        self.last_start = start_s;
        self.queue.push_back((start_s, end_s, item));
        // every window whose end this interval passes is complete
        while let Some(&(t0, _, _)) = self.queue.front() {
            if end_s <= t0 + self.window_s + EPS_S || self.queue.len() < 2 {
                break;
            }
            self.judge_front();
        }
    }

    /// Judges the remaining windows that fit in a run ending at `run_end_s` (one window
    /// over everything when none fits) and returns the worst.
    pub(crate) fn finish(mut self, run_end_s: f64) -> Result<Worst, String> {
        if self.out_of_order {
            return Err("the interval histograms are not in time order".into());
        }
        while let Some(&(t0, _, _)) = self.queue.front() {
            if t0 + self.window_s > run_end_s + EPS_S {
                break;
            }
            self.judge_front();
        }
        if !self.judged_any && !self.queue.is_empty() {
            while self.in_acc < self.queue.len() {
                self.acc.add(&self.queue[self.in_acc].2);
                self.in_acc += 1;
            }
            let (ws, we) = (self.queue[0].0, self.queue[self.queue.len() - 1].1);
            self.consider(ws, we);
        }
        self.worst
            .map(|(v, w)| (v, Some(w)))
            .ok_or_else(|| "no samples in any window".into())
    }

    /// Judges the window starting at the front interval, then drops that interval.
    fn judge_front(&mut self) {
        let t0 = self.queue[0].0;
        let limit = t0 + self.window_s + EPS_S;
        let hi = self
            .queue
            .iter()
            .take_while(|(_, end, _)| *end <= limit)
            .count()
            .max(1);
        while self.in_acc < hi {
            self.acc.add(&self.queue[self.in_acc].2);
            self.in_acc += 1;
        }
        let we = self.queue[hi - 1].1;
        self.consider(t0, we);
        self.judged_any = true;
        if let Some((_, _, gone)) = self.queue.pop_front() {
            if self.in_acc > 0 {
                self.in_acc -= 1;
                if !self.acc.sub(&gone) {
                    self.acc = self.acc.cleared();
                    self.in_acc = 0;
                }
            }
        }
    }

    fn consider(&mut self, ws: f64, we: f64) {
        let Some(v) = self.acc.value(we - ws) else {
            return;
        };
        let (cmp, limit) = self.goal;
        let worse = match self.worst {
            None => true,
            Some((w, _)) => match cmp {
                Cmp::Lt | Cmp::Le => v > w,
                Cmp::Gt | Cmp::Ge => v < w,
                Cmp::Eq => (v - limit).abs() > (w - limit).abs(),
            },
        };
        if worse {
            self.worst = Some((v, (ws, we)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts intervals; records every window it was asked about.
    struct Probe {
        n: u64,
    }

    impl Slide<u64> for Probe {
        fn add(&mut self, item: &u64) {
            self.n += item;
        }
        fn sub(&mut self, item: &u64) -> bool {
            self.n -= item;
            true
        }
        fn cleared(&self) -> Self {
            Probe { n: 0 }
        }
        fn value(&self, _span_s: f64) -> Option<f64> {
            Some(self.n as f64)
        }
    }

    fn run(spans: &[(f64, f64, u64)], window_s: f64, run_end: f64) -> Result<Worst, String> {
        let mut s = Slider::new(window_s, (Cmp::Lt, 0.0), Probe { n: 0 });
        for (a, b, v) in spans {
            s.push(*a, *b, *v);
        }
        s.finish(run_end)
    }

    #[test]
    fn windows_start_at_each_boundary_and_fit_in_the_run() {
        // six 10 s intervals holding 1, 1, 5, 1, 1, 1: the worst 20 s window is 10–30 or 20–40
        let spans: Vec<(f64, f64, u64)> = [1, 1, 5, 1, 1, 1]
            .iter()
            .enumerate()
            .map(|(i, v)| (i as f64 * 10.0, i as f64 * 10.0 + 10.0, *v))
            .collect();
        assert_eq!(run(&spans, 20.0, 60.0), Ok((6.0, Some((10.0, 30.0)))));
        // a window shorter than an interval still holds one interval
        assert_eq!(run(&spans, 5.0, 60.0), Ok((5.0, Some((20.0, 30.0)))));
        // a run shorter than the window: one window over everything
        assert_eq!(run(&spans, 600.0, 60.0), Ok((10.0, Some((0.0, 60.0)))));
        // the last interval alone is not a full 20 s window
        let tail = [(0.0, 10.0, 1), (10.0, 20.0, 1), (20.0, 30.0, 9)];
        assert_eq!(run(&tail, 20.0, 30.0), Ok((10.0, Some((10.0, 30.0)))));
        assert!(run(&[], 10.0, 60.0).is_err());
        // a gap (an interval not logged) does not stretch a window
        let gappy = [(0.0, 10.0, 1), (20.0, 30.0, 1), (30.0, 40.0, 1)];
        assert_eq!(run(&gappy, 20.0, 40.0), Ok((2.0, Some((20.0, 40.0)))));
        // out of order input is refused
        assert!(run(&[(10.0, 20.0, 1), (0.0, 10.0, 1)], 10.0, 20.0).is_err());
    }
}

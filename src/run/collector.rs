//! The collector: once per tick (1 s) it takes what the recorder gathered, adds it to the
//! run's totals and to the interval in progress, and feeds the live display; once per
//! interval (10 s by default) it closes the interval into a snapshot and its histograms
//! into `latency.hlog`.
//!
//! It owns the run's totals and interval list; it never touches agents or the network.
//! When live metrics are on, each tick's totals are handed to their publisher
//! (`run::live_metrics`), which keeps a snapshot for `/metrics` and the pushes.

use std::time::{Duration, Instant};

use crate::metrics::hlog::{self, HlogWriter, LatencyKind};
use crate::metrics::process;
use crate::metrics::recorder::{Aggregate, Recorder};
use crate::metrics::results::{IntervalOp, IntervalSnapshot};
use crate::run::live_metrics::Publisher;
use crate::run::progress::Progress;

pub struct Collector {
    start: Instant,
    interval: Duration,
    interval_start: Instant,
    recorder: Recorder,
    cpu: process::CpuMeter,
    pending: Aggregate,
    pub totals: Aggregate,
    pub intervals: Vec<IntervalSnapshot>,
    /// None after a write failed (reported once; the run goes on).
    hlog: Option<HlogWriter>,
    progress: Progress,
    /// Live metrics (`--metrics-listen`, `--metrics-push`), when asked for.
    live: Option<Publisher>,
}

impl Collector {
    pub fn new(
        start: Instant,
        interval: Duration,
        recorder: Recorder,
        hlog: HlogWriter,
        progress: Progress,
    ) -> Collector {
        Collector {
            start,
            interval,
            interval_start: start,
            recorder,
            cpu: process::CpuMeter::new(),
            pending: Aggregate::default(),
            totals: Aggregate::default(),
            intervals: Vec::new(),
            hlog: Some(hlog),
            progress,
            live: None,
        }
    }

    /// Hands every tick's totals to the live metrics from now on.
    pub fn publish_to(&mut self, live: Publisher) {
        self.live = Some(live);
    }

    fn publish(&self) {
        if let Some(live) = &self.live {
            live.publish(&self.totals, &self.recorder);
        }
    }

    /// Takes the recorder's samples; closes the interval when it is due.
    pub fn tick(&mut self) {
        let now = Instant::now();
        let delta = self.recorder.collect();
        self.pending.add(&delta);
        self.totals.add(&delta);
        if now.duration_since(self.interval_start) + Duration::from_millis(50) >= self.interval {
            self.close_interval(now);
        }
        self.publish();
        self.progress.update(
            now.duration_since(self.start),
            &self.recorder,
            &self.totals,
            self.intervals.last(),
        );
    }

    /// Takes the last samples, closes the last (partial) interval and flushes the log.
    pub fn finish(&mut self) {
        let now = Instant::now();
        let delta = self.recorder.collect();
        self.pending.add(&delta);
        self.totals.add(&delta);
        if now > self.interval_start {
            self.close_interval(now);
        }
        self.publish();
        if let Some(mut w) = self.hlog.take() {
            if let Err(e) = w.flush() {
                tracing::error!("latency.hlog: {e}");
            }
        }
        self.progress.finish();
    }

    fn close_interval(&mut self, now: Instant) {
        let interval = std::mem::take(&mut self.pending);
        let start_s = self.interval_start.duration_since(self.start).as_secs_f64();
        let end_s = now.duration_since(self.start).as_secs_f64();
        self.log_interval(&interval, start_s, end_s);
        let snapshot = IntervalSnapshot {
            start_s,
            end_s,
            active_agents: self.recorder.active_agents(),
            signed_in: self.recorder.signed_in(),
            arrivals: interval.arrivals,
            operations: interval
                .operations()
                .iter()
                .map(|(k, v)| (k.clone(), IntervalOp::from_stats(v)))
                .collect(),
            rss_bytes: process::rss_bytes(),
            cpu_percent: self.cpu.sample(),
        };
        self.progress.interval(&snapshot);
        self.intervals.push(snapshot);
        self.interval_start = now;
    }

    fn log_interval(&mut self, delta: &Aggregate, start_s: f64, end_s: f64) {
        let Some(w) = self.hlog.as_mut() else { return };
        let mut write = || -> std::io::Result<()> {
            for (name, op) in delta.operations() {
                w.write(
                    &hlog::tag(&name, LatencyKind::Corrected),
                    start_s,
                    end_s,
                    &op.corrected,
                )?;
                w.write(&hlog::tag(&name, LatencyKind::Raw), start_s, end_s, &op.raw)?;
            }
            w.flush()
        };
        if let Err(e) = write() {
            tracing::error!(
                "latency.hlog: write failed, interval histograms are no longer logged: {e}"
            );
            self.hlog = None;
        }
    }
}

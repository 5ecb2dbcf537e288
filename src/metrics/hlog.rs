//! `latency.hlog`: the HdrHistogram interval log (format version 1.3, as written by the
//! Java `HistogramLogWriter` and read by `HistogramLogProcessor`, HdrHistogram's Rust
//! `IntervalLogIterator` and HdrHistogram plotters). The run streams one line per interval
//! and histogram while it runs, so interval histograms never accumulate in memory or in
//! `results.json`; window thresholds and `merge` read the file back.
//!
//! Layout: comment header (`#[Logged with …]`, `#[Histogram log format version 1.3]`,
//! `#[StartTime: <unix s> (seconds since epoch), <RFC 3339>]`, `#[BaseTime: <same>
//! (seconds since epoch)]`, `#[MaxValueDivisor: 1000.000]`), the legend line, then
//! `Tag=<tag>,<start s>,<length s>,<max ms>,<base64 V2 compressed histogram>` where start
//! is seconds since BaseTime (the run's start). Histogram values are microseconds, so the
//! max column is divided by 1000 to read as milliseconds. Tags are `<operation>.corrected`
//! and `<operation>.raw` (see [`tag`]).
//!
//! This module only writes and reads the file; it decides nothing about which histograms
//! are logged or when. It reads the log itself, line by line, rather than with
//! hdrhistogram's `IntervalLogIterator`, which parses one byte slice holding the whole log:
//! a soak's log is streamed, never held in memory whole, and a line cut short by a killed
//! writer is told apart from a bad one. The histograms themselves are decoded by
//! hdrhistogram.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::metrics::Hist;

/// Log format version written in the header (the version that introduced tags).
pub const FORMAT_VERSION: &str = "1.3";
/// The legend line HdrHistogram tools expect before the interval lines.
pub const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";
/// Histogram values are µs; the `Interval_Max` column is in ms.
pub const MAX_VALUE_DIVISOR: f64 = 1000.0;

/// Which latency a histogram holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LatencyKind {
    /// From the intended start (coordinated-omission corrected).
    Corrected,
    /// From the actual send.
    Raw,
}

impl LatencyKind {
    pub fn name(self) -> &'static str {
        match self {
            LatencyKind::Corrected => "corrected",
            LatencyKind::Raw => "raw",
        }
    }
}

/// The tag of one operation's histogram of one kind, e.g. `signin.corrected`.
pub fn tag(operation: &str, kind: LatencyKind) -> String {
    format!("{operation}.{}", kind.name())
}

/// One interval histogram read back from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct HlogInterval {
    /// The line's tag (empty for an untagged line).
    pub tag: String,
    /// Seconds since the log's StartTime (the run's start) at which the interval began.
    pub start_s: f64,
    pub end_s: f64,
    pub hist: Hist,
}

/// Streams interval histograms to a log file. Lines are buffered; call [`HlogWriter::flush`]
/// at the end of every interval so that a crash loses at most the interval in progress.
pub struct HlogWriter {
    out: BufWriter<File>,
}

impl HlogWriter {
    /// Creates (truncates) the log and writes its header. `start_unix_s` is the run's start
    /// in seconds since the Unix epoch; interval times passed to [`HlogWriter::write`] are
    /// seconds since then.
    pub fn create(path: &Path, start_unix_s: f64) -> std::io::Result<HlogWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        let when = UNIX_EPOCH
            .checked_add(Duration::from_secs_f64(start_unix_s.max(0.0)))
            .unwrap_or(UNIX_EPOCH);
        writeln!(
            out,
            "#[Logged with agentstorm {}]",
            env!("CARGO_PKG_VERSION")
        )?;
        writeln!(out, "#[Histogram log format version {FORMAT_VERSION}]")?;
        writeln!(
            out,
            "#[StartTime: {start_unix_s:.3} (seconds since epoch), {}]",
            humantime::format_rfc3339_millis(when)
        )?;
        writeln!(out, "#[BaseTime: {start_unix_s:.3} (seconds since epoch)]")?;
        writeln!(out, "#[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]")?;
        writeln!(out, "{LEGEND}")?;
        Ok(HlogWriter { out })
    }

    /// Creates the log with the current wall-clock time as its start.
    pub fn create_now(path: &Path) -> std::io::Result<HlogWriter> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        HlogWriter::create(path, now)
    }

    /// Writes one interval line. The tag must not contain commas, whitespace or line
    /// breaks (HdrHistogram's rule); such a tag is refused with `InvalidInput`.
    pub fn write(
        &mut self,
        tag: &str,
        start_s: f64,
        end_s: f64,
        hist: &Hist,
    ) -> std::io::Result<()> {
        if tag.is_empty() || tag.contains(|c: char| c == ',' || c.is_whitespace()) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("hlog tag {tag:?} is empty or contains a comma or whitespace"),
            ));
        }
        let max_ms = if hist.count() == 0 {
            0.0
        } else {
            hist.0.max() as f64 / MAX_VALUE_DIVISOR
        };
        writeln!(
            self.out,
            "Tag={tag},{start_s:.3},{:.3},{max_ms:.3},{}",
            (end_s - start_s).max(0.0),
            hist.to_base64()
        )
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Reads every interval of a log (see [`read_hlog_filtered`] to decode only some tags).
pub fn read_hlog(path: &Path) -> Result<Vec<HlogInterval>, String> {
    read_hlog_filtered(path, |_| true)
}

/// Reads the intervals whose tag `keep` accepts into memory (only those are decoded).
pub fn read_hlog_filtered(
    path: &Path,
    keep: impl Fn(&str) -> bool,
) -> Result<Vec<HlogInterval>, String> {
    let mut out = Vec::new();
    for_each_interval(path, keep, |iv| out.push(iv))?;
    Ok(out)
}

/// Streams the intervals whose tag `keep` accepts to `each`, one line at a time, so that a
/// soak's log never has to fit in memory. Times are seconds since the log's StartTime,
/// following the Java reader's rules for StartTime and BaseTime. A last line cut short (no
/// newline: the writer was killed mid-line) is skipped; any other bad line is an error
/// naming the file and line.
pub fn for_each_interval(
    path: &Path,
    keep: impl Fn(&str) -> bool,
    mut each: impl FnMut(HlogInterval),
) -> Result<(), String> {
    let shown = path.display();
    let file = File::open(path).map_err(|e| format!("{shown}: cannot read: {e}"))?;
    let mut reader = BufReader::new(file);
    let mut st = TimeState::default();
    let mut line = String::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(|e| format!("{shown}:{}: cannot read: {e}", number + 1))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with('\n');
        let text = line.trim_end_matches(['\n', '\r']);
        match parse_line(text, &mut st, &keep) {
            Ok(Some(iv)) => each(iv),
            Ok(None) => {}
            Err(_) if !complete => break,
            Err(e) => return Err(format!("{shown}:{number}: {e}")),
        }
    }
    Ok(())
}

#[derive(Default)]
struct TimeState {
    start: Option<f64>,
    base: Option<f64>,
}

fn header_number(text: &str, prefix: &str) -> Option<Result<f64, String>> {
    let rest = text.strip_prefix(prefix)?;
    let num = rest.split([' ', ']']).next().unwrap_or("");
    Some(
        num.parse::<f64>()
            .map_err(|_| format!("{prefix} is not followed by a number")),
    )
}

fn parse_line(
    text: &str,
    st: &mut TimeState,
    keep: &impl Fn(&str) -> bool,
) -> Result<Option<HlogInterval>, String> {
    if let Some(v) = header_number(text, "#[StartTime: ") {
        st.start = Some(v?);
        return Ok(None);
    }
    if let Some(v) = header_number(text, "#[BaseTime: ") {
        st.base = Some(v?);
        return Ok(None);
    }
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('"') {
        return Ok(None);
    }
    let (tag, rest) = match trimmed.strip_prefix("Tag=") {
        Some(r) => r
            .split_once(',')
            .ok_or("a tagged line has no fields after its tag")?,
        None => ("", trimmed),
    };
    let fields: Vec<&str> = rest.splitn(4, ',').collect();
    let [start, length, _max, hist] = fields[..] else {
        return Err(format!(
            "expected 4 fields (start, length, max, histogram), found {}",
            fields.len()
        ));
    };
    let num = |s: &str, what: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| format!("{what} {s:?} is not a non-negative number"))
    };
    let ts = num(start, "start timestamp")?;
    let length = num(length, "interval length")?;
    if !keep(tag) {
        return Ok(None);
    }
    let hist = Hist::from_base64(hist)?;
    // The Java reader's rules: with BaseTime, stamps are offsets from it; without, stamps
    // more than a year before StartTime are offsets from StartTime, others absolute.
    let base = match (st.base, st.start) {
        (Some(b), _) => b,
        (None, Some(s)) if ts < s - 365.0 * 24.0 * 3600.0 => s,
        (None, Some(_)) => 0.0,
        (None, None) => {
            st.start = Some(ts);
            0.0
        }
    };
    let origin = st.start.unwrap_or(base);
    let start_s = ts + base - origin;
    Ok(Some(HlogInterval {
        tag: tag.to_string(),
        start_s,
        end_s: start_s + length,
        hist,
    }))
}

//! latency.hlog: round trip through our reader, readable by HdrHistogram's own interval log
//! parser, and our reader reads what HdrHistogram's writer writes.

use std::time::{Duration, UNIX_EPOCH};

use agentstorm::metrics::hlog::{self, read_hlog, read_hlog_filtered, HlogWriter, LatencyKind};
use agentstorm::metrics::Hist;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::V2DeflateSerializer;

fn hist(values_ms: &[u64]) -> Hist {
    let mut h = Hist::new();
    for v in values_ms {
        h.record_us(v * 1000);
    }
    h
}

const START: f64 = 1_767_225_600.25; // 2026-01-01T00:00:00.25Z

#[test]
fn round_trip_keeps_tags_times_and_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latency.hlog");
    let mut w = HlogWriter::create(&path, START).expect("create");
    let a = hist(&[1, 2, 3, 400]);
    let b = hist(&[10; 7]);
    w.write(&hlog::tag("signin", LatencyKind::Corrected), 0.0, 10.0, &a)
        .expect("write");
    w.write("signin.raw", 0.0, 10.0, &b).expect("write");
    w.write("poll.corrected", 10.0, 20.0, &Hist::new())
        .expect("write empty");
    w.flush().expect("flush");

    let back = read_hlog(&path).expect("reads");
    assert_eq!(back.len(), 3);
    assert_eq!(back[0].tag, "signin.corrected");
    assert_eq!((back[0].start_s, back[0].end_s), (0.0, 10.0));
    assert_eq!(back[0].hist.count(), 4);
    assert_eq!(back[0].hist.0.max(), a.0.max());
    assert_eq!(back[1].tag, "signin.raw");
    assert_eq!(back[1].hist.count(), 7);
    assert_eq!(back[2].hist.count(), 0);
    assert!((back[2].start_s - 10.0).abs() < 1e-9);

    let only_raw = read_hlog_filtered(&path, |t| t.ends_with(".raw")).expect("reads");
    assert_eq!(only_raw.len(), 1);

    let text = std::fs::read_to_string(&path).expect("text");
    assert!(
        text.contains(
            "#[StartTime: 1767225600.250 (seconds since epoch), 2026-01-01T00:00:00.250Z]"
        ),
        "{text}"
    );
    assert!(text.contains("#[BaseTime: 1767225600.250 (seconds since epoch)]"));
    assert!(text.contains(hlog::LEGEND));
    // max column in ms
    assert!(
        text.contains("Tag=signin.corrected,0.000,10.000,400.")
            || text.contains("Tag=signin.corrected,0.000,10.000,399."),
        "{text}"
    );
}

#[test]
fn hdrhistogram_parser_reads_our_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latency.hlog");
    let mut w = HlogWriter::create(&path, START).expect("create");
    w.write("signin.corrected", 5.0, 15.0, &hist(&[5, 6, 7]))
        .expect("write");
    w.flush().expect("flush");
    let bytes = std::fs::read(&path).expect("read");
    let entries: Vec<_> = IntervalLogIterator::new(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .expect("hdrhistogram parses every line");
    assert!(matches!(entries[0], LogEntry::StartTime(d) if (d.as_secs_f64() - START).abs() < 1e-3));
    assert!(matches!(entries[1], LogEntry::BaseTime(_)));
    let LogEntry::Interval(iv) = &entries[2] else {
        panic!("third entry is not an interval");
    };
    assert_eq!(iv.tag().map(|t| t.as_str()), Some("signin.corrected"));
    assert_eq!(iv.start_timestamp(), Duration::from_secs(5));
    assert_eq!(iv.duration(), Duration::from_secs(10));
    let h = Hist::from_base64(iv.encoded_histogram()).expect("decodes");
    assert_eq!(h.count(), 3);
}

#[test]
fn we_read_a_log_written_by_hdrhistogram() {
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let h = hist(&[1, 2, 3]);
    {
        let mut w = IntervalLogWriterBuilder::new()
            .with_start_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .with_base_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
            .with_max_value_divisor(1000.0)
            .begin_log_with(&mut buf, &mut ser)
            .expect("header");
        w.write_histogram(
            &h.0,
            Duration::from_secs(60),
            Duration::from_secs(10),
            Tag::new("poll.raw"),
        )
        .expect("interval");
        w.write_histogram(&h.0, Duration::from_secs(70), Duration::from_secs(10), None)
            .expect("untagged");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("java-style.hlog");
    std::fs::write(&path, &buf).expect("write");
    let back = read_hlog(&path).expect("reads");
    assert_eq!(back.len(), 2);
    assert_eq!(back[0].tag, "poll.raw");
    assert!((back[0].start_s - 60.0).abs() < 1e-9);
    assert!((back[0].end_s - 70.0).abs() < 1e-9);
    assert_eq!(back[0].hist.count(), 3);
    assert_eq!(back[1].tag, "");
}

#[test]
fn bad_lines_are_errors_with_line_numbers_but_a_cut_last_line_is_skipped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("latency.hlog");
    let mut w = HlogWriter::create(&path, START).expect("create");
    w.write("signin.raw", 0.0, 10.0, &hist(&[1]))
        .expect("write");
    w.flush().expect("flush");
    drop(w);
    let good = std::fs::read_to_string(&path).expect("read");

    // a crash mid-line: the partial last line is ignored
    let cut = format!("{good}Tag=signin.raw,10.000,10.000,1.000,HISTFAAAAC");
    std::fs::write(&path, &cut).expect("write");
    assert_eq!(read_hlog(&path).expect("reads").len(), 1);

    // the same garbage with a newline is an error naming the line
    std::fs::write(&path, format!("{good}Tag=signin.raw,abc,10,1,xyz\n")).expect("write");
    let e = read_hlog(&path).expect_err("bad line");
    assert!(e.contains(":8:") && e.contains("start timestamp"), "{e}");
    std::fs::write(&path, format!("{good}Tag=signin.raw,1,10,1,notbase64!\n")).expect("write");
    let e = read_hlog(&path).expect_err("bad histogram");
    assert!(e.contains("base64"), "{e}");
    assert!(read_hlog(&dir.path().join("missing.hlog"))
        .expect_err("missing")
        .contains("cannot read"));
}

#[test]
fn tags_with_delimiters_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut w = HlogWriter::create(&dir.path().join("l.hlog"), START).expect("create");
    assert!(w.write("a,b", 0.0, 1.0, &Hist::new()).is_err());
    assert!(w.write("a b", 0.0, 1.0, &Hist::new()).is_err());
    assert!(w.write("", 0.0, 1.0, &Hist::new()).is_err());
}

#[test]
fn hlog_beside_a_results_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let results = dir.path().join("results.json");
    assert_eq!(
        agentstorm::report::read_hlog_beside(&results).expect("absent is fine"),
        None
    );
    let mut w = HlogWriter::create(&dir.path().join("latency.hlog"), START).expect("create");
    w.write("signin.raw", 0.0, 10.0, &hist(&[1, 2]))
        .expect("write");
    w.flush().expect("flush");
    let got = agentstorm::report::read_hlog_beside(&results)
        .expect("reads")
        .expect("present");
    assert_eq!(got.len(), 1);
}

//! Tests of `metrics::recorder`.

use super::*;
use crate::metrics::sample::{Outcome, Retcode};
use std::time::Instant;

fn poll(event: bool) -> Sample {
    let t = Instant::now();
    Sample {
        operation: Operation::Poll,
        intended_at: t,
        sent_at: t,
        done_at: t + Duration::from_millis(1),
        outcome: Outcome::Ok {
            retcode: Retcode::SUCCESS,
        },
        poll: Some(if event {
            PollResult::Event
        } else {
            PollResult::Empty
        }),
    }
}

#[test]
fn samples_from_many_threads_are_each_counted_once() {
    let r = Recorder::new();
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let r = r.clone();
            std::thread::spawn(move || {
                for k in 0..1000 {
                    r.record(&poll((k + i) % 2 == 0));
                    if k == 500 {
                        r.event_seen("AgentState_Ready", true, None);
                    }
                }
            })
        })
        .collect();
    // collect concurrently with recording: nothing may be lost or doubled
    let mut total = Aggregate::default();
    for _ in 0..20 {
        total.add(&r.collect());
    }
    for t in threads {
        t.join().expect("thread");
    }
    total.add(&r.collect());
    let ops = total.operations();
    assert_eq!(ops["poll"].count, 4000);
    assert_eq!(ops[POLL_EVENT].count + ops[POLL_EMPTY].count, 4000);
    assert_eq!(ops[POLL_EVENT].count, 2000);
    assert_eq!(total.events["AgentState_Ready"], 4);
    assert!(ops["poll"].reconciles());
    // a second collect right away is empty
    assert!(r.collect().operations().is_empty());
}

#[test]
fn recorders_do_not_mix_on_one_thread() {
    let (a, b) = (Recorder::new(), Recorder::new());
    a.record(&poll(true));
    b.record(&poll(true));
    b.record(&poll(false));
    assert_eq!(a.collect().operations()["poll"].count, 1);
    assert_eq!(b.collect().operations()["poll"].count, 2);
}

#[test]
fn collected_shards_equal_recording_whole() {
    // A shard records a successful poll in its half only; what `collect` hands out
    // must be what recording every sample whole gives: counts, outcomes, latencies.
    let t = Instant::now();
    let mut samples = Vec::new();
    for k in 0..30u64 {
        let mut s = poll(k % 3 == 0);
        s.done_at = t + Duration::from_micros(100 + 37 * k);
        if k % 7 == 0 {
            s.outcome = Outcome::Ok {
                retcode: Retcode::new("100-006"),
            };
            s.poll = None;
        }
        if k % 11 == 0 {
            s.operation = Operation::Signin;
            s.poll = None;
        }
        samples.push(s);
    }
    let r = Recorder::new();
    let mut whole = Aggregate::default();
    for s in &samples {
        r.record(s);
        whole.record(s);
    }
    let collected = r.collect();
    assert_eq!(collected.operations(), whole.operations());
    let poll = &collected.operations()["poll"];
    assert_eq!((poll.count, poll.retcode_failures), (27, 4));
    assert_eq!(poll.corrected.count(), 27);
}

#[test]
fn event_types_stay_capped_across_shards_and_collects() {
    let r = Recorder::new();
    let long = "x".repeat(200_000);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (r, long) = (r.clone(), long.clone());
            std::thread::spawn(move || {
                for n in 0..400 {
                    r.event_seen(&format!("T{t}_{n}"), true, None);
                    r.event_seen(&format!("{long}{t}_{n}"), true, None);
                }
                r.event_seen("AgentState_Ready", true, None);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
    let mut total = Aggregate::default();
    total.add(&r.collect());
    total.add(&r.collect());
    assert_eq!(total.events.len(), names::MAX_NAMES + 1);
    assert!(total
        .events
        .keys()
        .all(|k| k.len() <= names::MAX_NAME_BYTES));
    assert_eq!(total.events.values().sum::<u64>(), 2 * 801);
    // Everything under (other) got there by the caps, and says so.
    assert_eq!(total.events_folded.0, total.events[names::OTHER]);
    assert!(total.events_folded.0 > 800, "{:?}", total.events_folded);
}

#[test]
fn gauges_track_peak() {
    let r = Recorder::new();
    r.agent_started();
    r.agent_started();
    r.agent_finished();
    r.agent_started();
    assert_eq!(r.active_agents(), 2);
    assert_eq!(r.peak_active_agents(), 2);
    r.arrival(Duration::from_millis(3));
    r.not_started();
    let agg = r.collect();
    assert_eq!((agg.arrivals, agg.not_started), (1, 1));
    assert_eq!(agg.lag.count(), 1);
}

#[test]
fn an_event_seen_is_counted_only_when_asked_and_its_delivery_kept_either_way() {
    let r = Recorder::new();
    r.event_seen("AgentState_Ready", true, Some(2_000));
    // An event on a failed reply: its delivery counts, the event itself does not.
    r.event_seen("AgentState_Ready", false, Some(4_000));
    // No eventGenTime: counted, no delivery.
    r.event_seen("AgentEvent_Talking", true, None);
    let a = r.collect();
    assert_eq!(a.events.get("AgentState_Ready"), Some(&1));
    assert_eq!(a.events.get("AgentEvent_Talking"), Some(&1));
    assert_eq!(a.sessions.event_delivery.count(), 2);
    let ready = &a.sessions.event_delivery_by_type["AgentState_Ready"];
    assert_eq!(ready.count(), 2);
    assert!(!a
        .sessions
        .event_delivery_by_type
        .contains_key("AgentEvent_Talking"));
}

//! Names the gateway chooses — event types and retcodes — counted in bounded memory: a
//! count map keeps at most [`MAX_NAMES`] names of at most [`MAX_NAME_BYTES`] bytes each;
//! every other name is counted under the one name [`OTHER`], and a [`Folded`] count beside
//! the map says how much went there because of the caps, so the reports can say so.
//! A gateway that invents a new 200 KB event type on every poll therefore costs at most a
//! few tens of kilobytes per map, not a copy of each name in every shard, interval,
//! results file and report.
//!
//! Folding rather than cutting a long name: cut names could collide into one entry that
//! looks real. Merging (shards into an interval, intervals into totals, results files into
//! one) goes through [`add`], which keeps the caps, so no merge can grow a map past them.
//!
//! This module owns only the caps; the maps live in the records that own
//! them (`OpStats::retcodes`, the recorder's and `Results`' `events`), whose serialized
//! shape stays a plain map of name → count.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::sample::Retcode;

/// Most names one map keeps by name (besides [`OTHER`], and the success retcode, which is
/// always kept).
pub const MAX_NAMES: usize = 256;
/// Longest name kept by name, in bytes; a longer one is counted under [`OTHER`].
pub const MAX_NAME_BYTES: usize = 64;
/// The name everything not kept by name is counted under (parenthesised, so that it reads
/// as no gateway's name).
pub const OTHER: &str = "(other)";
/// Failure labels kept per operation in one interval's snapshot (the largest counts); the
/// rest are added under [`OTHER`]. Intervals are kept for the whole run, so their share of
/// memory is what grows with run length: this keeps it small whatever the gateway sends.
pub const INTERVAL_LABELS_MAX: usize = 16;

/// A name type a count map is keyed by. `Key` is what a lookup takes (`str` for `String`),
/// so that counting a name already kept allocates nothing.
pub trait Name: Ord + Borrow<Self::Key> {
    type Key: ?Sized + Ord + 'static;
    fn text(key: &Self::Key) -> &str;
    fn own(key: &Self::Key) -> Self;
    /// [`OTHER`] as a key.
    fn other() -> &'static Self::Key;
    /// A name kept by name whatever the cap, not taking one of its places.
    fn pinned() -> Option<&'static Self::Key> {
        None
    }
}

impl Name for String {
    type Key = str;
    fn text(key: &str) -> &str {
        key
    }
    fn own(key: &str) -> String {
        key.to_string()
    }
    fn other() -> &'static str {
        OTHER
    }
}

const OTHER_RETCODE: Retcode = Retcode::from_static(OTHER);

impl Name for Retcode {
    type Key = Retcode;
    fn text(key: &Retcode) -> &str {
        key.as_str()
    }
    fn own(key: &Retcode) -> Retcode {
        *key
    }
    fn other() -> &'static Retcode {
        &OTHER_RETCODE
    }
    /// Success stays visible by name (`0`) however many failure codes came first.
    fn pinned() -> Option<&'static Retcode> {
        Some(&Retcode::SUCCESS)
    }
}

/// Counts `n` for `name`: under its own name when it is kept or there is room for it,
/// else under [`OTHER`], noted in `folded`. A name already kept costs one lookup and no
/// allocation; a name too long is not looked up at all.
pub fn count<N: Name>(map: &mut BTreeMap<N, u64>, folded: &mut Folded, name: &N::Key, n: u64) {
    let text = N::text(name);
    if text.len() <= MAX_NAME_BYTES && text != OTHER {
        if let Some(c) = map.get_mut(name) {
            *c += n;
            return;
        }
        if N::pinned() == Some(name) || kept(map) < MAX_NAMES {
            map.insert(N::own(name), n);
            return;
        }
    }
    folded.0 += n;
    add_other(map, n);
}

/// Adds one map (and its fold count) into another, keeping the caps: names the target has no
/// room for are folded there.
pub fn add<N: Name>(
    into: &mut BTreeMap<N, u64>,
    into_folded: &mut Folded,
    from: &BTreeMap<N, u64>,
    from_folded: &Folded,
) {
    for (name, n) in from {
        let key: &N::Key = name.borrow();
        if N::text(key) == OTHER {
            add_other(into, *n);
        } else {
            count(into, into_folded, key, *n);
        }
    }
    into_folded.0 += from_folded.0;
}

fn add_other<N: Name>(map: &mut BTreeMap<N, u64>, n: u64) {
    match map.get_mut(N::other()) {
        Some(c) => *c += n,
        None => {
            map.insert(N::own(N::other()), n);
        }
    }
}

/// Names kept by name that count against the cap (the map less its [`OTHER`] and pinned
/// entries).
fn kept<N: Name>(map: &BTreeMap<N, u64>) -> usize {
    let pinned = N::pinned().is_some_and(|p| map.contains_key(p));
    map.len() - usize::from(map.contains_key(N::other())) - usize::from(pinned)
}

/// Keeps the `max` largest counts by name (ties by name) and adds the rest, with any
/// [`OTHER`] already there, under [`OTHER`].
pub fn keep_largest(map: &mut BTreeMap<String, u64>, max: usize) {
    let named = kept(map);
    if named <= max {
        return;
    }
    let mut other = map.remove(OTHER).unwrap_or(0);
    let mut ranked: Vec<(String, u64)> = std::mem::take(map).into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    other += ranked[max..].iter().map(|(_, n)| n).sum::<u64>();
    ranked.truncate(max);
    *map = ranked.into_iter().collect();
    map.insert(OTHER.to_string(), other);
}

/// How many counts went under [`OTHER`] because of the caps (a name past the first
/// [`MAX_NAMES`] of its map, or longer than [`MAX_NAME_BYTES`]). Which names they were,
/// or how many distinct ones, is not kept: that would mean keeping them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Folded(pub u64);

impl Folded {
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_past_the_cap_or_too_long_are_folded_and_counted() {
        let (mut map, mut folded) = (BTreeMap::<String, u64>::new(), Folded::default());
        for n in 0..MAX_NAMES + 10 {
            count(&mut map, &mut folded, &format!("Type{n}"), 1);
        }
        count(&mut map, &mut folded, "Type0", 2);
        count(&mut map, &mut folded, &"x".repeat(MAX_NAME_BYTES + 1), 1);
        count(&mut map, &mut folded, &"y".repeat(MAX_NAME_BYTES), 1);
        // A gateway sending the fold's own name does not get a slot of its own either.
        count(&mut map, &mut folded, OTHER, 1);
        assert_eq!(map.len(), MAX_NAMES + 1);
        assert_eq!(map["Type0"], 3);
        assert_eq!(map[OTHER], 10 + 1 + 1 + 1);
        assert!(!map.contains_key(&"y".repeat(MAX_NAME_BYTES)));
        assert_eq!(folded, Folded(10 + 1 + 1 + 1));
        assert_eq!(map.values().sum::<u64>(), MAX_NAMES as u64 + 2 + 13);
    }

    #[test]
    fn merging_keeps_the_cap_and_the_fold_count() {
        let (mut a, mut fa) = (BTreeMap::<String, u64>::new(), Folded::default());
        for n in 0..MAX_NAMES {
            count(&mut a, &mut fa, &format!("A{n}"), 1);
        }
        let (mut b, mut fb) = (BTreeMap::<String, u64>::new(), Folded::default());
        count(&mut b, &mut fb, "A0", 5);
        count(&mut b, &mut fb, "B0", 1);
        count(&mut b, &mut fb, "B1", 1);
        count(&mut b, &mut fb, &"z".repeat(100), 4);
        assert_eq!(fb, Folded(4), "the long one, four times");
        add(&mut a, &mut fa, &b, &fb);
        assert_eq!(a.len(), MAX_NAMES + 1);
        assert_eq!(a["A0"], 6);
        assert_eq!(a[OTHER], 1 + 1 + 4);
        assert_eq!(fa, Folded(6), "B0, B1 (no room in a) and the long one");
        // Every fold is counted once, however it came: the other side's folds add too.
        add(&mut a, &mut fa, &b, &fb);
        assert_eq!((a[OTHER], fa), (12, Folded(12)));
        let text = serde_json::to_string(&fa).expect("ser");
        assert_eq!(text, "12");
        assert_eq!(serde_json::from_str::<Folded>(&text).expect("de"), fa);
    }

    #[test]
    fn success_is_always_kept_by_name() {
        let (mut map, mut folded) = (BTreeMap::<Retcode, u64>::new(), Folded::default());
        for n in 0..MAX_NAMES + 3 {
            count(&mut map, &mut folded, &Retcode::new(&format!("E{n}")), 1);
        }
        count(&mut map, &mut folded, &Retcode::SUCCESS, 1);
        assert_eq!(map[&Retcode::SUCCESS], 1);
        assert_eq!(map[&Retcode::new(OTHER)], 3);
        assert_eq!(map.len(), MAX_NAMES + 2);
        let text = serde_json::to_string(&map).expect("ser");
        assert!(text.contains("\"(other)\":3"), "{text}");
    }

    #[test]
    fn an_operation_keeps_its_retcodes_capped_and_its_counts_reconciled() {
        use crate::metrics::{OpStats, Operation, Outcome, Sample};
        let t = std::time::Instant::now();
        let sample = |code: &str| Sample {
            operation: Operation::Poll,
            intended_at: t,
            sent_at: t,
            done_at: t,
            outcome: Outcome::Ok {
                retcode: Retcode::new(code),
            },
            poll: None,
        };
        let mut shard = OpStats::default();
        for n in 0..MAX_NAMES + 40 {
            shard.record(&sample(&format!("R{n:06}")));
        }
        shard.record(&sample("0"));
        assert_eq!(
            shard.retcodes.len(),
            MAX_NAMES + 2,
            "the cap, (other) and 0"
        );
        assert_eq!(
            (shard.ok, shard.retcode_failures),
            (1, MAX_NAMES as u64 + 40)
        );
        assert!(shard.reconciles());
        assert_eq!(shard.retcodes_folded.0, 40);
        let mut totals = OpStats::default();
        totals.add(&shard);
        totals.add(&shard);
        assert_eq!(totals.retcodes.len(), MAX_NAMES + 2);
        assert_eq!(totals.retcodes[&Retcode::new(OTHER)], 80);
        assert_eq!(
            totals.retcodes_folded.0, 80,
            "every call under (other) was folded by the cap"
        );
        assert!(totals.reconciles());
        let back: OpStats =
            serde_json::from_str(&serde_json::to_string(&totals).expect("ser")).expect("de");
        assert_eq!(back, totals);
        let plain = serde_json::to_string(&OpStats::default()).expect("ser");
        assert!(
            !plain.contains("retcodes_folded"),
            "absent when nothing folded"
        );
    }

    #[test]
    fn a_long_event_type_gets_no_delivery_histogram_of_its_own() {
        use crate::metrics::stats::{SessionStats, DELIVERY_OTHER};
        let mut s = SessionStats::default();
        s.record_delivery(&"x".repeat(MAX_NAME_BYTES + 1), 1_000);
        s.record_delivery("AgentState_Ready", 1_000);
        let keys: Vec<&str> = s
            .event_delivery_by_type
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, [DELIVERY_OTHER, "AgentState_Ready"]);
    }

    #[test]
    fn interval_labels_keep_the_largest() {
        let mut m: BTreeMap<String, u64> = (0..20u64).map(|n| (format!("L{n:02}"), n)).collect();
        m.insert(OTHER.into(), 100);
        keep_largest(&mut m, 4);
        assert_eq!(m.len(), 5);
        assert_eq!(m["L19"], 19);
        assert_eq!(m["L16"], 16);
        assert_eq!(m[OTHER], 100 + (0..16).sum::<u64>());
        let mut few: BTreeMap<String, u64> = [("a".to_string(), 1)].into();
        keep_largest(&mut few, 4);
        assert_eq!(few.len(), 1);
    }
}

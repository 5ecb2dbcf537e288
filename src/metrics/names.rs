//! Names the gateway chooses — event types and retcodes — counted in bounded memory: a
//! count map keeps at most [`MAX_NAMES`] names of at most [`MAX_NAME_BYTES`] bytes each;
//! every other name is counted under the one name [`OTHER`], and a [`Folded`] sketch
//! beside the map counts how many distinct names went there (exactly for a few, an
//! estimate for many), so the reports can say so.
//! A gateway that invents a new 200 KB event type on every poll therefore costs at most a
//! few tens of kilobytes per map, not a copy of each name in every shard, interval,
//! results file and report.
//!
//! Folding rather than cutting a long name: cut names could collide into one entry that
//! looks real. Merging (shards into an interval, intervals into totals, results files into
//! one) goes through [`add`], which keeps the caps, so no merge can grow a map past them.
//!
//! This module owns only the caps and the sketch; the maps live in the records that own
//! them (`OpStats::retcodes`, the recorder's and `Results`' `events`), whose serialized
//! shape stays a plain map of name → count.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    folded.insert(text);
    add_other(map, n);
}

/// Adds one map (and its sketch) into another, keeping the caps: names the target has no
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
    into_folded.merge(from_folded);
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

/// Registers of the sketch: 2^10, for a standard error of about 3 %.
const BITS: u32 = 10;
const REGISTERS: usize = 1 << BITS;
/// Distinct names counted exactly (by their hashes) before the sketch switches to
/// registers; their hashes take half the registers' bytes at most.
const EXACT_MAX: usize = 64;

/// How many distinct names were counted under [`OTHER`]. Counting distinct names exactly
/// would mean keeping them, so: the first [`EXACT_MAX`] are counted exactly by their
/// 64-bit hashes, and past that a HyperLogLog sketch (one byte per register) estimates
/// the number within a few percent. Merging is exact (a union of hashes, or the
/// register-wise maximum), so shards, intervals and results files add up to the sketch of
/// all their names together. Nothing is allocated until the first fold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Folded {
    sketch: Sketch,
}

#[derive(Debug, Clone, Default, PartialEq)]
enum Sketch {
    #[default]
    Empty,
    /// Sorted, distinct, at most [`EXACT_MAX`].
    Exact(Vec<u64>),
    Registers(Box<[u8; REGISTERS]>),
}

fn register(registers: &mut [u8; REGISTERS], h: u64) {
    let index = (h >> (64 - BITS)) as usize;
    // Position of the first 1 bit after the index bits (the rest all zero: the last).
    let rank = ((h << BITS).leading_zeros() + 1).min(64 - BITS + 1) as u8;
    registers[index] = registers[index].max(rank);
}

fn registers_of(hashes: &[u64]) -> Box<[u8; REGISTERS]> {
    let mut r = Box::new([0; REGISTERS]);
    for &h in hashes {
        register(&mut r, h);
    }
    r
}

impl Folded {
    pub fn insert(&mut self, name: &str) {
        self.insert_hash(hash(name.as_bytes()));
    }

    fn insert_hash(&mut self, h: u64) {
        match &mut self.sketch {
            Sketch::Empty => self.sketch = Sketch::Exact(vec![h]),
            Sketch::Exact(hashes) => {
                if let Err(at) = hashes.binary_search(&h) {
                    hashes.insert(at, h);
                    if hashes.len() > EXACT_MAX {
                        self.sketch = Sketch::Registers(registers_of(hashes));
                    }
                }
            }
            Sketch::Registers(r) => register(r, h),
        }
    }

    pub fn merge(&mut self, o: &Folded) {
        match (&mut self.sketch, &o.sketch) {
            (_, Sketch::Empty) => {}
            (Sketch::Empty, theirs) => self.sketch = theirs.clone(),
            (_, Sketch::Exact(hashes)) => {
                for &h in hashes {
                    self.insert_hash(h);
                }
            }
            (Sketch::Registers(ours), Sketch::Registers(theirs)) => {
                for (a, b) in ours.iter_mut().zip(theirs.iter()) {
                    *a = (*a).max(*b);
                }
            }
            (Sketch::Exact(hashes), Sketch::Registers(theirs)) => {
                let mut r = theirs.clone();
                for &h in hashes.iter() {
                    register(&mut r, h);
                }
                self.sketch = Sketch::Registers(r);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sketch == Sketch::Empty
    }

    /// Whether [`Folded::names`] is an exact count rather than an estimate.
    pub fn is_exact(&self) -> bool {
        !matches!(self.sketch, Sketch::Registers(_))
    }

    /// Distinct names folded: exact up to [`EXACT_MAX`], estimated past it.
    pub fn names(&self) -> u64 {
        let registers = match &self.sketch {
            Sketch::Empty => return 0,
            Sketch::Exact(hashes) => return hashes.len() as u64,
            Sketch::Registers(r) => r,
        };
        let m = REGISTERS as f64;
        let sum: f64 = registers.iter().map(|&r| (-f64::from(r)).exp2()).sum();
        let zeros = registers.iter().filter(|&&r| r == 0).count();
        let raw = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
        // Up to a few thousand names, linear counting of the empty registers is the better
        // estimate.
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        // Never fewer than the exact count it grew out of.
        (estimate.round() as u64).max(EXACT_MAX as u64 + 1)
    }
}

/// A 64-bit hash that is the same in every build (the sketch is written to results.json
/// and merged later): 8 bytes a step, then the splitmix64 finaliser.
fn hash(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let step = |h: u64, w: u64| (h.rotate_left(23) ^ w).wrapping_mul(K);
    let mut h = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = step(h, u64::from_le_bytes(w));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = step(h, u64::from_le_bytes(tail));
    h ^= h >> 30;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// In results.json: `{"names": <count>, "sketch": "<base64>"}`; `names` is for people and
/// scripts, the sketch for merging, and only the sketch is read back. The sketch is the
/// exact hashes (8 bytes each, little-endian) or the registers, told apart by length.
#[derive(Serialize, Deserialize)]
struct FoldedDoc {
    names: u64,
    #[serde(default)]
    sketch: String,
}

impl Serialize for Folded {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        let bytes: Vec<u8> = match &self.sketch {
            Sketch::Empty => Vec::new(),
            Sketch::Exact(hashes) => hashes.iter().flat_map(|h| h.to_le_bytes()).collect(),
            Sketch::Registers(r) => r.to_vec(),
        };
        FoldedDoc {
            names: self.names(),
            sketch: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Folded {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine as _;
        let doc = FoldedDoc::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&doc.sketch)
            .map_err(|e| serde::de::Error::custom(format!("sketch is not base64: {e}")))?;
        let mut f = Folded::default();
        if bytes.len() == REGISTERS {
            let mut r = Box::new([0; REGISTERS]);
            r.copy_from_slice(&bytes);
            f.sketch = Sketch::Registers(r);
        } else if bytes.len() % 8 == 0 && bytes.len() <= 8 * EXACT_MAX {
            for c in bytes.chunks_exact(8) {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                f.insert_hash(u64::from_le_bytes(w));
            }
        } else {
            return Err(serde::de::Error::custom(format!(
                "sketch of {} bytes: expected {REGISTERS} or a multiple of 8 up to {}",
                bytes.len(),
                8 * EXACT_MAX
            )));
        }
        Ok(f)
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
        assert_eq!(folded.names(), 10 + 1 + 1 + 1);
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
        assert_eq!(fb.names(), 1);
        add(&mut a, &mut fa, &b, &fb);
        assert_eq!(a.len(), MAX_NAMES + 1);
        assert_eq!(a["A0"], 6);
        assert_eq!(a[OTHER], 1 + 1 + 4);
        assert_eq!(fa.names(), 3, "B0, B1 and the long one");
        // The same names again add counts, not distinct names.
        add(&mut a, &mut fa, &b, &fb);
        assert_eq!((a[OTHER], fa.names()), (12, 3));
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
    fn the_estimate_is_close_for_many_names_and_survives_json() {
        let mut f = Folded::default();
        for n in 0..20_000u32 {
            f.insert(&format!("Hostile_{n:09}_{}", "x".repeat(300)));
            // Repeats do not count.
            f.insert("Hostile_000000000_");
        }
        let est = f.names() as f64;
        assert!((est - 20_001.0).abs() / 20_001.0 < 0.1, "{est}");
        let text = serde_json::to_string(&f).expect("ser");
        assert!(
            text.starts_with(&format!("{{\"names\":{}", f.names())),
            "{text}"
        );
        let back: Folded = serde_json::from_str(&text).expect("de");
        assert_eq!(back, f);
        let bad = serde_json::from_str::<Folded>(r#"{"names":3,"sketch":"AAAA"}"#)
            .expect_err("wrong length");
        assert!(bad.to_string().contains("expected 1024"), "{bad}");
        assert_eq!(Folded::default().names(), 0);
        // A few names: exact, through JSON and merges of either kind.
        let mut few = Folded::default();
        for n in 0..EXACT_MAX as u32 {
            few.insert(&format!("n{n}"));
        }
        let back: Folded =
            serde_json::from_str(&serde_json::to_string(&few).expect("ser")).expect("de");
        assert_eq!((back.names(), &back), (EXACT_MAX as u64, &few));
        let mut both = few.clone();
        both.merge(&few);
        assert_eq!(both.names(), EXACT_MAX as u64);
        both.insert("one more");
        assert!(matches!(both.sketch, Sketch::Registers(_)));
        let near = both.names() as f64 - (EXACT_MAX + 1) as f64;
        assert!(near.abs() < 4.0, "{}", both.names());
        let mut into_exact = few.clone();
        into_exact.merge(&f);
        assert!((into_exact.names() as f64 - 20_065.0).abs() / 20_065.0 < 0.1);
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
        assert_eq!(shard.retcodes_folded.names(), 40);
        let mut totals = OpStats::default();
        totals.add(&shard);
        totals.add(&shard);
        assert_eq!(totals.retcodes.len(), MAX_NAMES + 2);
        assert_eq!(totals.retcodes[&Retcode::new(OTHER)], 80);
        assert_eq!(totals.retcodes_folded.names(), 40);
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

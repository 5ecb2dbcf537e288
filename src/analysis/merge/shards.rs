//! The shard-consistency checks a merge makes before adding anything: shards only (no
//! whole run, no merge of a merge), one of each of the N shards of one run, disjoint agent
//! id slices that together are the scenario's `agents.ids`, and the merged shard record.

use std::collections::BTreeMap;

use super::{MergeError, MergeInput};
use crate::metrics::results::ShardInfo;
use crate::metrics::Results;
use crate::scenario::values::{ranges_text, IdRanges};

pub(super) fn missing_message(count: u32, missing: &[u32]) -> String {
    let shown: Vec<String> = missing
        .iter()
        .take(8)
        .map(|k| format!("{k}/{count}"))
        .collect();
    let more = if missing.len() > shown.len() {
        format!(" and {} more", missing.len() - shown.len())
    } else {
        String::new()
    };
    format!(
        "shard{} {}{more} of this {count}-shard run {} missing: a merge needs every shard",
        if missing.len() == 1 { "" } else { "s" },
        shown.join(", "),
        if missing.len() == 1 { "is" } else { "are" },
    )
}

/// Checks that the inputs can be merged as the shards of one run: each is a shard (`run
/// --shard K/N`, carrying a `shard` record) and not already a merge, all ran the same
/// scenario (by hash; a shard's hash is the whole scenario's), and they are one of each of
/// the run's N shards (same count, no index twice, none missing) whose agent-id slices are
/// disjoint and together are the scenario's ids. Whole runs are refused: a whole run is
/// complete as it is.
pub fn check_shards(inputs: &[MergeInput]) -> Result<(), MergeError> {
    checked_shard_set(inputs).map(|_| ())
}

/// [`check_shards`], returning the merged shard record.
pub(super) fn checked_shard_set(inputs: &[MergeInput]) -> Result<ShardInfo, MergeError> {
    let Some((first, _)) = inputs.first() else {
        return Err(MergeError::Empty);
    };
    let mut shards: Vec<&ShardInfo> = Vec::with_capacity(inputs.len());
    for (index, (r, _)) in inputs.iter().enumerate() {
        let Some(s) = r.shard.as_ref() else {
            return Err(MergeError::WholeRun { index });
        };
        if s.merged > 1 {
            return Err(MergeError::AlreadyMerged {
                index,
                merged: s.merged,
            });
        }
        shards.push(s);
    }
    for (index, (r, _)) in inputs.iter().enumerate().skip(1) {
        if r.scenario.hash != first.scenario.hash {
            return Err(MergeError::ScenarioMismatch {
                index,
                name: r.scenario.name.clone(),
                found: r.scenario.hash.clone(),
                first_name: first.scenario.name.clone(),
                expected: first.scenario.hash.clone(),
            });
        }
    }
    let count = one_shard_each(&shards)?;
    let whole = ids_covered(first, &shards)?;
    Ok(ShardInfo {
        index: 0,
        count,
        ids: whole.as_text().to_string(),
        merged: u32::try_from(inputs.len()).unwrap_or(u32::MAX),
        late_start_s: shards.iter().map(|s| s.late_start_s).fold(0.0, f64::max),
    })
}

/// Every shard of one count, each index once and none missing; returns the count.
fn one_shard_each(shards: &[&ShardInfo]) -> Result<u32, MergeError> {
    let label = |s: &ShardInfo| format!("{}/{}", s.index, s.count);
    let count = shards[0].count;
    let mut seen: BTreeMap<u32, usize> = BTreeMap::new();
    for (index, s) in shards.iter().enumerate() {
        if s.count != count {
            return Err(MergeError::CountMismatch {
                index,
                shard: label(s),
                first: label(shards[0]),
            });
        }
        if s.index >= s.count {
            return Err(MergeError::NoSuchShard {
                index,
                shard: label(s),
            });
        }
        if let Some(other) = seen.insert(s.index, index) {
            return Err(MergeError::SameShardTwice {
                index,
                other,
                shard: label(s),
            });
        }
    }
    let missing: Vec<u32> = (0..count).filter(|k| !seen.contains_key(k)).collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards { count, missing });
    }
    Ok(count)
}

/// The shards' id ranges do not overlap and together are exactly the scenario's ids;
/// returns the scenario's ids.
fn ids_covered(first: &Results, shards: &[&ShardInfo]) -> Result<IdRanges, MergeError> {
    let whole =
        scenario_ids(first).map_err(|message| MergeError::ScenarioIds { index: 0, message })?;
    let mut slices: Vec<(u32, u32, usize)> = Vec::new();
    for (index, s) in shards.iter().enumerate() {
        let ids = IdRanges::parse(&s.ids).map_err(|e| MergeError::ShardIds {
            index,
            message: e.to_string(),
        })?;
        slices.extend(ids.ranges().iter().copied().map(|(a, b)| (a, b, index)));
    }
    slices.sort_unstable();
    for pair in slices.windows(2) {
        let ((_, hi, i), (lo, _, j)) = (pair[0], pair[1]);
        if lo <= hi {
            return Err(MergeError::Overlap {
                index: i.max(j),
                other: i.min(j),
                id: lo,
            });
        }
    }
    let union = coalesce(slices.iter().map(|&(a, b, _)| (a, b)).collect());
    let expected = coalesce(whole.ranges().to_vec());
    if union != expected {
        let (missing, extra) = (difference(&expected, &union), difference(&union, &expected));
        let shown = |r: &[(u32, u32)]| match r.len() {
            0 => "none".to_string(),
            n if n <= 4 => ranges_text(r),
            n => format!("{} and {} more ranges", ranges_text(&r[..4]), n - 4),
        };
        return Err(MergeError::IdsNotCovered {
            detail: format!(
                "ids missing from every shard: {}; ids in a shard but not in the scenario: {}",
                shown(&missing),
                shown(&extra)
            ),
        });
    }
    Ok(whole)
}

/// The whole scenario's `agents.ids`, read from the scenario text the results carry (only
/// that key: the rest may name files that exist only where the shard ran).
fn scenario_ids(r: &Results) -> Result<IdRanges, String> {
    let doc: toml::Value = toml::from_str(&r.scenario.text).map_err(|e| {
        format!(
            "its scenario text cannot be read ({}), so the shards' id slices cannot be checked",
            e.message()
        )
    })?;
    let text = doc
        .get("agents")
        .and_then(|a| a.get("ids"))
        .and_then(toml::Value::as_str)
        .ok_or("its scenario text has no agents.ids, so the shards' id slices cannot be checked")?;
    IdRanges::parse(text).map_err(|e| format!("its scenario's agents.ids: {e}"))
}

/// Sorted, with touching and overlapping ranges joined.
fn coalesce(mut ranges: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some((_, hi)) if u64::from(a) <= u64::from(*hi) + 1 => *hi = (*hi).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The ids of `a` that are not in `b` (both coalesced).
fn difference(a: &[(u32, u32)], b: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(lo, hi) in a {
        let mut from = u64::from(lo);
        for &(blo, bhi) in b.iter().filter(|(x, y)| *y >= lo && *x <= hi) {
            if u64::from(blo) > from {
                out.push((from as u32, blo - 1));
            }
            from = from.max(u64::from(bhi) + 1);
        }
        if from <= u64::from(hi) {
            out.push((from as u32, hi));
        }
    }
    out
}

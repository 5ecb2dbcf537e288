//! The words of a refusal where serde's own would name a Rust type or a range the key does
//! not really take: the whole-number keys with their true ranges and meanings, and what a
//! structured value (a stage, an id range, a template) looks like when one of the wrong
//! type was written.

use super::{MAX_READ_BUFFER, MIN_READ_BUFFER};
use crate::scenario::tree::KeyPath;

/// Whole-number keys with a range narrower than their type's, or a meaning worth saying:
/// the key path, the lowest and highest value accepted, and what the number is.
const WHOLE_NUMBERS: [(&[&str], u64, u64, &str); 5] = [
    (
        &["load", "max_in_flight"],
        1,
        u32::MAX as u64,
        "the most agents alive at once",
    ),
    (
        &["target", "read_buffer_bytes"],
        MIN_READ_BUFFER as u64,
        MAX_READ_BUFFER as u64,
        "bytes per connection, 2048 by default; or read_buffer_bytes = \"adaptive\" for hyper's own buffer",
    ),
    (
        &["stop", "signout_rate"],
        1,
        u32::MAX as u64,
        "sign-outs per second while stopping; 0 would never end the stop",
    ),
    (
        &["agents", "rest_cause"],
        0,
        u8::MAX as u64,
        "the rest cause sent at sign-in, 0 = none",
    ),
    (
        &["load", "seed"],
        0,
        u64::MAX,
        "the seed of every random draw",
    ),
];

/// The one message for a value that a whole-number key does not accept, whether serde
/// refused it (negative, a fraction, text, past the type's range) or a check here did:
/// `KEY = VALUE: …` with the range the key really takes. `written` is the value as written
/// (`-5`, `1.5`, `"many"`). None for a key without such a rule.
pub fn whole_number_refused(path: &KeyPath, written: &str) -> Option<String> {
    let key = match path.0.last() {
        Some(crate::scenario::tree::Seg::Key(k)) => k.as_str(),
        _ => return None,
    };
    if *path == KeyPath::keys(&["agents", "agenttype"]) {
        return Some(agenttype_refused(written));
    }
    let (_, min, max, what) = WHOLE_NUMBERS
        .iter()
        .find(|(p, ..)| *path == KeyPath::keys(p))?;
    Some(format!(
        "{key} = {written}: give a whole number from {min} to {max} ({what})"
    ))
}

pub(super) fn agenttype_refused(written: &str) -> String {
    format!("agenttype = {written} is not accepted: use 4 (PC + phone) or 11 (PC + video phone)")
}

/// What a structured value looks like, for a value of the wrong type at `path` (serde's
/// "expected struct Stage" names a Rust type, not what to write).
pub fn what_it_is(path: &KeyPath) -> Option<&'static str> {
    use crate::scenario::tree::Seg;
    let keys: Vec<&str> = path
        .0
        .iter()
        .map(|s| match s {
            Seg::Key(k) => k.as_str(),
            Seg::Index(_) => "[]",
        })
        .collect();
    Some(match keys.as_slice() {
        ["load", "stages", "[]"] => {
            "a stage is a table: { ramp = \"30s\", to = 100 } (the arrival rate moves to 100 \
             sign-ins per second over 30 s) or { hold = \"1m\", rate = 50 } (50 per second for a \
             minute; without `rate` a hold keeps the rate it starts at)"
        }
        ["load", "stages"] => {
            "stages is an array of stages, e.g. stages = [{ ramp = \"30s\", to = 100 }, \
             { hold = \"1m\", rate = 50 }]"
        }
        ["agents", "ids"] => {
            "ids is a string of agent ids and ranges, e.g. ids = \"1001-2000,3001\""
        }
        ["agents", "phonenum"] => {
            "phonenum is a string, with {agentid} standing for the agent's id, e.g. \
             phonenum = \"7{agentid}\""
        }
        _ => return None,
    })
}

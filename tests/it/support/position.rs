//! Test support: the 1-based line and column of a place in scenario text, as the loader's
//! errors report them. Used by the `scenario_errors` and `source_addresses` modules.

/// Line and column of byte offset `at` in `text` (columns count characters).
pub fn pos_at(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    (line, col)
}

/// Line and column of the first `needle` in `text`.
pub fn pos_of(text: &str, needle: &str) -> (usize, usize) {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in text"));
    pos_at(text, at)
}

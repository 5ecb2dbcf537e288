//! The helpers behind every "where and what" message about a TOML file a user wrote
//! (scenario files, the simulated gateway's configuration): the nearest valid name to a
//! misspelt one, for "did you mean"; the 1-based line and column of a byte offset; and a
//! parser's or serde's message made one line in TOML's words. Nothing else computes these.

/// The closest valid name to a misspelt one, if any is close enough to be a likely typo.
pub fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    // One edit away (`mx` → `max`) or similar by Jaro-Winkler (`timout` → `timeout`);
    // fewest edits first, then the most similar.
    candidates
        .iter()
        .map(|c| {
            (
                strsim::osa_distance(word, c),
                strsim::jaro_winkler(word, c),
                *c,
            )
        })
        .filter(|(edits, score, _)| *edits <= 1 || *score >= 0.8)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, c)| c)
}

/// 1-based line and column (in characters) of byte `offset` in `text`; an offset past the
/// end or inside a character counts as the nearest character boundary before it.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Folds a multi-line message (a TOML parser's) onto one line.
pub fn one_line(message: &str) -> String {
    let lines: Vec<&str> = message.lines().map(str::trim).collect();
    lines
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Serde names Rust types and its own data model in its messages ("invalid type: map,
/// expected u8"); the author of a TOML file thinks in TOML values.
pub fn toml_words(msg: &str) -> String {
    let mut m = msg
        .replace("invalid type: map,", "invalid type: a table,")
        .replace("invalid type: sequence,", "invalid type: an array,")
        .replace(
            "wanted string or table",
            "expected a string naming one of the choices",
        );
    if let Some(at) = m.find("expected struct ") {
        m.truncate(at);
        m.push_str("expected a table");
    }
    let whole = "expected a whole number from 0";
    for (rust, plain) in [
        ("expected f64", "expected a number".to_string()),
        ("expected f32", "expected a number".to_string()),
        ("expected u8", format!("{whole} to 255")),
        ("expected u16", format!("{whole} to 65535")),
        ("expected u32", format!("{whole} to 4294967295")),
        ("expected u64", whole.to_string()),
        ("expected usize", whole.to_string()),
        ("expected i64", "expected a whole number".to_string()),
    ] {
        if let Some(rest) = m.strip_suffix(rust) {
            m = format!("{rest}{plain}");
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_suggests_typos_only() {
        let stage = ["ramp", "to", "hold", "rate"];
        assert_eq!(nearest("hlod", &stage), Some("hold"));
        assert_eq!(nearest("rmap", &stage), Some("ramp"));
        assert_eq!(nearest("duration", &stage), None);
        let target = ["url", "ca_file", "insecure_skip_verify", "timeout"];
        assert_eq!(nearest("timout", &target), Some("timeout"));
        assert_eq!(nearest("cafile", &target), Some("ca_file"));
        assert_eq!(nearest("zzz", &target), None);
        assert_eq!(nearest("mx", &["min", "max"]), Some("max"));
        assert_eq!(nearest("x", &["min", "max"]), None);
        assert_eq!(
            nearest("pol_wait", &["poll_wait", "push_timeout"]),
            Some("poll_wait")
        );
    }

    #[test]
    fn messages_become_one_line_in_toml_words() {
        assert_eq!(
            one_line("invalid string\n  expected `\"`\n"),
            "invalid string; expected `\"`"
        );
        let m = "invalid value: integer `-1`, expected u32";
        assert_eq!(
            toml_words(m),
            "invalid value: integer `-1`, expected a whole number from 0 to 4294967295"
        );
        let m = "invalid type: integer `5`, expected struct AgentsSpec";
        assert_eq!(toml_words(m), "invalid type: integer `5`, expected a table");
        let m = "invalid type: map, expected a string";
        assert_eq!(toml_words(m), "invalid type: a table, expected a string");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("a = 1\nb = 2", 6), (2, 1));
        assert_eq!(line_col("é = 1\nab", 8), (2, 2));
        assert_eq!(line_col("é = 1", 5), (1, 5));
        assert_eq!(line_col("é", 1), (1, 1), "inside a character");
        assert_eq!(line_col("ab", 99), (1, 3), "past the end");
    }
}

//! Text for the HTML report: escaping (every string from a scenario, a gateway or a
//! results file goes through [`esc`]), number and duration formatting, and a small table
//! builder whose text cells are escaped for the caller.
//!
//! It formats values; it does not decide what the report shows.

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A number with as many decimals as `step` (a tick step or a precision) needs.
pub fn fmt_num(v: f64, step: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    let step = step.abs();
    let decimals = if step > 0.0 && step < 1.0 {
        (-step.log10().floor()) as usize
    } else {
        0
    };
    let s = format!("{:.*}", decimals.min(6), v);
    // "-0" reads as a bug on an axis.
    if s.trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        s.trim_start_matches('-').to_string()
    } else {
        s
    }
}

/// A count with narrow no-break space thousands separators (never wrapped): 1234567 → "1 234 567".
pub fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut o = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            o.push('\u{202F}');
        }
        o.push(c);
    }
    o
}

/// Milliseconds with 3 significant digits: 0.123, 1.23, 12.3, 123, 1234.
pub fn fmt_ms(ms: f64) -> String {
    if !ms.is_finite() {
        return "–".to_string();
    }
    let a = ms.abs();
    if a >= 100.0 {
        format!("{ms:.0}")
    } else if a >= 10.0 {
        format!("{ms:.1}")
    } else if a >= 1.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.3}")
    }
}

/// A value for a hover note: whole numbers as such, others with 3 significant digits.
pub fn fmt_sig(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        fmt_ms(v)
    }
}

/// A latency for a table cell: "12.3 ms", or "–" when there is none.
pub fn fmt_ms_opt(ms: Option<f64>) -> String {
    ms.map(|v| format!("{} ms", fmt_ms(v)))
        .unwrap_or_else(|| "–".into())
}

/// A run length: "45.2 s", "12 min 05 s", "3 h 04 min 05 s".
pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".to_string();
    }
    if secs < 60.0 {
        return format!("{secs:.1} s");
    }
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h} h {m:02} min {s:02} s")
    } else {
        format!("{m} min {s:02} s")
    }
}

/// `part` as a percentage of `whole`: "12.5 %" (or "–" when `whole` is 0). Plain text:
/// escape it like any other.
pub fn fmt_pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_string();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1 %".to_string()
    } else {
        format!("{p:.1} %")
    }
}

/// One table cell.
pub enum Cell {
    /// Text, escaped by the table.
    Text(String),
    /// A number (right-aligned), escaped by the table.
    Num(String),
    /// Markup the caller built and escaped itself.
    Html(String),
}

/// A table with a header row; `class` is added to the `<table>`.
pub fn table(class: &str, head: &[&str], rows: Vec<Vec<Cell>>) -> String {
    let mut o = format!("<table class=\"{}\"><thead><tr>", esc(class));
    for h in head {
        o.push_str(&format!("<th>{}</th>", esc(h)));
    }
    o.push_str("</tr></thead><tbody>\n");
    for row in rows {
        o.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Text(t) => o.push_str(&format!("<td>{}</td>", esc(&t))),
                Cell::Num(t) => o.push_str(&format!("<td class=\"num\">{}</td>", esc(&t))),
                Cell::Html(h) => o.push_str(&format!("<td>{h}</td>")),
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
    o
}

/// A two-column fact list (label, already-escaped value).
pub fn facts(rows: &[(&str, String)]) -> String {
    let mut o = String::from("<dl class=\"facts\">");
    for (k, v) in rows {
        o.push_str(&format!("<dt>{}</dt><dd>{v}</dd>", esc(k)));
    }
    o.push_str("</dl>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_count(1_234_567), "1\u{202F}234\u{202F}567");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(fmt_num(0.25, 0.05), "0.25");
        assert_eq!(fmt_num(-0.0001, 1.0), "0");
        assert_eq!(fmt_num(20.0, 5.0), "20");
        assert_eq!(fmt_ms(0.1234), "0.123");
        assert_eq!(fmt_ms(1234.4), "1234");
        assert_eq!(fmt_sig(10.0), "10");
        assert_eq!(fmt_sig(4.6), "4.60");
        assert_eq!(fmt_duration(3725.0), "1 h 02 min 05 s");
        assert_eq!(fmt_duration(12.34), "12.3 s");
        assert_eq!(fmt_pct(1, 3), "33.3 %");
        assert_eq!(fmt_pct(1, 0), "–");
    }
}

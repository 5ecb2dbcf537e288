//! The HTML report (`report.html`): one self-contained document rendered from Results
//! alone, for a person deciding whether a run passed and why.
//!
//! It owns the page layout and the order of sections: overview (status, thresholds)
//! first, then charts over time, sessions, operations (spectra, outcomes), events,
//! environment and the scenario as run. The page loads nothing: inline CSS, inline SVG
//! charts drawn without script (so they print), and a Content-Security-Policy that forbids
//! every fetch. Every string from a scenario, a gateway or a results file is escaped. It
//! must not compute run figures beyond presenting Results, and never writes files.

mod analysis;
mod distribution;
mod fmt;
mod overview;
mod svg;
mod timeline;

use crate::metrics::Results;
use fmt::esc;

/// One threshold verdict as the report shows it (the caller maps gate verdicts onto it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdLine {
    /// What was checked, e.g. `signin p99 corrected`.
    pub name: String,
    /// The value the run measured, formatted with its unit.
    pub measured: String,
    /// The limit, formatted with its comparison and unit (`<= 500 ms`).
    pub allowed: String,
    pub passed: bool,
}

/// Renders the complete HTML document. `scenario_text_redacted` is the scenario as run
/// with secrets already removed by the caller; it is shown escaped, verbatim.
pub fn render(
    results: &Results,
    verdicts: &[ThresholdLine],
    scenario_text_redacted: Option<&str>,
) -> String {
    let r = results;
    let name = if r.scenario.name.is_empty() {
        "(unnamed scenario)"
    } else {
        r.scenario.name.as_str()
    };
    let mut o = String::with_capacity(64 * 1024);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may be fetched: not a font, not an image, not a script.
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    o.push_str(&format!(
        "<title>agentstorm: {} ({})</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(name),
        esc(status_word(r))
    ));
    o.push_str(&format!(
        "<header><p class=\"kicker\">agentstorm load test report</p><h1>{}</h1>\n",
        esc(name)
    ));
    if !r.scenario.description.is_empty() {
        o.push_str(&format!(
            "<p class=\"description\">{}</p>\n",
            esc(&r.scenario.description)
        ));
    }
    o.push_str("</header>\n");
    o.push_str(&nav(r));
    o.push_str("<main>\n");
    o.push_str(&overview::overview(r, verdicts));
    o.push_str(&timeline::section(r));
    o.push_str(&distribution::sessions_section(r));
    o.push_str(&analysis::recovery_section(r));
    o.push_str(&analysis::capacity_section(r));
    o.push_str(&distribution::operations_section(r));
    o.push_str(&distribution::failures_section(r));
    o.push_str(&distribution::events_section(r));
    o.push_str(&analysis::drift_section(r));
    o.push_str(&overview::environment(r));
    o.push_str(&overview::scenario(r, scenario_text_redacted));
    o.push_str("</main>\n");
    o.push_str(&format!(
        "<footer>Rendered by agentstorm {} from results schema {} v{}. This file is self-contained and loads nothing from the network.</footer>\n</body>\n</html>\n",
        esc(&r.agentstorm_version),
        esc(&r.schema),
        r.schema_version
    ));
    o
}

fn status_word(r: &Results) -> &'static str {
    use crate::metrics::results::RunStatus;
    match r.status {
        RunStatus::Completed => "completed",
        RunStatus::Interrupted => "interrupted",
        RunStatus::Aborted { .. } => "aborted",
    }
}

/// A chart in a `<figure>` with an id (for links and tests), a heading and a caption.
/// `caption_html` must already be escaped.
fn figure(id: &str, title: &str, svg: &str, caption_html: &str) -> String {
    format!(
        "<figure class=\"chart-figure\" id=\"{}\"><figcaption><strong>{}</strong> {caption_html}</figcaption>\n{svg}\n</figure>\n",
        esc(id),
        esc(title)
    )
}

/// Operation names in the report order (`crate::report::OPERATION_ORDER`, as the console
/// and the CSV files use), then any others by name.
fn operation_order<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut all: Vec<String> = names.cloned().collect();
    all.sort();
    all.dedup();
    all.sort_by_key(|n| crate::report::order_rank(n));
    all
}

/// The operations whose latency is charted: `poll` mixes event polls (the gateway's
/// answer time) with empty ones (its hold time), so where both halves were recorded they
/// are charted apart and the mixed `poll` is not.
fn charted(ops: Vec<String>) -> Vec<String> {
    use crate::metrics::results::{POLL_EMPTY, POLL_EVENT};
    let split = ops.iter().any(|o| o == POLL_EVENT) || ops.iter().any(|o| o == POLL_EMPTY);
    ops.into_iter()
        .filter(|o| !(split && o == "poll"))
        .collect()
}

/// Said under a set of latency charts when `poll` was left out for its halves.
const POLL_SPLIT_NOTE: &str = "<p class=\"note\">Polls are charted as <code>poll_event</code> (an event came back: the gateway's answer time) and <code>poll_empty</code> (the wait ended empty: the gateway's hold time), not mixed as <code>poll</code>; the tables keep all three.</p>\n";

/// The page's links, with the findings sections the run has.
fn nav(r: &Results) -> String {
    let mut links = vec![
        ("overview", "Overview"),
        ("thresholds", "Thresholds"),
        ("over-time", "Over time"),
        ("sessions", "Sessions"),
    ];
    if r.derived.recovery.is_some() {
        links.push(("recovery", "Recovery"));
    }
    if r.capacity.is_some() {
        links.push(("capacity", "Capacity search"));
    }
    links.extend([
        ("operations", "Operations"),
        ("outcomes", "Outcomes"),
        ("failures", "Why calls failed"),
        ("events", "Events"),
    ]);
    if !r.derived.drift.is_empty() {
        links.push(("drift", "Drift"));
    }
    links.extend([("environment", "Environment"), ("scenario", "Scenario")]);
    let a: Vec<String> = links
        .iter()
        .map(|(id, text)| format!("<a href=\"#{id}\">{text}</a>"))
        .collect();
    format!("<nav>{}</nav>\n", a.join(" "))
}

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #161616; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
header, nav, main, footer { max-width: 1040px; margin: 0 auto; padding: 0 20px; }
header { padding-top: 18px; }
.kicker { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: 12px; color: #555; }
h1 { margin: 2px 0 4px; font-size: 28px; overflow-wrap: anywhere; }
h2 { margin: 30px 0 10px; font-size: 21px; border-bottom: 2px solid #222; padding-bottom: 3px; }
h3 { margin: 22px 0 8px; font-size: 17px; }
.description { margin: 0 0 8px; color: #333; }
nav { padding-top: 6px; padding-bottom: 6px; border-top: 1px solid #ccc; border-bottom: 1px solid #ccc; font-size: 14px; }
nav a { color: #1f4e9c; margin-right: 12px; text-decoration: none; }
nav a:hover { text-decoration: underline; }
.status { margin: 10px 0 14px; padding: 12px 16px; border: 3px solid #444; border-left-width: 12px; background: #fafafa; }
.status-word { display: block; font-size: 26px; font-weight: 700; }
.status-detail { display: block; font-size: 15px; overflow-wrap: anywhere; }
.status-completed { border-color: #2e7d32; }
.status-interrupted { border-color: #c05600; border-style: dashed; }
.status-aborted { border-color: #b03a2e; border-style: double; border-width: 6px 6px 6px 14px; }
.warning { border: 2px solid #b03a2e; background: #fff4f2; padding: 8px 12px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0; }
.facts dt { font-weight: 600; color: #333; }
.facts dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 14px; }
th, td { border: 1px solid #bbb; padding: 3px 9px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.fail { font-weight: 700; color: #9b1c10; }
.pass { color: #1d5e22; }
.verdict-summary.fail { font-size: 17px; }
.nodata { font-style: italic; color: #444; border-left: 3px solid #999; padding-left: 8px; }
.note { font-size: 13px; color: #444; }
figure.chart-figure { margin: 14px 0 20px; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-size: 13px; color: #333; margin-bottom: 4px; }
figcaption strong { font-size: 15px; color: #111; display: block; }
svg.chart { display: block; width: 100%; height: auto; max-width: 940px; }
svg.chart text { font-size: 12px; fill: #1a1a1a; font-family: inherit; }
svg.chart .yt { text-anchor: end; }
svg.chart .xt, svg.chart .xl { text-anchor: middle; }
svg.chart .yl { text-anchor: middle; }
svg.chart .xl, svg.chart .yl { font-size: 13px; font-weight: 600; }
svg.chart .plot { fill: #fff; stroke: #888; }
svg.chart .grid { stroke: #e0e0e0; stroke-width: 1; }
svg.chart .axis { stroke: #333; stroke-width: 1.2; }
pre.scenario { background: #f6f6f6; border: 1px solid #ccc; padding: 10px; overflow-x: auto; font-size: 13px; white-space: pre-wrap; overflow-wrap: anywhere; }
code { font-size: 13px; overflow-wrap: anywhere; }
footer { margin-top: 30px; padding-top: 8px; padding-bottom: 20px; border-top: 1px solid #ccc; font-size: 12px; color: #555; }
@media print {
  body { font-size: 11pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  header, main, footer { max-width: none; padding: 0; }
  table { break-inside: auto; }
  tr { break-inside: avoid; }
}
@page { margin: 14mm; }
"#;

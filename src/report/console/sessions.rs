//! The console's sessions block (agents, sessions and their outcomes, throttling and
//! retries, sessions per gateway node, session timings, event delivery) and the recovery
//! after lost sessions, in total and per node.

use std::fmt::Write as _;

use super::{fmt_pct, with_ms};
use crate::metrics::Results;
use crate::report::pct;

/// Sessions lost and agents back in service, in total and per gateway node.
pub(super) fn recovery(o: &mut String, rec: &crate::metrics::results::Recovery) {
    let t = |v: Option<f64>| {
        v.map(|x| format!("{x:.2} s"))
            .unwrap_or_else(|| "not reached".into())
    };
    let _ = writeln!(
        o,
        "\nRecovery: {} sessions lost (first at {:.1} s), {} back in service, {} sign-in attempts",
        rec.lost, rec.first_loss_s, rec.back, rec.resignin_attempts
    );
    let _ = writeln!(
        o,
        "  back after: 50 % {}, 99 % {}, all {}",
        t(rec.t50_s),
        t(rec.t99_s),
        t(rec.t100_s)
    );
    for n in &rec.nodes {
        let _ = writeln!(
            o,
            "  {}: {} lost (first at {:.1} s), {} back; 50 % {}, 99 % {}, all {}; {} attempts",
            n.node,
            n.lost,
            n.first_loss_s,
            n.back,
            t(n.t50_s),
            t(n.t99_s),
            t(n.t100_s),
            n.resignin_attempts
        );
    }
}

/// Throttling, retries, and sessions by gateway node, when there were any.
fn throttling_and_nodes(o: &mut String, s: &crate::metrics::SessionStats) {
    if s.throttled > 0 || s.signin_retries > 0 {
        let _ = writeln!(
            o,
            "  {:<22}{:>10}  HTTP 429/503 replies, to {} agents; {} sign-in retries",
            "throttled", s.throttled, s.throttled_agents, s.signin_retries
        );
    }
    if s.retry_wait_us > 0 {
        let waited = std::time::Duration::from_millis(s.retry_wait_us / 1000);
        let _ = writeln!(
            o,
            "  {:<22}{:>10}  in total before retries and re-sign-ins (backoff, Retry-After)",
            "waited",
            humantime::format_duration(waited).to_string()
        );
    }
    // One node says nothing a single gateway's totals do not.
    for (node, n) in s.nodes.iter().filter(|_| s.nodes.len() > 1) {
        let _ = writeln!(
            o,
            "  {:<22}{:>10}  sessions signed in on this node, {} lost",
            node,
            n.signed_in,
            n.lost_at.count()
        );
    }
}

pub(super) fn sessions(o: &mut String, r: &Results) {
    let s = &r.sessions;
    let _ = writeln!(o, "\nAgents and sessions");
    let _ = writeln!(
        o,
        "  {:<22}{:>10}  distinct agent ids that took part",
        "agents", s.agents
    );
    let again = if s.resignins > 0 {
        format!(", {} of them re-sign-ins after a lost session", s.resignins)
    } else {
        String::new()
    };
    let _ = writeln!(
        o,
        "  {:<22}{:>10}  sign-in to sign-out{again}",
        "sessions", s.started
    );
    let rows = [
        ("signed in", s.signed_in),
        ("ready", s.ready),
        ("never ready", s.never_ready),
        ("clean sign-out", s.signed_out_clean),
        ("unexpected sign-out", s.signed_out_unexpected),
        ("sign-in given up", s.signin_given_up),
        ("left signed in", s.left_signed_in),
    ];
    for (label, n) in rows {
        let share = fmt_pct(pct(n, s.started));
        let _ = writeln!(o, "  {label:<22}{n:>10}{share:>10} of sessions");
    }
    throttling_and_nodes(o, s);
    for (label, h) in [
        ("time to signed in", &s.time_to_signed_in),
        ("time to ready", &s.time_to_ready),
    ] {
        let _ = writeln!(
            o,
            "  {label:<22} p50 {}, p99 {} (from intended arrival)",
            with_ms(h.percentile_ms(50.0)),
            with_ms(h.percentile_ms(99.0)),
        );
    }
    let d = &s.event_delivery;
    if d.count() > 0 {
        let _ = writeln!(
            o,
            "  {:<22} p50 {}, p99 {} over {} events, from their eventGenTime\n  {:<22} (only as exact as the gateway's and this machine's clocks agree)",
            "event delivery",
            with_ms(d.percentile_ms(50.0)),
            with_ms(d.percentile_ms(99.0)),
            d.count(),
            "",
        );
    }
}

//! The console's reconciliation block: per operation, what the harness attempted against
//! what agentstorm's simulated gateway counted during the run, with the range interrupted
//! and connect-failed calls allow, and the one-line verdict (`match` or `MISMATCH`, which
//! scripts may grep for). The HTML overview renders the same rows.

use std::fmt::Write as _;

use crate::metrics::{Operation, Results};

/// Marker printed on a reconciliation row whose counts differ (scripts may grep for it).
pub const MISMATCH: &str = "MISMATCH";
/// Marker printed on a reconciliation row whose counts agree.
pub const MATCH: &str = "match";

/// One reconciliation row: what the harness attempted against what the gateway counted
/// during the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconcileRow {
    pub operation: Operation,
    /// Operations the harness ended (every attempt ends exactly once).
    pub attempted: u64,
    /// Of those, failures while connecting: they never reached the gateway.
    pub connect_failed: u64,
    /// Of those, calls cut short without a reply (in flight at a hard stop, or long polls
    /// abandoned at the stop): the gateway may or may not have counted them (a request it
    /// had not answered yet is not counted).
    pub interrupted: u64,
    /// Requests the gateway counted on this operation's endpoint during the run.
    pub gateway: u64,
}

impl ReconcileRow {
    /// Fewest requests the gateway should have counted: the attempts that reached it and
    /// got a verdict (no interrupted call).
    pub fn expected_low(&self) -> u64 {
        self.expected_high().saturating_sub(self.interrupted)
    }

    /// Most requests the gateway should have counted: every attempt that may have reached
    /// it, the interrupted calls included.
    pub fn expected_high(&self) -> u64 {
        self.attempted.saturating_sub(self.connect_failed)
    }

    /// The gateway's count lies in the expected range.
    pub fn matches(&self) -> bool {
        (self.expected_low()..=self.expected_high()).contains(&self.gateway)
    }

    /// The expected count, or its range (`low-high`) when calls were interrupted.
    pub fn expected_shown(&self) -> String {
        let (low, high) = (self.expected_low(), self.expected_high());
        if low == high {
            low.to_string()
        } else {
            format!("{low}-{high}")
        }
    }
}

/// Rows for every operation the harness or the gateway saw; empty without gateway stats.
pub fn reconcile_rows(r: &Results) -> Vec<ReconcileRow> {
    let Some(gw) = &r.gateway else {
        return vec![];
    };
    Operation::ALL
        .iter()
        .filter_map(|&op| {
            let stats = r.operations.get(op.name());
            let attempted = stats.map_or(0, |s| s.count);
            let connect_failed = stats.map_or(0, |s| {
                s.transport
                    .iter()
                    .filter(|(k, _)| k.is_connect())
                    .map(|(_, n)| n)
                    .sum()
            });
            let interrupted = stats.map_or(0, |s| s.unanswered());
            let gateway = gw.endpoint_total(op.endpoint());
            (attempted > 0 || gateway > 0).then_some(ReconcileRow {
                operation: op,
                attempted,
                connect_failed,
                interrupted,
                gateway,
            })
        })
        .collect()
}

/// The reconciliation block; every line fits in 100 columns for counts below ten million.
pub(super) fn reconciliation(o: &mut String, r: &Results) {
    let rows = reconcile_rows(r);
    let _ = writeln!(
        o,
        "\nReconciliation with what the gateway counted during the run (connect failures never\n\
         reach it; it may or may not have counted calls interrupted by a hard stop)"
    );
    let _ = writeln!(
        o,
        "{:<12}{:>10}{:>15}{:>12}{:>16}{:>10}  {:<14}verdict",
        "operation",
        "attempted",
        "connect-failed",
        "interrupted",
        "expected",
        "gateway",
        "endpoint"
    );
    for row in &rows {
        let _ = writeln!(
            o,
            "{:<12}{:>10}{:>15}{:>12}{:>16}{:>10}  {:<14}{}",
            row.operation.name(),
            row.attempted,
            row.connect_failed,
            row.interrupted,
            row.expected_shown(),
            row.gateway,
            row.operation.endpoint().name(),
            if row.matches() { MATCH } else { MISMATCH }
        );
    }
    let bad = rows.iter().filter(|r| !r.matches()).count();
    if rows.is_empty() {
        let _ = writeln!(o, "  (no requests on either side)");
    } else if bad == 0 {
        let _ = writeln!(o, "  every operation matches");
    } else {
        let _ = writeln!(
            o,
            "  {bad} operation(s) {MISMATCH}: the harness and the gateway disagree on how many requests were made"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::results::RunStatus;

    fn row(attempted: u64, connect_failed: u64, interrupted: u64, gateway: u64) -> ReconcileRow {
        ReconcileRow {
            operation: Operation::Poll,
            attempted,
            connect_failed,
            interrupted,
            gateway,
        }
    }

    #[test]
    fn interrupted_calls_widen_the_expected_range_at_both_ends() {
        // 100 polls: 2 never connected, 5 cut short by a hard stop. The gateway saw 93 at
        // least (every judged call that connected) and 98 at most (the interrupted too).
        let r = |gateway| row(100, 2, 5, gateway);
        assert_eq!((r(0).expected_low(), r(0).expected_high()), (93, 98));
        assert_eq!(r(0).expected_shown(), "93-98");
        for inside in [93, 95, 98] {
            assert!(r(inside).matches(), "{inside}");
        }
        for outside in [92, 99, 100] {
            assert!(!r(outside).matches(), "{outside}");
        }
        // Nothing interrupted: one expected count.
        assert!(row(100, 2, 0, 98).matches());
        assert!(!row(100, 2, 0, 97).matches());
        assert!(!row(100, 2, 0, 99).matches());
        assert_eq!(row(100, 2, 0, 98).expected_shown(), "98");
    }

    #[test]
    fn the_reconciliation_block_fits_in_100_columns() {
        let mut r = Results::empty(RunStatus::Interrupted);
        let mut g = crate::protocol::GatewayStats::default();
        for op in Operation::ALL {
            let mut s = crate::metrics::OpStats {
                count: 9_999_999,
                interrupted: 1_234_567,
                ..Default::default()
            };
            s.transport
                .insert(crate::metrics::TransportKind::ConnectRefused, 1_234_567);
            r.operations.insert(op.name().into(), s);
            g.requests
                .entry(op.endpoint().name().into())
                .or_default()
                .insert("0".into(), 9_999_999);
        }
        r.gateway = Some(g);
        let mut o = String::new();
        reconciliation(&mut o, &r);
        assert_eq!(o.matches(MISMATCH).count(), Operation::ALL.len() + 1, "{o}");
        for line in o.lines() {
            assert!(
                line.chars().count() <= 100,
                "{} columns: {line}",
                line.len()
            );
        }
    }
}

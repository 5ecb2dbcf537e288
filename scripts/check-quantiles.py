#!/usr/bin/env python3
"""Checks a report folder's summary.csv percentiles against an independent decoder.

Reads every interval of the folder's latency.hlog with the reference Python HdrHistogram
package (`pip install hdrhistogram`), adds the intervals of each tag (`signin.corrected`,
`poll.raw`, ...) into one histogram per tag, and compares p50, p90, p99, p99.9 and the
maximum with the same columns of summary.csv. Exits 1 naming every cell that differs,
0 when all agree.

    scripts/check-quantiles.py reports/smoke-20261202T193151Z
"""

import csv
import sys
from pathlib import Path

from hdrh.histogram import HdrHistogram

PERCENTILES = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)]


def read_hlog(path):
    """One added-up histogram per tag, and the log's value divisor (µs → ms)."""
    sums, divisor = {}, 1.0
    for line in path.read_text().splitlines():
        if line.startswith("#[MaxValueDivisor:"):
            divisor = float(line.split(":", 1)[1].strip(" ]"))
            continue
        if not line.startswith("Tag="):
            continue
        tag, _start, _length, _max, encoded = line[4:].split(",", 4)
        if tag not in sums:
            # 1 µs to 24 h at 3 digits: wide enough for any interval's values.
            sums[tag] = HdrHistogram(1, 24 * 3600 * 1_000_000, 3)
        sums[tag].add(HdrHistogram.decode(encoded))
    return sums, divisor


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    folder = Path(sys.argv[1])
    sums, divisor = read_hlog(folder / "latency.hlog")
    bad, checked = [], 0
    with open(folder / "summary.csv", newline="") as f:
        for row in csv.DictReader(f):
            op = row["operation"]
            for kind in ("corrected", "raw"):
                hist = sums.get(f"{op}.{kind}")
                if hist is None or hist.get_total_count() == 0:
                    continue
                wanted = [(name, hist.get_value_at_percentile(p)) for name, p in PERCENTILES]
                wanted.append(("max", hist.get_max_value()))
                for name, value in wanted:
                    column = f"{kind}_{name}_ms"
                    ours = float(row[column])
                    theirs = value / divisor
                    checked += 1
                    if abs(ours - theirs) > 0.0005:
                        bad.append(f"{op} {column}: summary.csv {ours} vs decoder {theirs:.3f}")
    for line in bad:
        print(line)
    print(f"{checked} cells checked against the Python HdrHistogram decoder, {len(bad)} differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()

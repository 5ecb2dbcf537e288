#!/usr/bin/env python3
"""Reads figures out of an agentstorm results.json for the benchmark scripts.

The bench scripts only ever read the harness's own report (never its console output):
counts and durations straight from the JSON, and percentiles by decoding the HdrHistogram
V2 (deflate, base64) histograms it carries. Standard library only.

Usage:
  results.py FILE rate OP SECONDS    count of OP divided by SECONDS
  results.py FILE pct  PATH Q        percentile Q (0-100) of the histogram at PATH, in ms
                                     (PATH: dotted keys, e.g. operations.poll.raw,
                                     scheduler.lag)
  results.py FILE get  PATH          a plain value (dotted keys; list indexes allowed)
  results.py FILE steady OP FROM TO  count of OP in the intervals within [FROM, TO] s of
                                     the run, divided by their span (a steady-state rate)
  results.py FILE arrivals           achieved arrival rate per full interval, one a line:
                                     start_s end_s arrivals rate
  results.py FILE peakrss            the largest intervals[].rss_bytes
  results.py median X...             the median of the numbers given
  results.py ratio A B               A / B
"""

import base64
import json
import math
import struct
import sys
import zlib

# Java writes 0x1c849303 / 0x1c849304; the Rust crate sets bit 4 (0x1c849313 / 0x1c849314).
V2_COOKIE = 0x1C849303
V2_COMPRESSED_COOKIE = 0x1C849304
COOKIE_MASK = 0xFFFFFFEF


def _zigzag_varints(buf):
    """HdrHistogram's LEB128 ZigZag varints (at most 9 bytes, the 9th holds 8 bits)."""
    i, n = 0, len(buf)
    while i < n:
        value, shift = 0, 0
        for k in range(9):
            b = buf[i]
            i += 1
            if k == 8:
                value |= b << shift
                break
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        yield (value >> 1) ^ -(value & 1)


class Hist:
    """Counts by index, with the index -> value mapping of HdrHistogram."""

    def __init__(self, text):
        raw = base64.b64decode(text)
        cookie, length = struct.unpack(">II", raw[:8])
        if cookie & COOKIE_MASK != V2_COMPRESSED_COOKIE:
            raise ValueError("not a V2 compressed histogram")
        body = zlib.decompress(raw[8 : 8 + length])
        (cookie, payload_len, _offset, sigfig, lowest, _highest, _ratio) = struct.unpack(
            ">IIiIqqd", body[:40]
        )
        if cookie & COOKIE_MASK != V2_COOKIE:
            raise ValueError("bad V2 payload cookie")
        self.unit_magnitude = int(math.floor(math.log2(max(lowest, 1))))
        largest_single = 2 * 10**sigfig
        self.sub_bucket_count_magnitude = int(math.ceil(math.log2(largest_single)))
        self.sub_half_magnitude = self.sub_bucket_count_magnitude - 1
        self.sub_bucket_count = 1 << self.sub_bucket_count_magnitude
        self.sub_half = self.sub_bucket_count // 2
        self.counts = {}
        idx = 0
        for v in _zigzag_varints(body[40 : 40 + payload_len]):
            if v < 0:
                idx += -v
            else:
                if v:
                    self.counts[idx] = v
                idx += 1
        self.total = sum(self.counts.values())

    def _bucket_sub(self, index):
        bucket = (index >> self.sub_half_magnitude) - 1
        sub = (index & (self.sub_half - 1)) + self.sub_half
        if bucket < 0:
            sub -= self.sub_half
            bucket = 0
        return bucket, sub

    def _highest_equivalent(self, index):
        bucket, sub = self._bucket_sub(index)
        value = sub << (bucket + self.unit_magnitude)
        adj = bucket + 1 if sub >= self.sub_bucket_count else bucket
        return value + (1 << (self.unit_magnitude + adj)) - 1

    def quantile(self, q):
        """Value at quantile q (0..1), as hdrhistogram's value_at_quantile."""
        if self.total == 0:
            return 0
        want = max(1, math.ceil(q * self.total))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= want:
                return self._highest_equivalent(index)
        return self._highest_equivalent(max(self.counts))


def dig(doc, path):
    for key in path.split("."):
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    if n == 0:
        raise ValueError("median of nothing")
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def main(argv):
    if len(argv) >= 2 and argv[1] == "median":
        print(f"{median([float(x) for x in argv[2:]]):.3f}")
        return 0
    if len(argv) == 4 and argv[1] == "ratio":
        print(f"{float(argv[2]) / float(argv[3]):.3f}")
        return 0
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        doc = json.load(f)
    cmd = argv[2]
    if cmd == "rate":
        ops = doc["operations"]
        count = ops[argv[3]]["count"] if argv[3] in ops else 0
        print(f"{count / float(argv[4]):.1f}")
    elif cmd == "steady":
        lo, hi = float(argv[4]), float(argv[5])
        inside = [iv for iv in doc["intervals"] if iv["start_s"] >= lo - 1e-6 and iv["end_s"] <= hi + 0.05]
        span = sum(iv["end_s"] - iv["start_s"] for iv in inside)
        count = sum(iv["operations"].get(argv[3], {}).get("count", 0) for iv in inside)
        if span <= 0:
            print("results.py: no interval inside the window", file=sys.stderr)
            return 3
        print(f"{count / span:.1f}")
    elif cmd == "pct":
        h = Hist(dig(doc, argv[3]))
        print(f"{h.quantile(float(argv[4]) / 100.0) / 1000.0:.3f}")
    elif cmd == "get":
        print(json.dumps(dig(doc, argv[3])))
    elif cmd == "arrivals":
        for iv in doc["intervals"]:
            span = iv["end_s"] - iv["start_s"]
            if span > 0:
                print(
                    f'{iv["start_s"]:.3f} {iv["end_s"]:.3f} {iv["arrivals"]} '
                    f'{iv["arrivals"] / span:.2f}'
                )
    elif cmd == "peakrss":
        print(max((iv.get("rss_bytes", 0) for iv in doc["intervals"]), default=0))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Requests per second as the server counted them: runs a load command and samples
nginx's stub_status while it runs, so no client's own accounting enters the figure.

Usage: stub_rate.py STATUS_URL CONNS [--trim SECONDS] -- COMMAND [ARGS...]

Every 0.2 s it reads STATUS_URL (`Active connections`, `requests`) on a fresh connection.
The steady window is the span in which at least CONNS connections other than the sampler's
own were open (all the tool's connections up), less TRIM seconds (default 1) at each end,
so connecting, signing in and signing out fall outside it. It prints the requests nginx
counted in that window, less the sampler's own status requests, over the window's length.
The command's output goes to this script's stderr; its exit status above 1 is an error.
"""

import subprocess
import sys
import time
import urllib.request


def sample(url):
    with urllib.request.urlopen(url, timeout=2) as r:
        text = r.read().decode()
    lines = text.splitlines()
    active = int(lines[0].split(":")[1])
    accepts, handled, requests = (int(x) for x in lines[2].split())
    return active, requests


def main():
    args = sys.argv[1:]
    if "--" not in args or len(args) < 4:
        sys.exit(__doc__)
    sep = args.index("--")
    url, conns = args[0], int(args[1])
    trim = 1.0
    if "--trim" in args[:sep]:
        trim = float(args[args.index("--trim") + 1])
    command = args[sep + 1:]
    proc = subprocess.Popen(command, stdout=sys.stderr, stderr=sys.stderr)
    samples = []  # (time, active other than ours, requests counted before our sample)
    deadline = time.monotonic() + 3600
    while proc.poll() is None and time.monotonic() < deadline:
        t = time.monotonic()
        try:
            active, requests = sample(url)
        except OSError:
            time.sleep(0.2)
            continue
        # Our own connection is open and our request counted while nginx answers it.
        samples.append((t, active - 1, requests))
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        sys.exit("stub_rate: the command ran for an hour; stopped")
    if proc.returncode > 1:
        sys.exit(f"stub_rate: the command exited {proc.returncode}")
    full = [i for i, s in enumerate(samples) if s[1] >= conns]
    if not full:
        sys.exit(f"stub_rate: never {conns} connections open at once")
    first, last = full[0], full[-1]
    t0 = samples[first][0] + trim
    t1 = samples[last][0] - trim
    window = [s for s in samples[first:last + 1] if t0 <= s[0] <= t1]
    if len(window) < 3:
        sys.exit(f"stub_rate: steady window too short ({t1 - t0:.1f} s)")
    (ta, _, ra), (tb, _, rb) = window[0], window[-1]
    ours = len(window) - 1  # status requests counted between the first and last sample
    print(f"{(rb - ra - ours) / (tb - ta):.0f}")


if __name__ == "__main__":
    main()

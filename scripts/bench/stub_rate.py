#!/usr/bin/env python3
"""Requests per second as the server counted them: runs a load command and samples the
server's own counter while it runs, so no client's own accounting enters the figure.

Usage: stub_rate.py STATUS_URL CONNS [--trim SECONDS] -- COMMAND [ARGS...]
       stub_rate.py STATS_URL --sim ENDPOINT [--cafile PEM] [--trim SECONDS] -- COMMAND...

Every 0.2 s it reads the counter on a fresh connection, and prints the requests counted in
a steady window over the window's length. The window is trimmed by TRIM seconds (default
1) at each end, so connecting, signing in and signing out fall outside it.

- nginx's stub_status (`Active connections`, `requests`) at STATUS_URL: the window is the
  span in which at least CONNS connections other than the sampler's own were open (all the
  tool's connections up), and the sampler's own status requests are taken off.
- agentstorm's simulated gateway (`--sim ENDPOINT`, its `/agentstorm/v1/stats` at
  STATS_URL, over HTTPS trusting PEM): the requests it counted on ENDPOINT (`login`,
  `getAgentEvent`, ...), every retcode; the window is the span in which that count grew.
  The gateway does not count the stats requests.

The command's output goes to this script's stderr; its exit status above 1 is an error.
"""

import json
import ssl
import subprocess
import sys
import time
import urllib.request


def stub_sample(url, _context):
    """(connections open other than ours, requests counted so far)."""
    with urllib.request.urlopen(url, timeout=2) as r:
        lines = r.read().decode().splitlines()
    active = int(lines[0].split(":")[1])
    accepts, handled, requests = (int(x) for x in lines[2].split())
    # Our own connection is open, and our request counted, while nginx answers it.
    return active - 1, requests


def sim_sampler(endpoint):
    def sample(url, context):
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            stats = json.load(r)
        return None, sum(stats.get("requests", {}).get(endpoint, {}).values())

    return sample


def main():
    args = sys.argv[1:]
    if "--" not in args or len(args) < 4:
        sys.exit(__doc__)
    sep = args.index("--")
    opts, command = args[:sep], args[sep + 1:]

    def option(name, default=None):
        return opts[opts.index(name) + 1] if name in opts else default

    url = opts[0]
    trim = float(option("--trim", 1.0))
    endpoint = option("--sim")
    context = None
    if option("--cafile"):
        context = ssl.create_default_context(cafile=option("--cafile"))
    if endpoint:
        sample, conns, own_requests = sim_sampler(endpoint), None, 0
    else:
        sample, conns, own_requests = stub_sample, int(opts[1]), 1
    proc = subprocess.Popen(command, stdout=sys.stderr, stderr=sys.stderr)
    samples = []  # (time, connections open or None, requests counted)
    deadline = time.monotonic() + 3600
    while proc.poll() is None and time.monotonic() < deadline:
        t = time.monotonic()
        try:
            active, requests = sample(url, context)
        except OSError:
            time.sleep(0.2)
            continue
        samples.append((t, active, requests))
        time.sleep(0.2)
    if proc.poll() is None:
        proc.kill()
        sys.exit("stub_rate: the command ran for an hour; stopped")
    if proc.returncode > 1:
        sys.exit(f"stub_rate: the command exited {proc.returncode}")
    if conns is not None:
        full = [i for i, s in enumerate(samples) if s[1] >= conns]
        if not full:
            sys.exit(f"stub_rate: never {conns} connections open at once")
    else:
        full = [i for i in range(1, len(samples)) if samples[i][2] > samples[i - 1][2]]
        if not full:
            sys.exit(f"stub_rate: the gateway never counted a request on {endpoint}")
        full = [full[0] - 1] + full
    first, last = full[0], full[-1]
    t0 = samples[first][0] + trim
    t1 = samples[last][0] - trim
    window = [s for s in samples[first:last + 1] if t0 <= s[0] <= t1]
    if len(window) < 3:
        sys.exit(f"stub_rate: steady window too short ({t1 - t0:.1f} s)")
    (ta, _, ra), (tb, _, rb) = window[0], window[-1]
    # Our status requests counted between the first and last sample (stub_status only).
    ours = (len(window) - 1) * own_requests
    print(f"{(rb - ra - ours) / (tb - ta):.0f}")


if __name__ == "__main__":
    main()

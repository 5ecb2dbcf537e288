#!/usr/bin/env bash
# Renders the sample HTML report (the ignored test in tests/it/report_html.rs) and loads it
# in headless Chromium, offline: the page must load without console errors, without any
# network request, and its DOM must hold every chart with a drawn line. Also writes a
# screenshot for a person to look at.
#
# Usage: scripts/html-check/check.sh [OUT_DIR]   (default: a fresh temp dir)
#        HTML_CHECK_PAGE=page.html scripts/html-check/check.sh [OUT_DIR]
#          checks that page instead of rendering the sample (to see a check fail).
# Needs: cargo, chromium (or chromium-browser / google-chrome). Exit 0 = all checks pass,
# 1 = a check failed, 2 = the tools are missing or the sample could not be rendered.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/agentstorm-html-check.XXXXXX")}"
mkdir -p "$out"
html="$out/report.html"
# Charts the sample must contain (figure ids), kept in step with EXPECTED_CHARTS in the test.
expected_charts=(chart-agents chart-signin-rate chart-latency-signin chart-latency-poll-event
  chart-latency-poll-empty chart-latency-logout chart-errors chart-time-to-ready
  chart-recovery chart-capacity-rate chart-capacity-p99 chart-spectrum-signin
  chart-spectrum-poll-event chart-spectrum-logout chart-drift-signin-p99)

fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

browser=""
for b in chromium chromium-browser google-chrome; do
  if command -v "$b" >/dev/null 2>&1; then browser="$b"; break; fi
done
if [ -z "$browser" ]; then
  echo "html-check: no chromium found (apt-get install -y chromium)" >&2
  exit 2
fi

if [ -n "${HTML_CHECK_PAGE:-}" ]; then
  cp "$HTML_CHECK_PAGE" "$html"
else
  echo "html-check: rendering the sample report to $html"
  if ! (cd "$root" && AGENTSTORM_HTML_OUT="$html" cargo test -q --test it \
        report_html::sample_report_for_browser_check -- --ignored --exact \
        >"$out/cargo.log" 2>&1); then
    cat "$out/cargo.log" >&2
    echo "html-check: could not render the sample report" >&2
    exit 2
  fi
fi
[ -s "$html" ] || { echo "html-check: $html is empty" >&2; exit 2; }

profile="$(mktemp -d "${TMPDIR:-/tmp}/agentstorm-chromium.XXXXXX")"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --disable-default-apps --disable-extensions --mute-audio
  --user-data-dir="$profile" --enable-logging=stderr --v=0
  # Any host lookup fails: a network fetch shows up as an error instead of a hang.
  --host-resolver-rules="MAP * ~NOTFOUND")

run_browser() { timeout 45 "$browser" "${flags[@]}" "$@"; }
logs=("$out/dom.log" "$out/shot.log")

echo "html-check: loading it in $browser"
if ! run_browser --dump-dom "file://$html" >"$out/dom.html" 2>"$out/dom.log"; then
  cat "$out/dom.log" >&2
  bad "chromium could not load the page (dump-dom)"
fi
if ! run_browser --window-size=1200,2400 --hide-scrollbars \
     --screenshot="$out/screenshot.png" "file://$html" >/dev/null 2>"$out/shot.log"; then
  cat "$out/shot.log" >&2
  bad "chromium could not take a screenshot"
fi
[ -s "$out/screenshot.png" ] || bad "no screenshot written"

# The empty (aborted, nothing recorded) run's page, when the sample test wrote one.
empty_html="$out/report.empty.html"
if [ -s "$empty_html" ]; then
  if ! run_browser --dump-dom "file://$empty_html" >"$out/empty-dom.html" 2>"$out/empty.log"; then
    cat "$out/empty.log" >&2
    bad "chromium could not load the empty report"
  fi
  grep -q "Run status: Aborted" "$out/empty-dom.html" || bad "empty report: no Aborted banner"
  grep -q "No data" "$out/empty-dom.html" || bad "empty report: no 'No data' note"
  logs+=("$out/empty.log")
fi

# The report has no script, so any console message is a fault: an error, or a fetch the
# Content-Security-Policy blocked (Chromium logs both as INFO:CONSOLE). Network errors too.
if grep -hE ":CONSOLE|Uncaught|Content Security Policy|Refused to (load|connect|apply)|net::ERR_" \
     "${logs[@]}" >"$out/errors.txt"; then
  cat "$out/errors.txt" >&2
  bad "the page logged errors"
fi

# The DOM: every chart present with an svg and a series path of several points.
svgs=$( (grep -o "<svg" "$out/dom.html" || true) | wc -l)
[ "$svgs" -ge "${#expected_charts[@]}" ] || bad "only $svgs <svg> elements in the DOM"
for id in "${expected_charts[@]}"; do
  block=$(awk -v id="id=\"$id\"" 'index($0, id) {on=1} on {print} on && /<\/figure>/ {exit}' "$out/dom.html")
  if [ -z "$block" ]; then bad "chart $id missing from the DOM"; continue; fi
  grep -q "<svg" <<<"$block" || bad "chart $id has no <svg>"
  grep -qE '<path d="M[0-9.]+ [0-9.]+ L[0-9.]+ [0-9.]+ L' <<<"$block" \
    || bad "chart $id has no drawn line (no path with points)"
done
grep -q "Run status: Completed" "$out/dom.html" || bad "status banner missing"
if grep -q "<script" "$out/dom.html"; then bad "a <script> element is in the DOM"; fi

# Nothing in the page points at the network.
if grep -oE '(src|href|action)="(https?:)?//[^"]*"' "$out/dom.html" >"$out/net.txt"; then
  cat "$out/net.txt" >&2
  bad "the page references network resources"
fi

if [ "$fail" -ne 0 ]; then
  echo "html-check: FAILED (artifacts in $out)" >&2
  exit 1
fi
echo "html-check: ok ($svgs charts; screenshot $out/screenshot.png)"

#!/usr/bin/env bash
# The pre-push hook with 1 and 100 feature-branch lines vs an empty hook
# (`cat >/dev/null`), on an empty event log and on a 100k-event log. Budget: <= 5 ms
# with one line. Timed per invocation, process start-up included.
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
say "pre-push hook ($(uptime | sed 's/.*load/load/'))"

new_repo "$FIX/r"
cd "$FIX/r/work"
origin=$FIX/r/origin.git
sha=$(git rev-parse HEAD)
zero=0000000000000000000000000000000000000000
printf 'refs/heads/feat/one %s refs/heads/feat/one %s\n' "$sha" "$zero" >"$FIX/one.in"
for i in $(seq 1 100); do printf 'refs/heads/feat/b%03d %s refs/heads/feat/b%03d %s\n' "$i" "$sha" "$i" "$zero"; done >"$FIX/hundred.in"
printf '#!/bin/sh\ncat >/dev/null\n' >"$FIX/empty-hook"
chmod +x "$FIX/empty-hook"
cp "$BIN/pre-push" "$FIX/pre-push"
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude

# Each timed command runs the hook $k times from one shell (as git would: fork, exec,
# stdin from a file), so the figure per invocation includes process start-up but not
# the shell's. Every run records the same pushes: after the warm-up they are duplicates,
# the log does not grow while we measure, and the key lookup is what is timed.
k=50
loop() { echo "sh -c 'for i in \$(seq $k); do $1 origin $origin <$2 || exit 1; done'"; }
bench_hook() {
  local label=$1
  hyperfine -N -w 2 -r "${BENCH_RUNS:-20}" --style none --export-json "$FIX/$label.json" \
    -n "pre-push, 1 line ($label)" "$(loop "$FIX/pre-push" "$FIX/one.in")" \
    -n "pre-push, 100 lines ($label)" "$(loop "$FIX/pre-push" "$FIX/hundred.in")" \
    -n "empty hook, 100 lines" "$(loop "$FIX/empty-hook" "$FIX/hundred.in")" \
    -n "empty hook, 1 line" "$(loop "$FIX/empty-hook" "$FIX/one.in")" 2>/dev/null
  uptime
  python3 - "$FIX/$label.json" "$k" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
k = int(sys.argv[2])
ref = rs[-1]
print("%-40s %16s %16s %8s" % ("command (per invocation)", "mean ms", "median ms", "x mean"))
for r in rs:
    print("%-40s %16.3f %16.3f %8.2f" % (r["command"], r["mean"] * 1e3 / k, r["median"] * 1e3 / k, r["mean"] / ref["mean"]))
PY
}

bench_hook "empty log"
say "pre-push on a 100k-event log"
rm -rf "$state"
mkdir -p "$state"
python3 "$BENCH_DIR/gen-events.py" --events 100000 --format log >"$state/events.jsonl"
"$FIX/pre-push" origin "$origin" <"$FIX/one.in" # builds the key index once
bench_hook "100k-event log"

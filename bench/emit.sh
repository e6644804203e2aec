#!/usr/bin/env bash
# Bulk ingest: `integrator emit --json -` of 100k events into an empty log (budget
# >= 100k events/s), and one `emit` into a 1M-event log (the key index at work).
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
say "emit --json - ($(uptime | sed 's/.*load/load/'))"
new_repo "$FIX/r"
cd "$FIX/r/work"
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude
n=${BENCH_EMIT_EVENTS:-100000}
python3 "$BENCH_DIR/gen-events.py" --events "$n" --format ingest >"$FIX/in.jsonl"
hyperfine -w 1 -r "${BENCH_RUNS:-5}" --style none --export-json "$FIX/emit.json" \
  --prepare "rm -rf '$state'" \
  -n "emit --json - ($n events)" "$BIN/integrator emit --json - <$FIX/in.jsonl" 2>/dev/null
uptime
throughput "$FIX/emit.json" "$n" events
tail -1 "$state/events.jsonl" | cut -c1-120

say "one emit into a 1M-event log"
rm -rf "$state"
mkdir -p "$state"
python3 "$BENCH_DIR/gen-events.py" --events "${BENCH_BIG:-1000000}" --format log >"$state/events.jsonl"
sha=$(git rev-parse HEAD)
/usr/bin/time -f "first emit (builds the key index): %e s, %M KB max RSS" \
  "$BIN/integrator" emit branch-pushed --branch feat/x --sha "$sha" --pusher bench
hyperfine -N -w 3 -r "${BENCH_RUNS_ONE:-50}" --style none --export-json "$FIX/one.json" \
  -n "emit branch-pushed (duplicate, 1M-event log)" \
  "$BIN/integrator emit branch-pushed --branch feat/x --sha $sha --pusher bench" \
  -n "git rev-parse HEAD (reference)" "git rev-parse HEAD" 2>/dev/null
uptime
ratio "$FIX/one.json"

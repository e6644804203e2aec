#!/usr/bin/env bash
# `integrator status` replaying 10k / 100k / 1M events cold (projection.json deleted
# before each run; budget 1M <= 3 s, 10x events <= 12x time) and after a run (the
# snapshot and queue a shadow `integrator run` leaves over that history: budget
# independent of log length, <= 50 ms). Peak RSS of the 1M replay.
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
say "status replay ($(uptime | sed 's/.*load/load/'))"
sizes=${BENCH_SIZES:-10000 100000 1000000}
new_repo "$FIX/r"
cd "$FIX/r/work"
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude
mkdir -p "$state"
cold=() warm=()
for n in $sizes; do
  python3 "$BENCH_DIR/gen-events.py" --events "$n" --format log >"$FIX/events-$n.jsonl"
  cold+=(-n "status cold, $n events" "rm -f $state/projection.json; ln -f $FIX/events-$n.jsonl $state/events.jsonl; $BIN/integrator status >/dev/null")
done
runs=${BENCH_RUNS:-5}
hyperfine -w 1 -r "$runs" --style none --export-json "$FIX/cold.json" "${cold[@]}" 2>/dev/null
uptime
python3 - "$FIX/cold.json" <<'PY'
import json, re, sys
rs = json.load(open(sys.argv[1]))["results"]
rows = [(int(re.search(r"(\d+) events", r["command"]).group(1)), r) for r in rs]
print("%-28s %10s %10s %12s" % ("command", "mean s", "median s", "events/s"))
for n, r in rows:
    print("%-28s %10.3f %10.3f %12.0f" % (r["command"], r["mean"], r["median"], n / r["median"]))
for (n1, a), (n2, b) in zip(rows, rows[1:]):
    print("scaling %d -> %d events (x%d): time x%.2f (median)" % (n1, n2, n2 // n1, b["median"] / a["median"]))
PY

say "status after a run (the snapshot and queue an \`integrator run\` leaves)"
# Each size gets a fresh state dir: the log, the queue.json a run would have built over
# that history (one integrated item per merged slug), then one shadow \`integrator run\`,
# which folds the log, moves resolved history to the archives and writes the snapshot.
for n in $sizes; do
  rm -rf "$state"
  mkdir -p "$state"
  python3 "$BENCH_DIR/gen-events.py" --events "$n" --format log --queue "$state/queue.json" >"$state/events.jsonl"
  printf '[integrator]\nmode = "shadow"\n' >"$state/config.toml"
  /usr/bin/time -f "  integrator run over $n events (first run, archives the history): %e s, %M KB max RSS" \
    "$BIN/integrator" run --quiet >/dev/null
  size() { du -h "$state/$1" 2>/dev/null | cut -f1; }
  echo "  projection.json $(size projection.json), queue.json $(size queue.json);" \
    "archives: projection $(size projection.archive.jsonl), queue $(size queue.archive.jsonl)"
  /usr/bin/time -f "  status after a run over $n events: %M KB max RSS" "$BIN/integrator" status >/dev/null
  hyperfine -w 3 -r "${BENCH_RUNS_WARM:-30}" --style none --export-json "$FIX/warm-$n.json" \
    -n "status after a run, $n events" "$BIN/integrator status >/dev/null" 2>/dev/null
  python3 -c "
import json,sys; r=json.load(open('$FIX/warm-$n.json'))['results'][0]
print('%-60s mean %8.1f ms  median %8.1f ms' % (r['command'], r['mean']*1e3, r['median']*1e3))"
done
uptime

say "peak RSS, 1M-event cold replay"
big=$(echo "$sizes" | tr ' ' '\n' | tail -1)
rm -rf "$state"
mkdir -p "$state"
ln -f "$FIX/events-$big.jsonl" "$state/events.jsonl"
/usr/bin/time -f "status cold, $big events: %e s elapsed, %M KB max RSS" "$BIN/integrator" status >/dev/null

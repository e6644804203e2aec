#!/usr/bin/env bash
# The event bus (README "Event bus"): bridged ingest throughput — `integrator bridge
# --once` replaying N platform envelopes from a local redis-server (budget >= 50k
# entries/s) — and the latency from the platform's XADD to a landed candidate with
# `trigger = "event"` and a serving `integrator bridge`.
. "$(dirname "$0")/lib.sh"
need_tools
command -v redis-server >/dev/null 2>&1 || apt-get install -y -qq redis-server >/dev/null
build
fixture_dir
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$FIX" >/dev/null &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null; kill $bridge_pid 2>/dev/null; rm -rf "$FIX"' EXIT
bridge_pid=
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
rcli() { redis-cli -p "$port" "$@"; }

new_repo "$FIX/r"
cd "$FIX/r/work"
# Policy file (not the state dir) so that `rm -rf` of the state keeps the configuration.
printf '[integrator]\nmode = "cutover"\n[cutover]\nenabled = true\nparity_evidence = "accepted"\n[bridge]\nredis_url = "redis://127.0.0.1:%s"\nconsumer = "bench"\n' \
  "$port" >teleclaude.toml
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude

n=${BENCH_BRIDGE_ENTRIES:-100000}
say "bridge --once: $n platform envelopes ($(uptime | sed 's/.*load/load/'))"
python3 - "$n" <<'PY' | rcli --pipe >/dev/null
import json, sys
def resp(*args):
    out = ["*%d\r\n" % len(args)]
    for a in args:
        b = a.encode()
        out.append("$%d\r\n%s\r\n" % (len(b), a))
    return "".join(out)
for i in range(int(sys.argv[1])):
    p = {"slug": "s%d" % i, "review_round": 1, "reviewer_session_id": "r", "approved_at": "2026-01-01T10:00:00Z"}
    f = ["event", "domain.software-development.review.approved", "version", "1", "source", "daemon@bench",
         "timestamp", "2026-01-01T10:00:00Z", "idempotency_key", "", "level", "2", "domain", "software-development",
         "entity", p["slug"], "description", "approved", "visibility", "cluster", "payload", json.dumps(p),
         "actions", "[]", "terminal_when", "", "resolution_shape", ""]
    sys.stdout.write(resp("XADD", "teleclaude:events", "*", *f))
PY
echo "stream length: $(rcli xlen teleclaude:events)"
hyperfine -w 1 -r "${BENCH_RUNS:-5}" --style none --export-json "$FIX/bridge.json" \
  --prepare "rm -rf '$state'; redis-cli -p $port XGROUP DESTROY teleclaude:events integrator >/dev/null" \
  -n "bridge --once ($n entries)" "$BIN/integrator bridge --once" 2>/dev/null
uptime
throughput "$FIX/bridge.json" "$n" entries
echo "recorded: $(grep -c review.approved "$state/events.jsonl") events; pending: $(rcli xpending teleclaude:events integrator | head -1)"

say "XADD -> landed on main, trigger = \"event\""
rm -rf "$state"
rcli del teleclaude:events >/dev/null
sed -i 's/^mode = "cutover"$/mode = "cutover"\ntrigger = "event"/' teleclaude.toml
"$BIN/integrator" bridge 2>>"$FIX/bridge.log" &
bridge_pid=$!
sleep 0.5
rounds=${BENCH_BRIDGE_ROUNDS:-10}
for i in $(seq 1 "$rounds"); do
  git checkout -q -B "f$i" origin/main 2>/dev/null || git checkout -q -B "f$i" main
  echo "$i" >"f$i.txt"
  git add "f$i.txt"
  git commit -q -m "f$i"
  sha=$(git rev-parse HEAD)
  git push -q origin "f$i:refs/heads/f$i"
  git checkout -q main
  t0=$(date +%s.%N)
  for ev in review.approved branch.pushed deployment.started; do
    case $ev in
      review.approved) p="{\"slug\":\"l$i\",\"review_round\":1,\"reviewer_session_id\":\"r\",\"approved_at\":\"2026-01-01T10:00:00Z\"}" ;;
      branch.pushed) p="{\"branch\":\"f$i\",\"sha\":\"$sha\",\"remote\":\"origin\",\"pushed_at\":\"2026-01-01T10:00:00Z\",\"pusher\":\"w\"}" ;;
      deployment.started) p="{\"slug\":\"l$i\",\"branch\":\"f$i\",\"sha\":\"$sha\",\"worker_session_id\":\"w\",\"orchestrator_session_id\":\"o\",\"ready_at\":\"2026-01-01T10:0$((i % 10)):00Z\"}" ;;
    esac
    rcli xadd teleclaude:events '*' event "domain.software-development.$ev" version 1 source daemon@bench \
      timestamp 2026-01-01T10:00:00Z idempotency_key '' level 2 domain software-development entity "l$i" \
      description bench visibility cluster payload "$p" actions '[]' terminal_when '' resolution_shape '' >/dev/null
  done
  until git -C ../origin.git merge-base --is-ancestor "$sha" main 2>/dev/null; do sleep 0.01; done
  t1=$(date +%s.%N)
  echo "$t0 $t1" >>"$FIX/latency"
done
uptime
python3 - "$FIX/latency" <<'PY'
import statistics, sys
d = sorted((float(b) - float(a)) * 1e3 for a, b in (l.split() for l in open(sys.argv[1])))
print("XADD -> on origin/main: %d rounds, median %.0f ms, min %.0f ms, max %.0f ms" % (len(d), statistics.median(d), d[0], d[-1]))
PY
echo "deployment.completed on the stream: $(rcli xrange teleclaude:events - + | grep -c 'deployment.completed$' || true)"

#!/usr/bin/env bash
# `integrator status` on the issue's reference stream in a real repository
# (bench/gen-readiness.py: 4,000 events, 1,018 slugs, 1,491 candidates, 473 superseded,
# branches moved past their candidate, some merged into main, some unreachable): the git
# processes of a cold status (no git-facts.json) and of a warm one (refs unchanged),
# counted with GIT_TRACE, and the wall time of each against a bare `git for-each-ref` in
# the same run. Budget: <= 5 git processes; warm <= 100 ms. No projection snapshot exists
# (no run has happened), so every status also replays the 4,000-event log.
# BENCH_OLD_BIN=<dir with an older release integrator> adds that binary's status.
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
say "readiness: status over 4,000 events, 1,491 candidates ($(uptime | sed 's/.*load/load/'))"
python3 "$BENCH_DIR/gen-readiness.py" "$FIX/r"
cd "$FIX/r/work"
"$BIN/integrator" emit --json - <"$FIX/r/events.jsonl"
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude
gits() {
  rm -f "$FIX/trace"
  GIT_TRACE="$FIX/trace" "$1" status >/dev/null
  grep -c 'trace: built-in: git' "$FIX/trace"
}
rm -f "$state/git-facts.json"
echo "git processes, cold status (no git-facts.json): $(gits "$BIN/integrator")"
echo "git processes, warm status (refs unchanged):    $(gits "$BIN/integrator")"
if [ -n "${BENCH_OLD_BIN:-}" ]; then
  echo "git processes, $BENCH_OLD_BIN/integrator status: $(gits "$BENCH_OLD_BIN/integrator")"
fi
"$BIN/integrator" status --json | python3 -c '
import collections, json, sys
s = json.load(sys.stdin)
print("candidates shown:", dict(collections.Counter(c["state"] for c in s["candidates"])))'
old=()
if [ -n "${BENCH_OLD_BIN:-}" ]; then
  old=(-n "status, older build" "$BENCH_OLD_BIN/integrator status >/dev/null")
fi
hyperfine -w 3 -r "${BENCH_RUNS:-30}" --style none --export-json "$FIX/readiness.json" \
  -n "status warm" "$BIN/integrator status >/dev/null" \
  -n "status cold (git-facts.json removed)" "rm -f $state/git-facts.json; $BIN/integrator status >/dev/null" \
  "${old[@]}" \
  -n "git for-each-ref refs/remotes/origin/" "git for-each-ref refs/remotes/origin/ >/dev/null" 2>/dev/null
ratio "$FIX/readiness.json"
uptime

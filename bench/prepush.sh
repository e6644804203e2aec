#!/usr/bin/env bash
# The pre-push hook with 1 and 100 feature-branch lines vs an empty hook
# (`cat >/dev/null`), on an empty event log and on a 100k-event log. Budget: <= 5 ms
# with one line. hyperfine's shell mode subtracts the shell's own start-up.
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

bench_hook() {
  local label=$1
  # Each run records the same pushes, so after the warm-up they are duplicates: the
  # log does not grow while we measure, and the key lookup is what is timed.
  hyperfine -w 5 -r "${BENCH_RUNS:-200}" --style none --export-json "$FIX/$label.json" \
    -n "pre-push, 1 line ($label)" "$FIX/pre-push origin $origin <$FIX/one.in" \
    -n "pre-push, 100 lines ($label)" "$FIX/pre-push origin $origin <$FIX/hundred.in" \
    -n "empty hook, 100 lines" "$FIX/empty-hook origin $origin <$FIX/hundred.in" \
    -n "empty hook, 1 line" "$FIX/empty-hook origin $origin <$FIX/one.in" 2>/dev/null
  uptime
  ratio "$FIX/$label.json"
}

bench_hook "empty log"
say "pre-push on a 100k-event log"
rm -rf "$state"
mkdir -p "$state"
python3 "$BENCH_DIR/gen-events.py" --events 100000 --format log >"$state/events.jsonl"
"$FIX/pre-push" origin "$origin" <"$FIX/one.in" # builds the key index once
bench_hook "100k-event log"

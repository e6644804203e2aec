#!/usr/bin/env bash
# Speculative verify: `integrator run` (cutover) with `verify = "sleep 2"`-like checks,
# serial (`verify_parallel = 1`) against `verify_parallel = 4`, in the same run:
#   - 8 clean candidates: budget <= 1.5x the ideal ceil(8/4) x 2 s = 4 s;
#   - 16 candidates, every fourth one failing verify: budget <= 2x the ideal 8 s.
# Each timed run starts from a copy of the same pristine fixture.
# BENCH_VERIFY_SECS (2), BENCH_PARALLEL (4) and BENCH_RUNS (1) change the defaults.
V=${BENCH_VERIFY_SECS:-2} K=${BENCH_PARALLEL:-4} runs=${BENCH_RUNS:-1}
. "$(dirname "$0")/lib.sh"
need_tools && build && fixture_dir
say "speculative verify: verify = sleep $V, verify_parallel = $K vs 1 ($(uptime | sed 's/.*load/load/'))"
# The verify sleeps, then fails on a tree holding any FAIL-* file.
verify="sleep $V; test -z \\\"\$(ls | grep '^FAIL-')\\\""
for k in 1 "$K"; do
  printf '[integrator]\nmode = "cutover"\nverify = "%s"\nverify_parallel = %s\n[cutover]\nenabled = true\nparity_evidence = "accepted"\n' \
    "$verify" "$k" >"$FIX/config-$k.toml"
done
# fixture NAME N EVERY: a pristine repository with N READY candidates, every EVERY-th failing.
fixture() {
  local p=$FIX/$1
  new_repo "$p"
  (cd "$p/work" && candidates "$2" "$3" >"$FIX/$1.events" && "$BIN/integrator" emit --json - <"$FIX/$1.events" >/dev/null)
}
fixture clean8 8 0
fixture fail16 16 4
W=$FIX/w
use() { echo "cp $FIX/config-$2.toml $W/work/.git/teleclaude/config.toml && cd $W/work && $BIN/integrator run --quiet"; }
for case in clean8 fail16; do
  hyperfine -r "$runs" --style none --export-json "$FIX/$case.json" --prepare "rm -rf $W && cp -a $FIX/$case $W" \
    -n "$case verify_parallel = $K" "$(use "$case" "$K")" \
    -n "$case verify_parallel = 1" "$(use "$case" 1)"
done
uptime
python3 - "$FIX" "$V" "$K" <<'PY'
import json, math, sys
fix, v, k = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
for case, n, budget in (("clean8", 8, 1.5), ("fail16", 16, 2.0)):
    par, ser = json.load(open("%s/%s.json" % (fix, case)))["results"]
    ideal = math.ceil(n / k) * v
    print("%-7s ideal %5.1f s  K=%d %6.2f s (%.2fx ideal, budget %.1fx: %s)  serial %6.2f s  serial/parallel %.2fx"
          % (case, ideal, k, par["median"], par["median"] / ideal, budget,
             "holds" if par["median"] <= budget * ideal else "MISSED", ser["median"], ser["median"] / par["median"]))
PY
# Check that the parallel runs did the work: what lands, and that it equals the serial run.
for case in clean8 fail16; do
  for k in "$K" 1; do
    rm -rf "$W" && cp -a "$FIX/$case" "$W"
    (cd "$W/work" && cp "$FIX/config-$k.toml" .git/teleclaude/config.toml && "$BIN/integrator" run --quiet)
    echo "$case verify_parallel = $k: main's tree $(git -C "$W/origin.git" rev-parse "main^{tree}"), $(git -C "$W/origin.git" rev-list --count --first-parent main) commits on its first-parent history"
  done
done

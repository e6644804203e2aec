#!/usr/bin/env bash
# git shim pass-through (with the shadow exec-path beside it, as installed) vs real git:
# `git rev-parse --git-dir` (budget <= 1.35x) and
# `git status` in a 10k-file repository. For reference also a do-nothing exec shim in C
# (static), the floor any exec shim pays.
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
say "shim pass-through ($(uptime | sed 's/.*load/load/'))"

SHIMS=$FIX/shims
mkdir -p "$SHIMS" "$FIX/floor"
cp "$BIN/git" "$SHIMS/git"
file -b "$SHIMS/git" | cut -d, -f1-5
# As installed: the shadow exec-path beside the shim, which the pass-through exports to
# git (README "Nested git") — measured with it, as users run it.
"$BIN/integrator" -C "$FIX" shims --shim-dir "$SHIMS" >/dev/null
if command -v cc >/dev/null 2>&1; then
  cat >"$FIX/floor/exec.c" <<C
#include <unistd.h>
int main(int argc, char **argv) { (void)argc; execv("$REAL_GIT", argv); return 127; }
C
  cc -O2 -static -o "$FIX/floor/git" "$FIX/floor/exec.c"
fi
new_repo "$FIX/small"
cd "$FIX/small/work"
# The shim finds the real git on PATH after its own entry, as when installed.
export PATH="$SHIMS:$(dirname "$REAL_GIT"):$PATH"
[ "$("$SHIMS/git" --exec-path)" = "$SHIMS/git-exec-path" ] || { echo "the shim does not export its shadow exec-path" >&2; exit 1; }
runs=${BENCH_RUNS:-1000}
cmds=(-n "shim: git rev-parse --git-dir" "$SHIMS/git rev-parse --git-dir")
[ -x "$FIX/floor/git" ] && cmds+=(-n "C exec shim (floor): git rev-parse --git-dir" "$FIX/floor/git rev-parse --git-dir")
cmds+=(-n "real git rev-parse --git-dir" "$REAL_GIT rev-parse --git-dir")
hyperfine -N -w 100 -r "$runs" --style none --export-json "$FIX/revparse.json" "${cmds[@]}" 2>/dev/null
uptime
ratio "$FIX/revparse.json"

# The machine drifts within one hyperfine run (each command's runs are one block), so the
# same comparison again in interleaved rounds: the ratio of each round, then the median.
rounds=${BENCH_ROUNDS:-7}
say "shim pass-through in $rounds interleaved rounds of $((runs / 2)) runs"
for i in $(seq "$rounds"); do
  hyperfine -N -w 50 -r "$((runs / 2))" --style none --export-json "$FIX/round-$i.json" "${cmds[@]}" 2>/dev/null
done
python3 - "$FIX" "$rounds" <<'PY'
import json, statistics, sys
fix, rounds = sys.argv[1], int(sys.argv[2])
rows = []
for i in range(1, rounds + 1):
    rs = json.load(open("%s/round-%d.json" % (fix, i)))["results"]
    med = {r["command"].split(":")[0]: r["median"] for r in rs}
    rows.append(med)
    line = "round %d: shim %.3fx real git" % (i, med["shim"] / med["real git rev-parse --git-dir"])
    if "C exec shim (floor)" in med:
        line += ", floor %.3fx, shim/floor %.3f" % (med["C exec shim (floor)"] / med["real git rev-parse --git-dir"],
                                                   med["shim"] / med["C exec shim (floor)"])
    print(line)
real = "real git rev-parse --git-dir"
print("median of rounds: shim %.3fx real git" % statistics.median(r["shim"] / r[real] for r in rows), end="")
if "C exec shim (floor)" in rows[0]:
    print(", floor %.3fx, shim/floor %.3f" % (statistics.median(r["C exec shim (floor)"] / r[real] for r in rows),
                                             statistics.median(r["shim"] / r["C exec shim (floor)"] for r in rows)))
else:
    print()
PY

say "git status in a 10k-file repository"
new_repo "$FIX/big"
(cd "$FIX/big/work" && python3 -c "
import os
for d in range(100):
    os.makedirs('d%02d' % d, exist_ok=True)
    for f in range(100):
        open('d%02d/f%03d.txt' % (d, f), 'w').write('%d %d\n' % (d, f))
" && git add . && git commit -q -m files && sleep 1 && git update-index -q --really-refresh && git status >/dev/null)
cd "$FIX/big/work"
hyperfine -N -w 20 -r "${BENCH_RUNS_STATUS:-200}" --export-json "$FIX/status.json" \
  --style none -n "shim: git status" "$SHIMS/git status" -n "real git status" "$REAL_GIT status" 2>/dev/null
uptime
ratio "$FIX/status.json"

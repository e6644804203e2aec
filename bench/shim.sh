#!/usr/bin/env bash
# git shim pass-through vs real git: `git rev-parse --git-dir` (budget <= 1.35x) and
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
runs=${BENCH_RUNS:-1000}
cmds=(-n "shim: git rev-parse --git-dir" "$SHIMS/git rev-parse --git-dir")
[ -x "$FIX/floor/git" ] && cmds+=(-n "C exec shim (floor): git rev-parse --git-dir" "$FIX/floor/git rev-parse --git-dir")
cmds+=(-n "real git rev-parse --git-dir" "$REAL_GIT rev-parse --git-dir")
hyperfine -N -w 100 -r "$runs" --style none --export-json "$FIX/revparse.json" "${cmds[@]}" 2>/dev/null
uptime
ratio "$FIX/revparse.json"

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

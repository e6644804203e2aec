#!/usr/bin/env bash
# `integrator run` (cutover) on 50 candidates, each touching its own file, in a repository
# of 20k files, with `verify = "true"` against the same run without verify. The cost of
# verify is the private worktree; the goal is <= 10x the no-verify run per candidate.
# BENCH_OLD_BIN=<dir with an older integrator> adds that binary's verify run (the
# "before" row). Each timed run starts from a copy of the same pristine fixture.
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
n=${BENCH_CANDIDATES:-50}
files=${BENCH_FILES:-20000}
say "integrator run, $n candidates, $files-file repository, verify = \"true\" ($(uptime | sed 's/.*load/load/'))"
P=$FIX/pristine
new_repo "$P"
cd "$P/work"
# 20k files in 200 directories, one commit.
python3 - "$files" <<'PY'
import os, sys
n = int(sys.argv[1])
for i in range(n):
    d = "src/d%03d" % (i % 200)
    os.makedirs(d, exist_ok=True)
    with open("%s/f%05d.txt" % (d, i), "w") as f:
        f.write("file %d\n" % i)
PY
git add -A
git commit -q -m "a large tree"
git push -q origin HEAD:refs/heads/main
candidates "$n" >"$FIX/events.in"
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude
"$BIN/integrator" emit --json - <"$FIX/events.in" >/dev/null
base='[integrator]\nmode = "cutover"\n%b[cutover]\nenabled = true\nparity_evidence = "accepted"\n'
# shellcheck disable=SC2059
printf "$base" '' >"$FIX/config-plain.toml"
# shellcheck disable=SC2059
printf "$base" 'verify = "true"\n' >"$FIX/config-verify.toml"

W=$FIX/w
reset="rm -rf $W && cp -a $P $W"
runs=${BENCH_RUNS:-1}
use() { echo "cp $FIX/config-$1.toml $W/work/.git/teleclaude/config.toml && cd $W/work"; }
cmds=(-n "verify = true (this build)" "$(use verify) && $BIN/integrator run --quiet")
if [ -n "${BENCH_OLD_BIN:-}" ]; then
  cmds+=(-n "verify = true (BENCH_OLD_BIN)" "$(use verify) && $BENCH_OLD_BIN/integrator run --quiet")
fi
cmds+=(-n "no verify (this build)" "$(use plain) && $BIN/integrator run --quiet")
hyperfine -r "$runs" --style none --export-json "$FIX/verify.json" --prepare "$reset" "${cmds[@]}"
uptime
ratio "$FIX/verify.json"
python3 - "$FIX/verify.json" "$n" <<'PY'
import json, sys
n = int(sys.argv[2])
for r in json.load(open(sys.argv[1]))["results"]:
    print("%-34s %8.1f ms per candidate" % (r["command"][:34], r["median"] * 1e3 / n))
PY
# Check that the verify run did the work: every candidate on origin's main.
eval "$reset"
(cd "$W/work" && cp "$FIX/config-verify.toml" .git/teleclaude/config.toml && "$BIN/integrator" run --quiet)
echo "verify run: $(git -C "$W/origin.git" rev-list --count --first-parent main) commits on main's first-parent history"

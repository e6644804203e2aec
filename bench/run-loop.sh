#!/usr/bin/env bash
# `integrator run` (cutover) on 50 clean candidates vs a plain shell loop doing the same
# fetch + merge + push per candidate with git. Budget <= 1.3x. Each timed run starts
# from a copy of the same pristine fixture.
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
say "integrator run, 50 candidates ($(uptime | sed 's/.*load/load/'))"
n=${BENCH_CANDIDATES:-50}
P=$FIX/pristine
new_repo "$P"
cd "$P/work"
candidates "$n" >"$FIX/events.in"
state=$(git rev-parse --path-format=absolute --git-common-dir)/teleclaude
"$BIN/integrator" emit --json - <"$FIX/events.in"
printf '[integrator]\nmode = "cutover"\n[cutover]\nenabled = true\nparity_evidence = "accepted"\n' >"$state/config.toml"
printf '[integrator]\nmode = "cutover"\ndelete_merged_branches = false\n[cutover]\nenabled = true\nparity_evidence = "accepted"\n' >"$FIX/config-keep.toml"

# The same work with git alone: per candidate fetch, merge (a merge commit, as the
# integrator makes), push main.
cat >"$FIX/loop.sh" <<SH
#!/bin/sh
set -e
cd "\$1/work"
for i in \$(seq -w 1 $n); do
  git fetch -q origin
  git merge -q --no-ff --no-edit -m "Integrate c\$i" "origin/feat/c\$i"
  git push -q origin HEAD:refs/heads/main
done
SH
chmod +x "$FIX/loop.sh"
W=$FIX/w
reset="rm -rf $W && cp -a $P $W"
runs=${BENCH_RUNS:-5}
hyperfine -w 1 -r "$runs" --style none --export-json "$FIX/run.json" --prepare "$reset" \
  -n "integrator run (default: deletes merged branches)" "cd $W/work && $BIN/integrator run --quiet" \
  -n "integrator run (delete_merged_branches = false)" "cp $FIX/config-keep.toml $W/work/.git/teleclaude/config.toml && cd $W/work && $BIN/integrator run --quiet" \
  -n "shell loop: fetch + merge + push" "$FIX/loop.sh $W" 2>/dev/null
uptime
ratio "$FIX/run.json"
# Check that both did the work: 50 merges on origin's main.
eval "$reset"; (cd "$W/work" && "$BIN/integrator" run --quiet)
echo "integrator: $(git -C "$W/origin.git" rev-list --count --first-parent main) commits on main's first-parent history"
eval "$reset"; "$FIX/loop.sh" "$W"
echo "shell loop: $(git -C "$W/origin.git" rev-list --count --first-parent main) commits on main's first-parent history"

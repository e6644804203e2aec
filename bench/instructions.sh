#!/usr/bin/env bash
# Instructions executed before `execve` (callgrind `--dump-before=execve`): the git shim's
# pass-through, a do-nothing static C exec shim (the floor), and the same C shim built as
# a static-pie (what self-relocation at every start costs). Counts, not seconds: the same
# binary, arguments and environment give the same count on a loaded machine.
. "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || { echo "bench/instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
command -v cc >/dev/null || { echo "bench/instructions.sh: needs a C compiler (cc)" >&2; exit 2; }
build
fixture_dir
new_repo "$FIX/small"
mkdir -p "$FIX/bin"
printf '#include <unistd.h>\nint main(int argc, char **argv) { (void)argc; execv("%s", argv); return 127; }\n' "$REAL_GIT" \
  >"$FIX/bin/exec.c"
cc -O2 -static -o "$FIX/bin/floor" "$FIX/bin/exec.c"
cc -O2 -static-pie -fPIE -o "$FIX/bin/floor-pie" "$FIX/bin/exec.c"
cp "$BIN/git" "$FIX/bin/shim"
cd "$FIX/small/work"
export PATH="$FIX/bin:$(dirname "$REAL_GIT"):$PATH"
# The first dump holds everything up to the exec of real git.
count() {
  rm -f "$FIX"/cg.*
  valgrind --tool=callgrind --dump-before=execve --callgrind-out-file="$FIX/cg.%p" "$@" >/dev/null 2>"$FIX/vg.err"
  sed -n 's/^totals: //p' "$(ls "$FIX"/cg.*.1 2>/dev/null || ls "$FIX"/cg.* | head -1)"
}
say "instructions before execve, \`git rev-parse --git-dir\` ($(valgrind --version))"
printf '%-44s %12s\n' "program" "instructions"
shim=$(count "$FIX/bin/shim" rev-parse --git-dir)
floor=$(count "$FIX/bin/floor" rev-parse --git-dir)
pie=$(count "$FIX/bin/floor-pie" rev-parse --git-dir)
printf '%-44s %12s\n' "git shim (static, non-PIE)" "$shim" "C exec shim, static non-PIE (floor)" "$floor" \
  "C exec shim, static-pie" "$pie"
echo "shim - floor: $((shim - floor)); static-pie self-relocation: $((pie - floor))"

#!/usr/bin/env bash
# Every benchmark, one after the other, with the machine they ran on. Numbers, not
# tests: nothing here fails on a slow machine. Compare ratios, not absolute times.
. "$(dirname "$0")/lib.sh"
need_tools
build
machine
export BENCH_SKIP_BUILD=1
for b in shim prepush emit status readiness run-loop speculative; do
  "$BENCH_DIR/$b.sh"
done
if command -v valgrind >/dev/null; then
  "$BENCH_DIR/instructions.sh"
else
  say "instructions before execve: not measured (no valgrind: apt-get install valgrind)"
fi

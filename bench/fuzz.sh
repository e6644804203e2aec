#!/usr/bin/env bash
# Fuzzing (RELIABILITY.md, "Fuzzing"): each cargo-fuzz target for FUZZ_SECS seconds
# (default 600), niced; prints libFuzzer's final line (executions, crashes). Needs
# `cargo install cargo-fuzz`; only the stable toolchain (RUSTC_BOOTSTRAP=1). Not in CI.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs=${FUZZ_SECS:-600}
for target in ${FUZZ_TARGETS:-prepush_stdin git_argv event_validation}; do
  echo "== $target, $secs s ($(date -u +%FT%TZ))"
  RUSTC_BOOTSTRAP=1 nice cargo fuzz run "$target" -- -max_total_time="$secs" 2>&1 | grep -E '^(Done|==.*ERROR)' || true
done

#!/usr/bin/env bash
# Soak (RELIABILITY.md, "Soak and long runs"): the concurrency, kill and damage tests
# SOAK_PASSES times in a row (default 20), then the property tests with many more cases.
# Prints each pass's wall time and stops at the first failure. Not in CI (minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
passes=${SOAK_PASSES:-20}
cargo test --locked --features failpoints --test it --no-run
start=$(date +%s)
for i in $(seq "$passes"); do
  t=$(date +%s%N)
  cargo test --locked --features failpoints --test it reliability -- --test-threads=2 >/dev/null 2>&1 ||
    { echo "pass $i FAILED (re-run: cargo test --locked --features failpoints --test it reliability)"; exit 1; }
  echo "pass $i: $((($(date +%s%N) - t) / 1000000)) ms"
done
echo "$passes of $passes green, $(($(date +%s) - start)) s in all ($(date -u +%FT%TZ), nproc $(nproc))"
PROPTEST_CASES=${PROPTEST_CASES:-100000} cargo test --locked --lib -- queue:: events:: guard::

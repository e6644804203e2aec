#!/usr/bin/env bash
# Mutation testing (docs/mutants.md): cargo-mutants makes one deliberate bug at a time in
# the modules whose promises the README makes, and runs the tests; a mutant the tests do
# not catch is a promise no test holds. Slow (one build per mutant), so not in CI.
#
#   bench/mutants.sh                      # every module below, one at a time
#   bench/mutants.sh src/lease.rs         # one module (a file or a directory glob)
#   MUTANTS_TESTS="lease token" bench/mutants.sh src/lease.rs   # only tests matching these
#
# Needs cargo-mutants (`cargo install cargo-mutants --locked`). Results land in
# mutants.out/<module>/ (caught.txt, missed.txt, unviable.txt, timeout.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || { echo "bench/mutants.sh: needs cargo-mutants (cargo install cargo-mutants --locked)" >&2; exit 2; }
modules=("$@")
[ "${#modules[@]}" -gt 0 ] || modules=('src/guard/**' src/lease.rs src/readiness.rs 'src/readiness/**' src/apply.rs 'src/apply/**' 'src/queue/**')
out=${MUTANTS_OUT:-mutants.out}
filters=()
[ -z "${MUTANTS_TESTS:-}" ] || read -r -a filters <<<"$MUTANTS_TESTS"
for m in "${modules[@]}"; do
  name=$(echo "$m" | tr -c 'a-zA-Z0-9\n' '_')
  echo "== $m ($(date -u +%FT%TZ))"
  # Exit 2 means "some mutants were missed": report it and go on with the next module.
  cargo mutants --jobs "${MUTANTS_JOBS:-1}" --timeout "${MUTANTS_TIMEOUT:-300}" --features failpoints \
    -f "$m" -o "$out/$name" -- --lib --test it -- "${filters[@]}" || true
  for k in caught missed unviable timeout; do
    printf '%s %s\n' "$k" "$(wc -l <"$out/$name/mutants.out/$k.txt" 2>/dev/null || echo 0)"
  done
done

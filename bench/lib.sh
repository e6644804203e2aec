# Shared by the benchmark scripts: release build (shims statically linked), tools,
# a hermetic git environment, fixtures in a temp dir, and ratio reporting.
# shellcheck shell=bash
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET_DIR/release
REAL_GIT=$(command -v git)

say() { printf '\n== %s\n' "$*"; }

# Install what a fresh Debian/Ubuntu machine lacks (hyperfine and GNU time are packaged).
need_tools() {
  local missing=()
  command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
  [ -x /usr/bin/time ] || missing+=(time)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
  fi
}

# Release binaries. `integrator` is built normally; the shims and the hook are linked
# statically (`+crt-static`) and not position-independent: a dynamically linked exec
# shim costs ~1.7x real git on a short command, most of it in the dynamic loader, and a
# static-pie one still relocates itself at every start. `cargo rustc` passes the flags
# to the final binary only, so proc-macros and dependencies are unaffected and reused.
SHIM_RUSTFLAGS=(-C target-feature=+crt-static -C relocation-model=static)
build() {
  if [ "${BENCH_SKIP_BUILD:-}" = 1 ]; then return; fi
  say "cargo build --release --locked (CARGO_TARGET_DIR=${TARGET_DIR})"
  (cd "$ROOT" && cargo build --release --locked --bin integrator)
  for b in git gh pre-push; do
    (cd "$ROOT" && cargo rustc --release --locked --bin "$b" -- "${SHIM_RUSTFLAGS[@]}")
  done
}

# A temp dir for fixtures, removed on exit, and the hermetic git environment.
fixture_dir() {
  FIX=$(mktemp -d "${TMPDIR:-/tmp}/tc-bench.XXXXXX")
  FIX=$(cd "$FIX" && pwd -P)
  trap 'rm -rf "$FIX"' EXIT
  mkdir -p "$FIX/home"
  printf '[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n' \
    >"$FIX/home/.gitconfig"
  export HOME=$FIX/home GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$FIX/home/.gitconfig LC_ALL=C TZ=UTC USER=bench
  unset GIT_DIR GIT_WORK_TREE TELECLAUDE_SESSION_ID TELECLAUDE_INTEGRATOR_MODE TELECLAUDE_INTEGRATOR_TOKEN
}

# new_repo DIR: bare DIR/origin.git and a clone DIR/work with one commit on main.
new_repo() {
  local d=$1
  mkdir -p "$d"
  git -C "$d" init -q --bare origin.git
  git -C "$d" clone -q origin.git work 2>/dev/null
  # Relative, so that a copy of the fixture pushes to its own origin.
  git -C "$d/work" remote set-url origin ../origin.git
  echo hello >"$d/work/README.md"
  git -C "$d/work" add .
  git -C "$d/work" commit -q -m initial
  git -C "$d/work" push -q origin HEAD:refs/heads/main
}

# candidates N [M]: in the clone of the current directory, N branches feat/c<i> from HEAD,
# each adding its own file c<i>.txt (and every M-th one also a file FAIL-c<i>), pushed to
# origin; prints the events that make them READY (for `integrator emit --json -`). Leaves
# the clone on main, fetched.
candidates() {
  local n=$1 every=${2:-0} sha0 i s t
  sha0=$(git rev-parse HEAD)
  for i in $(seq -w 1 "$n"); do
    git checkout -q -b "feat/c$i" "$sha0"
    echo "candidate $i" >"c$i.txt"
    git add "c$i.txt"
    if [ "$every" -gt 0 ] && [ $((10#$i % every)) -eq 0 ]; then
      echo fail >"FAIL-c$i"
      git add "FAIL-c$i"
    fi
    git commit -q -m "candidate $i"
    git push -q origin "feat/c$i"
    s=$(git rev-parse HEAD)
    t=$(printf '2026-01-01T00:%02d:%02dZ' $((10#$i / 60)) $((10#$i % 60)))
    printf '{"type":"review-approved","payload":{"slug":"c%s","review_round":1,"reviewer_session_id":"r","approved_at":"%s"}}\n' "$i" "$t"
    printf '{"type":"branch-pushed","payload":{"branch":"feat/c%s","sha":"%s","remote":"origin","pushed_at":"%s","pusher":"w"}}\n' "$i" "$s" "$t"
    printf '{"type":"deployment-started","payload":{"slug":"c%s","branch":"feat/c%s","sha":"%s","worker_session_id":"w","orchestrator_session_id":"o","ready_at":"%s"}}\n' "$i" "$i" "$s" "$t"
  done
  git checkout -q main
  git fetch -q origin
}

machine() {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  nproc: $(nproc)  $(uptime | sed 's/^ *//')"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core)' | sed 's/  */ /g' || true
  echo "$(git --version); $(hyperfine --version)"
}

# ratio JSON: mean and median of each command of a hyperfine export, and each one's
# ratio to the last command (the reference: real git, the empty hook, the shell loop).
ratio() {
  python3 - "$1" <<'PY'
import json, sys
rs = json.load(open(sys.argv[1]))["results"]
ref = rs[-1]
cpu = lambda r: r["user"] + r["system"]
print("%-46s %9s %9s %9s %7s %7s %7s" % ("command", "mean ms", "median ms", "cpu ms", "x mean", "x med", "x cpu"))
for r in rs:
    print("%-46s %9.3f %9.3f %9.3f %7.3f %7.3f %7.3f" % (r["command"][:46], r["mean"] * 1e3, r["median"] * 1e3,
          cpu(r) * 1e3, r["mean"] / ref["mean"], r["median"] / ref["median"], cpu(r) / max(cpu(ref), 1e-9)))
PY
}

# throughput JSON N UNIT: one hyperfine result as items per second (mean, median, per cpu-second).
throughput() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
n, unit = int(sys.argv[2]), sys.argv[3]
cpu = r["user"] + r["system"]
print("%s: mean %.1f ms, median %.1f ms, cpu %.1f ms -> %.0f %s/s (mean), %.0f (median), %.0f (per cpu-second)"
      % (r["command"], r["mean"] * 1e3, r["median"] * 1e3, cpu * 1e3, n / r["mean"], unit, n / r["median"], n / cpu))
PY
}

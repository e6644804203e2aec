#!/usr/bin/env bash
# The fleet (README "Fleet"), through a real `git daemon` on 127.0.0.1:
#  1. `integrator sync` of one new event (one listing, one fetch, one push);
#  2. `integrator run` (shadow) ingesting 10 writers x 1k events from the remote (taking
#     and releasing the remote lease, publishing its results), against the same run on a
#     clone without the fleet that holds the same 10k events recorded locally (goal <= 2x);
#     beside it, the same fleet clone once it has ingested them (its fixed round trips).
. "$(dirname "$0")/lib.sh"
need_tools
build
fixture_dir
machine
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
new_repo "$FIX/r"
"$(git --exec-path)/git-daemon" --reuseaddr --export-all --enable=receive-pack --listen=127.0.0.1 \
  --port="$PORT" --base-path="$FIX/r" >/dev/null 2>&1 &
DAEMON=$!
HOLD=
trap 'kill $DAEMON $HOLD 2>/dev/null; rm -rf "$FIX"' EXIT
for _ in $(seq 50); do git ls-remote "git://127.0.0.1:$PORT/origin.git" >/dev/null 2>&1 && break; sleep 0.1; done
URL=git://127.0.0.1:$PORT/origin.git
FLEET_CFG='[integrator]\nmode = "shadow"\n[fleet]\nenabled = true\n'

computer() { # computer NAME: a clone through the daemon with the fleet on
  git clone -q "$URL" "$FIX/$1"
  mkdir -p "$FIX/$1/.git/teleclaude"
  printf "$FLEET_CFG" >"$FIX/$1/.git/teleclaude/config.toml"
}

# What one exchange costs on this transport: over git:// on loopback each protocol-v2
# command (ls-refs, each fetch round) waits ~40 ms for its answer (by its length, a TCP
# delayed-ACK stall), while protocol v0, whose server speaks first, does not; the two
# ls-remote rows show it. Each exchange of a run with the remote pays it.
say "sync of one event"
computer one
cd "$FIX/one"
mkdir -p .git/teleclaude/fleet
# Hold the background-sync slot so the emits below start none: each sync measured is alone.
flock -F .git/teleclaude/fleet/background.lock sleep 100000 &
HOLD=$!
"$BIN/integrator" sync --quiet
hyperfine -w 2 -r "${BENCH_RUNS:-20}" --style none --export-json "$FIX/one.json" \
  --prepare "$BIN/integrator emit review-approved --slug b\$(date +%s%N) --round 1 >/dev/null" \
  -n "integrator sync (one new event)" "$BIN/integrator sync --quiet" \
  -n "git ls-remote, protocol v0 (no request sent)" "git -c protocol.version=0 ls-remote $URL" \
  -n "git ls-remote (one round trip, reference)" "git ls-remote $URL" 2>/dev/null
kill $HOLD
HOLD=
ratio "$FIX/one.json"

say "a run ingesting 10 writers x 1k events, vs the same events recorded locally"
# A remote of its own (the one above holds the events the sync measurement published).
new_repo "$FIX/r/two"
URL=git://127.0.0.1:$PORT/two/origin.git
# Both computers have run before (the fleet one took and released the remote lease, so
# its clone has a writer id and knows the lease), then the 10k events arrive: through
# the remote from ten other computers, or recorded on the local one itself.
computer fleet
computer local
printf '[integrator]\nmode = "shadow"\n' >"$FIX/local/.git/teleclaude/config.toml"
(cd "$FIX/fleet" && "$BIN/integrator" run --quiet)
(cd "$FIX/local" && "$BIN/integrator" run --quiet)
for k in $(seq 10); do
  computer "w$k"
  python3 "$BENCH_DIR/gen-events.py" --events 1000 --format ingest --seed "$k" |
    sed "s/\"s\([0-9]\{6\}\)/\"k${k}s\1/g; s/feat\/s/feat\/k${k}s/g" >"$FIX/w$k.jsonl"
  (cd "$FIX/w$k" && "$BIN/integrator" emit --json - <"$FIX/w$k.jsonl" >/dev/null && "$BIN/integrator" sync --quiet)
done
cat "$FIX"/w*.jsonl | (cd "$FIX/local" && "$BIN/integrator" emit --json - >/dev/null)
# Each measured run starts from the same state: the remote as the ten writers left it and
# the fleet clone with nothing of theirs ingested / the local clone with the events recorded.
for d in r/two/origin.git fleet local; do cp -a "$FIX/$d" "$FIX/$(basename "$d").pristine"; done
# The same fleet clone, but with the writers' objects already in its object store (as an
# earlier fetch would have left them, refs gone): its run transfers no objects, so it
# shows the integrator's own cost apart from git packing and sending the batches.
cp -a "$FIX/fleet.pristine" "$FIX/prefetched.pristine"
git -C "$FIX/prefetched.pristine" fetch -q "$URL" "+refs/teleclaude/events/*:refs/bench/*"
git -C "$FIX/prefetched.pristine" for-each-ref --format='delete %(refname)' refs/bench |
  git -C "$FIX/prefetched.pristine" update-ref --stdin
# The same fleet clone after a run that ingested them, and the remote as that run left it:
# a run with nothing new on the remote pays the fleet's fixed costs only (the lease taken
# and released, one fleet fetch, the final push) — the ingest's share is the difference.
cp -a "$FIX/fleet.pristine" "$FIX/ingested.pristine"
(cd "$FIX/ingested.pristine" && "$BIN/integrator" run --quiet)
cp -a "$FIX/r/two/origin.git" "$FIX/after.pristine"
restore() { echo "rm -rf '$FIX/$1' && cp -a '$FIX/${2:-$(basename "$1")}.pristine' '$FIX/$1'"; }
hyperfine -w 1 -r "${BENCH_RUNS_RUN:-5}" --style none --export-json "$FIX/run.json" \
  --prepare "$(restore r/two/origin.git) && $(restore fleet)" \
  --prepare "$(restore r/two/origin.git) && $(restore fleet prefetched)" \
  --prepare "$(restore r/two/origin.git after) && $(restore fleet ingested)" \
  --prepare "$(restore local)" \
  -n "run: ingest 10 writers x 1k through the remote" "cd '$FIX/fleet' && $BIN/integrator run --quiet" \
  -n "run: the same, objects already fetched" "cd '$FIX/fleet' && $BIN/integrator run --quiet" \
  -n "run: fleet on, the 10k already ingested" "cd '$FIX/fleet' && $BIN/integrator run --quiet" \
  -n "run: the same 10k events recorded locally" "cd '$FIX/local' && $BIN/integrator run --quiet" 2>/dev/null
ratio "$FIX/run.json"
# What serving those batches costs the remote: git's own pack-objects for the ten writer
# refs, as upload-pack runs it (the batches arrived as loose objects: delta search on
# every fetch), with the delta search off for the batch files by an attribute, and with
# it off altogether (--window=0), for comparison; and what the ten batches weigh there.
cd "$FIX/origin.git.pristine"
echo "the remote's objects: $(git count-objects -v | tr '\n' ' ')"
tips=$(git for-each-ref --format='%(objectname)' refs/teleclaude/events)
# A copy of the remote whose info/attributes turns git's delta search off for the batch
# files (gzip data never deltas): what a remote's administrator can set.
cp -a "$FIX/origin.git.pristine" "$FIX/nodelta.git"
mkdir -p "$FIX/nodelta.git/info" && echo 'events.jsonl.gz -delta' >"$FIX/nodelta.git/info/attributes"
hyperfine -w 1 -r "${BENCH_RUNS_RUN:-5}" --style none --export-json "$FIX/pack.json" \
  -n "remote: pack-objects of the 10 batches" "echo '$tips' | git pack-objects --revs --stdout --delta-base-offset >/dev/null" \
  -n "remote: the same, events.jsonl.gz -delta" "echo '$tips' | git -C '$FIX/nodelta.git' pack-objects --revs --stdout --delta-base-offset >/dev/null" \
  -n "remote: the same, --window=0" "echo '$tips' | git pack-objects --revs --stdout --window=0 >/dev/null" 2>/dev/null
ratio "$FIX/pack.json"
for d in fleet local; do
  echo "$d clone's log after the run: $(wc -l <"$FIX/$d/.git/teleclaude/events.jsonl") lines"
done

#!/usr/bin/env python3
"""Generate a realistic event stream for the benchmarks.

Per slug (a unit of work): one or two review.approved rounds, one to three
branch.pushed (each push a new sha), one deployment.started for the last sha and,
for all but the last --live slugs, a deployment.completed (the slug was merged).

  gen-events.py --events N --format ingest  > in.jsonl    # `integrator emit --json -` input
  gen-events.py --events N --format log     > events.jsonl # envelopes, as the recorder writes
  gen-events.py --events N --format log --queue queue.json > events.jsonl
      # also the queue.json a run would have left: one integrated item per merged slug

Deterministic (seeded), so every run of a benchmark sees the same bytes.
"""
import argparse
import json
import random
import sys
import uuid

P = "domain.software-development."


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, required=True)
    ap.add_argument("--format", choices=["ingest", "log"], required=True)
    ap.add_argument("--live", type=int, default=20, help="slugs left without deployment.completed")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--queue", help="also write the queue.json of the merged slugs here")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = sys.stdout
    written = 0
    base = 1767225600  # 2026-01-01T00:00:00Z

    def ts(sec):
        h, rem = divmod(sec, 3600)
        d, h = divmod(h, 24)
        m, s = divmod(rem, 60)
        # Stay inside January so the timestamps remain valid without calendar maths.
        return "2026-01-%02dT%02d:%02d:%02dZ" % (1 + d % 28, h, m, s)

    def sha():
        return "%040x" % rng.getrandbits(160)

    def emit(kind, payload, key_fields, level, t):
        nonlocal written
        if written >= a.events:
            return
        if a.format == "ingest":
            out.write(json.dumps({"type": P + kind, "payload": payload, "source": "bench"}, separators=(",", ":")))
        else:
            key = ":".join([P + kind] + [str(payload[f]) for f in key_fields])
            env = {"v": 1, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "type": P + kind,
                   "at": ts(t), "source": "bench", "key": key, "level": level, "payload": payload}
            out.write(json.dumps(env, separators=(",", ":")))
        out.write("\n")
        written += 1

    items = []

    def queue_item(slug, branch, head, ready, done, merge):
        reason = "merged as " + merge
        trans = [{"from": None, "to": "queued", "at": ready, "reason": "ready"},
                 {"from": "queued", "to": "in_progress", "at": done, "reason": "integrating"},
                 {"from": "in_progress", "to": "integrated", "at": done, "reason": reason}]
        return {"slug": slug, "branch": branch, "sha": head, "ready_at": ready, "status": "integrated",
                "status_reason": reason, "status_at": done, "attempts": 1,
                "last_outcome": {"mode": "cutover", "outcome": "integrated", "main_sha": merge, "at": done, "reasons": [reason]},
                "transitions": trans}

    # Plan the slugs first so that the last `live` ones can be left open.
    plans = []
    total = 0
    i = 0
    while total < a.events:
        rounds = rng.choice([1, 1, 2])
        pushes = rng.choice([1, 2, 3])
        plans.append((i, rounds, pushes))
        total += rounds + pushes + 2
        i += 1
    live_from = max(0, len(plans) - a.live)
    t = 0
    for i, rounds, pushes in plans:
        if written >= a.events:
            break
        slug = "s%06d" % i
        branch = "feat/" + slug
        shas = [sha() for _ in range(pushes)]
        for n, s in enumerate(shas):
            t += 1
            emit("branch.pushed", {"branch": branch, "sha": s, "remote": "origin", "pushed_at": ts(t), "pusher": "w%d" % (i % 7)},
                 ["branch", "sha", "remote"], "workflow", t)
        for r in range(1, rounds + 1):
            t += 1
            emit("review.approved", {"slug": slug, "review_round": r, "reviewer_session_id": "r%d" % (i % 5), "approved_at": ts(t)},
                 ["slug", "review_round"], "workflow", t)
        t += 1
        emit("deployment.started", {"slug": slug, "branch": branch, "sha": shas[-1], "worker_session_id": "w%d" % (i % 7),
                                    "orchestrator_session_id": "o1", "ready_at": ts(t)}, ["slug", "branch", "sha"], "workflow", t)
        if i < live_from:
            t += 1
            merge = sha()
            emit("deployment.completed", {"slug": slug, "branch": branch, "sha": shas[-1], "merge_commit": merge, "integrated_at": ts(t)},
                 ["slug", "merge_commit"], "workflow", t)
            if a.queue and written <= a.events:
                items.append(queue_item(slug, branch, shas[-1], ts(t - 1), ts(t), merge))
    # Pad with pushes to hit the exact count.
    while written < a.events:
        t += 1
        emit("branch.pushed", {"branch": "feat/pad", "sha": sha(), "remote": "origin", "pushed_at": ts(t), "pusher": "w"},
             ["branch", "sha", "remote"], "workflow", t)
    if a.queue:
        with open(a.queue, "w") as f:
            json.dump({"version": 1, "items": items}, f, separators=(",", ":"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

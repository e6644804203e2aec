#!/usr/bin/env python3
"""The readiness benchmark's fixture: a real repository and the issue's reference stream.

  gen-readiness.py DIR

writes DIR/origin.git (bare, built by one `git fast-import`), DIR/work (a clone of it)
and DIR/events.jsonl (input for `integrator emit --json -`): 4,000 events for 1,018 slugs
and 1,491 candidates, 473 of them superseded (the issue's reference stream):

- slug i has branch feat/s<i>, forked from one of 50 commits of main, with commits A and
  B on it; its candidate is B, and for 473 slugs A was a candidate first (superseded);
- every tenth branch moved on past B (its candidate is not at the tip);
- every third B was merged into main by the old path (INTEGRATED), but for the ones below;
- every 25th branch was force-pushed to an unrelated commit (B is unreachable: NOT_READY).

Per slug one review.approved, per candidate one branch.pushed and one deployment.started:
1,018 + 2 x 1,491 = 4,000 events. Deterministic: the same bytes and shas every run.
"""
import json
import os
import subprocess
import sys

SLUGS, SUPERSEDED, BASES = 1018, 473, 50
EPOCH = 1767225600  # 2026-01-01T00:00:00Z


class Stream:
    def __init__(self):
        self.parts, self.mark, self.t = [], 0, EPOCH

    def commit(self, ref, name, parent=None, merge=None):
        """One commit adding file `name`; returns its mark."""
        self.mark += 1
        self.t += 1
        msg = f"{ref}: {name}\n".encode()
        out = [f"commit {ref}\nmark :{self.mark}\ncommitter Bench <bench@example.com> {self.t} +0000\n".encode(),
               f"data {len(msg)}\n".encode(), msg]
        if parent:
            out.append(f"from :{parent}\n".encode())
        if merge:
            out.append(f"merge :{merge}\n".encode())
        out.append(f"M 644 inline {name}\ndata {len(name) + 1}\n{name}\n".encode())
        self.parts.append(b"".join(out))
        return self.mark


def history():
    """The fast-import stream and, per slug, the marks of A, B and the branch tip."""
    s = Stream()
    bases = [s.commit("refs/heads/main", "README.md")]
    for k in range(1, BASES):
        bases.append(s.commit("refs/heads/main", f"main/{k}.txt", bases[-1]))
    slugs = []
    for i in range(SLUGS):
        ref = f"refs/heads/feat/s{i}"
        a = s.commit(ref, f"feat/{i}/a.txt", bases[i % BASES])
        b = s.commit(ref, f"feat/{i}/b.txt", a)
        tip = b
        if i % 10 == 1:
            tip = s.commit(ref, f"feat/{i}/c.txt", b)
        if i % 25 == 7:
            # The branch was force-pushed to an unrelated commit (`from` moves it there).
            tip = s.commit(ref, f"feat/{i}/other.txt", bases[0])
        slugs.append((a, b, tip))
    main = bases[-1]
    for i in range(0, SLUGS, 3):
        if i % 25 != 7:
            main = s.commit("refs/heads/main", f"merged/{i}.txt", main, merge=slugs[i][1])
    return b"".join(s.parts), slugs


def ts(sec):
    m, s = divmod(sec, 60)
    h, m = divmod(m, 60)
    return "2026-01-%02dT%02d:%02d:%02dZ" % (1 + h // 24, h % 24, m, s)


def events(slugs, sha):
    """The 4,000 ingest lines; slug i's A was a candidate when (7i mod 1018) < 473."""
    out, t = [], 0
    for i, (a, b, _) in enumerate(slugs):
        slug, branch = f"s{i:04d}", f"feat/s{i}"
        t += 1
        out.append({"type": "review-approved",
                    "payload": {"slug": slug, "review_round": 1, "reviewer_session_id": "r", "approved_at": ts(t)}})
        for mark in ([a] if (7 * i) % SLUGS < SUPERSEDED else []) + [b]:
            t += 1
            out.append({"type": "branch-pushed", "payload": {"branch": branch, "sha": sha[mark], "remote": "origin",
                                                             "pushed_at": ts(t), "pusher": "w"}})
            out.append({"type": "deployment-started",
                        "payload": {"slug": slug, "branch": branch, "sha": sha[mark], "worker_session_id": "w",
                                    "orchestrator_session_id": "o", "ready_at": ts(t)}})
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    origin, marks = os.path.join(d, "origin.git"), os.path.join(d, "marks")
    stream, slugs = history()
    subprocess.run(["git", "init", "-q", "--bare", origin], check=True)
    subprocess.run(["git", "-C", origin, "fast-import", "--quiet", f"--export-marks={marks}"], input=stream,
                   check=True)
    sha = {}
    with open(marks) as f:
        for line in f:
            m, s = line.split()
            sha[int(m[1:])] = s
    subprocess.run(["git", "clone", "-q", origin, os.path.join(d, "work")], check=True)
    lines = events(slugs, sha)
    assert len(lines) == 4000 and sum(e["type"] == "deployment-started" for e in lines) == 1491, len(lines)
    with open(os.path.join(d, "events.jsonl"), "w") as f:
        for e in lines:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

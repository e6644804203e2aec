//! The gh shim against a fake gh (the only fake: gh needs GitHub) that logs its argv.

use crate::support::guards::{stderr, write_exec, GuardSandbox as Sandbox};

fn fake_gh(sb: &Sandbox) -> std::path::PathBuf {
    let fake = sb.dir().join("fakebin");
    std::fs::create_dir_all(&fake).unwrap();
    write_exec(
        &fake.join("gh"),
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$GH_LOG\"\n\
         case \"$*\" in *'--json baseRefName'*) [ -n \"$FAKE_BASE\" ] || exit ${FAKE_LOOKUP_EXIT:-1}\n\
         echo \"$FAKE_BASE\"; exit ${FAKE_LOOKUP_EXIT:-0};; esac\n\
         [ \"$*\" = 'alias list' ] && [ -n \"$FAKE_ALIASES\" ] && { printf '%s' \"$FAKE_ALIASES\"; exit 0; }\n\
         exit 3\n",
    );
    fake
}

/// `gh args` through the shim with the fake gh behind it and `env`; the output and the
/// fake's log of what reached it.
pub(crate) fn run_gh(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (std::process::Output, String) {
    let fake = fake_gh(sb);
    let log = sb.dir().join("gh.log");
    let path = format!("{}:{}:{}", sb.shims.display(), fake.display(), sb.path());
    let _ = std::fs::remove_file(&log);
    let out = sb
        .command(sb.shims.join("gh"), &sb.work)
        .args(args)
        .env("PATH", &path)
        .env("GH_LOG", &log)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (out, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn gh_writes_to_protected_branches_are_refused_and_the_rest_runs_once() {
    let sb = Sandbox::new();
    let run = |args: &[&str], base: &str| run_gh(&sb, args, &[("FAKE_BASE", base)]);
    let refused: &[(&[&str], &str)] = &[
        (&["pr", "merge", "12", "--squash"], "main"),
        (&["pr", "merge", "--auto", "--merge"], "main"),
        (&["pr", "merge", "12", "--admin", "-R", "o/r"], "main"),
        (&["pr", "merge", "12"], ""), // the lookup fails
        (&["api", "repos/o/r/merges", "-f", "base=main", "-f", "head=feature"], ""),
        (&["api", "-X", "PUT", "repos/o/r/pulls/12/merge"], "main"),
        (&["api", "-X", "PATCH", "repos/o/r/git/refs/heads/main", "-f", "sha=abc", "-F", "force=true"], ""),
        (&["api", "--method", "DELETE", "/repos/o/r/git/refs/heads/main"], ""),
        (&["api", "repos/o/r/git/refs", "-f", "ref=refs/heads/main", "-f", "sha=abc"], ""),
        (&["api", "-X", "PUT", "repos/o/r/contents/a.txt", "-f", "message=m", "-f", "content=eA=="], ""),
        (&["api", "-X", "PUT", "repos/o/r/contents/a.txt", "-f", "branch=main"], ""),
        (&["api", "-X", "POST", "repos/o/r/branches/main/rename", "-f", "new_name=old"], ""),
        (&["api", "-X", "DELETE", "repos/o/r/branches/main/protection"], ""),
        (&["api", "-X", "POST", "repos/o/r/rulesets", "-f", "name=x"], ""),
        (
            &[
                "api",
                "graphql",
                "-f",
                "query=mutation { mergePullRequest(input: {pullRequestId: \"x\"}) { clientMutationId } }",
            ],
            "",
        ),
        (&["api", "graphql", "-f", "query=mutation { updateRef(input: {}) { clientMutationId } }"], ""),
        (
            &["api", "graphql", "-f", "query=mutation { enablePullRequestAutoMerge(input: {}) { clientMutationId } }"],
            "",
        ),
        (&["repo", "sync"], ""),
        (&["repo", "sync", "o/r", "--branch", "main"], ""),
        // `@-` is stdin, never a file named `-` (which holds a harmless query here).
        (&["api", "graphql", "-F", "query=@-"], ""),
        (&["api", "graphql", "-F", "query=@mutation.graphql"], ""),
    ];
    std::fs::write(sb.work.join("-"), "query { viewer { login } }").unwrap();
    std::fs::write(sb.work.join("mutation.graphql"), "mutation { updateRef(input: {}) { clientMutationId } }").unwrap();
    std::fs::write(sb.work.join("read.graphql"), "query { viewer { login } }").unwrap();
    for (args, base) in refused {
        let (out, log) = run(args, base);
        assert_eq!(out.status.code(), Some(1), "gh {args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
        // Only the base lookup may have reached gh, never the command itself.
        assert!(log.lines().all(|l| l.contains("--json baseRefName")), "gh {args:?} reached gh: {log}");
    }
    // A base lookup that fails (whatever it printed), or succeeds with no base, refuses.
    for (base, exit) in [("", "0"), ("feature", "1")] {
        let (out, log) = run_gh(&sb, &["pr", "merge", "12"], &[("FAKE_BASE", base), ("FAKE_LOOKUP_EXIT", exit)]);
        assert_eq!(out.status.code(), Some(1), "{base:?}, exit {exit}: {}", stderr(&out));
        assert!(stderr(&out).contains("base branch could not be looked up"), "{}", stderr(&out));
        assert!(log.lines().all(|l| l.contains("--json baseRefName")), "{log}");
    }
    let lines = sb.read_state("guardrails.jsonl").lines().count();
    assert_eq!(lines, refused.len() + 2);

    let passed: &[(&[&str], &str)] = &[
        (&["pr", "merge", "12", "--squash"], "feature"),
        (&["pr", "merge", "12", "--disable-auto"], "main"),
        (&["pr", "view", "12"], ""),
        (&["pr", "create", "--base", "main", "--fill"], ""),
        (&["api", "repos/o/r/pulls/12/merge"], ""),
        (&["api", "repos/o/r/merges", "-f", "base=feature", "-f", "head=x"], ""),
        (&["api", "-X", "PATCH", "repos/o/r/git/refs/heads/feature", "-f", "sha=abc"], ""),
        (&["api", "repos/o/r/git/refs", "-f", "ref=refs/tags/v1", "-f", "sha=abc"], ""),
        (&["api", "-X", "PUT", "repos/o/r/contents/a.txt", "-f", "branch=feature"], ""),
        (&["api", "repos/o/r/branches/main/protection"], ""),
        (&["api", "repos/o/r/rulesets"], ""),
        (&["api", "graphql", "-f", "query=query { viewer { login } }"], ""),
        (&["api", "graphql", "-F", "query=@read.graphql"], ""),
        (&["api", "graphql", "-f", "query=mutation { addComment(input: {}) { clientMutationId } }"], ""),
        (&["repo", "sync", "--branch", "feature"], ""),
    ];
    for (args, base) in passed {
        let (out, log) = run(args, base);
        assert_eq!(out.status.code(), Some(3), "gh {args:?}: {}", stderr(&out));
        let line = args.join(" ");
        assert_eq!(log.lines().filter(|l| *l == line).count(), 1, "gh {args:?}: {log}");
    }
    assert_eq!(sb.read_state("guardrails.jsonl").lines().count(), lines);
}

#[test]
fn gh_flags_before_the_subcommand_aliases_bundles_and_more_mutations_are_refused() {
    let sb = Sandbox::new();
    let run = |args: &[&str], aliases: &str| run_gh(&sb, args, &[("FAKE_BASE", "main"), ("FAKE_ALIASES", aliases)]);
    let aliases = "co: pr checkout\npm: pr merge\nmq: 'pr merge $1 --squash'\n";
    let refused: &[(&[&str], &str)] = &[
        (&["pr", "-R", "o/r", "merge", "1"], ""),
        (&["pr", "--repo", "o/r", "merge", "1"], ""),
        (&["pm", "1"], aliases),
        (&["mq", "1"], aliases),
        (&["pm", "1"], ""), // the alias list cannot be read
        (&["api", "-iXPUT", "repos/o/r/pulls/1/merge"], ""),
        (&["api", "graphql", "-f", "query=mutation { createCommitOnBranch(input: {}) { commit { oid } } }"], ""),
        (&["api", "graphql", "-f", "query=mutation { enqueuePullRequest(input: {}) { clientMutationId } }"], ""),
    ];
    for (args, aliases) in refused {
        let (out, log) = run(args, aliases);
        assert_eq!(out.status.code(), Some(1), "gh {args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("MAIN_GUARDRAIL_BLOCKED"), "{}", stderr(&out));
        let lookups = |l: &str| l.contains("--json baseRefName") || l == "alias list";
        assert!(log.lines().all(lookups), "gh {args:?} reached gh: {log}");
    }
    // Near misses: an alias of a read, a bundle with GET, a mutation that moves nothing.
    for args in [&["co", "1"][..], &["api", "-iX", "GET", "repos/o/r/pulls/1/merge"][..]] {
        let (out, log) = run(args, aliases);
        assert_eq!(out.status.code(), Some(3), "gh {args:?}: {}", stderr(&out));
        assert_eq!(log.lines().filter(|l| *l == args.join(" ")).count(), 1, "gh {args:?}: {log}");
    }
}

/// Every branch of `guard.protected` is guarded by the gh shim, not only main.
#[test]
fn gh_guards_every_protected_branch() {
    let sb = Sandbox::new();
    sb.config("[guard]\nprotected = [\"main\", \"release\"]\n");
    let fake = fake_gh(&sb);
    let log = sb.dir().join("gh.log");
    let path = format!("{}:{}:{}", sb.shims.display(), fake.display(), sb.path());
    let run = |args: &[&str], base: &str| {
        let _ = std::fs::remove_file(&log);
        let mut gh = sb.command(sb.shims.join("gh"), &sb.work);
        let out = gh.args(args).env("PATH", &path).env("GH_LOG", &log).env("FAKE_BASE", base).output().unwrap();
        (out.status.code(), stderr(&out), std::fs::read_to_string(&log).unwrap_or_default())
    };
    let refused: &[(&[&str], &str)] = &[
        (&["pr", "merge", "12", "--squash"], "release"),
        (&["api", "-X", "PATCH", "repos/o/r/git/refs/heads/release", "-f", "sha=abc"], ""),
        (&["api", "repos/o/r/merges", "-f", "base=release", "-f", "head=feature"], ""),
    ];
    for (args, base) in refused {
        let (code, err, log) = run(args, base);
        assert_eq!(code, Some(1), "gh {args:?}: {err}");
        assert!(err.contains("MAIN_GUARDRAIL_BLOCKED"), "{err}");
        assert!(log.lines().all(|l| l.contains("--json baseRefName")), "gh {args:?} reached gh: {log}");
    }
    // Near misses: an unprotected base reaches gh.
    let (code, err, log) = run(&["pr", "merge", "12", "--squash"], "releases");
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(log.lines().filter(|l| *l == "pr merge 12 --squash").count(), 1, "{log}");
}

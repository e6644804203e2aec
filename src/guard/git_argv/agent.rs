//! The agent policy's verdict on destructive commands (`guard.agent_blocked`).

/// The agent policy's verdict on one command (`command` resolved through aliases).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentVerdict {
    Allow,
    /// Refused; the rule.
    Refuse(String),
    /// `git checkout <name>`: a branch switch only if `name` is a commit or a remote branch
    /// git would create a local branch from; a path otherwise.
    AllowIfRevision(String),
}

/// Options of `git checkout` that switch branches without discarding anything.
const CHECKOUT_SAFE: &[&str] = &[
    "-q",
    "--quiet",
    "--detach",
    "-t",
    "--track",
    "--no-track",
    "--guess",
    "--no-guess",
    "--progress",
    "--no-progress",
    "--ignore-other-worktrees",
    "-l",
];
const CHECKOUT_NEW_BRANCH: &[&str] = &["-b", "-B", "--orphan"];

/// Apply the destructive-command policy to `command args` (only called for agents).
pub fn agent_verdict<S: AsRef<str>>(command: &str, args: &[String], blocked: &[S]) -> AgentVerdict {
    if !blocked.iter().any(|b| b.as_ref() == command) {
        return AgentVerdict::Allow;
    }
    let refuse = |rule: &str| AgentVerdict::Refuse(format!("`git {command}` {rule}"));
    match command {
        "stash" => match args.first().map(String::as_str) {
            Some("list" | "show") => AgentVerdict::Allow,
            _ => refuse("can drop or hide uncommitted work"),
        },
        "clean" if is_dry_run(args) => AgentVerdict::Allow,
        "clean" => refuse("deletes untracked files"),
        "reset" if resets_hard(args) => refuse("with --hard, --merge or --keep discards uncommitted work"),
        "revert" if confirmed_index(args).is_none() => refuse("needs --confirmed (it is removed before git runs)"),
        "reset" | "revert" => AgentVerdict::Allow,
        "checkout" => checkout_verdict(args),
        "switch" if any_flag(args, 'f', "cC", &["force", "discard-changes"]) => {
            refuse("with --discard-changes or --force discards uncommitted work")
        }
        "read-tree" if any_flag(args, 'u', "", &[]) && any_flag(args, '\0', "", &["reset"]) => {
            refuse("-u --reset overwrites the working tree")
        }
        "checkout-index" if any_flag(args, 'f', "", &["force"]) => {
            refuse("--force overwrites files in the working tree")
        }
        "worktree" if args.first().is_some_and(|a| a == "remove") && any_flag(args, 'f', "", &["force"]) => {
            refuse("remove --force deletes a worktree with uncommitted work")
        }
        "rebase" if any_flag(args, 'x', "", &["exec"]) => runs_commands("--exec"),
        "grep" if any_flag(args, 'O', "efABCm", &["open-files-in-pager"]) => runs_commands("--open-files-in-pager"),
        "bisect" if args.first().is_some_and(|a| a == "run") => runs_commands("run"),
        "submodule" if args.iter().any(|a| a == "foreach") => runs_commands("foreach"),
        "filter-branch" => runs_commands("(any filter)"),
        "switch" | "read-tree" | "checkout-index" | "worktree" | "rebase" | "grep" | "bisect" | "submodule" => {
            AgentVerdict::Allow
        }
        _ => refuse("is blocked by guard.agent_blocked"),
    }
}

/// `clean -n` / `--dry-run`: nothing is deleted.
fn is_dry_run(args: &[String]) -> bool {
    args.iter().any(|a| a == "--dry-run" || (a.starts_with('-') && !a.starts_with("--") && a.contains('n')))
}

/// `reset --hard|--merge|--keep` (any abbreviation) before `--`.
fn resets_hard(args: &[String]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| {
        let name = a.strip_prefix("--").unwrap_or("");
        !name.is_empty() && ["hard", "merge", "keep"].iter().any(|o| o.starts_with(name))
    })
}

/// Commands that run other commands: git puts its own exec-path first on their PATH, so a
/// `git` they run is the real one and no shim sees it.
fn runs_commands(what: &str) -> AgentVerdict {
    AgentVerdict::Refuse(format!("`{what}` runs commands with the real git first on PATH, out of the guard's sight"))
}

/// Is option `long` (any prefix git could read as it, before `--`) or the short flag
/// `short` (also inside a bundle like `-fq`) among `args`? A short option in `with_value`
/// takes the rest of its word, which is then no flag.
fn any_flag(args: &[String], short: char, with_value: &str, long: &[&str]) -> bool {
    args.iter().take_while(|a| *a != "--").any(|a| {
        if let Some(name) = a.strip_prefix("--") {
            let name = name.split_once('=').map_or(name, |(n, _)| n);
            return !name.is_empty() && long.iter().any(|l| l.starts_with(name));
        }
        let Some(bundle) = a.strip_prefix('-') else {
            return false;
        };
        for c in bundle.chars() {
            if c == short {
                return true;
            }
            if with_value.contains(c) {
                return false;
            }
        }
        false
    })
}

fn checkout_verdict(args: &[String]) -> AgentVerdict {
    let refuse = AgentVerdict::Refuse(
        "`git checkout` of paths, `.`, or with --force/--patch/--merge/--ours/--theirs \
         discards uncommitted work"
            .into(),
    );
    let mut new_branch = false;
    let mut positional = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if CHECKOUT_NEW_BRANCH.contains(&a) {
            new_branch = true;
            i += 1; // the branch name
        } else if CHECKOUT_SAFE.contains(&a) || a.starts_with("--track=") {
            continue;
        } else if a.starts_with('-') && a != "-" {
            return refuse;
        } else if a.contains(['*', '?', '[']) || (a.starts_with(':') && a.len() > 1) {
            // A pathspec glob or magic (`*`, `[a-z]*`, `:(glob)…`, `:!x`): paths, never a
            // revision — no branch name can hold these characters.
            return refuse;
        } else {
            positional.push(a);
        }
    }
    match (new_branch, positional.as_slice()) {
        (true, [] | [_]) | (false, []) => AgentVerdict::Allow,
        (false, ["-"]) => AgentVerdict::Allow,
        (false, [name]) => AgentVerdict::AllowIfRevision(name.to_string()),
        _ => refuse,
    }
}

/// Where `--confirmed` is among a revert's arguments (before any `--`).
pub fn confirmed_index(args: &[String]) -> Option<usize> {
    args.iter().take_while(|a| *a != "--").position(|a| a == "--confirmed")
}

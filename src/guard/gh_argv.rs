//! A pure classifier of `gh` command lines: which ones could merge into, move, rename or
//! unprotect a branch, and what must be known (the PR's base, a branch field) to decide.

/// What a `gh` command puts at stake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stake {
    /// Nothing the guard protects: run the real gh.
    None,
    /// Merges a pull request: refused when its base (looked up with the real gh) is
    /// protected or cannot be found.
    PrBase {
        /// The PR as the user named it (number, URL or branch); None = the current branch's.
        selector: Option<String>,
        /// `-R/--repo`, passed on to the lookup.
        repo: Option<String>,
        rule: String,
    },
    /// Writes to a branch: refused when it is protected, or unnamed (the default branch,
    /// assumed protected).
    Branch { branch: Option<String>, rule: String },
    /// Refused whatever the branch.
    Always(String),
}

/// Parsed flags and positional words of one gh subcommand.
#[derive(Debug, Default)]
struct Scan {
    positional: Vec<String>,
    flags: Vec<(String, Option<String>)>,
}

impl Scan {
    fn has(&self, names: &[&str]) -> bool {
        self.flags.iter().any(|(f, _)| names.contains(&f.as_str()))
    }
    fn values<'a>(&'a self, names: &'a [&'a str]) -> impl Iterator<Item = &'a str> + 'a {
        self.flags.iter().filter(move |(f, _)| names.contains(&f.as_str())).filter_map(|(_, v)| v.as_deref())
    }
    fn last(&self, names: &[&str]) -> Option<String> {
        self.values(names).last().map(str::to_string)
    }
}

/// Split `args` into flags and positional words; `with_value` names the flags that take
/// a value (`--flag v`, `--flag=v`, `-fv`, `-f v`).
fn scan(args: &[String], with_value: &[&str]) -> Scan {
    let mut s = Scan::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            s.positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (format!("--{n}"), Some(v.to_string())),
                None => (a.clone(), None),
            };
            let value = match value {
                None if with_value.contains(&name.as_str()) => {
                    i += 1;
                    args.get(i - 1).cloned()
                }
                v => v,
            };
            s.flags.push((name, value));
        } else if a.len() > 1 && a.starts_with('-') {
            // Bundled short flags (`-iXPUT`): the first one that takes a value takes the
            // rest of the word, or the next argument.
            for (at, c) in a.char_indices().skip(1) {
                let name = format!("-{c}");
                if !with_value.contains(&name.as_str()) {
                    s.flags.push((name, None));
                    continue;
                }
                let rest = &a[at + c.len_utf8()..];
                let value = if rest.is_empty() {
                    i += 1;
                    args.get(i - 1).cloned()
                } else {
                    Some(rest.to_string())
                };
                s.flags.push((name, value));
                break;
            }
        } else {
            s.positional.push(a.clone());
        }
    }
    s
}

const PR_MERGE_VALUES: &[&str] = &[
    "-b",
    "--body",
    "-F",
    "--body-file",
    "--match-head-commit",
    "-t",
    "--subject",
    "-A",
    "--author-email",
    "-R",
    "--repo",
];
const API_VALUES: &[&str] = &[
    "-X",
    "--method",
    "-f",
    "--raw-field",
    "-F",
    "--field",
    "--input",
    "-H",
    "--header",
    "-q",
    "--jq",
    "-t",
    "--template",
    "--hostname",
    "--cache",
    "-p",
    "--preview",
];
const SYNC_VALUES: &[&str] = &["-b", "--branch", "-s", "--source"];
const FIELDS: &[&str] = &["-f", "--raw-field", "-F", "--field"];

/// The GraphQL mutations that merge or move refs.
pub(crate) const REF_MUTATIONS: &[&str] = &[
    "mergePullRequest",
    "enablePullRequestAutoMerge",
    "updateRef",
    "updateRefs",
    "createRef",
    "deleteRef",
    "mergeBranch",
    "createCommitOnBranch",
    "enqueuePullRequest",
    "revertPullRequest",
    "updatePullRequestBranch",
    "createBranchProtectionRule",
    "updateBranchProtectionRule",
    "deleteBranchProtectionRule",
    "createRepositoryRuleset",
    "updateRepositoryRuleset",
    "deleteRepositoryRuleset",
];

/// Classify `gh args…`. `read_file` reads a `@file` field value (None when unreadable
/// or when it is `-`, stdin, which the shim must leave to gh).
pub(crate) fn classify(args: &[String], read_file: &dyn Fn(&str) -> Option<String>) -> Stake {
    // `-R/--repo` may come before the subcommand (`gh pr -R o/r merge 1`): lift it out so
    // the command words are found, and hand it back after them.
    let (args, repo) = lift_repo(args);
    let args = &args;
    let words: Vec<&str> = args.iter().filter(|a| !a.starts_with('-')).map(String::as_str).collect();
    let after = |word: &str| {
        let i = args.iter().position(|a| a == word).map_or(args.len(), |i| i + 1);
        let mut rest = args[i..].to_vec();
        rest.extend(repo.iter().flat_map(|r| ["--repo".to_string(), r.clone()]));
        rest
    };
    match words.as_slice() {
        ["pr", "merge", ..] => {
            let s = scan(&after("merge"), PR_MERGE_VALUES);
            if s.has(&["--disable-auto"]) {
                return Stake::None;
            }
            Stake::PrBase {
                selector: s.positional.first().cloned(),
                repo: s.last(&["-R", "--repo"]),
                rule: "`gh pr merge` into a protected branch is refused; only the integrator merges into it".into(),
            }
        }
        ["api", ..] => classify_api(&scan(&after("api"), API_VALUES), read_file),
        ["repo", "sync", ..] => {
            let s = scan(&after("sync"), SYNC_VALUES);
            Stake::Branch {
                branch: s.last(&["-b", "--branch"]),
                rule: "`gh repo sync` onto a protected branch is refused".into(),
            }
        }
        _ => Stake::None,
    }
}

/// `args` without its `-R/--repo` flags (anywhere but after `--`), and the last value.
fn lift_repo(args: &[String]) -> (Vec<String>, Option<String>) {
    let mut out = Vec::new();
    let mut repo = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.extend(args[i - 1..].iter().cloned());
            break;
        }
        if a == "-R" || a == "--repo" {
            repo = args.get(i).cloned();
            i += 1;
        } else if let Some(v) = a.strip_prefix("--repo=").or_else(|| a.strip_prefix("-R")).filter(|v| !v.is_empty()) {
            repo = Some(v.to_string());
        } else {
            out.push(a.clone());
        }
    }
    (out, repo)
}

/// A field's value as given (`key=value`); `@file` values are read; None when unknown.
fn field(s: &Scan, key: &str, read_file: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let v = s.values(FIELDS).filter_map(|kv| kv.split_once('=')).filter(|(k, _)| *k == key).map(|(_, v)| v).last()?;
    match v.strip_prefix('@') {
        Some(file) => read_file(file),
        None => Some(v.to_string()),
    }
}

fn classify_api(s: &Scan, read_file: &dyn Fn(&str) -> Option<String>) -> Stake {
    let Some(endpoint) = s.positional.first() else {
        return Stake::None;
    };
    let has_body = s.has(FIELDS) || s.has(&["--input"]);
    let method = s
        .last(&["-X", "--method"])
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| if has_body { "POST" } else { "GET" }.into());
    if method == "GET" || method == "HEAD" {
        return Stake::None;
    }
    let input = s.has(&["--input"]);
    // Fields sent through --input cannot be seen: treat them as unknown.
    let field = |k: &str| {
        if input {
            None
        } else {
            field(s, k, read_file)
        }
    };
    let path = endpoint_path(endpoint);
    if path == "graphql" {
        return graphql_stake(&field("query").unwrap_or_default());
    }
    rest_stake(&method, &path, &field)
}

/// A GraphQL request (a write): refused when it calls a ref-moving mutation, or when its
/// query cannot be read.
fn graphql_stake(query: &str) -> Stake {
    match graphql_ref_mutation(query) {
        Some(m) => Stake::Always(format!("GraphQL mutation `{m}` merges or moves refs and is refused")),
        None if query.is_empty() => {
            Stake::Always("a GraphQL request whose query the guard cannot read (stdin or --input) is refused".into())
        }
        None => Stake::None,
    }
}

/// A REST write (`method` is not GET or HEAD) to `path`; `field` reads one of its fields
/// (None when it is unknown).
fn rest_stake(method: &str, path: &str, field: &dyn Fn(&str) -> Option<String>) -> Stake {
    let seg: Vec<&str> = path.split('/').collect();
    let ["repos", owner, name, rest @ ..] = seg.as_slice() else {
        return Stake::None;
    };
    let write = |what: &str| format!("`gh api -X {method} {path}` {what}");
    match rest {
        ["merges"] => Stake::Branch { branch: field("base"), rule: write("merges into a protected branch") },
        ["merge-upstream"] => Stake::Branch { branch: field("branch"), rule: write("syncs a protected branch") },
        ["pulls", n, "merge"] => Stake::PrBase {
            selector: Some(n.to_string()),
            repo: (!owner.starts_with('{')).then(|| format!("{owner}/{name}")),
            rule: write("merges a pull request into a protected branch"),
        },
        ["git", "refs"] => match field("ref") {
            Some(r) => match r.strip_prefix("refs/heads/") {
                Some(b) => Stake::Branch { branch: Some(b.to_string()), rule: write("creates a protected branch") },
                None => Stake::None,
            },
            None => Stake::Always(write("creates a ref the guard cannot see")),
        },
        ["git", "refs", "heads", b @ ..] if !b.is_empty() => {
            Stake::Branch { branch: Some(b.join("/")), rule: write("moves a protected branch") }
        }
        ["contents", ..] => Stake::Branch {
            branch: field("branch"),
            rule: write("commits to a protected branch (no branch field = the default branch)"),
        },
        ["branches", b @ .., "rename"] if !b.is_empty() => {
            Stake::Branch { branch: Some(b.join("/")), rule: write("renames a protected branch") }
        }
        ["branches", tail @ ..] => match tail.iter().position(|s| *s == "protection") {
            Some(i) if i > 0 => Stake::Branch {
                branch: Some(tail[..i].join("/")),
                rule: write("changes a protected branch's protection"),
            },
            _ => Stake::None,
        },
        ["rulesets", ..] => Stake::Always(write("changes repository rulesets")),
        _ => Stake::None,
    }
}

/// `repos/o/r/…` from `/repos/o/r/…?x`, `https://api.github.com/repos/…`; branch names
/// percent-decoded (`%2F`).
fn endpoint_path(endpoint: &str) -> String {
    let e = endpoint.split(['?', '#']).next().unwrap_or_default();
    let e = match e.split_once("://") {
        Some((_, rest)) => rest.split_once('/').map_or("", |(_, p)| p),
        None => e,
    };
    let e = e.trim_matches('/');
    let e = e.strip_prefix("api/v3/").unwrap_or(e);
    e.replace("%2F", "/").replace("%2f", "/")
}

/// The first ref-moving mutation a GraphQL document calls, if it is a mutation.
pub(crate) fn graphql_ref_mutation(query: &str) -> Option<&'static str> {
    let words: Vec<&str> =
        query.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
    if !words.contains(&"mutation") {
        return None;
    }
    REF_MUTATIONS.iter().copied().find(|m| words.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Stake {
        let args: Vec<String> = s.split_whitespace().map(String::from).collect();
        classify(&args, &|f| (f == "q.graphql").then(|| "mutation { mergeBranch(input:{}) { x } }".into()))
    }

    fn refused_branch(s: &str) -> Option<String> {
        match c(s) {
            Stake::Branch { branch, .. } => branch,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn pr_merge_needs_the_base() {
        assert!(matches!(c("pr merge 12 --squash"), Stake::PrBase { selector: Some(s), repo: None, .. } if s == "12"));
        assert!(
            matches!(c("pr merge --auto -R o/r -b msg"), Stake::PrBase { selector: None, repo: Some(r), .. } if r == "o/r")
        );
        assert_eq!(c("pr merge 12 --disable-auto"), Stake::None);
        assert_eq!(c("pr view 12"), Stake::None);
        assert_eq!(c("pr list"), Stake::None);
    }

    #[test]
    fn api_writes() {
        assert_eq!(refused_branch("api repos/o/r/merges -f base=main -f head=x"), Some("main".into()));
        assert_eq!(refused_branch("api -X PUT repos/o/r/contents/a.txt -f message=m"), None);
        assert_eq!(refused_branch("api -XPUT /repos/o/r/contents/a.txt -f branch=feat"), Some("feat".into()));
        assert_eq!(refused_branch("api --method=PATCH repos/o/r/git/refs/heads/main -f sha=x"), Some("main".into()));
        assert_eq!(refused_branch("api repos/o/r/git/refs -f ref=refs/heads/main -f sha=x"), Some("main".into()));
        assert_eq!(refused_branch("api -X POST repos/o/r/branches/main/rename -f new_name=x"), Some("main".into()));
        assert_eq!(
            refused_branch("api -X DELETE repos/o/r/branches/main/protection/required_signatures"),
            Some("main".into())
        );
        assert_eq!(
            refused_branch("api -X DELETE repos/{owner}/{repo}/git/refs/heads/release%2F1"),
            Some("release/1".into())
        );
        assert!(
            matches!(c("api -X PUT repos/o/r/pulls/7/merge"), Stake::PrBase { selector: Some(n), repo: Some(r), .. } if n == "7" && r == "o/r")
        );
        assert!(matches!(c("api -X POST repos/o/r/rulesets -f name=x"), Stake::Always(_)));
        assert!(matches!(c("api repos/o/r/git/refs --input body.json"), Stake::Always(_)));
        assert_eq!(c("api repos/o/r/git/refs -f ref=refs/tags/v1 -f sha=x"), Stake::None);
        assert_eq!(c("api repos/o/r/pulls/7/merge"), Stake::None);
        assert_eq!(c("api repos/o/r/branches/main/protection"), Stake::None);
        assert_eq!(c("api repos/o/r/issues -f title=x"), Stake::None);
        assert_eq!(c("api -X GET repos/o/r/merges -f base=main"), Stake::None);
        assert_eq!(refused_branch("api repos/o/r/merge-upstream -f branch=main"), Some("main".into()));
        // A path that names no branch stakes none.
        for path in ["git/refs/heads", "branches/rename", "branches/protection"] {
            assert_eq!(c(&format!("api -X DELETE repos/o/r/{path}")), Stake::None, "{path}");
        }
    }

    #[test]
    fn graphql_mutations() {
        assert!(matches!(
            c("api graphql -f query=mutation{mergePullRequest(input:{}){clientMutationId}}"),
            Stake::Always(_)
        ));
        assert!(matches!(c("api graphql -F query=@q.graphql"), Stake::Always(_)));
        assert!(matches!(c("api graphql -F query=@-"), Stake::Always(_)));
        assert_eq!(c("api graphql -f query={viewer{login}}"), Stake::None);
        assert_eq!(c("api graphql -f query=mutation{addComment(input:{}){clientMutationId}}"), Stake::None);
        assert_eq!(graphql_ref_mutation("query { updateRef }"), None);
    }

    #[test]
    fn flags_before_the_subcommand_and_bundles() {
        for form in ["pr -R o/r merge 1", "pr --repo o/r merge 1", "pr --repo=o/r merge 1", "-R o/r pr merge 1"] {
            assert!(
                matches!(c(form), Stake::PrBase { selector: Some(s), repo: Some(r), .. } if s == "1" && r == "o/r"),
                "{form}"
            );
        }
        assert!(matches!(c("api -iXPUT repos/o/r/pulls/1/merge"), Stake::PrBase { selector: Some(n), .. } if n == "1"));
        assert_eq!(refused_branch("api -fref=refs/heads/main repos/o/r/git/refs"), Some("main".into()));
        assert!(matches!(
            c("api graphql -f query=mutation{createCommitOnBranch(input:{}){commit{oid}}}"),
            Stake::Always(_)
        ));
        assert!(matches!(c("api graphql -f query=mutation{enqueuePullRequest(input:{}){x}}"), Stake::Always(_)));
        assert_eq!(c("api -iX GET repos/o/r/pulls/1/merge"), Stake::None);
    }

    #[test]
    fn a_lone_dash_is_a_word_and_a_double_dash_ends_the_repo_flags() {
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert_eq!(scan(&v("- -x"), &[]).positional, v("-"));
        assert_eq!(lift_repo(&v("pr merge -R o/r -- -R x 12")), (v("pr merge -- -R x 12"), Some("o/r".into())));
    }

    #[test]
    fn repo_sync() {
        assert_eq!(refused_branch("repo sync"), None);
        assert_eq!(refused_branch("repo sync o/r --branch feat"), Some("feat".into()));
        assert_eq!(refused_branch("repo sync -b main --force"), Some("main".into()));
    }
}

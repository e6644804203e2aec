//! The `github-rules` check: when the integrator's remote is on GitHub and `gh` is there,
//! does GitHub itself let only the integrator update main? (README "The server-side
//! fence".) It asks the real gh — never the shim — for the branch's active rules
//! (`repos/O/R/rules/branches/<main>`), the bypass actors of each ruleset that restricts
//! updates (`repos/O/R/rulesets/<id>`) and the classic protection
//! (`repos/O/R/branches/<main>/protection`). A missing or unauthenticated gh is a warning.

use super::Finding;
use crate::config::Config;
use crate::repo::Repo;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;

const CHECK: &str = "github-rules";

/// What GitHub's rules say about who may update main.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Only the identities named can update it.
    OnlyThese(String),
    /// Others can, or no one can: why.
    Wrong(String),
    /// The answer could not be read.
    Unknown(String),
}

/// `owner`, `repo` of a GitHub URL (https, ssh or scp form).
pub(crate) fn github_repo(url: &str) -> Option<(String, String)> {
    let key = crate::guard::destination::url_key(url, Path::new("/"));
    let (owner, repo) = key.strip_prefix("github.com/")?.split_once('/')?;
    (!owner.is_empty() && !repo.is_empty() && !repo.contains('/')).then(|| (owner.to_string(), repo.to_string()))
}

/// What the classic protection endpoint said: the protection, none, or why it is unknown.
pub(crate) type Protection = std::result::Result<Option<Value>, String>;

/// Bypass actors that are one identity (a GitHub App, a deploy key), not a group of people.
const MACHINE_ACTORS: [&str; 2] = ["Integration", "DeployKey"];

/// Decide from `rules` (the branch's active rules), `ruleset` (one ruleset by id, None when
/// unreadable) and `protection` (asked only when no ruleset restricts updates).
pub(crate) fn decide(
    rules: &[Value],
    ruleset: &dyn Fn(u64) -> Option<Value>,
    protection: &dyn Fn() -> Protection,
) -> Verdict {
    let of_type = |t: &'static str| rules.iter().filter(move |r| r["type"] == t);
    let update_sets: Vec<u64> = of_type("update").filter_map(|r| r["ruleset_id"].as_u64()).collect();
    if update_sets.is_empty() {
        return match protection() {
            Ok(p) => decide_protection(p.as_ref()),
            Err(why) => Verdict::Unknown(why),
        };
    }
    if of_type("deletion").next().is_none() {
        return Verdict::Wrong("a ruleset restricts updates of main, but none restricts its deletion".into());
    }
    let mut actors = Vec::new();
    for id in update_sets {
        let Some(set) = ruleset(id) else {
            return Verdict::Unknown(format!("cannot read ruleset {id}"));
        };
        let Some(list) = set["bypass_actors"].as_array() else {
            return Verdict::Unknown(format!("ruleset {id}'s bypass actors are only shown to its admins"));
        };
        for a in list {
            let kind = a["actor_type"].as_str().unwrap_or("actor");
            let actor = a["actor_id"].as_u64().map_or_else(String::new, |n| format!(" {n}"));
            // A role, a team or the organisation's admins is a group of people, each of
            // whom could then update main; only a machine identity is one actor.
            if !MACHINE_ACTORS.contains(&kind) {
                return Verdict::Wrong(format!(
                    "ruleset {id} lets every member of {kind}{actor} bypass its update rule; only the \
                     integrator's GitHub App or deploy key should"
                ));
            }
            actors.push(format!("{kind}{actor} ({}, ruleset {id})", a["bypass_mode"].as_str().unwrap_or("always")));
        }
    }
    if actors.is_empty() {
        return Verdict::Wrong("main's update rule has no bypass actor: not even the integrator can update it".into());
    }
    Verdict::OnlyThese(format!(
        "rulesets restrict updates and deletion of main; only {} may bypass them",
        actors.join(", ")
    ))
}

/// Classic branch protection: push restrictions, admins included, no force push or deletion.
fn decide_protection(protection: Option<&Value>) -> Verdict {
    let Some(p) = protection else {
        return Verdict::Wrong(
            "no ruleset and no branch protection restricts updates of main: anyone with write access can push it"
                .into(),
        );
    };
    let Some(r) = p["restrictions"].as_object() else {
        return Verdict::Wrong("main's branch protection does not restrict who can push to it".into());
    };
    let on = |k: &str| p[k]["enabled"].as_bool().unwrap_or(false);
    let open: Vec<&str> = [
        (!on("enforce_admins"), "admins are exempt (enforce_admins off)"),
        (on("allow_force_pushes"), "force pushes are allowed"),
        (on("allow_deletions"), "deletion is allowed"),
    ]
    .into_iter()
    .filter_map(|(bad, why)| bad.then_some(why))
    .collect();
    if !open.is_empty() {
        return Verdict::Wrong(format!("main's branch protection restricts pushes, but {}", open.join(", ")));
    }
    let names = |k: &str, field: &str| -> Vec<String> {
        r.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v[field].as_str().map(String::from))
            .collect()
    };
    let who: Vec<String> = [("users", "login", "user"), ("teams", "slug", "team"), ("apps", "slug", "app")]
        .iter()
        .flat_map(|(k, f, kind)| names(k, f).into_iter().map(move |n| format!("{kind} {n}")))
        .collect();
    if who.is_empty() {
        return Verdict::Wrong("main's branch protection lets no one push, not even the integrator".into());
    }
    let signed = if on("required_signatures") { "; signed commits required" } else { "" };
    Verdict::OnlyThese(format!("branch protection: only {} can push to main{signed}", who.join(", ")))
}

/// The finding, or None when the remote is not on GitHub.
pub(crate) fn check(repo: &Repo, path_var: &OsStr) -> Option<Finding> {
    let cfg = repo.config().ok()?;
    let url = repo.git.capture(&["remote", "get-url", "--", &cfg.integrator.remote]).ok()?;
    let (owner, name) = github_repo(url.trim())?;
    let Some(gh) = crate::shim_marker::real_program("gh", path_var) else {
        return Some(Finding::pass(
            CHECK,
            "warning: gh is not installed: who may update main on GitHub was not checked",
        ));
    };
    let api = |endpoint: String| ask(&gh, &endpoint);
    let base = format!("repos/{owner}/{name}");
    let main = &cfg.integrator.main;
    let not_checked =
        |why: String| Some(Finding::pass(CHECK, format!("warning: {why}: GitHub's rules were not checked")));
    let rules = match api(format!("{base}/rules/branches/{main}")) {
        Asked::Json(Value::Array(rules)) => rules,
        Asked::Json(v) => return not_checked(format!("GitHub answered `{}`", v["message"].as_str().unwrap_or("?"))),
        Asked::Failed(why) => return not_checked(why),
    };
    let ruleset = |id: u64| match api(format!("{base}/rulesets/{id}")) {
        Asked::Json(v) if v.get("id").is_some() => Some(v),
        _ => None,
    };
    let protection = || match api(format!("{base}/branches/{main}/protection")) {
        Asked::Json(v) if v.get("url").is_some() => Ok(Some(v)),
        Asked::Json(v) if v["message"] == "Branch not protected" => Ok(None),
        Asked::Json(v) => {
            Err(format!("cannot read main's branch protection: {}", v["message"].as_str().unwrap_or("?")))
        }
        Asked::Failed(why) => Err(why),
    };
    Some(finding(decide(&rules, &ruleset, &protection), repo, &cfg, &format!("{owner}/{name}")))
}

fn finding(verdict: Verdict, repo: &Repo, cfg: &Config, slug: &str) -> Finding {
    let cutover = crate::mode::recorded_effective_mode(&repo.state, cfg) == crate::config::Mode::Cutover;
    match verdict {
        Verdict::OnlyThese(who) => Finding::pass(CHECK, format!("{slug}: {who}")),
        Verdict::Unknown(why) => Finding::pass(CHECK, format!("warning: {slug}: {why}")),
        Verdict::Wrong(why) if !cutover => {
            Finding::pass(CHECK, format!("warning: {slug}: {why} (fix it before cutover)"))
        }
        Verdict::Wrong(why) => Finding::fail(
            CHECK,
            format!("{slug}: {why}"),
            format!(
                "in https://github.com/{slug}/settings/rules/new add a ruleset on {}: restrict updates, restrict \
                 deletions, block force pushes, with the integrator's identity as its only bypass actor",
                cfg.integrator.main
            ),
        ),
    }
}

enum Asked {
    Json(Value),
    Failed(String),
}

/// `gh api ENDPOINT`: its JSON (also the body of an HTTP error, which gh prints), or why not.
fn ask(gh: &Path, endpoint: &str) -> Asked {
    match crate::shell::output_of(gh, &["api", endpoint], ("GH_PROMPT_DISABLED", "1")) {
        Ok((_, out)) if !out.trim().is_empty() => match serde_json::from_str(&out) {
            Ok(v) => Asked::Json(v),
            Err(_) => Asked::Failed(format!("`gh api {endpoint}` printed something that is not JSON")),
        },
        Ok(_) => Asked::Failed(format!("`gh api {endpoint}` failed (is gh authenticated? `gh auth status`)")),
        Err(e) => Asked::Failed(format!("cannot run {}: {e}", gh.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Responses shaped as GitHub's REST documentation shows them (tests/data/github).
    const RULES_UPDATE: &str = include_str!("../../tests/data/github/rules-update.json");
    const RULESET_42: &str = include_str!("../../tests/data/github/ruleset-42.json");
    const RULES_PR: &str = include_str!("../../tests/data/github/rules-pull-request.json");
    const PROTECTION: &str = include_str!("../../tests/data/github/protection-restricted.json");

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn rules(text: &str) -> Vec<Value> {
        json(text).as_array().unwrap().clone()
    }

    #[test]
    fn a_ruleset_restricting_updates_names_its_bypass_actors() {
        let set = |id: u64| (id == 42).then(|| json(RULESET_42));
        let unasked = || -> Protection { panic!("protection is not needed") };
        assert_eq!(
            decide(&rules(RULES_UPDATE), &set, &unasked),
            Verdict::OnlyThese(
                "rulesets restrict updates and deletion of main; only Integration 987654 (always, ruleset 42) may bypass them"
                    .into()
            )
        );
        // Bypass actors are shown to admins only.
        let mut hidden = json(RULESET_42);
        hidden.as_object_mut().unwrap().remove("bypass_actors");
        let verdict = decide(&rules(RULES_UPDATE), &|_| Some(hidden.clone()), &unasked);
        assert!(matches!(verdict, Verdict::Unknown(ref w) if w.contains("only shown to its admins")), "{verdict:?}");
        // No bypass actor: nobody, the integrator included, can update main.
        let mut none = json(RULESET_42);
        none["bypass_actors"] = Value::Array(vec![]);
        let verdict = decide(&rules(RULES_UPDATE), &|_| Some(none.clone()), &unasked);
        assert!(matches!(verdict, Verdict::Wrong(ref w) if w.contains("not even the integrator")), "{verdict:?}");
        // A role, a team or the organisation's admins may bypass: a group of people.
        for kind in ["RepositoryRole", "Team", "OrganizationAdmin"] {
            let mut group = json(RULESET_42);
            group["bypass_actors"][0]["actor_type"] = Value::String(kind.into());
            let verdict = decide(&rules(RULES_UPDATE), &|_| Some(group.clone()), &unasked);
            assert!(
                matches!(verdict, Verdict::Wrong(ref w) if w.contains(&format!("every member of {kind}"))),
                "{verdict:?}"
            );
        }
        // Updates restricted but deletion allowed.
        let no_delete: Vec<Value> = rules(RULES_UPDATE).into_iter().filter(|r| r["type"] != "deletion").collect();
        let verdict = decide(&no_delete, &set, &unasked);
        assert!(matches!(verdict, Verdict::Wrong(ref w) if w.contains("deletion")), "{verdict:?}");
    }

    #[test]
    fn classic_protection_must_restrict_pushes_for_admins_too() {
        let no_set = |_: u64| -> Option<Value> { None };
        let with = |p: Value| decide(&rules(RULES_PR), &no_set, &move || Ok(Some(p.clone())));
        assert_eq!(
            with(json(PROTECTION)),
            Verdict::OnlyThese(
                "branch protection: only user integrator-bot can push to main; signed commits required".into()
            )
        );
        let mut admins = json(PROTECTION);
        admins["enforce_admins"]["enabled"] = Value::Bool(false);
        admins["allow_force_pushes"]["enabled"] = Value::Bool(true);
        let verdict = with(admins);
        let want = "main's branch protection restricts pushes, but admins are exempt (enforce_admins off), force pushes are allowed";
        assert_eq!(verdict, Verdict::Wrong(want.into()));
        let mut open = json(PROTECTION);
        open["restrictions"] = Value::Null;
        assert!(matches!(with(open), Verdict::Wrong(w) if w.contains("does not restrict who can push")));
        // Neither rules nor protection; or protection that cannot be read.
        let verdict = decide(&rules(RULES_PR), &no_set, &|| Ok(None));
        assert!(matches!(verdict, Verdict::Wrong(ref w) if w.contains("anyone with write access")), "{verdict:?}");
        assert_eq!(decide(&[], &no_set, &|| Err("403".into())), Verdict::Unknown("403".into()));
    }

    #[test]
    fn github_urls_in_every_form() {
        let want = Some(("acme".to_string(), "widgets".to_string()));
        for url in [
            "https://github.com/acme/widgets.git",
            "git@github.com:acme/widgets.git",
            "ssh://git@github.com/acme/widgets",
        ] {
            assert_eq!(github_repo(url), want, "{url}");
        }
        assert_eq!(github_repo("https://gitlab.com/acme/widgets"), None);
        assert_eq!(github_repo("/srv/git/widgets.git"), None);
    }
}

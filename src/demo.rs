//! `integrator demo`: a throwaway sandbox — a bare origin, a clone, three agent branches
//! (one clean, one conflicting, one superseded) — run through shadow and then cutover,
//! with a readable account of what happened.

use crate::config::Mode;
use crate::error::{exit, Error, Result};
use crate::events;
use crate::git::Git;
use crate::queue::Queue;
use crate::repo::Repo;
use crate::run::{self, obj, Options};
use serde_json::json;
use std::path::Path;

const IDENTITY: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "Demo Agent"),
    ("GIT_AUTHOR_EMAIL", "agent@demo.invalid"),
    ("GIT_COMMITTER_NAME", "Demo Agent"),
    ("GIT_COMMITTER_EMAIL", "agent@demo.invalid"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
];

fn demo_git(dir: &Path) -> Result<Git> {
    let mut g = Git::new(dir)?;
    for (k, v) in IDENTITY {
        g = g.with_env(k, v);
    }
    Ok(g)
}

fn write(dir: &Path, file: &str, text: &str) -> Result<()> {
    std::fs::write(dir.join(file), text).map_err(|e| Error::io(format_args!("cannot write {file}"), e))
}

/// An agent's branch from origin/main with one commit, pushed. Returns its sha.
fn agent_branch(g: &Git, branch: &str, file: &str, text: &str) -> Result<String> {
    g.capture(&["checkout", "-q", "-B", branch, "origin/main"])?;
    write(g.dir(), file, text)?;
    g.capture(&["add", file])?;
    g.capture(&["commit", "-q", "-m", &format!("{branch}: edit {file}")])?;
    g.capture(&["push", "-q", "origin", &format!("{branch}:refs/heads/{branch}")])?;
    Ok(g.capture(&["rev-parse", "HEAD"])?.trim().to_string())
}

fn finalize(repo: &Repo, slug: &str, branch: &str, sha: &str, at: &str) -> Result<()> {
    let st = &repo.state;
    let p = json!({"slug": slug, "review_round": 1, "reviewer_session_id": "reviewer", "approved_at": at});
    events::record_canonical(st, events::REVIEW_APPROVED, obj(p), "demo")?;
    let p = json!({"branch": branch, "sha": sha, "remote": "origin", "pushed_at": at, "pusher": "agent"});
    events::record_canonical(st, events::BRANCH_PUSHED, obj(p), "demo")?;
    let p = json!({"slug": slug, "branch": branch, "sha": sha, "worker_session_id": "agent", "orchestrator_session_id": "orchestrator", "ready_at": at});
    events::record_canonical(st, events::DEPLOYMENT_STARTED, obj(p), "demo")?;
    Ok(())
}

fn print_run(title: &str, report: &run::RunReport) {
    println!("\n== {title}: mode {} ({})", report.mode.effective.as_str(), report.mode.reason);
    for p in &report.processed {
        println!("   {}", p.render());
    }
}

/// The tips of the three agents' branches.
struct Agents {
    alpha1: String,
    alpha2: String,
    beta: String,
}

/// A bare `origin.git` with one commit on main, and its clone `work`; returns git in the clone.
fn origin_and_clone(root: &Path) -> Result<Git> {
    let g = demo_git(root)?;
    g.capture(&["init", "-q", "--bare", "--initial-branch=main", "origin.git"])?;
    g.capture(&["clone", "-q", "origin.git", "work"])?;
    let work = root.join("work");
    let g = g.in_dir(&work);
    write(&work, "README.md", "demo project\n")?;
    write(&work, "CHANGELOG.md", "- initial\n")?;
    g.capture(&["add", "."])?;
    g.capture(&["commit", "-q", "-m", "initial"])?;
    g.capture(&["push", "-q", "origin", "HEAD:refs/heads/main"])?;
    Ok(g)
}

/// Three agents: alpha's first try (superseded by its second), alpha's second try
/// (clean), and beta, whose CHANGELOG edit collides with one that lands on main first.
fn push_agents(g: &Git) -> Result<Agents> {
    let alpha1 = agent_branch(g, "alpha-v1", "alpha.txt", "alpha, first try\n")?;
    let alpha2 = agent_branch(g, "alpha-v2", "alpha.txt", "alpha, reviewed\n")?;
    let beta = agent_branch(g, "beta", "CHANGELOG.md", "- initial\n- beta\n")?;
    g.capture(&["checkout", "-q", "-B", "hotfix", "origin/main"])?;
    write(g.dir(), "CHANGELOG.md", "- initial\n- hotfix\n")?;
    g.capture(&["commit", "-q", "-am", "hotfix on main (old delivery path)"])?;
    g.capture(&["push", "-q", "origin", "hotfix:refs/heads/main"])?;
    g.capture(&["fetch", "-q", "origin"])?;
    println!(
        "agents pushed: alpha-v1 {}, alpha-v2 {}, beta {}",
        crate::git::short(&alpha1),
        crate::git::short(&alpha2),
        crate::git::short(&beta)
    );
    Ok(Agents { alpha1, alpha2, beta })
}

/// A shadow run that leaves origin/main alone, a second review round of alpha, then cutover.
fn shadow_then_cutover(repo: &Repo, g: &Git, agents: &Agents) -> Result<()> {
    finalize(repo, "alpha", "alpha-v1", &agents.alpha1, "2026-01-01T10:00:00Z")?;
    finalize(repo, "beta", "beta", &agents.beta, "2026-01-01T10:05:00Z")?;
    println!("finalized: alpha (alpha-v1) and beta — review.approved, branch.pushed, deployment.started");

    write(repo.state.root(), "config.toml", "[integrator]\nmode = \"shadow\"\n")?;
    let before = g.capture(&["ls-remote", "origin", "refs/heads/main"])?;
    let shadow = run::run(repo, &Options::default())?;
    print_run("shadow run", &shadow);
    let after = g.capture(&["ls-remote", "origin", "refs/heads/main"])?;
    println!("   origin/main unchanged by shadow: {}", if before == after { "yes" } else { "NO" });

    finalize(repo, "alpha", "alpha-v2", &agents.alpha2, "2026-01-01T10:10:00Z")?;
    println!("\nfinalized again: alpha (alpha-v2) after another review round — it supersedes alpha-v1");

    let cfg = "[integrator]\nmode = \"cutover\"\n[cutover]\nenabled = true\nparity_evidence = \"accepted\"\n";
    write(repo.state.root(), "config.toml", cfg)?;
    let cutover = run::run(repo, &Options { mode: Some(Mode::Cutover), ..Options::default() })?;
    print_run("cutover run", &cutover);
    Ok(())
}

/// What the runs left behind: the queue, main's history, the follow-up notes, the counts.
fn print_outcome(repo: &Repo, g: &Git) -> Result<()> {
    let q = Queue::load(&repo.state)?;
    println!("\n== queue");
    for i in &q.items {
        println!("   {}", i.render());
    }
    let main_log = g.capture(&["log", "--oneline", "--first-parent", "origin/main"])?;
    println!("\n== origin/main (first-parent history)\n{}", main_log.trim_end());
    for f in crate::status::followups(repo, true)? {
        println!("\n== follow-up note {}\n{}", f.stem, std::fs::read_to_string(&f.path).unwrap_or_default().trim_end());
    }
    let counts = q.counts();
    println!(
        "\nsummary: {} integrated, {} blocked, {} superseded",
        counts["integrated"], counts["blocked"], counts["superseded"]
    );
    Ok(())
}

pub(crate) fn run(keep: bool) -> Result<i32> {
    let tmp = tempfile::Builder::new()
        .prefix("integrator-demo-")
        .tempdir()
        .map_err(|e| Error::io("cannot create a sandbox", e))?;
    let root = std::fs::canonicalize(tmp.path()).map_err(|e| Error::io("sandbox", e))?;
    println!("sandbox: {}", root.display());
    let g = origin_and_clone(&root)?;
    let agents = push_agents(&g)?;
    let repo = Repo::open(g.dir())?;
    repo.state.ensure()?;
    shadow_then_cutover(&repo, &g, &agents)?;
    print_outcome(&repo, &g)?;
    if keep {
        let kept = tmp.keep();
        println!("sandbox kept at {}", kept.display());
    } else {
        println!("sandbox deleted (run `integrator demo --keep` to keep it and look around)");
    }
    Ok(exit::OK)
}

//! A queue of candidates described as data: each one a branch off `origin/main` (or off an
//! earlier candidate's branch) writing some files, pushed in one go and made READY in one
//! bulk ingest, in the order given. Two sandboxes built from the same list hold the same
//! shas (the fixture fixes every date), so their outcomes compare commit for commit.

use super::Sandbox;

/// One candidate: its slug (also its branch), the candidate it is stacked on (by index,
/// None: off `origin/main`), the files it writes and its place in the queue (None: its index).
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub slug: String,
    pub on: Option<usize>,
    pub files: Vec<(String, String)>,
    pub rank: Option<usize>,
}

impl Change {
    pub(crate) fn new(slug: &str, files: &[(&str, &str)]) -> Change {
        let files = files.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        Change { slug: slug.to_string(), on: None, files, rank: None }
    }
}

/// Create, push and make READY `changes` (ready_at one minute apart, in the order of their
/// ranks). Returns each candidate's sha.
pub(crate) fn ready_all(sb: &Sandbox, changes: &[Change]) -> Vec<String> {
    sb.git(&sb.work, &["fetch", "-q", "origin"]);
    let mut shas: Vec<String> = Vec::new();
    for c in changes {
        let from = c.on.map_or("origin/main".to_string(), |j| shas[j].clone());
        sb.git(&sb.work, &["checkout", "-q", "-B", &c.slug, &from]);
        for (file, content) in &c.files {
            sb.write(&sb.work, file, content);
            sb.git(&sb.work, &["add", file]);
        }
        sb.git(&sb.work, &["commit", "-q", "--allow-empty", "-m", &format!("{}: its change", c.slug)]);
        shas.push(sb.git(&sb.work, &["rev-parse", "HEAD"]));
    }
    sb.git(&sb.work, &["checkout", "-q", "main"]);
    let mut push = vec!["push".to_string(), "-q".into(), "origin".into()];
    push.extend(changes.iter().map(|c| format!("{0}:refs/heads/{0}", c.slug)));
    sb.git(&sb.work, &push.iter().map(String::as_str).collect::<Vec<_>>());
    let mut input = String::new();
    for (i, (c, sha)) in changes.iter().zip(&shas).enumerate() {
        let r = c.rank.unwrap_or(i);
        let at = format!("2026-01-01T{:02}:{:02}:00Z", 10 + r / 60, r % 60);
        let lines = [
            format!(
                r#"{{"type":"review-approved","payload":{{"slug":"{}","review_round":1,"reviewer_session_id":"r","approved_at":"{at}"}}}}"#,
                c.slug
            ),
            format!(
                r#"{{"type":"branch-pushed","payload":{{"branch":"{}","sha":"{sha}","remote":"origin","pushed_at":"{at}","pusher":"p"}}}}"#,
                c.slug
            ),
            format!(
                r#"{{"type":"deployment-started","payload":{{"slug":"{0}","branch":"{0}","sha":"{sha}","worker_session_id":"w","orchestrator_session_id":"o","ready_at":"{at}"}}}}"#,
                c.slug
            ),
        ];
        input.push_str(&(lines.join("\n") + "\n"));
    }
    let out = sb.integrator().args(["emit", "--json", "-"]).write_stdin(input).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    shas
}

/// origin/main's first-parent history, oldest first, without the initial commit:
/// (commit, its parents, its tree).
pub(crate) fn landed(sb: &Sandbox) -> Vec<(String, Vec<String>, String)> {
    let log = sb.git(&sb.origin, &["log", "--first-parent", "--reverse", "--format=%H|%P|%T", "main"]);
    log.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f[0].to_string(), f[1].split(' ').map(str::to_string).collect(), f[2].to_string())
        })
        .collect()
}

/// Every queue item (archived ones too) as (slug, status, status_reason), by slug.
pub(crate) fn queue_outcome(sb: &Sandbox) -> Vec<(String, String, String)> {
    let q: serde_json::Value = serde_json::from_str(&sb.ok(&["queue", "--json", "--all"])).unwrap();
    let mut items: Vec<(String, String, String)> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            (s("slug"), s("status"), s("status_reason"))
        })
        .collect();
    items.sort();
    items
}

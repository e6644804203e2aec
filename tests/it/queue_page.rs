//! The queue page (issue 15): `status --html FILE`, `integrator.status_html`, and
//! `integrator serve`, rendered by a real browser — headless Chromium from the
//! distribution — whose DOM must show the queue in order with each candidate's state.

use crate::support::{bin, show, Sandbox};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A queue with a blocked head, then two queued candidates: x1 conflicts with main and is
/// blocked by a cutover run limited to one item, x2 and x3 wait behind it.
fn queue_with_a_block() -> (Sandbox, Vec<String>) {
    let sb = Sandbox::new();
    sb.config(crate::support::CUTOVER);
    let x1 = sb.branch("x1", "shared.txt", "theirs\n");
    sb.land_on_main("shared.txt", "ours\n");
    let x2 = sb.branch("x2", "x2.txt", "2\n");
    let x3 = sb.branch("x3", "x3.txt", "3\n");
    for (slug, sha, at) in [("x1", &x1, "01"), ("x2", &x2, "02"), ("x3", &x3, "03")] {
        sb.ready(slug, slug, sha, &format!("2026-01-01T00:00:{at}Z"));
    }
    sb.ok(&["run", "--max-items", "1"]);
    (sb, vec![x1, x2, x3])
}

/// Headless Chromium with a new empty profile and nothing that reaches the network.
fn chromium(sb: &Sandbox, extra: &[&str], url: &str) -> String {
    let exe =
        which::which("chromium").expect("headless Chromium is needed: apt-get install -y chromium (.ci/run does)");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .env("HOME", &sb.home)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `(slug, state)` of each row of the table `id`, in document order.
fn rows(dom: &str, id: &str) -> Vec<(String, String)> {
    let table = dom.split(&format!("<table id=\"{id}\">")).nth(1).expect("the table").split("</table>").next().unwrap();
    let attr =
        |tr: &str, name: &str| tr.split(&format!("{name}=\"")).nth(1).unwrap().split('"').next().unwrap().to_string();
    table.split("<tr ").skip(1).map(|tr| (attr(tr, "data-slug"), attr(tr, "data-state"))).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn the_page_in_headless_chromium_shows_the_queue_in_order_with_states() {
    let (sb, shas) = queue_with_a_block();
    let page = sb.root.join("queue.html");
    assert_eq!(sb.ok(&["status", "--html", page.to_str().unwrap()]), format!("wrote {}\n", page.display()));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"), "{html}");
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"), "self-contained");

    let url = format!("file://{}", page.display());
    let dom = chromium(&sb, &["--dump-dom"], &url);
    assert_eq!(rows(&dom, "queue"), pairs(&[("x1", "blocked"), ("x2", "queued"), ("x3", "queued")]), "{dom}");
    assert_eq!(rows(&dom, "recent"), pairs(&[("x1", "blocked")]), "{dom}");
    assert!(dom.contains(&format!("x1-integration-blocked-{}", &shas[0][..7])), "a link to the follow-up: {dom}");
    assert!(dom.contains("merge conflict in shared.txt"), "{dom}");
    assert!(dom.contains("id=\"parity\""), "{dom}");

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("queue-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&sb, &[&format!("--screenshot={}", shot.display()), "--window-size=1100,700", "--hide-scrollbars"], &url);
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5_000, "a real screenshot, {} bytes", png.len());
    println!("queue page screenshot: {}", shot.display());
}

#[test]
fn every_run_rewrites_the_configured_page() {
    let (sb, _) = queue_with_a_block();
    sb.cutover_with("status_html = \"page/queue.html\"\n");
    sb.ok(&["run", "--max-items", "1"]);
    let page = std::fs::read_to_string(sb.state().join("page/queue.html")).expect("the run wrote the page");
    let dom_rows = rows(&page, "queue");
    assert_eq!(dom_rows, pairs(&[("x1", "blocked"), ("x3", "queued")]), "x2 landed: {page}");
    assert_eq!(rows(&page, "recent")[0], ("x2".to_string(), "integrated".to_string()), "{page}");
}

/// GET `path` from `addr`; returns the status line and the body.
fn http(addr: &str, request: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// A running `integrator serve`, stopped when the test ends — also when an assertion fails
/// first, so a failing run leaves no server behind.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_answers_read_only_and_regenerates_on_request() {
    let (sb, _) = queue_with_a_block();
    let mut server = Server(
        sb.cmd(bin("integrator"), &sb.work)
            .args(["serve", "--addr", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(server.0.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr = first.split("http://").nth(1).and_then(|r| r.split('/').next()).expect(&first).to_string();
    let (status, body) = http(&addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(rows(&body, "queue").len(), 3, "{body}");
    assert_eq!(
        http(&addr, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").0,
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(http(&addr, "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").0, "HTTP/1.1 404 Not Found");
    // Regenerated per request: a run lands x2, the next GET shows it.
    sb.ok(&["run", "--max-items", "1"]);
    let dom = chromium(&sb, &["--dump-dom"], &format!("http://{addr}/"));
    assert_eq!(rows(&dom, "queue"), pairs(&[("x1", "blocked"), ("x3", "queued")]), "{dom}");
}

//! `integrator serve [--addr 127.0.0.1:PORT]`: the queue page over HTTP, read-only and
//! regenerated on every request. A tiny std::net server: one connection at a time, GET
//! and HEAD of `/` only; it listens on loopback unless told otherwise.

use crate::error::{exit, Error, Result};
use crate::repo::Repo;
use clap::Args;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0: any free port; the bound address is printed).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8377")]
    pub addr: String,
}

pub(crate) fn exec(repo: &Repo, args: ServeArgs) -> Result<i32> {
    let listener = TcpListener::bind(&args.addr)
        .map_err(|e| Error::usage_hint(format!("cannot listen on {}: {e}", args.addr), "pass --addr 127.0.0.1:PORT"))?;
    let bound = listener.local_addr().map_err(|e| Error::io("cannot read the bound address", e))?;
    println!("serving the queue page at http://{bound}/ (read-only; Ctrl-C stops)");
    let _ = std::io::stdout().flush();
    // One bad client never stops the server.
    for stream in listener.incoming().flatten() {
        let _ = answer(repo, stream);
    }
    Ok(exit::OK)
}

fn answer(repo: &Repo, stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Drain the headers; a request body is never read (nothing here takes one).
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (code, body) = match (method, path) {
        ("GET" | "HEAD", "/" | "/index.html") => match crate::queue_page::render_repo(repo) {
            Ok(page) => ("200 OK", page),
            Err(e) => ("500 Internal Server Error", format!("integrator: error: {}\n", e.sentence())),
        },
        ("GET" | "HEAD", _) => ("404 Not Found", "not found: the queue page is at /\n".into()),
        _ => ("405 Method Not Allowed", "read-only: GET / only\n".into()),
    };
    let kind = if code.starts_with("200") { "text/html; charset=utf-8" } else { "text/plain; charset=utf-8" };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {code}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

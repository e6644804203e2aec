//! `integrator status`: effective mode, lease, queue, candidates and their reasons, last
//! run, log health.

use crate::error::{exit, Result};
use crate::repo::Repo;
use crate::status;
use clap::Args;

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) out: super::Json,
    /// Fetch the remote first (status alone never touches the network).
    #[arg(long)]
    pub fetch: bool,
    /// Also list integrated candidates.
    #[arg(long)]
    pub all: bool,
    /// Write the queue page (one self-contained HTML file) to FILE instead of printing.
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    pub html: Option<std::path::PathBuf>,
}

pub(crate) fn exec(repo: &Repo, args: StatusArgs) -> Result<i32> {
    if let Some(file) = &args.html {
        crate::queue_page::write(repo, file)?;
        println!("wrote {}", file.display());
        return Ok(exit::OK);
    }
    let s = status::status(repo, args.fetch, args.all)?;
    if args.out.json {
        super::print_json(&s)?;
    } else {
        print!("{}", status::render_status(&s));
    }
    Ok(exit::OK)
}

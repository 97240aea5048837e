//! `kubes diff [ROLE...]`: kubectl's convention, exit 0 for no differences, 1 for some;
//! errors exit as every command's do (2 bad input, 3 cluster error: `super::exit`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;

use super::{runtime, GlobalArgs};
use crate::deploy::{Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// Restrict to these roles.
    pub roles: Vec<String>,
    /// Image for `docker_image`, as `kubes deploy --image` would set it.
    #[arg(long, env = "KUBES_IMAGE")]
    pub image: Option<String>,
    /// Colour the diff: auto (on a terminal), always, never.
    #[arg(long, env = "KUBES_COLOR", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

pub fn diff(g: &GlobalArgs, a: DiffArgs) -> anyhow::Result<ExitCode> {
    run(g, a).or_else(|e| {
        eprintln!("error: {e:#}");
        Ok(ExitCode::from(super::exit::for_error(&e)))
    })
}

fn run(g: &GlobalArgs, a: DiffArgs) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::load(&g.project_options(a.image.clone()), &a.roles)?;
    let color = match a.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal(),
    };
    let reporter = g.reporter();
    runtime()?.block_on(async {
        let options = SessionOptions::default();
        let session = Session::open(prepared, &g.connection(), reporter.clone(), options).await?;
        let report = session.diff().await?;
        reporter.diff(&report, color);
        Ok(ExitCode::from(if report.differ.is_empty() {
            0
        } else {
            super::exit::DIFFERS
        }))
    })
}

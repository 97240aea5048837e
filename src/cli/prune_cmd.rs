//! `kubes prune`: delete what a previous apply applied and the project no longer has.

use std::process::ExitCode;

use clap::Args;

use super::{exit_code, runtime, GlobalArgs};
use crate::deploy::{Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn prune(g: &GlobalArgs, a: PruneArgs) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::load(&g.project_options(None), &[])?;
    let reporter = g.reporter();
    let options = SessionOptions {
        dry_run: a.dry_run,
        hooks: true,
    };
    runtime()?.block_on(async {
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(exit_code(session.prune().await.ok))
    })
}

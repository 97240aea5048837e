//! `kubes prune`: delete what a previous apply applied and the project no longer has.

use std::process::ExitCode;

use clap::Args;

use super::{run_interruptible, GlobalArgs};
use crate::deploy::{Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Print what would be deleted, delete nothing.
    #[arg(long, env = "KUBES_DRY_RUN")]
    pub dry_run: bool,
    /// Do not ask for confirmation. Prune never asks (it deletes only what a previous apply
    /// recorded and the project no longer has); accepted so `prune -y` reads as `delete -y`.
    #[arg(short = 'y', long, env = "KUBES_YES")]
    pub yes: bool,
}

pub fn prune(g: &GlobalArgs, a: PruneArgs) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::load(&g.project_options(None), &[])?;
    let reporter = g.reporter();
    run_interruptible(|interrupt| async move {
        let options = SessionOptions {
            dry_run: a.dry_run,
            hooks: true,
            interrupt: Some(interrupt),
            locked: super::locked_from_env(),
            record: None,
        };
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(super::exit::for_report(&session.prune().await))
    })
}

//! `kubes apply [ROLE...]` and `kubes deploy --image IMG` (apply with an image).

use std::process::ExitCode;

use clap::Args;

use super::{exit_code, runtime, GlobalArgs};
use crate::cluster::apply::DEFAULT_CONCURRENCY;
use crate::deploy::{ApplySettings, Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Restrict to these roles (e.g. `kubes apply migrate` to run migrations as their own step).
    pub roles: Vec<String>,
    /// Delete objects applied before that are no longer planned (also `prune: true` in config).
    #[arg(long)]
    pub prune: bool,
    /// Server-side dry run: validate everything, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not take over fields other field managers own (fail on conflicts instead).
    #[arg(long)]
    pub no_force_conflicts: bool,
    /// Requests in flight at once (objects of one kind in a row within a file go in parallel).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long)]
    pub image: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

pub fn apply(g: &GlobalArgs, image: Option<String>, a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::load(&g.project_options(image), &a.roles)?;
    let reporter = g.reporter();
    let options = SessionOptions {
        dry_run: a.dry_run,
        hooks: true,
    };
    let settings = ApplySettings {
        force_conflicts: !a.no_force_conflicts,
        prune: a.prune,
        concurrency: a.concurrency,
    };
    runtime()?.block_on(async {
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(exit_code(session.apply(&settings).await.ok))
    })
}

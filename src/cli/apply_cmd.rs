//! `kubes apply [ROLE...]` and `kubes deploy --image IMG` (apply with an image).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{exit_code, run_interruptible, GlobalArgs};
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
    /// Take over fields other field managers own (the default; the explicit form of it).
    #[arg(long, overrides_with = "no_force_conflicts")]
    pub force_conflicts: bool,
    /// Do not take over fields other field managers own (fail on conflicts instead).
    #[arg(long, overrides_with = "force_conflicts")]
    pub no_force_conflicts: bool,
    /// Requests in flight at once (objects of one kind in a row within a file go in parallel).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
    /// How long to wait for another deploy of the app (its deploy lease) and for a namespace
    /// being deleted (Terminating) before giving up.
    #[arg(long, env = "KUBES_LOCK_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Fail at once instead of waiting for another deploy or a Terminating namespace.
    #[arg(long, env = "KUBES_NO_WAIT")]
    pub no_wait: bool,
    /// Write every cluster request each hook run made, with its answer, to FILE (JSON), to
    /// replay the hook later with `kubes hooks test --replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
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
    let reporter = g.reporter();
    let prepared = Prepared::load_with_compile_hooks(
        &g.project_options(image),
        &a.roles,
        reporter.clone(),
        a.dry_run,
    )?;
    let settings = ApplySettings {
        force_conflicts: !a.no_force_conflicts,
        prune: a.prune,
        concurrency: a.concurrency,
        wait: (!a.no_wait).then_some(a.lock_timeout),
    };
    run_interruptible(|interrupt| async move {
        let options = SessionOptions {
            dry_run: a.dry_run,
            hooks: true,
            interrupt: Some(interrupt),
            record: a.record.clone(),
        };
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(exit_code(session.apply(&settings).await.ok))
    })
}

//! `kubes apply [ROLE...]` and `kubes deploy --image IMG` (apply with an image).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::{run_interruptible, GlobalArgs};
use crate::cluster::apply::DEFAULT_CONCURRENCY;
use crate::deploy::{ApplySettings, Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Restrict to these roles (e.g. `kubes apply migrate` to run migrations as their own step).
    pub roles: Vec<String>,
    /// Delete objects applied before that are no longer planned (also `prune: true` in config).
    #[arg(long, env = "KUBES_PRUNE")]
    pub prune: bool,
    /// Server-side dry run: validate everything, change nothing.
    #[arg(long, env = "KUBES_DRY_RUN")]
    pub dry_run: bool,
    /// Take over fields other field managers own (the default; the explicit form of it).
    #[arg(
        long,
        overrides_with = "no_force_conflicts",
        env = "KUBES_FORCE_CONFLICTS"
    )]
    pub force_conflicts: bool,
    /// Do not take over fields other field managers own (fail on conflicts instead).
    #[arg(
        long,
        overrides_with = "force_conflicts",
        env = "KUBES_NO_FORCE_CONFLICTS"
    )]
    pub no_force_conflicts: bool,
    /// Requests in flight at once (objects of one kind in a row within a file go in parallel).
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N", env = "KUBES_CONCURRENCY")]
    pub concurrency: usize,
    /// How long to wait for another deploy of the app (its deploy lease) and for a namespace
    /// being deleted (Terminating) before giving up.
    #[arg(long, env = "KUBES_LOCK_TIMEOUT", default_value = "10m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub lock_timeout: Duration,
    /// Fail at once instead of waiting for another deploy or a Terminating namespace.
    #[arg(long, env = "KUBES_NO_WAIT")]
    pub no_wait: bool,
    /// Take registry hook modules only as .kubes/hooks.lock pins them: refuse, before
    /// anything is applied, a reference without a pin, a tag that moved, a digest mismatch.
    /// (Also `KUBES_LOCKED=1`.)
    #[arg(long)]
    pub locked: bool,
    /// Server-side apply every object, even those kubes finds unchanged since it last
    /// applied them (by default those are only listed, not applied again).
    #[arg(long)]
    pub force_apply: bool,
    /// Write every cluster request each hook run made, with its answer, to FILE (JSON), to
    /// replay the hook later with `kubes hooks test --replay FILE`.
    #[arg(long, value_name = "FILE")]
    pub record: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long, env = "KUBES_IMAGE")]
    pub image: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

pub fn apply(g: &GlobalArgs, image: Option<String>, a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let reporter = g.reporter();
    let locked = a.locked || super::locked_from_env();
    let prepared = Prepared::load_with_compile_hooks(
        &g.project_options(image),
        &a.roles,
        reporter.clone(),
        a.dry_run,
        locked,
    )?;
    let settings = ApplySettings {
        force_conflicts: !a.no_force_conflicts,
        prune: a.prune,
        concurrency: a.concurrency,
        wait: (!a.no_wait).then_some(a.lock_timeout),
        force_apply: a.force_apply,
    };
    run_interruptible(|interrupt| async move {
        let options = SessionOptions {
            dry_run: a.dry_run,
            hooks: true,
            interrupt: Some(interrupt),
            locked,
            record: a.record.clone(),
        };
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(super::exit::for_report(&session.apply(&settings).await))
    })
}

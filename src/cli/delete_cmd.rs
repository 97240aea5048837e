//! `kubes delete [ROLE...]`: asks first on a terminal unless `-y`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{run_interruptible, GlobalArgs};
use crate::cluster::apply::DEFAULT_CONCURRENCY;
use crate::deploy::{DeleteSettings, Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Restrict to these roles.
    pub roles: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long, env = "KUBES_YES")]
    pub yes: bool,
    /// Wait until each object is gone (finalizers done) before going on.
    #[arg(long, env = "KUBES_DELETE_WAIT")]
    pub wait: bool,
    /// How long `--wait` waits for one object.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, env = "KUBES_DELETE_TIMEOUT")]
    pub timeout: Duration,
    /// Delete dependents first and only then the owner (`foreground` propagation).
    #[arg(long, env = "KUBES_FOREGROUND")]
    pub foreground: bool,
    /// Server-side dry run: change nothing.
    #[arg(long, env = "KUBES_DRY_RUN")]
    pub dry_run: bool,
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N", env = "KUBES_CONCURRENCY")]
    pub concurrency: usize,
}

pub fn delete(g: &GlobalArgs, a: DeleteArgs) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::load(&g.project_options(None), &a.roles)?;
    if !a.yes && !a.dry_run && !confirmed(&prepared)? {
        eprintln!("nothing deleted");
        return Ok(ExitCode::from(super::exit::BAD_INPUT));
    }
    let reporter = g.reporter();
    let settings = DeleteSettings {
        foreground: a.foreground,
        wait: a.wait.then_some(a.timeout),
        concurrency: a.concurrency,
    };
    run_interruptible(|interrupt| async move {
        let options = SessionOptions {
            dry_run: a.dry_run,
            hooks: true,
            interrupt: Some(interrupt),
            locked: super::locked_from_env(),
            record: None,
        };
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(super::exit::for_report(&session.delete(&settings).await))
    })
}

/// Ask on the terminal; refuse without one (the question goes to stderr, the answer comes
/// from stdin: both must be a terminal, so a CI job never hangs on a prompt it cannot see).
fn confirmed(prepared: &Prepared) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        anyhow::bail!("kubes delete: refusing to delete without confirmation on a non-interactive input; pass -y");
    }
    eprint!(
        "Delete {} objects of app {} (env {})? [y/N] ",
        prepared.object_count(),
        prepared.project.app_name(),
        prepared.project.env
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

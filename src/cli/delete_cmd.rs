//! `kubes delete [ROLE...]`: asks first on a terminal unless `-y`.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{exit_code, run_interruptible, GlobalArgs};
use crate::cluster::apply::DEFAULT_CONCURRENCY;
use crate::deploy::{DeleteSettings, Prepared, Session, SessionOptions};

#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Restrict to these roles.
    pub roles: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until each object is gone (finalizers done) before going on.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits for one object.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Delete dependents first and only then the owner (`foreground` propagation).
    #[arg(long)]
    pub foreground: bool,
    /// Server-side dry run: change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
}

pub fn delete(g: &GlobalArgs, a: DeleteArgs) -> anyhow::Result<ExitCode> {
    let prepared = Prepared::load(&g.project_options(None), &a.roles)?;
    if !a.yes && !a.dry_run && !confirmed(&prepared)? {
        eprintln!("nothing deleted");
        return Ok(ExitCode::from(1));
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
            record: None,
        };
        let session = Session::open(prepared, &g.connection(), reporter, options).await?;
        Ok(exit_code(session.delete(&settings).await.ok))
    })
}

/// Ask on the terminal; refuse without one.
fn confirmed(prepared: &Prepared) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
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

//! `kubes init`, `compile`, `plan`, `completion`.

use std::process::ExitCode;

use clap::{Args, CommandFactory};

use super::{Cli, GlobalArgs};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// App name for the scaffold (default: the project directory's name).
    #[arg(long = "name")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long)]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long)]
    pub image: Option<String>,
    /// Restrict to these roles.
    pub roles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

pub fn init(_g: &GlobalArgs, _a: InitArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("kubes init: not built yet in this revision")
}

pub fn compile(_g: &GlobalArgs, _a: CompileArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("kubes compile: not built yet in this revision")
}

pub fn plan(_g: &GlobalArgs, _a: PlanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("kubes plan: not built yet in this revision")
}

pub fn completion(a: CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "kubes", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

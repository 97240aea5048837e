//! `kubes init`, `compile`, `plan`, `completion`.

use std::process::ExitCode;

use clap::{Args, CommandFactory};

use super::{Cli, GlobalArgs};
use crate::hooks::HooksConfig;
use crate::plan::Plan;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// App name for the scaffold (default: the project directory's name).
    #[arg(long = "name", env = "KUBES_INIT_NAME")]
    pub name: Option<String>,
    /// Image the scaffolded deployment runs (`image` in .kubes/config.yaml).
    #[arg(long, env = "KUBES_INIT_IMAGE", default_value = "nginx:1.27")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long, env = "KUBES_IMAGE")]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long, env = "KUBES_IMAGE")]
    pub image: Option<String>,
    /// Restrict to these roles.
    pub roles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

pub fn init(g: &GlobalArgs, a: InitArgs) -> anyhow::Result<ExitCode> {
    let done = crate::scaffold::init::init(&g.project, a.name.as_deref(), &a.image)?;
    g.reporter().initialised(&g.project, &done);
    Ok(ExitCode::SUCCESS)
}

pub fn compile(g: &GlobalArgs, a: CompileArgs) -> anyhow::Result<ExitCode> {
    let reporter = g.reporter();
    let project = Project::load(&g.project_options(a.image))?;
    reporter.project_warnings(&project);
    let compiled = crate::compile::compile(&project)?;
    reporter.compiled(&project, &compiled);
    Ok(ExitCode::SUCCESS)
}

pub fn plan(g: &GlobalArgs, a: PlanArgs) -> anyhow::Result<ExitCode> {
    let reporter = g.reporter();
    let project = Project::load(&g.project_options(a.image))?;
    reporter.project_warnings(&project);
    let compiled = crate::compile::compile(&project)?;
    let mut plan = Plan::build(&project, &compiled);
    plan.restrict_to_roles(&a.roles);
    // Attached hooks are shown under their files (and step hooks around the list).
    let hooks = HooksConfig::load(&project.root)?;
    reporter.plan(&plan, &hooks);
    Ok(ExitCode::SUCCESS)
}

pub fn completion(a: CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "kubes", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

//! `kubes rbac`: the least-privilege RBAC for a runner's ServiceAccount (see `crate::rbac`).

use std::process::ExitCode;

use clap::Args;

use super::GlobalArgs;
use crate::deploy::Prepared;
use crate::hooks::HooksConfig;
use crate::rbac::{derive, Inputs, Subject};

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Roles to deploy (default: all), as `kubes apply ROLE...` would.
    pub roles: Vec<String>,
    /// The runner's ServiceAccount.
    #[arg(
        long,
        env = "KUBES_RBAC_SERVICE_ACCOUNT",
        default_value = "kubes-deployer",
        value_name = "NAME"
    )]
    pub service_account: String,
    /// The ServiceAccount's namespace (default: the app's).
    #[arg(long, env = "KUBES_RBAC_SERVICE_ACCOUNT_NAMESPACE", value_name = "NS")]
    pub service_account_namespace: Option<String>,
    /// The runner deploys with `--prune` (adds `delete` on the planned kinds).
    #[arg(long, env = "KUBES_PRUNE")]
    pub prune: bool,
}

pub fn rbac(g: &GlobalArgs, a: RbacArgs) -> anyhow::Result<ExitCode> {
    let reporter = g.reporter();
    let prepared = Prepared::load(&g.project_options(None), &a.roles)?;
    reporter.project_warnings(&prepared.project);
    let hooks = HooksConfig::load(&prepared.project.root)?;
    let project = &prepared.project;
    let namespace = project
        .config
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let inputs = Inputs {
        app: project.app_name(),
        env: project.env.clone(),
        namespace: namespace.clone(),
        plan: &prepared.plan,
        prune: a.prune || project.config.prune,
        hooks: &hooks.hooks,
    };
    let subject = Subject {
        name: a.service_account,
        namespace: a.service_account_namespace.unwrap_or(namespace),
    };
    reporter.rbac(&derive(&inputs, subject))?;
    Ok(ExitCode::SUCCESS)
}

//! `kubes hooks list|run|inspect`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::{exit_code, run_interruptible, GlobalArgs};
use crate::deploy::{Prepared, Session, SessionOptions};
use crate::hooks::describe;
use crate::project::Project;

#[derive(Debug, Args)]
pub struct HooksArgs {
    #[command(subcommand)]
    pub command: HooksCommand,
}

#[derive(Debug, Subcommand)]
pub enum HooksCommand {
    /// List the hooks in .kubes/config/hooks.yaml: name, lifecycle point, `on`, module digest, grants.
    List,
    /// Run one hook as a separate step, at its declared lifecycle point, against the cluster.
    Run {
        /// The hook's name in hooks.yaml.
        name: String,
        /// The file (`role/kind`) a per-resource hook runs around (default: the first
        /// planned file its `on:` matches).
        #[arg(long, env = "KUBES_HOOK_TARGET", value_name = "ROLE/KIND")]
        target: Option<String>,
        /// Tell the hook it is a dry run (its applies and deletes become server-side dry runs).
        #[arg(long, env = "KUBES_DRY_RUN")]
        dry_run: bool,
    },
    /// Every hook with its source (file and sha256 digest), effective grants, limits and
    /// lifecycle point, sorted so a change shows as a diff in review.
    Audit {
        /// Compare with a committed audit (its text or JSON form): exit 1 and print the
        /// diff when they differ.
        #[arg(long, env = "KUBES_HOOKS_AUDIT_CHECK", value_name = "FILE")]
        check: Option<PathBuf>,
    },
    /// Show a component's imports and exports, whether it fits the kubes:hook world, and
    /// for each project hook using it, its effective grants (what `*` covers and never
    /// covers, cluster scope) and limits.
    Inspect {
        /// The .wasm file, or the name of a hook in hooks.yaml.
        file: PathBuf,
    },
}

pub fn hooks(g: &GlobalArgs, a: HooksArgs) -> anyhow::Result<ExitCode> {
    let reporter = g.reporter();
    match a.command {
        HooksCommand::List => {
            let (file, rows) = describe::list(&g.project)?;
            reporter.hooks_list(&file, &rows);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Run {
            name,
            target,
            dry_run,
        } => {
            let prepared = Prepared::load(&g.project_options(None), &[])?;
            let choice = prepared.choose_hook(&name, target.as_deref())?;
            run_interruptible(|interrupt| async move {
                let options = SessionOptions {
                    dry_run,
                    hooks: true,
                    interrupt: Some(interrupt),
                };
                let session = Session::open(prepared, &g.connection(), reporter, options).await?;
                Ok(exit_code(session.run_hook(&choice).await?))
            })
        }
        HooksCommand::Audit { check } => {
            let project = Project::load(&g.project_options(None))?;
            let namespace = project
                .config
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let audit = crate::hooks::audit::audit(&project.root, &namespace)?;
            let Some(file) = check else {
                reporter.hooks_audit(&audit, None);
                return Ok(ExitCode::SUCCESS);
            };
            let committed = std::fs::read_to_string(&file)
                .with_context(|| format!("reading the committed audit {}", file.display()))?;
            let diff = audit.check(&committed, &file.display().to_string());
            reporter.hooks_audit(&audit, Some((&file, diff.as_deref())));
            Ok(if diff.is_some() {
                ExitCode::from(super::exit::DIFFERS)
            } else {
                ExitCode::SUCCESS
            })
        }
        HooksCommand::Inspect { file } => {
            // The app namespace the grants default to, if the project loads.
            let app_namespace = || {
                Project::load(&g.project_options(None))
                    .ok()
                    .and_then(|p| p.config.namespace.clone())
                    .unwrap_or_else(|| "(the app's namespace)".into())
            };
            let report = describe::inspect_file(&g.project, &file, app_namespace)?;
            reporter.inspection(&report);
            Ok(exit_code(report.fits_hook_world))
        }
    }
}

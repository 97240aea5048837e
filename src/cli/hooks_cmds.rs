//! `kubes hooks list|run|inspect|test`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{exit_code, run_interruptible, GlobalArgs};
use crate::deploy::{Prepared, Session, SessionOptions};
use crate::hooks::describe;
use crate::hooks::testing::{self, TestOptions};
use crate::hooks::HookEngine;
use crate::project::Project;
use anyhow::Context as _;

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
        #[arg(long, value_name = "ROLE/KIND")]
        target: Option<String>,
        /// Tell the hook it is a dry run (its applies and deletes become server-side dry runs).
        #[arg(long)]
        dry_run: bool,
    },
    /// Show a component's imports and exports, whether it fits the kubes:hook world, and
    /// for each project hook using it, its effective grants (what `*` covers and never
    /// covers, cluster scope) and limits.
    Inspect {
        /// The .wasm file, or the name of a hook in hooks.yaml.
        file: PathBuf,
    },
    /// Run a hook's scenarios (PATH/tests/*.scenario.yaml) in-process against a simulated
    /// cluster on virtual time: no cluster, no deploy, seconds. See docs/hook-testing.md.
    Test {
        /// The hook project holding tests/, or one scenario file.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// Only the scenarios whose name contains this.
        #[arg(long, value_name = "NAME")]
        scenario: Option<String>,
        /// Run this component instead of the module the scenarios declare.
        #[arg(long, value_name = "FILE")]
        component: Option<PathBuf>,
        /// Also write the results as JUnit XML.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
        /// Instead of scenarios, replay the hook runs of a recording (`kubes deploy
        /// --record FILE`): each answered from the recording, its outcome compared.
        #[arg(long, value_name = "FILE", conflicts_with = "scenario")]
        replay: Option<PathBuf>,
        /// With --replay: only the runs of this hook.
        #[arg(long, value_name = "NAME", requires = "replay")]
        hook: Option<String>,
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
                    record: None,
                };
                let session = Session::open(prepared, &g.connection(), reporter, options).await?;
                Ok(exit_code(session.run_hook(&choice).await?))
            })
        }
        HooksCommand::Test {
            path,
            scenario,
            component,
            junit,
            replay,
            hook,
        } => {
            if let Some(recording) = replay {
                let start = std::time::Instant::now();
                let engine = HookEngine::new()?;
                let mut first = true;
                let results = testing::replay_all(
                    &engine,
                    &recording,
                    hook.as_deref(),
                    component.as_deref(),
                    &g.project,
                    |r| {
                        if std::mem::take(&mut first) {
                            reporter.scenario_header();
                        }
                        reporter.scenario_result(r)
                    },
                )?;
                reporter.scenario_summary(&results, start.elapsed());
                if let Some(file) = junit {
                    std::fs::write(&file, testing::junit::render("replay", &results))
                        .with_context(|| format!("writing {}", file.display()))?;
                }
                return Ok(exit_code(results.iter().all(|r| r.passed())));
            }
            let opts = TestOptions {
                path,
                filter: scenario,
                component,
            };
            let start = std::time::Instant::now();
            let engine = HookEngine::new()?;
            let mut first = true;
            let results = testing::run_all(&engine, &opts, |r| {
                if std::mem::take(&mut first) {
                    reporter.scenario_header();
                }
                reporter.scenario_result(r)
            })?;
            reporter.scenario_summary(&results, start.elapsed());
            if let Some(file) = junit {
                let suite = std::fs::canonicalize(&opts.path)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .unwrap_or_else(|| "hook".into());
                std::fs::write(&file, testing::junit::render(&suite, &results))
                    .with_context(|| format!("writing {}", file.display()))?;
            }
            Ok(exit_code(results.iter().all(|r| r.passed())))
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

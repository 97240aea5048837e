//! `kubes hooks list|run|inspect|audit|test|push|pull|lock|sign|keygen|save|load`: parse and
//! print; the work is in `crate::hooks` (`audit`, `testing`, `registry`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{exit_code, run_interruptible, GlobalArgs};
use crate::deploy::{Prepared, Session, SessionOptions};
use crate::hooks::describe;
use crate::hooks::registry::layout::PushInfo;
use crate::hooks::registry::{archive, ops, sign};
use crate::hooks::testing::{self, TestCommand, TestOptions};
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
        /// The .wasm file, the name of a hook in hooks.yaml, or an oci:// reference (fetched
        /// into the local store, never run).
        file: PathBuf,
    },
    /// Push a component to a registry as a wasm OCI artifact (CNCF TAG Runtime layout).
    Push {
        /// The component (.wasm).
        file: PathBuf,
        /// oci://HOST[:PORT]/REPOSITORY:TAG
        reference: String,
        /// Where its source lives (annotation org.opencontainers.image.source).
        #[arg(long)]
        source: Option<String>,
        /// Its version (annotation org.opencontainers.image.version).
        #[arg(long = "artifact-version", value_name = "VERSION")]
        artifact_version: Option<String>,
    },
    /// Fetch a registry module into the local store (what the reference resolves to now).
    Pull {
        /// oci://HOST[:PORT]/REPOSITORY:TAG or ...@sha256:DIGEST
        reference: String,
    },
    /// Resolve every registry module of the project and pin it in .kubes/hooks.lock.
    Lock,
    /// Sign what a reference resolves to with an ed25519 key; the signature is pushed beside it.
    Sign {
        reference: String,
        /// Private key file (from `kubes hooks keygen`).
        #[arg(long)]
        key: PathBuf,
    },
    /// Make an ed25519 key pair for `kubes hooks sign`: FILE (private) and FILE.pub.
    Keygen { file: PathBuf },
    /// Write every registry module of the project into an OCI image-layout tarball.
    Save { file: PathBuf },
    /// Put the modules of a tarball written by `kubes hooks save` into the local store.
    Load { file: PathBuf },
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
                    locked: super::locked_from_env(),
                    record: None,
                };
                let session = Session::open(prepared, &g.connection(), reporter, options).await?;
                Ok(exit_code(session.run_hook(&choice).await?))
            })
        }
        HooksCommand::Inspect { file } if file.to_string_lossy().starts_with("oci://") => {
            let config = ops::project_registry_config(&g.project)?;
            let report = ops::inspect(&file.to_string_lossy(), &config)?;
            reporter.registry_inspection(&report);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Push {
            file,
            reference,
            source,
            artifact_version,
        } => {
            let config = ops::project_registry_config(&g.project)?;
            let info = PushInfo::for_file(&file, source, artifact_version);
            reporter.pushed(&ops::push(&file, &reference, &info, &config)?);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Pull { reference } => {
            let config = ops::project_registry_config(&g.project)?;
            let (origin, notes) = ops::pull(&reference, &config)?;
            reporter.pulled(&origin, &notes);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Lock => {
            let (path, pins, notes) = ops::lock(&g.project)?;
            reporter.locked(&path, &pins, &notes);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Sign { reference, key } => {
            let config = ops::project_registry_config(&g.project)?;
            reporter.signed(&ops::sign(&reference, &key, &config)?);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Keygen { file } => {
            let public = sign::generate_key(&file)?;
            reporter.key_generated(&file, &sign::public_key_text(&public));
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Save { file } => {
            let (summary, notes) = archive::save(&g.project, &file)?;
            reporter.archive("saved", &summary, &notes);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Load { file } => {
            let summary = archive::load(&file)?;
            reporter.archive("loaded", &summary, &[]);
            Ok(ExitCode::SUCCESS)
        }
        HooksCommand::Audit { check } => {
            let audit = crate::hooks::audit::audit_project(&g.project_options(None))?;
            let Some(file) = check else {
                reporter.hooks_audit(&audit, None);
                return Ok(ExitCode::SUCCESS);
            };
            let diff = audit.check_file(&file)?;
            reporter.hooks_audit(&audit, Some((&file, diff.as_deref())));
            Ok(if diff.is_some() {
                ExitCode::from(super::exit::DIFFERS)
            } else {
                ExitCode::SUCCESS
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
            let cmd = TestCommand {
                scenarios: TestOptions {
                    path,
                    filter: scenario,
                    component,
                },
                replay,
                hook,
                project: g.project.clone(),
            };
            let mut first = true;
            let report = testing::run_command(&cmd, |r| {
                if std::mem::take(&mut first) {
                    reporter.scenario_header();
                }
                reporter.scenario_result(r)
            })?;
            reporter.scenario_summary(&report.results, report.elapsed);
            if let Some(file) = junit {
                report.write_junit(&file)?;
            }
            Ok(exit_code(report.passed()))
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

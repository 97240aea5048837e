//! `kubes hooks list|run|inspect`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{GlobalArgs, OutputFormat};
use crate::hooks::cache;
use crate::hooks::config::{HookSpec, HooksConfig};
use crate::hooks::inspect::{self, BinaryKind, Item};
use crate::hooks::HookEngine;

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
    /// Show a component's imports and exports and whether it fits the kubes:hook world.
    Inspect {
        /// The .wasm file.
        file: PathBuf,
    },
}

pub fn hooks(g: &GlobalArgs, a: HooksArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        HooksCommand::List => list(g),
        HooksCommand::Run {
            name,
            target,
            dry_run,
        } => run(g, &name, target.as_deref(), dry_run),
        HooksCommand::Inspect { file } => inspect_file(g, &file),
    }
}

#[derive(Serialize)]
struct ListedHook {
    name: String,
    point: String,
    on: Vec<String>,
    module: PathBuf,
    /// `sha256:<hex>`, or why there is none (`missing`).
    digest: String,
    exit_on_fail: bool,
    timeout_ms: u128,
    memory: u64,
    grants: Vec<String>,
}

fn listed(root: &Path, h: &HookSpec) -> ListedHook {
    let digest = match std::fs::read(root.join(&h.module)) {
        Ok(bytes) => format!("sha256:{}", cache::digest(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing".to_string(),
        Err(e) => format!("unreadable: {e}"),
    };
    ListedHook {
        name: h.name.clone(),
        point: h.point.to_string(),
        on: h.on.clone(),
        module: h.module.clone(),
        digest,
        exit_on_fail: h.exit_on_fail,
        timeout_ms: h.timeout.as_millis(),
        memory: h.memory,
        grants: h.grants.iter().map(|g| g.to_string()).collect(),
    }
}

fn list(g: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let config = HooksConfig::load(&g.project)?;
    let rows: Vec<ListedHook> = config.hooks.iter().map(|h| listed(&g.project, h)).collect();
    if g.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!(
            "No hooks declared ({} not found or empty).",
            config.file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        let on = if r.on.is_empty() {
            "(whole step)".to_string()
        } else {
            r.on.join(",")
        };
        let digest = r
            .digest
            .strip_prefix("sha256:")
            .map(|d| format!("sha256:{}", &d[..12]))
            .unwrap_or(r.digest.clone());
        println!("{}", r.name);
        println!("  point:   {} on {on}", r.point);
        println!("  module:  {} ({digest})", r.module.display());
        println!(
            "  limits:  timeout {}ms, memory {} MiB, exit_on_fail {}",
            r.timeout_ms,
            r.memory >> 20,
            r.exit_on_fail
        );
        if r.grants.is_empty() {
            println!("  grants:  none");
        }
        for (i, grant) in r.grants.iter().enumerate() {
            println!(
                "  {}{grant}",
                if i == 0 { "grants:  " } else { "         " }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Serialize)]
struct Inspection {
    file: PathBuf,
    digest: String,
    kind: String,
    imports: Vec<Item>,
    exports: Vec<Item>,
    fits_hook_world: bool,
    problems: Vec<String>,
}

fn inspect_file(g: &GlobalArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut report = Inspection {
        file: file.to_path_buf(),
        digest: format!("sha256:{}", cache::digest(&bytes)),
        kind: String::new(),
        imports: Vec::new(),
        exports: Vec::new(),
        fits_hook_world: false,
        problems: Vec::new(),
    };
    match inspect::binary_kind(&bytes) {
        BinaryKind::NotWasm(why) => {
            report.kind = "not wasm".into();
            report.problems.push(format!("not WebAssembly: {why}"));
        }
        BinaryKind::CoreModule => {
            report.kind = "core module".into();
            report
                .problems
                .push("a core module, not a component: build it for wasm32-wasip2".into());
        }
        BinaryKind::Component => {
            report.kind = "component".into();
            let engine = HookEngine::new()?;
            match engine.compile(file) {
                Ok((component, _, _)) => {
                    report.imports = inspect::imports(engine.wasmtime(), &component);
                    report.exports = inspect::exports(engine.wasmtime(), &component);
                    match engine.load(file) {
                        Ok(_) => report.fits_hook_world = true,
                        Err(crate::hooks::HookError::WrongWorld { missing, .. }) => {
                            report.problems = missing
                        }
                        Err(e) => report.problems.push(e.to_string()),
                    }
                }
                Err(e) => report.problems.push(e.to_string()),
            }
        }
    }
    if g.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {} ({})",
            report.file.display(),
            report.kind,
            report.digest
        );
        if !report.imports.is_empty() {
            println!("imports:");
            for i in &report.imports {
                println!("  {i}");
            }
        }
        if !report.exports.is_empty() {
            println!("exports:");
            for e in &report.exports {
                println!("  {e}");
            }
        }
        if report.fits_hook_world {
            println!("hook world: yes (kubes:hook/hook@0.1.0)");
        } else {
            println!("hook world: no");
            for p in &report.problems {
                println!("  - {p}");
            }
        }
    }
    Ok(if report.fits_hook_world {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run(
    g: &GlobalArgs,
    name: &str,
    target: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    use crate::cluster::{Cluster, ConnectOptions};
    use crate::hooks::host::ClusterAccess;
    use crate::hooks::lifecycle::RunInfo;
    use crate::hooks::{ConsoleReporter, HookLifecycle};
    use crate::project::ProjectOptions;

    let opts = ProjectOptions {
        root: g.project.clone(),
        env: g.env.clone(),
        app: g.app.clone(),
        image: None,
        namespace: g.namespace.clone(),
    };
    let (project, plan) = crate::compile::compile_and_plan(&opts)?;
    let config = HooksConfig::load(&project.root)?;
    let Some(spec) = config.hooks.iter().find(|h| h.name == name) else {
        let names: Vec<&str> = config.hooks.iter().map(|h| h.name.as_str()).collect();
        anyhow::bail!(
            "no hook named {name:?} in {} (hooks: {})",
            config.file.display(),
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        );
    };
    let file = match (spec.is_step_hook(), target) {
        (true, None) => None,
        (true, Some(t)) => anyhow::bail!(
            "hook {name} runs once around the whole step ({}); it takes no --target {t}",
            spec.point
        ),
        (false, Some(t)) => {
            if !spec.matches_target(t) {
                anyhow::bail!("hook {name} runs on {}, not on {t}", spec.on.join(","));
            }
            Some(
                plan.files()
                    .find(|f| f.target() == t)
                    .with_context(|| format!("no planned file {t}"))?,
            )
        }
        (false, None) => Some(
            plan.files()
                .find(|f| spec.matches_target(&f.target()))
                .with_context(|| {
                    format!(
                        "no planned file matches hook {name}'s on: {}; pass --target",
                        spec.on.join(",")
                    )
                })?,
        ),
    };
    let app = project
        .config
        .app
        .clone()
        .or_else(|| project.app.clone())
        .or_else(|| {
            project
                .root
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "app".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let cluster = Cluster::connect(&ConnectOptions {
            kubeconfig: g.kubeconfig.clone(),
            context: g.context.clone().or_else(|| project.config.context.clone()),
            namespace: g
                .namespace
                .clone()
                .or_else(|| project.config.namespace.clone()),
            ..Default::default()
        })
        .await
        .context("connecting to the cluster")?;
        let info = RunInfo {
            app,
            env: project.env.clone(),
            namespace: cluster.default_namespace().to_string(),
            dry_run,
        };
        let reporter = std::sync::Arc::new(ConsoleReporter {
            verbose: g.verbose > 0,
            quiet: g.quiet,
        });
        let access = ClusterAccess { cluster, dry_run };
        let lifecycle =
            HookLifecycle::for_project(&project.root, info, Some(access), reporter.clone())?
                .context("the project declares no hooks")?;
        match file {
            Some(f) => println!("Running hook: {} on: {}", spec.point, f.target()),
            None => println!("Running hook: {}", spec.point),
        }
        println!("=> hook {} ({})", spec.name, spec.module.display());
        match lifecycle.run_hook(spec, spec.point, file).await {
            Ok(report) => {
                println!(
                    "hook {} succeeded in {} ms",
                    spec.name,
                    report.elapsed.as_millis()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(failure) => {
                eprintln!(
                    "hook {} failed at {}: {failure}",
                    spec.name,
                    spec.describe_point()
                );
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

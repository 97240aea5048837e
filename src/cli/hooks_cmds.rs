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
    /// Show a component's imports and exports, whether it fits the kubes:hook world, and
    /// for each project hook using it, its effective grants (what `*` covers and never
    /// covers, cluster scope) and limits.
    Inspect {
        /// The .wasm file, or the name of a hook in hooks.yaml.
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
    let read = crate::project::open_root(root).and_then(|d| d.read(&h.module));
    let digest = match read {
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
    /// The world it fits: `kubes:hook/hook@0.2.0` (or `@0.1.0`, still run).
    world: Option<String>,
    problems: Vec<String>,
    /// The project's hooks that run this component, with what they may do.
    hooks: Vec<HookGrants>,
}

/// One declared hook's effective grants and limits, after the grant rules.
#[derive(Serialize)]
struct HookGrants {
    name: String,
    point: String,
    /// One entry per grant, each a few lines: verbs and resources (what `*` expands to),
    /// names, namespaces, cluster scope, what `*` never covers.
    grants: Vec<Vec<String>>,
    limits: Vec<String>,
}

fn hook_grants(spec: &HookSpec, app_namespace: &str) -> HookGrants {
    let l = &spec.limits;
    HookGrants {
        name: spec.name.clone(),
        point: spec.describe_point(),
        grants: spec
            .grants
            .iter()
            .map(|g| g.effective(app_namespace))
            .collect(),
        limits: vec![
            format!("timeout {}", humantime::format_duration(spec.timeout)),
            format!("memory {} bytes", spec.memory),
            format!(
                "module_size {} bytes, functions {}, compile_time {}",
                l.module_size,
                l.functions,
                humantime::format_duration(l.compile_time)
            ),
            format!(
                "streams {}, stream_buffer {} bytes",
                l.streams, l.stream_buffer
            ),
            format!(
                "request_size {} bytes, response_size {} bytes",
                l.request_size, l.response_size
            ),
            format!("denials {}, output {} bytes", l.denials, l.output),
        ],
    }
}

/// The app namespace hooks default to, if the project loads (for `inspect`'s wording).
fn app_namespace(g: &GlobalArgs) -> String {
    let opts = crate::project::ProjectOptions {
        root: g.project.clone(),
        env: g.env.clone(),
        app: g.app.clone(),
        image: None,
        namespace: g.namespace.clone(),
    };
    crate::project::Project::load(&opts)
        .ok()
        .and_then(|p| p.config.namespace.clone())
        .unwrap_or_else(|| "(the app's namespace)".into())
}

fn inspect_file(g: &GlobalArgs, file_arg: &Path) -> anyhow::Result<ExitCode> {
    let file = file_arg;
    // The project's hooks, if any: to find a hook by name and show grants of those using it.
    let config = HooksConfig::load(&g.project).ok();
    let declared: Vec<&HookSpec> = config.iter().flat_map(|c| c.hooks.iter()).collect();
    let by_name = declared
        .iter()
        .find(|h| !file.exists() && Path::new(&h.name) == file);
    let bytes = match by_name {
        Some(h) => crate::project::open_root(&g.project)
            .and_then(|d| d.read(&h.module))
            .with_context(|| {
                format!(
                    "cannot read {} (module of hook {})",
                    h.module.display(),
                    h.name
                )
            })?,
        None => std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
    };
    let digest = cache::digest(&bytes);
    let using: Vec<&HookSpec> = declared
        .iter()
        .copied()
        .filter(|h| {
            by_name.is_some_and(|b| b.name == h.name)
                || crate::project::open_root(&g.project)
                    .and_then(|d| d.read(&h.module))
                    .is_ok_and(|b| cache::digest(&b) == digest)
        })
        .collect();
    let ns = if using.is_empty() {
        String::new()
    } else {
        app_namespace(g)
    };
    let mut report = Inspection {
        file: file.to_path_buf(),
        digest: format!("sha256:{}", cache::digest(&bytes)),
        kind: String::new(),
        imports: Vec::new(),
        exports: Vec::new(),
        fits_hook_world: false,
        world: None,
        problems: Vec::new(),
        hooks: using.iter().map(|h| hook_grants(h, &ns)).collect(),
    };
    let file = by_name.map(|h| g.project.join(&h.module));
    let file = file.as_deref().unwrap_or(file_arg);
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
                        Ok(h) => {
                            report.fits_hook_world = true;
                            report.world = Some(format!("kubes:hook/hook@{}", h.world_version()));
                        }
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
        // Names inside a component are the author's: escaped like any hook output.
        let safe = |t: String| crate::hooks::output::escape_controls(&t).into_owned();
        if !report.imports.is_empty() {
            println!("imports:");
            for i in &report.imports {
                println!("  {}", safe(i.to_string()));
            }
        }
        if !report.exports.is_empty() {
            println!("exports:");
            for e in &report.exports {
                println!("  {}", safe(e.to_string()));
            }
        }
        if report.fits_hook_world {
            println!(
                "hook world: yes ({})",
                report.world.as_deref().unwrap_or("kubes:hook/hook")
            );
        } else {
            println!("hook world: no");
            for p in &report.problems {
                println!("  - {}", safe(p.clone()));
            }
        }
        for h in &report.hooks {
            println!("hook {} ({}):", h.name, h.point);
            if h.grants.is_empty() {
                println!("  grants: none (every cluster call is refused)");
            }
            for lines in &h.grants {
                for (i, line) in lines.iter().enumerate() {
                    println!("  {}{line}", if i == 0 { "grant: " } else { "       " });
                }
            }
            println!("  limits: {}", h.limits.join("; "));
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

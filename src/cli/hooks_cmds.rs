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
    /// Show a component's imports and exports and whether it fits the kubes:hook world.
    Inspect {
        /// The .wasm file.
        file: PathBuf,
    },
}

pub fn hooks(g: &GlobalArgs, a: HooksArgs) -> anyhow::Result<ExitCode> {
    match a.command {
        HooksCommand::List => list(g),
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

//! What `kubes hooks list` and `kubes hooks inspect` report, as data: the declared hooks
//! with their modules' digests, and a component's kind, imports, exports, world and the
//! effective grants of the hooks that run it. `crate::reporter` shows them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use super::cache;
use super::config::{HookSpec, HooksConfig, ModuleSource};
use super::inspect::{self, BinaryKind, Item};
use super::{HookEngine, HookError};

/// One declared hook, as `kubes hooks list` shows it.
#[derive(Debug, Serialize)]
pub struct ListedHook {
    pub name: String,
    pub point: String,
    pub on: Vec<String>,
    /// A path in the project, or an `oci://` reference.
    pub module: String,
    /// `sha256:<hex>` (of the file; of the pinned manifest for a registry module), or why
    /// there is none (`missing`, `not locked`).
    pub digest: String,
    pub exit_on_fail: bool,
    pub timeout_ms: u128,
    pub memory: u64,
    pub grants: Vec<String>,
}

/// The hooks declared in `root`'s hooks.yaml (and the file's path, for "none declared").
pub fn list(root: &Path) -> anyhow::Result<(PathBuf, Vec<ListedHook>)> {
    let config = HooksConfig::load(root)?;
    let rows = config.hooks.iter().map(|h| listed(root, h)).collect();
    Ok((config.file, rows))
}

/// The bytes of a hook's module file (a registry module is not read here).
fn read_module(root: &Path, h: &HookSpec) -> std::io::Result<Vec<u8>> {
    match &h.module {
        ModuleSource::File(p) => crate::project::open_root(root).and_then(|d| d.read(p)),
        ModuleSource::Registry(r) => Err(std::io::Error::other(format!(
            "{r} is a registry module: `kubes hooks inspect {r}` shows it"
        ))),
    }
}

fn listed(root: &Path, h: &HookSpec) -> ListedHook {
    if let ModuleSource::Registry(r) = &h.module {
        let pin = super::registry::lock::LockFile::load(root)
            .ok()
            .flatten()
            .and_then(|l| l.pin(r).map(|p| p.digest.clone()));
        return ListedHook {
            name: h.name.clone(),
            point: h.point.to_string(),
            on: h.on.clone(),
            module: r.clone(),
            digest: pin.unwrap_or_else(|| "not locked".into()),
            exit_on_fail: h.exit_on_fail,
            timeout_ms: h.timeout.as_millis(),
            memory: h.memory,
            grants: h.grants.iter().map(|g| g.to_string()).collect(),
        };
    }
    let read = read_module(root, h);
    let digest = match read {
        Ok(bytes) => format!("sha256:{}", cache::digest(&bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing".to_string(),
        Err(e) => format!("unreadable: {e}"),
    };
    ListedHook {
        name: h.name.clone(),
        point: h.point.to_string(),
        on: h.on.clone(),
        module: h.module.to_string(),
        digest,
        exit_on_fail: h.exit_on_fail,
        timeout_ms: h.timeout.as_millis(),
        memory: h.memory,
        grants: h.grants.iter().map(|g| g.to_string()).collect(),
    }
}

/// What a `.wasm` file is and what the project's hooks using it may do.
#[derive(Debug, Serialize)]
pub struct Inspection {
    pub file: PathBuf,
    pub digest: String,
    pub kind: String,
    pub imports: Vec<Item>,
    pub exports: Vec<Item>,
    pub fits_hook_world: bool,
    /// The world it fits: `kubes:hook/hook@0.2.0` (or `@0.1.0`, still run).
    pub world: Option<String>,
    pub problems: Vec<String>,
    /// The project's hooks that run this component, with what they may do.
    pub hooks: Vec<HookGrants>,
}

/// One declared hook's effective grants and limits, after the grant rules.
#[derive(Debug, Serialize)]
pub struct HookGrants {
    pub name: String,
    pub point: String,
    /// One entry per grant, each a few lines: verbs and resources (what `*` expands to),
    /// names, namespaces, cluster scope, what `*` never covers.
    pub grants: Vec<Vec<String>>,
    pub limits: Vec<String>,
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

/// Inspect `file_arg`: a `.wasm` file, or the name of a hook declared in `root`'s
/// hooks.yaml. `app_namespace` is asked only when a declared hook uses the component (for
/// the wording of its grants).
pub fn inspect_file(
    root: &Path,
    file_arg: &Path,
    app_namespace: impl FnOnce() -> String,
) -> anyhow::Result<Inspection> {
    // The project's hooks, if any: to find a hook by name and show grants of those using it.
    let config = HooksConfig::load(root).ok();
    let declared: Vec<&HookSpec> = config.iter().flat_map(|c| c.hooks.iter()).collect();
    let by_name = declared
        .iter()
        .find(|h| !file_arg.exists() && Path::new(&h.name) == file_arg);
    let bytes = match by_name {
        Some(h) => read_module(root, h)
            .with_context(|| format!("cannot read {} (module of hook {})", h.module, h.name))?,
        None => std::fs::read(file_arg)
            .with_context(|| format!("cannot read {}", file_arg.display()))?,
    };
    let digest = cache::digest(&bytes);
    let using: Vec<&HookSpec> = declared
        .iter()
        .copied()
        .filter(|h| {
            by_name.is_some_and(|b| b.name == h.name)
                || read_module(root, h).is_ok_and(|b| cache::digest(&b) == digest)
        })
        .collect();
    let ns = if using.is_empty() {
        String::new()
    } else {
        app_namespace()
    };
    let mut report = Inspection {
        file: file_arg.to_path_buf(),
        digest: format!("sha256:{digest}"),
        kind: String::new(),
        imports: Vec::new(),
        exports: Vec::new(),
        fits_hook_world: false,
        world: None,
        problems: Vec::new(),
        hooks: using.iter().map(|h| hook_grants(h, &ns)).collect(),
    };
    let file = by_name.and_then(|h| h.module.file()).map(|m| root.join(m));
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
                        Err(HookError::WrongWorld { missing, .. }) => report.problems = missing,
                        Err(e) => report.problems.push(e.to_string()),
                    }
                }
                Err(e) => report.problems.push(e.to_string()),
            }
        }
    }
    Ok(report)
}

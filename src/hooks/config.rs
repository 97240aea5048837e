//! `.kubes/config/hooks.yaml`: hook declarations, parsed and validated into [`HookSpec`]s.
//!
//! ```yaml
//! hooks:
//!   - name: migrate-wait
//!     after: apply              # or before:; compile, apply, delete, prune
//!     on: migrate/job           # per file (globs allowed, or a list); absent: whole step
//!     module: hooks/migrate_wait.wasm   # or oci://HOST[:PORT]/REPO:TAG, ...@sha256:DIGEST
//!     exit_on_fail: true        # default true
//!     timeout: 300s             # default 60s
//!     memory: 128Mi             # default 256Mi
//!     read_output: false        # preopen .kubes/output read-only at /output
//!     config: { job: migrate }  # any YAML, handed to the hook as JSON
//!     grants:
//!       - { verbs: [get, watch], resources: [jobs.batch], names: [migrate] }
//! registry:                     # registry modules (docs/registries.md)
//!   insecure: [registry.internal:5000]   # plain HTTP besides loopback hosts
//! trust:
//!   keys: [ed25519:<64 hex>]    # signers trusted for registry modules
//!   require: true               # refuse a registry module without a trusted signature
//! ```
//!
//! Every error names the file, the hook, the field and (where it can be found) the line.

use std::fmt;
use std::path::{Component as PathComponent, Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::engine::DEFAULT_MEMORY;
use super::grants::{Grant, Verb};
use super::limits::HookLimits;
use super::registry::{OciRef, RegistryConfig, TrustPolicy};
use crate::lifecycle::{Point, Step, When};
use crate::project::target_matches;
use crate::yaml;

/// Where hooks.yaml lives in a project.
pub const HOOKS_FILE: &str = ".kubes/config/hooks.yaml";

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// A Rust hook needs ~1 MiB of stack plus its data; less than this cannot run anything.
const MIN_MEMORY: u64 = 2 * 1024 * 1024;
/// wasm32 linear memory cannot exceed 4 GiB.
const MAX_MEMORY: u64 = 4 * 1024 * 1024 * 1024;

/// One declared hook, validated.
#[derive(Debug, Clone)]
pub struct HookSpec {
    pub name: String,
    pub point: Point,
    /// `on:` patterns as written (`role/kind`, `*` matching any run of characters, as
    /// `skip` does); empty: a whole-step hook.
    pub on: Vec<String>,
    /// Where the component comes from.
    pub module: ModuleSource,
    pub exit_on_fail: bool,
    pub timeout: Duration,
    pub memory: u64,
    pub read_output: bool,
    /// `config` as JSON text (`null` when absent).
    pub config_json: String,
    pub grants: Vec<Grant>,
    pub limits: HookLimits,
}

impl HookSpec {
    /// Whether this hook runs once around the whole step (no `on:`).
    pub fn is_step_hook(&self) -> bool {
        self.on.is_empty()
    }

    /// Whether this per-file hook matches `role/kind`.
    pub fn matches_target(&self, target: &str) -> bool {
        let Some((role, kind)) = target.split_once('/') else {
            return false;
        };
        self.on.iter().any(|p| target_matches(p, role, kind))
    }

    /// `after apply on migrate/job` / `before compile`.
    pub fn describe_point(&self) -> String {
        if self.on.is_empty() {
            self.point.to_string()
        } else {
            format!("{} on {}", self.point, self.on.join(","))
        }
    }
}

/// Where a hook's component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleSource {
    /// A path relative to the project root.
    File(PathBuf),
    /// An `oci://` registry reference, as written (see [`super::registry`]).
    Registry(String),
}

impl ModuleSource {
    pub fn file(&self) -> Option<&Path> {
        match self {
            ModuleSource::File(p) => Some(p),
            ModuleSource::Registry(_) => None,
        }
    }
}

impl fmt::Display for ModuleSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleSource::File(p) => write!(f, "{}", p.display()),
            ModuleSource::Registry(r) => f.write_str(r),
        }
    }
}

/// All hooks of a project, in declaration order (the order they run in at one point).
#[derive(Debug, Clone, Default)]
pub struct HooksConfig {
    /// The file they came from.
    pub file: PathBuf,
    pub hooks: Vec<HookSpec>,
    /// `registry:` and `trust:`: how registry modules are fetched and checked.
    pub registry: RegistryConfig,
}

/// A problem in hooks.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub hook: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(hook) = &self.hook {
            write!(f, ": hook {hook}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    hooks: Vec<RawHook>,
    registry: Option<RawRegistry>,
    trust: Option<RawTrust>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    insecure: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTrust {
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    require: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    name: Option<String>,
    before: Option<String>,
    after: Option<String>,
    on: Option<OneOrMany>,
    module: Option<String>,
    exit_on_fail: Option<bool>,
    timeout: Option<yaml::Value>,
    memory: Option<yaml::Value>,
    read_output: Option<bool>,
    config: Option<yaml::Value>,
    #[serde(default)]
    grants: Vec<RawGrant>,
    limits: Option<RawLimits>,
}

/// `limits:` of a hook: each key raises (or lowers) one bound of [`HookLimits`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    module_size: Option<yaml::Value>,
    functions: Option<u64>,
    compile_time: Option<yaml::Value>,
    streams: Option<usize>,
    stream_buffer: Option<yaml::Value>,
    request_size: Option<yaml::Value>,
    response_size: Option<yaml::Value>,
    denials: Option<usize>,
    output: Option<yaml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    cluster: bool,
}

impl HooksConfig {
    /// Load `<project>/.kubes/config/hooks.yaml`, read through the project capability (a
    /// symlink out of the project is refused); no file means no hooks.
    pub fn load(project_root: &Path) -> Result<HooksConfig, ConfigError> {
        let file = project_root.join(HOOKS_FILE);
        let read =
            crate::project::open_root(project_root).and_then(|dir| dir.read_to_string(HOOKS_FILE));
        match read {
            Ok(text) => Self::parse(&file, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HooksConfig {
                file,
                hooks: Vec::new(),
                registry: RegistryConfig::default(),
            }),
            Err(e) => Err(ConfigError {
                file,
                line: None,
                hook: None,
                field: None,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    /// Parse and validate hooks.yaml text; `file` is only used in messages.
    pub fn parse(file: &Path, text: &str) -> Result<HooksConfig, ConfigError> {
        let err = |line: Option<usize>,
                   hook: Option<&str>,
                   field: Option<&str>,
                   message: String| ConfigError {
            file: file.to_path_buf(),
            line,
            hook: hook.map(str::to_string),
            field: field.map(str::to_string),
            message,
        };
        let raw: RawFile = if text.trim().is_empty() {
            RawFile {
                hooks: Vec::new(),
                registry: None,
                trust: None,
            }
        } else {
            yaml::from_str(text).map_err(|e| err(e.line, None, None, e.message))?
        };

        let mut hooks: Vec<HookSpec> = Vec::new();
        for (i, h) in raw.hooks.into_iter().enumerate() {
            let Some(name) = h.name.clone() else {
                return Err(err(
                    None,
                    None,
                    Some(&format!("hooks[{i}].name")),
                    "every hook needs a name".into(),
                ));
            };
            let line = find_line(text, &name);
            let e = |field: &str, message: String| err(line, Some(&name), Some(field), message);

            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            {
                return Err(e(
                    "name",
                    "use letters, digits, `-`, `_` and `.` only".into(),
                ));
            }
            if hooks.iter().any(|o| o.name == name) {
                return Err(e("name", "declared twice".into()));
            }

            let point = match (&h.before, &h.after) {
                (Some(s), None) => Point {
                    when: When::Before,
                    step: parse_step(s).map_err(|m| e("before", m))?,
                },
                (None, Some(s)) => Point {
                    when: When::After,
                    step: parse_step(s).map_err(|m| e("after", m))?,
                },
                (Some(_), Some(_)) => {
                    return Err(e(
                        "before/after",
                        "give either `before:` or `after:`, not both".into(),
                    ))
                }
                (None, None) => {
                    return Err(e(
                        "before/after",
                        "missing: say when it runs, e.g. `after: apply`".into(),
                    ))
                }
            };

            let on: Vec<String> = match h.on {
                None => Vec::new(),
                Some(OneOrMany::One(s)) => vec![s],
                Some(OneOrMany::Many(v)) => v,
            };
            if !on.is_empty() && !matches!(point.step, Step::Apply | Step::Delete) {
                return Err(e(
                    "on",
                    format!("per-resource hooks run around apply or delete, not {}; drop `on:` to run once around the step", point.step),
                ));
            }
            for pat in &on {
                if pat.matches('/').count() != 1 {
                    return Err(e(
                        "on",
                        format!("`{pat}` is not role/kind (e.g. migrate/job, web/*)"),
                    ));
                }
                if let Some(c) = pat.chars().find(|c| "?[]{}\\".contains(*c)) {
                    return Err(e(
                        "on",
                        format!("`{pat}`: only `*` is special in a pattern (it matches any run of characters), not `{c}`"),
                    ));
                }
            }

            let module = h.module.ok_or_else(|| {
                e(
                    "module",
                    "missing: the path of the hook's .wasm component".into(),
                )
            })?;
            let module = check_module_path(&module).map_err(|m| e("module", m))?;

            let timeout = match &h.timeout {
                None => DEFAULT_TIMEOUT,
                Some(v) => parse_duration(v).map_err(|m| e("timeout", m))?,
            };
            let memory = match &h.memory {
                None => DEFAULT_MEMORY,
                Some(v) => parse_memory(v).map_err(|m| e("memory", m))?,
            };
            let config_json = match &h.config {
                None => "null".to_string(),
                Some(v) => serde_json::to_string(v)
                    .map_err(|j| e("config", format!("cannot be expressed as JSON: {j}")))?,
            };

            let mut grants = Vec::new();
            for (gi, g) in h.grants.into_iter().enumerate() {
                let field = format!("grants[{gi}]");
                if g.verbs.is_empty() {
                    return Err(e(
                        &format!("{field}.verbs"),
                        "empty: list what it may do (get, list, watch, apply, delete, logs)".into(),
                    ));
                }
                if g.resources.is_empty() {
                    return Err(e(
                        &format!("{field}.resources"),
                        "empty: list resources, e.g. jobs.batch, pods".into(),
                    ));
                }
                let mut verbs = Vec::new();
                for v in &g.verbs {
                    let verb = Verb::parse(v).ok_or_else(|| {
                        e(&format!("{field}.verbs"), format!("unknown verb `{v}`; expected one of get, list, watch, apply, delete, logs"))
                    })?;
                    verbs.push(verb);
                }
                for n in &g.names {
                    if n != "*" {
                        crate::names::object_name(n).map_err(|m| {
                            e(
                                &format!("{field}.names"),
                                format!("`{n}` is not an object name: {m}"),
                            )
                        })?;
                    }
                }
                for n in &g.namespaces {
                    if n != "*" {
                        crate::names::dns_label(n).map_err(|m| {
                            e(
                                &format!("{field}.namespaces"),
                                format!("`{n}` is not a namespace: {m}"),
                            )
                        })?;
                    }
                }
                for r in &g.resources {
                    if r != "*"
                        && (r.is_empty()
                            || r.contains('/')
                            || r.chars().any(|c| c.is_ascii_uppercase()))
                    {
                        return Err(e(
                            &format!("{field}.resources"),
                            format!("`{r}` is not a resource name: use the lowercase plural, with the group for non-core ones (pods, jobs.batch, deployments.apps)"),
                        ));
                    }
                }
                grants.push(Grant {
                    verbs,
                    resources: g.resources,
                    names: g.names,
                    namespaces: g.namespaces,
                    cluster: g.cluster,
                });
            }

            let limits = match h.limits {
                None => HookLimits::default(),
                Some(raw) => parse_limits(raw).map_err(|(f, m)| e(&format!("limits.{f}"), m))?,
            };

            hooks.push(HookSpec {
                name,
                point,
                on,
                module,
                exit_on_fail: h.exit_on_fail.unwrap_or(true),
                timeout,
                memory,
                read_output: h.read_output.unwrap_or(false),
                config_json,
                grants,
                limits,
            });
        }
        let registry = parse_registry(
            raw.registry.unwrap_or_default(),
            raw.trust.unwrap_or_default(),
        )
        .map_err(|(field, m)| err(find_key_line(text, field), None, Some(field), m))?;
        Ok(HooksConfig {
            file: file.to_path_buf(),
            hooks,
            registry,
        })
    }

    /// The distinct registry references the hooks use, each with the smallest
    /// `module_size` of the hooks using it (the bound its component is fetched within).
    pub fn registry_modules(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = Vec::new();
        for h in &self.hooks {
            if let ModuleSource::Registry(r) = &h.module {
                match out.iter_mut().find(|(w, _)| w == r) {
                    Some((_, max)) => *max = (*max).min(h.limits.module_size),
                    None => out.push((r.clone(), h.limits.module_size)),
                }
            }
        }
        out
    }

    /// Hooks for a lifecycle point: whole-step hooks when `target` is `None`, else the
    /// per-file hooks whose `on:` matches `role/kind`. In declaration order.
    pub fn hooks_at<'a>(
        &'a self,
        point: Point,
        target: Option<&'a str>,
    ) -> impl Iterator<Item = &'a HookSpec> + 'a {
        self.hooks.iter().filter(move |h| {
            h.point == point
                && match target {
                    None => h.is_step_hook(),
                    Some(t) => h.matches_target(t),
                }
        })
    }
}

fn parse_step(s: &str) -> Result<Step, String> {
    match s {
        "compile" => Ok(Step::Compile),
        "apply" => Ok(Step::Apply),
        "delete" => Ok(Step::Delete),
        "prune" => Ok(Step::Prune),
        other => Err(format!(
            "unknown step `{other}`; expected compile, apply, delete or prune"
        )),
    }
}

fn parse_registry(r: RawRegistry, t: RawTrust) -> Result<RegistryConfig, (&'static str, String)> {
    for h in &r.insecure {
        // The same host check as a reference's.
        OciRef::parse(&format!("oci://{h}/x:y"))
            .map_err(|_| ("insecure", format!("`{h}` is not HOST[:PORT]")))?;
    }
    let keys = t
        .keys
        .iter()
        .map(|k| super::registry::sign::parse_public_key(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| ("keys", m))?;
    if t.require && keys.is_empty() {
        return Err((
            "require",
            "`require: true` with no `keys:`: no module could ever be trusted".into(),
        ));
    }
    Ok(RegistryConfig {
        insecure: r.insecure,
        trust: TrustPolicy {
            keys,
            require: t.require,
        },
    })
}

/// A module: an `oci://` reference, or a path that stays inside the project (relative,
/// without `..`).
fn check_module_path(s: &str) -> Result<ModuleSource, String> {
    if s.starts_with("oci://") {
        OciRef::parse(s)?;
        return Ok(ModuleSource::Registry(s.to_string()));
    }
    let p = PathBuf::from(s);
    if s.contains("://") || s.starts_with("oci:") {
        return Err(format!(
            "`{s}`: expected a path inside the project or oci://HOST[:PORT]/REPOSITORY:TAG"
        ));
    }
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, PathComponent::ParentDir | PathComponent::Prefix(_)))
    {
        return Err(format!(
            "`{s}` must be a relative path inside the project (no leading `/`, no `..`)"
        ));
    }
    Ok(ModuleSource::File(p))
}

/// `30s`, `5m`, `1m30s`, `300` (seconds).
fn parse_duration(v: &yaml::Value) -> Result<Duration, String> {
    let d = match v {
        yaml::Value::Number(n) => {
            let secs = n
                .as_f64()
                .filter(|s| *s > 0.0)
                .ok_or_else(|| format!("`{n}` is not a positive number of seconds"))?;
            // `.inf` and `1e20` are numbers too: out of range, not a panic.
            Duration::try_from_secs_f64(secs)
                .map_err(|_| format!("`{n}` seconds is out of range (more than 0, at most 24h)"))?
        }
        yaml::Value::String(s) => humantime::parse_duration(s)
            .map_err(|e| format!("`{s}` is not a duration like 30s or 5m: {e}"))?,
        other => {
            return Err(format!(
                "expected a duration like 30s, got {}",
                yaml::type_name(other)
            ))
        }
    };
    if d.is_zero() || d > MAX_TIMEOUT {
        return Err(format!(
            "{} is out of range (more than 0, at most 24h)",
            humantime::format_duration(d)
        ));
    }
    Ok(d)
}

fn parse_limits(raw: RawLimits) -> Result<HookLimits, (&'static str, String)> {
    let mut l = HookLimits::default();
    let size = |v: &yaml::Value, field: &'static str| {
        parse_size(v).map_err(|m| (field, m)).and_then(|b| {
            if b == 0 {
                Err((field, "must be more than 0".to_string()))
            } else {
                Ok(b)
            }
        })
    };
    if let Some(v) = &raw.module_size {
        l.module_size = size(v, "module_size")?;
    }
    if let Some(n) = raw.functions {
        l.functions = n;
    }
    if let Some(v) = &raw.compile_time {
        l.compile_time = parse_duration(v).map_err(|m| ("compile_time", m))?;
    }
    if let Some(n) = raw.streams {
        l.streams = n;
    }
    if let Some(v) = &raw.stream_buffer {
        l.stream_buffer = size(v, "stream_buffer")?;
    }
    if let Some(v) = &raw.request_size {
        l.request_size = size(v, "request_size")?;
    }
    if let Some(v) = &raw.response_size {
        l.response_size = size(v, "response_size")?;
    }
    if let Some(n) = raw.denials {
        l.denials = n;
    }
    if let Some(v) = &raw.output {
        l.output = size(v, "output")?;
    }
    Ok(l)
}

/// `256Mi`, `1Gi`, `64MiB`, `500M` (decimal), `134217728` (bytes).
fn parse_memory(v: &yaml::Value) -> Result<u64, String> {
    let bytes = parse_size(v)?;
    if !(MIN_MEMORY..=MAX_MEMORY).contains(&bytes) {
        return Err(format!("{bytes} bytes is out of range (2Mi to 4Gi)"));
    }
    Ok(bytes)
}

/// A size: `256Mi`, `1Gi`, `64MiB`, `500M` (decimal), `134217728` (bytes).
fn parse_size(v: &yaml::Value) -> Result<u64, String> {
    let bytes = match v {
        yaml::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("`{n}` is not a whole number of bytes"))?,
        yaml::Value::String(s) => {
            let t = s.trim();
            let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let n: u64 = num
                .parse()
                .map_err(|_| format!("`{s}` is not a size like 256Mi"))?;
            let mult: u64 = match unit.trim() {
                "" | "B" => 1,
                "Ki" | "KiB" => 1 << 10,
                "Mi" | "MiB" => 1 << 20,
                "Gi" | "GiB" => 1 << 30,
                "K" | "KB" | "k" => 1_000,
                "M" | "MB" => 1_000_000,
                "G" | "GB" => 1_000_000_000,
                u => return Err(format!("unknown unit `{u}` in `{s}`; use Ki, Mi or Gi")),
            };
            n.checked_mul(mult)
                .ok_or_else(|| format!("`{s}` is too large"))?
        }
        other => {
            return Err(format!(
                "expected a size like 256Mi, got {}",
                yaml::type_name(other)
            ))
        }
    };
    Ok(bytes)
}

/// The line declaring `name: <hook>` (1-based), to point errors at.
/// The line of the first `key:` in the file (for top-level settings).
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
        })
        .map(|i| i + 1)
}

fn find_line(text: &str, hook: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim();
            l.strip_prefix("name:")
                .is_some_and(|v| v.trim().trim_matches(|c| c == '"' || c == '\'') == hook)
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HooksConfig, ConfigError> {
        HooksConfig::parse(Path::new(".kubes/config/hooks.yaml"), text)
    }

    const SEED: &str = r#"
hooks:
  - name: migrate-cleanup
    before: apply
    on: migrate/job
    module: hooks/migrate_cleanup.wasm
    exit_on_fail: false
    timeout: 30s
    config: { job: migrate }
    grants:
      - { verbs: [get, delete], resources: [jobs.batch], names: [migrate] }
  - name: migrate-wait
    after: apply
    on: [migrate/job]
    module: hooks/migrate_wait.wasm
    timeout: 300s
    memory: 64Mi
    config: { job: migrate, tail: 40 }
    grants:
      - { verbs: [get, watch], resources: [jobs.batch] }
      - { verbs: [list, logs], resources: [pods] }
  - name: announce
    before: compile
    module: hooks/probe.wasm
"#;

    #[test]
    fn parses_the_design_example() {
        let c = parse(SEED).unwrap();
        assert_eq!(c.hooks.len(), 3);
        let cleanup = &c.hooks[0];
        assert_eq!(
            cleanup.point,
            Point {
                when: When::Before,
                step: Step::Apply
            }
        );
        assert!(!cleanup.exit_on_fail);
        assert_eq!(cleanup.timeout, Duration::from_secs(30));
        assert_eq!(cleanup.memory, DEFAULT_MEMORY);
        assert_eq!(cleanup.config_json, r#"{"job":"migrate"}"#);
        assert_eq!(cleanup.grants[0].verbs, vec![Verb::Get, Verb::Delete]);
        assert_eq!(cleanup.grants[0].names, vec!["migrate"]);
        let wait = &c.hooks[1];
        assert!(wait.exit_on_fail);
        assert_eq!(wait.memory, 64 << 20);
        assert_eq!(wait.describe_point(), "after apply on migrate/job");
        assert!(c.hooks[2].is_step_hook());
        assert_eq!(c.hooks[2].config_json, "null");
        assert_eq!(c.hooks[2].timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn selects_hooks_by_point_and_target() {
        let c = parse(SEED).unwrap();
        let before_apply = Point {
            when: When::Before,
            step: Step::Apply,
        };
        let names = |p, t| c.hooks_at(p, t).map(|h| h.name.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(before_apply, Some("migrate/job")),
            vec!["migrate-cleanup"]
        );
        assert!(names(before_apply, Some("web/deployment")).is_empty());
        assert!(names(before_apply, None).is_empty());
        assert_eq!(
            names(
                Point {
                    when: When::Before,
                    step: Step::Compile
                },
                None
            ),
            vec!["announce"]
        );
    }

    #[test]
    fn globs_match_role_and_kind() {
        let c = parse("hooks:\n  - name: h\n    after: delete\n    on: [\"web/*\", \"*/job\"]\n    module: h.wasm\n").unwrap();
        assert!(c.hooks[0].matches_target("web/deployment"));
        assert!(c.hooks[0].matches_target("migrate/job"));
        assert!(!c.hooks[0].matches_target("shared/namespace"));
        // The same `*` patterns as `skip`: nothing else is special, and saying so beats
        // a pattern that silently never matches.
        let e = parse(
            "hooks:\n  - name: h\n    after: apply\n    on: \"web/[ab]*\"\n    module: h.wasm\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("only `*` is special"), "{e}");
    }

    fn error_of(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_file_line_hook_and_field() {
        let e = error_of("hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n  - name: bad\n    after: deploy\n    module: b.wasm\n");
        assert_eq!(e, ".kubes/config/hooks.yaml:5: hook bad: after: unknown step `deploy`; expected compile, apply, delete or prune");
        let e = error_of(
            "hooks:\n  - name: t\n    before: apply\n    module: t.wasm\n    timeout: soon\n",
        );
        assert!(
            e.starts_with(".kubes/config/hooks.yaml:2: hook t: timeout: `soon` is not a duration"),
            "{e}"
        );
        let e = error_of("hooks:\n  - name: g\n    before: apply\n    module: g.wasm\n    grants:\n      - { verbs: [destroy], resources: [pods] }\n");
        assert!(
            e.contains("hook g: grants[0].verbs: unknown verb `destroy`"),
            "{e}"
        );
        let e = error_of("hooks:\n  - name: g\n    before: apply\n    module: g.wasm\n    grants:\n      - { verbs: [get], resources: [Job] }\n");
        assert!(
            e.contains("grants[0].resources: `Job` is not a resource name"),
            "{e}"
        );
    }

    #[test]
    fn rejects_unknown_fields_with_the_line() {
        let e = error_of("hooks:\n  - name: a\n    after: apply\n    modul: a.wasm\n");
        assert!(e.starts_with(".kubes/config/hooks.yaml:4:"), "{e}");
        assert!(e.contains("unknown field `modul`"), "{e}");
    }

    #[test]
    fn rejects_bad_declarations() {
        assert!(error_of("hooks:\n  - after: apply\n    module: a.wasm\n")
            .contains("hooks[0].name: every hook needs a name"));
        assert!(
            error_of("hooks:\n  - name: a\n    module: a.wasm\n").contains("before/after: missing")
        );
        assert!(error_of(
            "hooks:\n  - name: a\n    before: apply\n    after: apply\n    module: a.wasm\n"
        )
        .contains("not both"));
        assert!(error_of("hooks:\n  - name: a\n    after: apply\n").contains("module: missing"));
        assert!(
            error_of("hooks:\n  - name: a\n    after: apply\n    module: ../../etc/x.wasm\n")
                .contains("inside the project")
        );
        assert!(
            error_of("hooks:\n  - name: a\n    after: apply\n    module: /abs.wasm\n")
                .contains("inside the project")
        );
        assert!(error_of(
            "hooks:\n  - name: a\n    after: compile\n    on: web/x\n    module: a.wasm\n"
        )
        .contains("not compile"));
        assert!(error_of(
            "hooks:\n  - name: a\n    after: apply\n    on: web\n    module: a.wasm\n"
        )
        .contains("not role/kind"));
        assert!(error_of("hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n  - name: a\n    after: apply\n    module: a.wasm\n").contains("declared twice"));
        assert!(error_of(
            "hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    memory: 1Ki\n"
        )
        .contains("out of range"));
        assert!(error_of(
            "hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    memory: 5Xi\n"
        )
        .contains("unknown unit"));
        assert!(error_of(
            "hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    timeout: 0s\n"
        )
        .contains("out of range"));
    }

    #[test]
    fn sizes_and_durations() {
        let y = |s: &str| yaml::from_str::<yaml::Value>(s).unwrap();
        assert_eq!(parse_memory(&y("256Mi")).unwrap(), 256 << 20);
        assert_eq!(parse_memory(&y("1Gi")).unwrap(), 1 << 30);
        assert_eq!(parse_memory(&y("500M")).unwrap(), 500_000_000);
        assert_eq!(parse_memory(&y("4194304")).unwrap(), 4 << 20);
        assert_eq!(
            parse_duration(&y("1m30s")).unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(parse_duration(&y("5")).unwrap(), Duration::from_secs(5));
        assert_eq!(
            parse_duration(&y("0.5")).unwrap(),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn huge_or_infinite_timeouts_are_errors_not_panics() {
        for t in [".inf", "1e20", "-1", ".nan"] {
            let e = error_of(&format!(
                "hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    timeout: {t}\n"
            ));
            assert!(e.contains("hook a: timeout:"), "{t}: {e}");
        }
    }

    #[test]
    fn cluster_grants_limits_and_grant_names() {
        let c = parse("hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    limits: { module_size: 100Mi, streams: 4 }\n    grants:\n      - { verbs: [get], resources: [namespaces], cluster: true }\n").unwrap();
        assert!(c.hooks[0].grants[0].cluster);
        assert_eq!(c.hooks[0].limits.module_size, 100 << 20);
        assert_eq!(c.hooks[0].limits.streams, 4);
        assert_eq!(c.hooks[0].limits.denials, HookLimits::default().denials);
        assert!(error_of("hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    limits: { watches: 4 }\n").contains("unknown field `watches`"));
        assert!(error_of("hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    grants:\n      - { verbs: [get], resources: [pods], names: [\"p/log\"] }\n").contains("grants[0].names: `p/log` is not an object name"));
        assert!(error_of("hooks:\n  - name: a\n    after: apply\n    module: a.wasm\n    grants:\n      - { verbs: [get], resources: [pods], namespaces: [\"../x\"] }\n").contains("grants[0].namespaces"));
    }

    #[test]
    fn no_file_or_empty_file_means_no_hooks() {
        let dir = tempfile::tempdir().unwrap();
        assert!(HooksConfig::load(dir.path()).unwrap().hooks.is_empty());
        assert!(parse("").unwrap().hooks.is_empty());
        assert!(parse("hooks: []\n").unwrap().hooks.is_empty());
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    fn parse(text: &str) -> Result<HooksConfig, ConfigError> {
        HooksConfig::parse(Path::new("hooks.yaml"), text)
    }

    #[test]
    fn registry_modules_and_trust() {
        let c = parse("hooks:\n  - name: a\n    after: apply\n    module: oci://127.0.0.1:5000/hooks/a:v1\n  - name: b\n    after: apply\n    module: oci://127.0.0.1:5000/hooks/a:v1\n    limits: { module_size: 1Mi }\ntrust:\n  keys: [ed25519:0b41bb0fe4aa6a19a147b682967564b2678b970cd65b793c8785c845cec4c84a]\n  require: true\n").unwrap();
        assert_eq!(
            c.hooks[0].module,
            ModuleSource::Registry("oci://127.0.0.1:5000/hooks/a:v1".into())
        );
        // One fetch per reference, within the smallest module_size of its hooks.
        assert_eq!(
            c.registry_modules(),
            vec![("oci://127.0.0.1:5000/hooks/a:v1".to_string(), 1 << 20)]
        );
        assert!(c.registry.trust.require);

        let e = parse("hooks:\n  - name: a\n    after: apply\n    module: oci://nohost/a:v1\n")
            .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("module"));
        assert!(e.message.contains("registry host"), "{e}");
        let e = parse("trust:\n  require: true\n").unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("no `keys:`"), "{e}");
        let e = parse("trust:\n  keys: [rsa:abc]\n").unwrap_err();
        assert!(e.message.contains("ed25519"), "{e}");
        let e = parse("registry:\n  insecure: [\"bad host\"]\n").unwrap_err();
        assert!(e.message.contains("HOST[:PORT]"), "{e}");
    }
}

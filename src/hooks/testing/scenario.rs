//! The scenario file format (`tests/NAME.scenario.yaml` in a hook project), parsed into a
//! [`Scenario`]: the simulated cluster at the start, the workloads applied just before the
//! hook runs, the hook's declaration (a hooks.yaml entry, over `tests/hook.yaml`) and the
//! expectations. Every error names the file, the line where it is known and what was
//! expected. docs/hook-testing.md is the reference.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::hooks::config::HooksConfig;
use crate::hooks::HookSpec;
use crate::yaml;

/// The file beside the scenarios holding the hook's declaration they share.
pub const HOOK_FILE: &str = "hook.yaml";
/// How scenario files end.
pub const SUFFIX: &str = ".scenario.yaml";

/// A problem in a scenario file: `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A duration written as humantime (`300ms`, `5m`, `1m30s`) or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!(
                "expected a duration such as `300ms`, `30s`, `5m` or a number of seconds, found {what}"
            ))
        };
        match Raw::deserialize(d).map_err(|_| bad("something else"))? {
            Raw::Secs(s) if s >= 0.0 && s.is_finite() && s < 1e9 => {
                Ok(Dur(Duration::from_secs_f64(s)))
            }
            Raw::Secs(s) => Err(bad(&s.to_string())),
            Raw::Text(t) => humantime::parse_duration(t.trim())
                .map(Dur)
                .map_err(|_| bad(&format!("`{t}`"))),
        }
    }
}

/// A regular expression, checked when the file is read.
#[derive(Debug, Clone)]
pub struct Pattern(pub regex::Regex);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        regex::RegexBuilder::new(&s)
            .size_limit(1 << 20)
            .build()
            .map(Pattern)
            .map_err(|e| serde::de::Error::custom(format!("expected a regular expression: {e}")))
    }
}

/// One scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file name without `.scenario.yaml`.
    pub name: String,
    pub file: PathBuf,
    pub description: Option<String>,
    /// The hook as a hooks.yaml entry declares it (its `module` is [`Scenario::module`]).
    pub hook: HookSpec,
    /// The component, relative to the hook project (the directory holding `tests/`); none
    /// when only `--component` names it.
    pub module: Option<PathBuf>,
    /// The app's namespace (created at the start); the hook's default namespace.
    pub namespace: String,
    /// The file (`role/kind`) a per-resource hook runs around, and its objects.
    pub target: Option<(String, Vec<Value>)>,
    pub cluster: ClusterSpec,
    /// Applied just before the hook runs, as `kubes deploy` applies a file before its
    /// `after` hooks: the workloads' objects, then `apply`.
    pub apply: Vec<Value>,
    pub expect: Expect,
}

/// The simulated cluster: its timing, faults, the client's retries and the objects that
/// exist when the scenario starts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSpec {
    #[serde(default)]
    pub objects: Vec<Value>,
    #[serde(default)]
    pub faults: FaultSpec,
    #[serde(default)]
    pub timing: TimingSpec,
    /// Retries of kubes' HTTP layer (default 6, as `kubes deploy`).
    pub client_retries: Option<u32>,
    /// Seed of generated names (pod suffixes, uids).
    pub seed: Option<u64>,
    /// Simulated time that passes after `objects` are applied, before the deploy goes on
    /// (so their controllers have started pods, say).
    pub settle: Option<Dur>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub latency: Option<Dur>,
    #[serde(default)]
    pub rate_429: f64,
    #[serde(default)]
    pub rate_500: f64,
    #[serde(default)]
    pub rate_503: f64,
    pub drop_watch_after: Option<usize>,
    pub drop_logs_after: Option<usize>,
    #[serde(default)]
    pub compact_on_watch_drop: bool,
    pub log_lag: Option<Dur>,
    #[serde(default)]
    pub seed: u64,
}

/// Changes to the simulated controllers' timing (defaults: Kubernetes-like, see the docs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSpec {
    pub schedule: Option<Dur>,
    pub pod_start: Option<Dur>,
    pub default_run: Option<Dur>,
    pub backoff_scale: Option<f64>,
    pub termination_grace: Option<Dur>,
    pub finalizer_removal: Option<Dur>,
    pub ready_after: Option<Dur>,
    pub never_ready_deadline: Option<Dur>,
    pub observed_generation_lag: Option<Dur>,
}

impl TimingSpec {
    /// Kubernetes-like defaults (virtual time makes them free), with this spec's changes.
    pub fn timing(&self) -> kube_testserver::controllers::Timing {
        let ms = Duration::from_millis;
        let d = |o: Option<Dur>, def: Duration| o.map_or(def, |d| d.0);
        kube_testserver::controllers::Timing {
            schedule: d(self.schedule, ms(500)),
            pod_start: d(self.pod_start, ms(2_000)),
            default_run: d(self.default_run, ms(1_000)),
            backoff_scale: self.backoff_scale.unwrap_or(1.0),
            termination_grace: d(self.termination_grace, ms(1_000)),
            finalizer_removal: d(self.finalizer_removal, ms(50)),
            ready_after: d(self.ready_after, ms(5_000)),
            never_ready_deadline: d(self.never_ready_deadline, Duration::from_secs(600)),
            observed_generation_lag: d(self.observed_generation_lag, ms(100)),
        }
    }
}

/// A scripted workload: a Job whose pods follow a script, or a Deployment that rolls out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    job: Option<String>,
    deployment: Option<String>,
    namespace: Option<String>,
    image: Option<String>,
    container: Option<String>,
    // Job
    backoff_limit: Option<u32>,
    active_deadline: Option<Dur>,
    #[serde(default)]
    attempts: Vec<RawAttempt>,
    #[serde(default)]
    image_pull_error: bool,
    pull_failures: Option<u32>,
    #[serde(default)]
    logs_unavailable: bool,
    // Deployment
    replicas: Option<u32>,
    ready_after: Option<Dur>,
    #[serde(default)]
    never_ready: bool,
    progress_deadline: Option<Dur>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttempt {
    #[serde(default)]
    logs: Vec<RawLine>,
    #[serde(default)]
    exit_code: i32,
    message: Option<String>,
    run: Option<Dur>,
    #[serde(default)]
    image_pull_error: bool,
    pull_failures: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawLine {
    Text(String),
    Timed {
        line: String,
        #[serde(default)]
        after: Dur,
    },
}

/// What must hold at the end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `ok` or `error` (default: `ok`, or `error` when `error` is given).
    pub outcome: Option<Outcome>,
    /// The hook's error must match this pattern.
    pub error: Option<Pattern>,
    /// Lines the hook printed, in this order (others may come between): exact text, or
    /// `{re: PATTERN}`. Lines are as the deploy log shows them without the `[hook] `
    /// prefix (`warn: ...` for a warning); debug lines are left out.
    #[serde(default)]
    pub output: Vec<LineMatch>,
    /// When true, nothing may be printed after the last `output` line.
    #[serde(default)]
    pub output_ends: bool,
    /// Substrings no line may hold.
    #[serde(default)]
    pub never: Vec<String>,
    /// Cluster calls the hook's grants allowed, each `VERB RESOURCE[ NAME]` (e.g.
    /// `watch jobs.batch migrate`), that must have been made.
    #[serde(default)]
    pub calls: Vec<String>,
    /// Calls that must have been denied, `VERB RESOURCE[ NAME]`; when absent no call may
    /// be denied.
    pub denied: Option<Vec<String>>,
    /// Objects at the end.
    #[serde(default)]
    pub objects: Vec<ObjectExpect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Ok,
    Error,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum LineMatch {
    Exact(String),
    Re { re: Pattern },
}

impl LineMatch {
    pub fn matches(&self, line: &str) -> bool {
        match self {
            LineMatch::Exact(s) => s == line,
            LineMatch::Re { re } => re.0.is_match(line),
        }
    }
}

impl fmt::Display for LineMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineMatch::Exact(s) => write!(f, "{s:?}"),
            LineMatch::Re { re } => write!(f, "/{}/", re.0.as_str()),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectExpect {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
    /// The object must not exist.
    #[serde(default)]
    pub absent: bool,
    /// Fields the object must have with these values (a subset: maps compared key by key,
    /// everything else equal).
    pub has: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    description: Option<String>,
    #[serde(default)]
    hook: yaml::Mapping,
    namespace: Option<String>,
    target: Option<RawTarget>,
    #[serde(default)]
    cluster: ClusterSpec,
    #[serde(default)]
    workloads: Vec<RawWorkload>,
    #[serde(default)]
    apply: Vec<Value>,
    #[serde(default)]
    expect: Expect,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    file: String,
    objects: Option<Vec<RawObjectRef>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjectRef {
    #[serde(rename = "apiVersion")]
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

/// The scenario files of a hook project (`DIR/tests/*.scenario.yaml`), or `path` itself
/// when it is one; sorted by name.
pub fn discover(path: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let err = |file: &Path, message: String| ScenarioError {
        file: file.to_path_buf(),
        line: None,
        message,
    };
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let dir = path.join("tests");
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        err(
            &dir,
            format!("cannot read the scenario directory: {e} (expected tests/*{SUFFIX} in the hook project)"),
        )
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(SUFFIX))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(err(&dir, format!("no scenario files (*{SUFFIX})")));
    }
    Ok(files)
}

/// Largest scenario or hook.yaml file read.
const MAX_FILE: u64 = 4 << 20;

fn read(file: &Path) -> Result<String, ScenarioError> {
    let err = |message: String| ScenarioError {
        file: file.to_path_buf(),
        line: None,
        message,
    };
    let meta = std::fs::metadata(file).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE {
        return Err(err(format!(
            "is {} bytes; scenario files are at most {MAX_FILE}",
            meta.len()
        )));
    }
    std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))
}

/// The line of the first `key:` at the start of a line (for errors about a whole section).
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.starts_with(&format!("{key}:")))
        .map(|i| i + 1)
}

/// Read and check one scenario file; `shared` is the hook declaration of `tests/hook.yaml`
/// (a hooks.yaml entry) the scenario's `hook:` keys are laid over.
pub fn load(file: &Path) -> Result<Scenario, ScenarioError> {
    let text = read(file)?;
    let shared_file = file.parent().map(|d| d.join(HOOK_FILE));
    let shared = match &shared_file {
        Some(f) if f.is_file() => {
            let t = read(f)?;
            let m: yaml::Mapping = yaml::from_str(&t).map_err(|e| ScenarioError {
                file: f.clone(),
                line: e.line,
                message: format!("{} (expected a hooks.yaml hook entry: name, after/before, module, config, grants...)", e.message),
            })?;
            Some((f.clone(), m))
        }
        _ => None,
    };
    parse(file, &text, shared)
}

/// Parse scenario `text` (from `file`, for messages).
pub fn parse(
    file: &Path,
    text: &str,
    shared: Option<(PathBuf, yaml::Mapping)>,
) -> Result<Scenario, ScenarioError> {
    let err = |line: Option<usize>, message: String| ScenarioError {
        file: file.to_path_buf(),
        line,
        message,
    };
    let raw: RawScenario = yaml::from_str(text).map_err(|e| {
        let hint = match e.unknown_field() {
            Some(_) => " (a scenario has: description, hook, namespace, target, cluster, workloads, apply, expect)",
            None => "",
        };
        err(e.line, format!("{}{hint}", e.message))
    })?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.trim_end_matches(SUFFIX).to_string())
        .unwrap_or_default();

    // The hook: tests/hook.yaml's keys, then this file's.
    let hook_line = line_of(text, "hook");
    let mut decl = shared.as_ref().map(|(_, m)| m.clone()).unwrap_or_default();
    for (k, v) in raw.hook {
        decl.insert(k, v);
    }
    // The module is the scenario's to find (relative to the hook project, `..` allowed: it
    // is the tester's own file, e.g. a shared cargo target dir); hooks.yaml's own rule
    // (inside the deployed project) does not apply here.
    let module = match decl.remove("module") {
        None => None,
        Some(yaml::Value::String(m)) => Some(PathBuf::from(m)),
        Some(other) => {
            return Err(err(
                hook_line,
                format!(
                    "hook.module: expected the path of the hook's .wasm component, found {}",
                    yaml::type_name(&other)
                ),
            ))
        }
    };
    decl.insert("module".into(), yaml::Value::String("hook.wasm".into()));
    if !decl.contains_key("name") {
        decl.insert("name".into(), yaml::Value::String(name.clone()));
    }
    let doc = yaml::to_string(&json!({ "hooks": [yaml_to_json(&yaml::Value::Mapping(decl))] }))
        .map_err(|e| err(hook_line, e.message))?;
    let declared_in = match &shared {
        Some((f, _)) => format!(" (with {})", f.display()),
        None => String::new(),
    };
    let hooks = HooksConfig::parse(file, &doc).map_err(|e| {
        let field = e.field.map(|f| format!("hook.{f}: ")).unwrap_or_default();
        err(hook_line, format!("{field}{}{declared_in}", e.message))
    })?;
    let hook = hooks
        .hooks
        .into_iter()
        .next()
        .ok_or_else(|| err(hook_line, "expected a hook declaration".into()))?;

    let namespace = raw.namespace.unwrap_or_else(|| "demo".into());
    if let Err(m) = crate::names::dns_label(&namespace) {
        return Err(err(
            line_of(text, "namespace"),
            format!("namespace `{namespace}`: {m}"),
        ));
    }

    let mut apply = Vec::new();
    let wl_line = line_of(text, "workloads");
    for (i, w) in raw.workloads.iter().enumerate() {
        apply.push(
            workload(w, &namespace).map_err(|m| err(wl_line, format!("workloads[{i}]: {m}")))?,
        );
    }
    for (i, o) in raw.apply.iter().enumerate() {
        check_object(o).map_err(|m| err(line_of(text, "apply"), format!("apply[{i}]: {m}")))?;
        apply.push(o.clone());
    }
    for (i, o) in raw.cluster.objects.iter().enumerate() {
        check_object(o).map_err(|m| {
            err(
                line_of(text, "cluster"),
                format!("cluster.objects[{i}]: {m}"),
            )
        })?;
    }

    // The target: as written, else the hook's `on:` when it names one file.
    let target_file =
        raw.target.as_ref().map(|t| t.file.clone()).or_else(|| {
            (hook.on.len() == 1 && !hook.on[0].contains('*')).then(|| hook.on[0].clone())
        });
    let target = match target_file {
        None => None,
        Some(f) => {
            if f.matches('/').count() != 1 {
                return Err(err(
                    line_of(text, "target"),
                    format!("target `{f}`: expected role/kind, e.g. migrate/job"),
                ));
            }
            let objects = match raw.target.and_then(|t| t.objects) {
                Some(refs) => refs
                    .into_iter()
                    .map(|r| {
                        json!({"apiVersion": r.api_version, "kind": r.kind,
                        "metadata": {"name": r.name, "namespace": r.namespace.unwrap_or_else(|| namespace.clone())}})
                    })
                    .collect(),
                None => apply.clone(),
            };
            Some((f, objects))
        }
    };

    let expect = raw.expect;
    if expect.outcome == Some(Outcome::Ok) && expect.error.is_some() {
        return Err(err(
            line_of(text, "expect"),
            "expect: `outcome: ok` with an `error` pattern; give one".into(),
        ));
    }
    Ok(Scenario {
        name,
        file: file.to_path_buf(),
        description: raw.description,
        hook,
        module,
        namespace,
        target,
        cluster: raw.cluster,
        apply,
        expect,
    })
}

fn yaml_to_json(v: &yaml::Value) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn check_object(o: &Value) -> Result<(), String> {
    let ok =
        o["apiVersion"].is_string() && o["kind"].is_string() && o["metadata"]["name"].is_string();
    if ok {
        Ok(())
    } else {
        Err("expected a Kubernetes object with apiVersion, kind and metadata.name".into())
    }
}

/// A workload as the object the simulated controllers run (pod script annotations).
fn workload(w: &RawWorkload, app_namespace: &str) -> Result<Value, String> {
    let ns = w.namespace.as_deref().unwrap_or(app_namespace);
    let image = w.image.as_deref().unwrap_or("app:1");
    let container = w.container.as_deref().unwrap_or("main");
    match (&w.job, &w.deployment) {
        (Some(name), None) => {
            if w.replicas.is_some()
                || w.ready_after.is_some()
                || w.never_ready
                || w.progress_deadline.is_some()
            {
                return Err(
                    "replicas, ready_after, never_ready and progress_deadline are for a deployment"
                        .into(),
                );
            }
            let attempts: Vec<Value> = w
                .attempts
                .iter()
                .map(|a| {
                    let logs: Vec<Value> = a
                        .logs
                        .iter()
                        .map(|l| match l {
                            RawLine::Text(t) => json!({"line": t, "after_ms": 0}),
                            RawLine::Timed { line, after } => {
                                json!({"line": line, "after_ms": after.0.as_millis() as u64})
                            }
                        })
                        .collect();
                    let mut v = json!({"logs": logs, "exit_code": a.exit_code,
                        "run_ms": a.run.map_or(0, |d| d.0.as_millis() as u64),
                        "image_pull_error": a.image_pull_error});
                    if let Some(m) = &a.message {
                        v["message"] = json!(m);
                    }
                    if let Some(n) = a.pull_failures {
                        v["pull_failures"] = json!(n);
                    }
                    v
                })
                .collect();
            let mut script = json!({"attempts": attempts, "image_pull_error": w.image_pull_error,
                "logs_unavailable": w.logs_unavailable});
            if let Some(n) = w.pull_failures {
                script["pull_failures"] = json!(n);
            }
            let mut job = json!({"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"backoffLimit": w.backoff_limit.unwrap_or(6), "template": {
                    "metadata": {"annotations": {kube_testserver::script::SCRIPT_ANNOTATION: script.to_string()}},
                    "spec": {"restartPolicy": "Never",
                             "containers": [{"name": container, "image": image}]}}}});
            if let Some(d) = w.active_deadline {
                job["metadata"]["annotations"] = json!({
                    kube_testserver::script::ACTIVE_DEADLINE_ANNOTATION: d.0.as_millis().to_string()
                });
            }
            Ok(job)
        }
        (None, Some(name)) => {
            if w.backoff_limit.is_some()
                || w.active_deadline.is_some()
                || !w.attempts.is_empty()
                || w.image_pull_error
                || w.pull_failures.is_some()
                || w.logs_unavailable
            {
                return Err("backoff_limit, active_deadline, attempts, image_pull_error, pull_failures and logs_unavailable are for a job".into());
            }
            use kube_testserver::script as s;
            let mut ann = serde_json::Map::new();
            if let Some(d) = w.ready_after {
                ann.insert(
                    s::READY_AFTER_ANNOTATION.into(),
                    json!(d.0.as_millis().to_string()),
                );
            }
            if w.never_ready {
                ann.insert(s::NEVER_READY_ANNOTATION.into(), json!("true"));
            }
            if let Some(d) = w.progress_deadline {
                ann.insert(
                    s::PROGRESS_DEADLINE_ANNOTATION.into(),
                    json!(d.0.as_millis().to_string()),
                );
            }
            Ok(json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": w.replicas.unwrap_or(1),
                    "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}, "annotations": ann},
                        "spec": {"containers": [{"name": container, "image": image}]}}}}))
        }
        _ => Err("expected exactly one of `job: NAME` or `deployment: NAME`".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Scenario, ScenarioError> {
        parse(Path::new("tests/x.scenario.yaml"), text, None)
    }

    const HOOK: &str = "hook: {after: apply, on: migrate/job, module: m.wasm}\n";

    #[test]
    fn a_job_workload_becomes_a_scripted_job_and_the_target() {
        let s = p(&format!(
            "{HOOK}workloads:\n- job: migrate\n  backoff_limit: 1\n  attempts:\n  - logs: [hello, {{line: bye, after: 2s}}]\n    exit_code: 1\n    run: 5m\nexpect: {{error: 'failed'}}\n"
        ))
        .unwrap();
        assert_eq!(s.name, "x");
        assert_eq!(s.hook.name, "x");
        let (file, objects) = s.target.unwrap();
        assert_eq!(file, "migrate/job");
        assert_eq!(objects[0]["metadata"]["namespace"], "demo");
        let script: Value = serde_json::from_str(
            s.apply[0]["spec"]["template"]["metadata"]["annotations"]["kubes.test/script"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(script["attempts"][0]["logs"][1]["after_ms"], 2000);
        assert_eq!(script["attempts"][0]["run_ms"], 300_000);
    }

    #[test]
    fn errors_name_the_file_the_line_and_what_was_expected() {
        let e = p(&format!(
            "{HOOK}workloads:\n- job: migrate\n  attempts:\n  - run: soon\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(5), "{e}");
        assert!(e.to_string().starts_with("tests/x.scenario.yaml:5"), "{e}");
        assert!(e.message.contains("expected a duration"), "{e}");

        let e = p(&format!("{HOOK}expect:\n  output: [ok]\n  eror: x\n")).unwrap_err();
        assert_eq!(e.line, Some(4), "{e}");
        assert!(e.message.contains("unknown field `eror`"), "{e}");

        let e = p("hook: {after: sometime, module: m.wasm}\n").unwrap_err();
        assert_eq!(e.line, Some(1), "{e}");
        assert!(e.message.contains("hook.after"), "{e}");

        let e = p(&format!("{HOOK}expect: {{error: '('}}\n")).unwrap_err();
        assert!(e.message.contains("expected a regular expression"), "{e}");

        let e = p(&format!("{HOOK}workloads:\n- job: a\n  replicas: 2\n")).unwrap_err();
        assert_eq!(e.line, Some(2), "{e}");
        assert!(e.message.contains("for a deployment"), "{e}");
    }

    #[test]
    fn the_shared_declaration_is_overridden_key_by_key() {
        let shared: yaml::Mapping =
            yaml::from_str("name: w\nafter: apply\nmodule: m.wasm\ntimeout: 10s\nconfig: {a: 1}\n")
                .unwrap();
        let s = parse(
            Path::new("t/y.scenario.yaml"),
            "hook: {config: {b: 2}}\n",
            Some((PathBuf::from("t/hook.yaml"), shared)),
        )
        .unwrap();
        assert_eq!(s.hook.name, "w");
        assert_eq!(s.hook.timeout, Duration::from_secs(10));
        assert_eq!(s.hook.config_json, r#"{"b":2}"#);
    }
}

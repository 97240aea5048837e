//! `kubes hooks test`: a hook's scenarios run in-process against the simulated cluster, on
//! virtual time, without a cluster or a deploy.
//!
//! - [`scenario`]: the scenario file format (`tests/*.scenario.yaml`) and its parsing.
//! - [`run`]: one scenario on a fresh simulated cluster with paused time.
//! - [`junit`]: the results as JUnit XML for CI.
//! - [`record`]: `kubes deploy --record`'s recording of every cluster call a hook made, and
//!   replaying a hook against one.

pub mod junit;
pub mod record;

pub mod run;
pub mod scenario;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use run::ScenarioResult;
pub use scenario::{Scenario, ScenarioError};

use super::{HookEngine, HookError, LoadedHook};

/// What to test.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// The hook project (holding `tests/`), or one scenario file.
    pub path: PathBuf,
    /// Only the scenarios whose name contains this.
    pub filter: Option<String>,
    /// Run this component instead of the `module` the scenarios declare (the same
    /// scenarios against the hook in another language, or a build elsewhere).
    pub component: Option<PathBuf>,
}

/// Why the scenarios could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("{file}: {error}")]
    Hook { file: PathBuf, error: HookError },
    #[error("{0}: no component: give `module:` under `hook:` (or in tests/hook.yaml), or --component FILE")]
    NoModule(PathBuf),
    #[error("no scenario matches `{0}`")]
    NoMatch(String),
}

/// The hook project a scenario file belongs to: the directory holding its `tests/`.
fn project_of(file: &Path) -> PathBuf {
    let tests = file.parent().unwrap_or(Path::new("."));
    match tests.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Read every scenario first (so a broken file stops the run before anything runs), then
/// load each hook once and run the scenarios in order. `each` sees every result as it comes.
pub fn run_all(
    engine: &HookEngine,
    opts: &TestOptions,
    mut each: impl FnMut(&ScenarioResult),
) -> Result<Vec<ScenarioResult>, TestError> {
    let files = scenario::discover(&opts.path)?;
    let mut scenarios = Vec::new();
    for f in files {
        let s = scenario::load(&f)?;
        if opts
            .filter
            .as_ref()
            .is_none_or(|w| s.name.contains(w.as_str()))
        {
            scenarios.push(s);
        }
    }
    if scenarios.is_empty() {
        return Err(TestError::NoMatch(opts.filter.clone().unwrap_or_default()));
    }
    let mut loaded: HashMap<PathBuf, LoadedHook> = HashMap::new();
    let mut results = Vec::new();
    for s in &scenarios {
        let hook = load_hook(engine, opts, s, &mut loaded)?;
        let r = run::run(engine, &hook, s);
        each(&r);
        results.push(r);
    }
    Ok(results)
}

fn load_hook(
    engine: &HookEngine,
    opts: &TestOptions,
    s: &Scenario,
    loaded: &mut HashMap<PathBuf, LoadedHook>,
) -> Result<LoadedHook, TestError> {
    let path = match (&opts.component, &s.module) {
        (Some(c), _) => c.clone(),
        (None, Some(m)) => project_of(&s.file).join(m),
        (None, None) => return Err(TestError::NoModule(s.file.clone())),
    };
    if let Some(h) = loaded.get(&path) {
        return Ok(h.clone());
    }
    let hook = engine
        .load_with(&path, &s.hook.limits)
        .map_err(|error| TestError::Hook {
            file: s.file.clone(),
            error,
        })?;
    loaded.insert(path, hook.clone());
    Ok(hook)
}

/// Replay the hook runs of a recording (`kubes deploy --record`), or those of the hook
/// named `only`. Each run's component is `component` if given, else the module the
/// recording names, relative to `project` (checked against the recorded digest).
pub fn replay_all(
    engine: &HookEngine,
    recording: &Path,
    only: Option<&str>,
    component: Option<&Path>,
    project: &Path,
    mut each: impl FnMut(&ScenarioResult),
) -> anyhow::Result<Vec<ScenarioResult>> {
    let rec = record::load(recording)?;
    let runs: Vec<_> = rec
        .hooks
        .iter()
        .filter(|h| only.is_none_or(|n| h.hook == n))
        .collect();
    if runs.is_empty() {
        anyhow::bail!(
            "{}: no hook run{} recorded",
            recording.display(),
            only.map(|n| format!(" of {n}")).unwrap_or_default()
        );
    }
    let mut results = Vec::new();
    for (i, h) in runs.iter().enumerate() {
        let path = match component {
            Some(c) => c.to_path_buf(),
            None if h.module.to_string_lossy().starts_with("oci://") => anyhow::bail!(
                "{}: hook {} came from the registry ({}): pull it and pass the component with --component FILE",
                recording.display(),
                h.hook,
                h.module.display()
            ),
            None => project.join(&h.module),
        };
        let hook = engine
            .load(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let target = h
            .target
            .as_ref()
            .map(|t| format!(" on {}/{}", t.role, t.kind))
            .unwrap_or_default();
        let name = format!("{}. {} ({}{target})", i + 1, h.hook, h.point());
        let mut r = run::replay(engine, &hook, h, &name);
        if component.is_none() && hook.digest != h.digest {
            r.failures.push(format!(
                "{} is not the component recorded (digest {}, recorded {})",
                path.display(),
                hook.digest,
                h.digest
            ));
        }
        each(&r);
        results.push(r);
    }
    Ok(results)
}

/// `kubes hooks test`, for any front end: a hook project's scenarios, or with `replay` the
/// hook runs of a recording.
#[derive(Debug, Clone, Default)]
pub struct TestCommand {
    pub scenarios: TestOptions,
    /// Replay this recording (`kubes deploy --record FILE`) instead of running scenarios.
    pub replay: Option<PathBuf>,
    /// With `replay`: only the runs of this hook.
    pub hook: Option<String>,
    /// With `replay`: the project the recorded modules are relative to.
    pub project: PathBuf,
}

/// The results of a [`TestCommand`], in the order they ran.
#[derive(Debug)]
pub struct TestReport {
    pub results: Vec<ScenarioResult>,
    pub elapsed: std::time::Duration,
    /// The JUnit suite name: the hook project's folder name, or `replay`.
    pub suite: String,
}

impl TestReport {
    pub fn passed(&self) -> bool {
        self.results.iter().all(|r| r.passed())
    }

    pub fn write_junit(&self, file: &Path) -> anyhow::Result<()> {
        use anyhow::Context as _;
        std::fs::write(file, junit::render(&self.suite, &self.results))
            .with_context(|| format!("writing {}", file.display()))
    }
}

/// Run `cmd` with a fresh engine; `each` sees every result as it ends.
pub fn run_command(
    cmd: &TestCommand,
    each: impl FnMut(&ScenarioResult),
) -> anyhow::Result<TestReport> {
    let start = std::time::Instant::now();
    let engine = HookEngine::new()?;
    let opts = &cmd.scenarios;
    let (results, suite) = match &cmd.replay {
        Some(recording) => {
            let results = replay_all(
                &engine,
                recording,
                cmd.hook.as_deref(),
                opts.component.as_deref(),
                &cmd.project,
                each,
            )?;
            (results, "replay".to_string())
        }
        None => {
            let results = run_all(&engine, opts, each)?;
            let suite = std::fs::canonicalize(&opts.path)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "hook".into());
            (results, suite)
        }
    };
    Ok(TestReport {
        results,
        elapsed: start.elapsed(),
        suite,
    })
}

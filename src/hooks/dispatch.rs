//! Dispatching lifecycle points to hooks: [`HookLifecycle`] implements
//! [`crate::lifecycle::Lifecycle`], running the hooks declared for each point in declaration
//! order, announcing what runs, and turning a failed hook into a [`LifecycleFailure`] unless
//! it has `exit_on_fail: false`. [`HookLifecycle::run_alone`] runs one declared hook on its
//! own (`kubes hooks run`), announced the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use std::collections::BTreeMap;

use super::config::{HookSpec, HooksConfig, ModuleSource};
use super::engine::{HookEngine, HookInvocation, RunReport};
use super::error::RunFailure;
use super::grants::Verb;
use super::host::{ClusterAccess, ObjectRef, Target};
use super::output::HookReporter;
use super::registry::{self, Origin, Pulled, Resolve};
use super::testing::record::{self, HookRecording, RecordedTarget, Recorder, Tape};
use super::LoadedHook;
use crate::lifecycle::{Lifecycle, LifecycleFailure, LifecycleFuture, Point};
use crate::plan::PlannedFile;

/// What every hook in one deploy is told about it.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub app: String,
    pub env: String,
    /// The app's namespace: the default for the hooks' cluster calls and grants.
    pub namespace: String,
    pub dry_run: bool,
}

pub struct HookLifecycle {
    engine: Arc<HookEngine>,
    config: HooksConfig,
    project_root: PathBuf,
    /// The project root as a capability: hook modules are read through it, so neither `..`
    /// nor a symlink can make kubes load a file from outside the project.
    project_dir: Arc<cap_std::fs::Dir>,
    info: RunInfo,
    cluster: Option<ClusterAccess>,
    reporter: Arc<dyn HookReporter>,
    /// Each declared hook's module as loaded up front, by hook name: every run of the deploy
    /// instantiates the same pre-linked component (the module file is not read again, and a
    /// module changed on disk mid-deploy does not change what runs). Registry modules too,
    /// from the store.
    loaded: HashMap<String, LoadedHook>,
    /// Runs started of hooks that may write to the cluster (see [`Lifecycle::writes`]).
    writes: AtomicU64,
    /// Where each registry module came from, by reference.
    origins: BTreeMap<String, Origin>,
    /// `kubes deploy --record`: where each hook run's cluster exchanges are written.
    recorder: Option<Arc<Recorder>>,
}

impl HookLifecycle {
    fn new(
        engine: Arc<HookEngine>,
        config: HooksConfig,
        project_root: &Path,
        info: RunInfo,
        cluster: Option<ClusterAccess>,
        reporter: Arc<dyn HookReporter>,
    ) -> anyhow::Result<Self> {
        let project_dir = crate::project::open_root(project_root)?;
        Ok(HookLifecycle {
            engine,
            config,
            project_root: project_root.to_path_buf(),
            project_dir: Arc::new(project_dir),
            info,
            cluster,
            reporter,
            loaded: HashMap::new(),
            writes: AtomicU64::new(0),
            origins: BTreeMap::new(),
            recorder: None,
        })
    }

    /// Record every cluster exchange of each hook run into `recorder`.
    pub fn with_recorder(mut self, recorder: Arc<Recorder>) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// The lifecycle for a project's deploy, or `None` when it declares no hooks. Every
    /// hook's module is loaded (compiled or taken from the cache) up front, so a missing or
    /// broken module stops the deploy before anything is applied. Registry modules are
    /// fetched first (from the store when it has them), resolved by `resolve`: with
    /// [`Resolve::Locked`] an unpinned reference, a moved tag or a digest mismatch stops it.
    pub fn for_project(
        project_root: &Path,
        info: RunInfo,
        cluster: Option<ClusterAccess>,
        reporter: Arc<dyn HookReporter>,
        resolve: Resolve,
    ) -> anyhow::Result<Option<HookLifecycle>> {
        let config = HooksConfig::load(project_root)?;
        if config.hooks.is_empty() {
            return Ok(None);
        }
        let engine = Arc::new(HookEngine::new()?);
        if let Some(why) = engine.cache().refused() {
            reporter.note(&format!(
                "warning: the compiled-hook cache is not used: {why}"
            ));
        }
        let (pulled, notes) = registry::fetch_all(project_root, &config, resolve)?;
        for n in notes {
            reporter.note(&format!("warning: {n}"));
        }
        let mut lifecycle =
            HookLifecycle::new(engine, config, project_root, info, cluster, reporter)?;
        let mut loaded = HashMap::new();
        for spec in &lifecycle.config.hooks {
            // The HookError stays in the chain: the CLI exits "hook failure" on it.
            let hook = lifecycle.load(spec, &pulled).map_err(|e| {
                anyhow::Error::new(e).context(format!(
                    "hook {} ({})",
                    spec.name,
                    spec.describe_point()
                ))
            })?;
            loaded.insert(spec.name.clone(), hook);
        }
        lifecycle.loaded = loaded;
        lifecycle.origins = pulled.into_iter().map(|(r, p)| (r, p.origin)).collect();
        Ok(Some(lifecycle))
    }

    /// Load (compile or take from the cache) one declared hook's module within the hook's
    /// limits: a file read through the project capability, or a registry module from what
    /// `registry::fetch_all` pulled.
    fn load(
        &self,
        spec: &HookSpec,
        pulled: &BTreeMap<String, Pulled>,
    ) -> Result<LoadedHook, crate::hooks::HookError> {
        match &spec.module {
            ModuleSource::File(path) => {
                self.engine.load_from(&self.project_dir, path, &spec.limits)
            }
            ModuleSource::Registry(r) => match pulled.get(r) {
                Some(p) => self
                    .engine
                    .load_bytes(Path::new(r), p.component.clone(), &spec.limits),
                None => Err(crate::hooks::HookError::Compile {
                    path: r.into(),
                    message: "the registry module was not fetched".into(),
                }),
            },
        }
    }

    /// Where each registry module came from (reference, digests, signer), by reference.
    pub fn origins(&self) -> &BTreeMap<String, Origin> {
        &self.origins
    }

    /// Run one hook as declared, at `point`, around `target` if given. Prints nothing but the
    /// hook's own output: callers announce and report.
    pub async fn run_hook(
        &self,
        spec: &HookSpec,
        point: Point,
        target: Option<&PlannedFile>,
    ) -> Result<RunReport, RunFailure> {
        if spec.grants.iter().any(|g| {
            g.verbs
                .iter()
                .any(|v| matches!(v, Verb::Apply | Verb::Delete))
        }) {
            self.writes.fetch_add(1, Ordering::SeqCst);
        }
        let loaded = match self.loaded.get(&spec.name) {
            Some(hook) => hook.clone(),
            None => self.load(spec, &BTreeMap::new())?,
        };
        let inv = HookInvocation {
            name: spec.name.clone(),
            point,
            target: target.map(|f| to_target(f, &self.info.namespace)),
            app: self.info.app.clone(),
            env: self.info.env.clone(),
            namespace: self.info.namespace.clone(),
            dry_run: self.info.dry_run,
            config_json: spec.config_json.clone(),
            timeout: spec.timeout,
            memory: spec.memory,
            // Before compile, the output is not the run's yet: no hook reads it then.
            read_output: (spec.read_output
                && point
                    != (Point {
                        when: crate::lifecycle::When::Before,
                        step: crate::lifecycle::Step::Compile,
                    }))
            .then(|| self.project_root.join(".kubes").join("output")),
            grants: spec.grants.clone(),
            limits: spec.limits.clone(),
            cluster: self.cluster.clone(),
            reporter: self.reporter.clone(),
        };
        let (Some(recorder), Some(access)) = (&self.recorder, &self.cluster) else {
            return self.engine.run(&loaded, inv).await;
        };
        let tape = Tape::default();
        let mut inv = inv;
        inv.cluster = Some(ClusterAccess {
            cluster: record::recording(&access.cluster, tape.clone()),
            dry_run: access.dry_run,
        });
        let meta = HookRecording {
            hook: inv.name.clone(),
            // A file path, or the oci:// reference as written.
            module: PathBuf::from(spec.module.to_string()),
            digest: loaded.digest.clone(),
            when: point.when,
            step: point.step,
            target: inv.target.as_ref().map(|t| RecordedTarget {
                role: t.role.clone(),
                kind: t.kind.clone(),
                objects: t
                    .objects
                    .iter()
                    .map(|o| {
                        [
                            o.api_version.clone(),
                            o.kind.clone(),
                            o.name.clone(),
                            o.namespace.clone().unwrap_or_default(),
                        ]
                    })
                    .collect(),
            }),
            app: inv.app.clone(),
            env: inv.env.clone(),
            namespace: inv.namespace.clone(),
            dry_run: inv.dry_run,
            config_json: inv.config_json.clone(),
            timeout_ms: inv.timeout.as_millis() as u64,
            memory: inv.memory,
            grants: inv.grants.clone(),
            outcome: String::new(),
            exchanges: Vec::new(),
            truncated: false,
        };
        let result = self.engine.run(&loaded, inv).await;
        let (exchanges, truncated) = tape.take();
        let outcome = match &result {
            Ok(_) => "ok".to_string(),
            Err(f) => f.error.to_string(),
        };
        if let Err(e) = recorder.push(HookRecording {
            outcome,
            exchanges,
            truncated,
            ..meta
        }) {
            self.reporter.note(&format!("warning: {e:#}"));
        }
        result
    }

    /// Run one declared hook on its own, at its declared point, around `target` if given,
    /// announced as a deploy announces it.
    pub async fn run_alone(
        &self,
        spec: &HookSpec,
        target: Option<&PlannedFile>,
    ) -> Result<RunReport, RunFailure> {
        self.announce_point(spec.point, target);
        self.announce_hook(spec);
        self.run_hook(spec, spec.point, target).await
    }

    /// `Running hook: after apply on: migrate/job`
    fn announce_point(&self, point: Point, target: Option<&PlannedFile>) {
        match target {
            Some(t) => self
                .reporter
                .note(&format!("Running hook: {point} on: {}", t.target())),
            None => self.reporter.note(&format!("Running hook: {point}")),
        }
    }

    /// `=> hook migrate-wait (hooks/migrate-wait.wasm)`
    fn announce_hook(&self, spec: &HookSpec) {
        self.reporter
            .note(&format!("=> hook {} ({})", spec.name, spec.module));
    }

    async fn run_point(
        &self,
        point: Point,
        target: Option<&PlannedFile>,
    ) -> Result<(), LifecycleFailure> {
        let target_name = target.map(|t| t.target());
        let hooks: Vec<&HookSpec> = self
            .config
            .hooks_at(point, target_name.as_deref())
            .collect();
        if hooks.is_empty() {
            return Ok(());
        }
        self.announce_point(point, target);
        let at = match &target_name {
            Some(t) => format!("{point} on {t}"),
            None => point.to_string(),
        };
        for spec in hooks {
            self.announce_hook(spec);
            self.reporter.hook_started(&spec.name, &at);
            let started = std::time::Instant::now();
            let result = self.run_hook(spec, point, target).await;
            let failure = result.as_ref().err().map(|f| match f.to_string() {
                r if r.is_empty() => "failed".to_string(),
                r => r,
            });
            self.reporter
                .hook_ended(&spec.name, &at, started.elapsed(), failure.as_deref());
            let Some(mut reason) = failure else {
                continue;
            };
            if spec.exit_on_fail {
                // Not noted here: the run's failure report says it once, with what was and
                // was not applied.
                if reason.is_empty() {
                    reason = "failed".into();
                }
                return Err(LifecycleFailure {
                    hook: spec.name.clone(),
                    point,
                    target: target_name.clone(),
                    reason,
                });
            }
            self.reporter.note(&format!(
                "hook {} failed at {at} (exit_on_fail: false, continuing): {reason}",
                spec.name
            ));
        }
        Ok(())
    }
}

impl Lifecycle for HookLifecycle {
    fn at<'a>(&'a self, point: Point, target: Option<&'a PlannedFile>) -> LifecycleFuture<'a> {
        Box::pin(self.run_point(point, target))
    }

    fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }
}

/// The WIT view of a planned file.
pub fn to_target(f: &PlannedFile, app_namespace: &str) -> Target {
    Target {
        role: f.role.clone(),
        kind: f.kind.clone(),
        objects: f
            .objects
            .iter()
            .map(|o| ObjectRef {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                name: o.name.clone(),
                namespace: o
                    .namespace
                    .clone()
                    .or_else(|| Some(app_namespace.to_string())),
            })
            .collect(),
    }
}

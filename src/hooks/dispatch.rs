//! Dispatching lifecycle points to hooks: [`HookLifecycle`] implements
//! [`crate::lifecycle::Lifecycle`], running the hooks declared for each point in declaration
//! order, announcing what runs, and turning a failed hook into a [`LifecycleFailure`] unless
//! it has `exit_on_fail: false`. [`HookLifecycle::run_alone`] runs one declared hook on its
//! own (`kubes hooks run`), announced the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{HookSpec, HooksConfig};
use super::engine::{HookEngine, HookInvocation, RunReport};
use super::error::RunFailure;
use super::host::{ClusterAccess, ObjectRef, Target};
use super::output::HookReporter;
use super::testing::record::{self, HookRecording, RecordedTarget, Recorder, Tape};
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
    /// broken module stops the deploy before anything is applied.
    pub fn for_project(
        project_root: &Path,
        info: RunInfo,
        cluster: Option<ClusterAccess>,
        reporter: Arc<dyn HookReporter>,
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
        let lifecycle = HookLifecycle::new(engine, config, project_root, info, cluster, reporter)?;
        for spec in &lifecycle.config.hooks {
            lifecycle.load(spec).map_err(|e| {
                anyhow::anyhow!("hook {} ({}): {e}", spec.name, spec.describe_point())
            })?;
        }
        Ok(Some(lifecycle))
    }

    /// Load (compile or take from the cache) one declared hook's module, read through the
    /// project capability within the hook's limits.
    fn load(&self, spec: &HookSpec) -> Result<crate::hooks::LoadedHook, crate::hooks::HookError> {
        self.engine
            .load_from(&self.project_dir, &spec.module, &spec.limits)
    }

    /// Run one hook as declared, at `point`, around `target` if given. Prints nothing but the
    /// hook's own output: callers announce and report.
    pub async fn run_hook(
        &self,
        spec: &HookSpec,
        point: Point,
        target: Option<&PlannedFile>,
    ) -> Result<RunReport, RunFailure> {
        let loaded = self.load(spec)?;
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
            module: spec.module.clone(),
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
        self.reporter.note(&format!(
            "=> hook {} ({})",
            spec.name,
            spec.module.display()
        ));
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
        for spec in hooks {
            self.announce_hook(spec);
            let Err(failure) = self.run_hook(spec, point, target).await else {
                continue;
            };
            let mut reason = failure.to_string();
            let at = match &target_name {
                Some(t) => format!("{point} on {t}"),
                None => point.to_string(),
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

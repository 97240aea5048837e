//! Deploying a project: the one sequence every front end drives (the CLI today; a
//! `kubes hooks test` or a multi-cluster run later), so none of them assembles the steps
//! itself.
//!
//! ```text
//! Prepared::load     project -> compile -> plan -> labels and hash suffixes   (no cluster)
//! Session::open      connect -> hooks (every module loaded up front)
//! session.apply      inventory -> walk the plan with the hooks -> prune -> inventory
//!        .delete / .prune / .diff / .run_hook
//! Reporter           hears all of it: files done, hook output, audit lines, the summary
//! ```
//!
//! A front end parses its arguments into [`ProjectOptions`], roles, a [`Connection`] and
//! settings, builds a [`Reporter`], and calls these; it prints nothing of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::cluster::apply::{
    apply_ahead, apply_and_record, Preapplied, RecordOptions, DEFAULT_CONCURRENCY,
};
use crate::cluster::delete::delete_and_forget;
use crate::cluster::diff::{diff_plan, DiffReport};
use crate::cluster::inventory::InventoryKey;
use crate::cluster::labels::{label_plan, managed_labels};
use crate::cluster::lease::{self, DeployLease, LeaseOptions};
use crate::cluster::namespaces::ensure_not_terminating;
use crate::cluster::prune::prune_plan;
use crate::cluster::report::{Failure, Report};
use crate::cluster::suffix_hash::apply_suffix_hash;
use crate::cluster::{
    ApplyOptions, Cluster, ConnectOptions, DeleteOptions, Interrupt, Propagation,
};
use crate::hooks::host::ClusterAccess;
use crate::hooks::{HookLifecycle, HookReporter, HookSpec, HooksConfig, RunInfo};
use crate::lifecycle::{Lifecycle, NoHooks, Step};
use crate::plan::{Plan, PlannedFile};
use crate::project::{Project, ProjectOptions};
use crate::reporter::Reporter;

/// A project compiled and planned, ready for a cluster: every object labelled as kubes'
/// (app, env) and, with `suffix_hash: true`, ConfigMaps and Secrets renamed by content
/// with the references to them. Apply, diff and delete all see these same names.
#[derive(Debug)]
pub struct Prepared {
    pub project: Project,
    /// What this run works on: the whole plan, or the files of the chosen roles.
    pub plan: Plan,
    /// Everything the project plans, when `plan` is restricted to some roles (`None`: the
    /// plan is the whole plan; not cloned, it is hundreds of objects).
    whole: Option<Plan>,
}

/// How registry hook modules are resolved: only as pinned when `locked`.
fn resolve_mode(locked: bool) -> crate::hooks::registry::Resolve {
    if locked {
        crate::hooks::registry::Resolve::Locked
    } else {
        crate::hooks::registry::Resolve::PinnedFirst
    }
}

impl Prepared {
    /// Load the project, compile it (writing `.kubes/output`), plan it, prepare the plan,
    /// and restrict it to `roles` (all files when empty; an unknown role is an error).
    pub fn load(opts: &ProjectOptions, roles: &[String]) -> anyhow::Result<Prepared> {
        let project = Project::load(opts)?;
        let compiled = crate::compile::compile(&project)?;
        Prepared::from_compiled(project, &compiled, roles)
    }

    /// [`Prepared::load`], with the project's `before: compile` and `after: compile` hooks
    /// run around the compile (what `kubes apply` and `kubes deploy` do). They run before
    /// kubes connects, so they have no cluster access; a `before: compile` hook never gets
    /// the output directory (`read_output`), an `after: compile` hook gets the new output.
    /// A failing hook (unless `exit_on_fail: false`) stops here, before anything is applied.
    pub fn load_with_compile_hooks(
        opts: &ProjectOptions,
        roles: &[String],
        reporter: Arc<Reporter>,
        dry_run: bool,
        locked: bool,
    ) -> anyhow::Result<Prepared> {
        let project = Project::load(opts)?;
        let config = HooksConfig::load(&project.root)?;
        if !config.hooks.iter().any(|h| h.point.step == Step::Compile) {
            let compiled = crate::compile::compile(&project)?;
            return Prepared::from_compiled(project, &compiled, roles);
        }
        let info = RunInfo {
            app: project.app_name(),
            env: project.env.clone(),
            namespace: project
                .config
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            dry_run,
        };
        let hook_reporter: Arc<dyn HookReporter> = reporter;
        let hooks = HookLifecycle::for_project(
            &project.root,
            info,
            None,
            hook_reporter,
            resolve_mode(locked),
        )?
        .context("the project declares compile hooks")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let at = |when| {
            rt.block_on(hooks.at(
                crate::lifecycle::Point {
                    when,
                    step: Step::Compile,
                },
                None,
            ))
        };
        at(crate::lifecycle::When::Before)?;
        let compiled = crate::compile::compile(&project)?;
        at(crate::lifecycle::When::After)?;
        Prepared::from_compiled(project, &compiled, roles)
    }

    /// Plan what `compiled` holds, prepare the plan, restrict it to `roles`.
    fn from_compiled(
        project: Project,
        compiled: &crate::compile::Compiled,
        roles: &[String],
    ) -> anyhow::Result<Prepared> {
        let mut whole = Plan::build(&project, compiled);
        // The whole plan, so a file of one role refers to another role's hashed ConfigMap
        // by the name it has in the cluster.
        label_plan(
            &mut whole,
            &managed_labels(&project.app_name(), &project.env),
        );
        if project.config.suffix_hash {
            apply_suffix_hash(&mut whole);
        }
        if roles.is_empty() {
            return Ok(Prepared {
                project,
                plan: whole,
                whole: None,
            });
        }
        let known = whole.roles();
        if let Some(r) = roles.iter().find(|r| !known.contains(&r.as_str())) {
            anyhow::bail!("no role {r:?} in the plan (roles: {})", known.join(", "));
        }
        let mut plan = whole.clone();
        plan.restrict_to_roles(roles);
        Ok(Prepared {
            project,
            plan,
            whole: Some(whole),
        })
    }

    /// Everything the project plans, when the plan is restricted to some roles.
    fn whole(&self) -> Option<&Plan> {
        self.whole.as_ref()
    }

    /// Objects in the plan.
    pub fn object_count(&self) -> usize {
        self.plan.objects().count()
    }

    /// Which declared hook `kubes hooks run NAME` runs, and around which planned file:
    /// `target` (`role/kind`) for a per-file hook, else the first planned file its `on:`
    /// matches; none for a whole-step hook.
    pub fn choose_hook(&self, name: &str, target: Option<&str>) -> anyhow::Result<HookChoice> {
        let config = HooksConfig::load(&self.project.root)?;
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
                let i = self.plan.files().position(|f| f.target() == t);
                Some(i.with_context(|| format!("no planned file {t}"))?)
            }
            (false, None) => Some(
                self.plan
                    .files()
                    .position(|f| spec.matches_target(&f.target()))
                    .with_context(|| {
                        format!(
                            "no planned file matches hook {name}'s on: {}; pass --target",
                            spec.on.join(",")
                        )
                    })?,
            ),
        };
        Ok(HookChoice {
            spec: spec.clone(),
            file,
        })
    }
}

/// A declared hook and the planned file (an index into `Prepared::plan`) it runs around.
#[derive(Debug, Clone)]
pub struct HookChoice {
    pub spec: HookSpec,
    file: Option<usize>,
}

/// How to reach the cluster, as the front end was told; the project's `context` and
/// `namespace` fill in what it leaves out.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// Kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the project's `context`, then the kubeconfig's).
    pub context: Option<String>,
}

/// What a session does besides connecting.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Server-side dry run: applies and deletes (the hooks' too) change nothing.
    pub dry_run: bool,
    /// Load the project's hooks and run them at the lifecycle points (not for diff).
    pub hooks: bool,
    /// `--record FILE`: write every cluster exchange of each hook run there.
    pub record: Option<PathBuf>,
    /// Stops the session's runs when triggered (the CLI triggers it on SIGINT and SIGTERM):
    /// hooks stop at once, no further file is applied, the report says where it stopped.
    pub interrupt: Option<Interrupt>,
    /// `--locked` / `KUBES_LOCKED`: registry modules only as `.kubes/hooks.lock` pins them.
    pub locked: bool,
}

/// `kubes apply`'s settings.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    /// Take over fields other field managers own.
    pub force_conflicts: bool,
    /// Delete what a previous apply applied and the project no longer has (also with
    /// `prune: true` in the config).
    pub prune: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long to wait for another deploy's lease, and for a namespace being deleted to
    /// go; `None`: fail at once (`--no-wait`).
    pub wait: Option<Duration>,
    /// Apply every object, even those unchanged since kubes last applied them
    /// (`--force-apply`; see [`RecordOptions::skip_unchanged`]).
    pub force_apply: bool,
}

/// How long a deploy waits for the deploy lease (and a Terminating namespace) by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(600);

impl Default for ApplySettings {
    fn default() -> Self {
        ApplySettings {
            force_conflicts: true,
            prune: false,
            concurrency: DEFAULT_CONCURRENCY,
            wait: Some(DEFAULT_LOCK_TIMEOUT),
            force_apply: false,
        }
    }
}

/// `kubes delete`'s settings.
#[derive(Debug, Clone)]
pub struct DeleteSettings {
    /// Delete dependents first, then the owner.
    pub foreground: bool,
    /// Wait until each object is gone, at most this long.
    pub wait: Option<Duration>,
    pub concurrency: usize,
}

/// A prepared project connected to one cluster, with its hooks loaded.
pub struct Session {
    prepared: Prepared,
    cluster: Cluster,
    hooks: Option<HookLifecycle>,
    reporter: Arc<Reporter>,
    dry_run: bool,
}

impl Session {
    /// Connect, and (with `options.hooks`) load every hook the project declares, so a
    /// missing or broken module stops the run before anything is applied.
    pub async fn open(
        prepared: Prepared,
        connection: &Connection,
        reporter: Arc<Reporter>,
        options: SessionOptions,
    ) -> anyhow::Result<Session> {
        let project = &prepared.project;
        let cluster = Cluster::connect(&ConnectOptions {
            kubeconfig: connection.kubeconfig.clone(),
            context: connection
                .context
                .clone()
                .or_else(|| project.config.context.clone()),
            // `-n` is in the config already (it wins over the configured namespace).
            namespace: project.config.namespace.clone(),
            ..Default::default()
        })
        .await
        .context("connecting to the cluster")?;
        if let Some(interrupt) = &options.interrupt {
            cluster.set_interrupt(interrupt.clone());
        }
        reporter.set_dry_run(options.dry_run);
        let hooks = if options.hooks {
            let info = RunInfo {
                app: project.app_name(),
                env: project.env.clone(),
                namespace: cluster.default_namespace().to_string(),
                dry_run: options.dry_run,
            };
            let access = ClusterAccess {
                cluster: cluster.clone(),
                dry_run: options.dry_run,
            };
            let hook_reporter: Arc<dyn HookReporter> = reporter.clone();
            let hooks = HookLifecycle::for_project(
                &project.root,
                info,
                Some(access),
                hook_reporter,
                resolve_mode(options.locked),
            )?;
            match (&options.record, hooks) {
                (Some(path), Some(h)) => Some(h.with_recorder(Arc::new(
                    crate::hooks::testing::record::Recorder::create(path)?,
                ))),
                (_, h) => h,
            }
        } else {
            None
        };
        Ok(Session {
            prepared,
            cluster,
            hooks,
            reporter,
            dry_run: options.dry_run,
        })
    }

    /// The hooks, or nothing when the project declares none (or the session loads none).
    fn lifecycle(&self) -> &dyn Lifecycle {
        match &self.hooks {
            Some(h) => h,
            None => &NoHooks,
        }
    }

    /// Where the inventory of this app and env lives.
    fn inventory_key(&self) -> InventoryKey {
        let project = &self.prepared.project;
        InventoryKey {
            app: project.app_name(),
            env: project.env.clone(),
            namespace: project
                .config
                .namespace
                .clone()
                .unwrap_or_else(|| self.cluster.default_namespace().to_string()),
        }
    }

    /// Apply the plan (hooks around it and its files), then prune and record the
    /// inventory. The report says what was done; the reporter has shown it.
    ///
    /// First, the namespaces the plan writes into must not be Terminating (waited out for
    /// up to `settings.wait`), and (not in a dry run) the deploy lease of the app is taken
    /// in its namespace, waiting for another deploy's as long; when that namespace does not
    /// exist yet, the plan's Namespace object for it is applied first (and reported in its
    /// place in the plan). The lease is released at the end, whatever happened.
    pub async fn apply(&self, settings: &ApplySettings) -> Report {
        let opts = ApplyOptions {
            force_conflicts: settings.force_conflicts,
            dry_run: self.dry_run,
            ..Default::default()
        };
        let interrupt = self.cluster.interrupt();
        let before = interrupt
            .or_interrupted(self.before_apply(settings, &opts))
            .await;
        let (preapplied, lease) = match before {
            Some(Ok(ready)) => ready,
            stopped => {
                let mut report = Report::new(Step::Apply, self.dry_run);
                match stopped {
                    Some(Err(failure)) => report.fail(failure),
                    _ => report.interrupt(None, interrupt.signal_name()),
                }
                report.not_attempted = self
                    .prepared
                    .plan
                    .files()
                    .map(|f| f.output.clone())
                    .collect();
                self.reporter.summary(&report);
                return report;
            }
        };
        let record = RecordOptions {
            inventory: self.inventory_key(),
            prune: settings.prune || self.prepared.project.config.prune,
            whole_plan: self.prepared.whole.as_ref(),
            preapplied,
            skip_unchanged: !settings.force_apply,
        };
        let report = apply_and_record(
            &self.cluster,
            &self.prepared.plan,
            self.lifecycle(),
            self.reporter.as_ref(),
            &opts,
            settings.concurrency,
            &record,
        )
        .await;
        if let Some(lease) = lease {
            if lease.lost() {
                self.reporter.warning(
                    "the deploy lease was taken over by another deploy during this one (it was not renewed in time)",
                );
            }
            if let Err(e) = lease.release().await {
                self.reporter.warning(&format!(
                    "releasing the deploy lease: {e} (it expires on its own)"
                ));
            }
        }
        self.reporter.summary(&report);
        report
    }

    /// What an apply does before its walk: Terminating namespaces waited out, the app's
    /// namespace created if the plan has it and it is missing (not in a dry run), the
    /// deploy lease taken (not in a dry run).
    async fn before_apply(
        &self,
        settings: &ApplySettings,
        opts: &ApplyOptions,
    ) -> Result<(Vec<Preapplied>, Option<DeployLease>), Failure> {
        let app_ns = self.inventory_key().namespace;
        let failure = |kind: &str, message: String| Failure {
            file: None,
            object: None,
            hook: None,
            kind: kind.into(),
            message,
        };
        let client = self.cluster.client();
        let waited = |wait: Option<Duration>| match wait {
            Some(d) => format!("up to {}", humantime::format_duration(d)),
            None => "not waiting".into(),
        };

        // 1. No namespace the plan writes into (nor the app's) is being deleted.
        let mut namespaces: Vec<String> = self
            .prepared
            .plan
            .objects()
            .filter_map(|o| {
                if o.api_version == "v1" && o.kind == "Namespace" {
                    Some(o.name.clone())
                } else {
                    o.namespace.clone()
                }
            })
            .collect();
        namespaces.push(app_ns.clone());
        namespaces.sort();
        namespaces.dedup();
        let reporter = &self.reporter;
        let namespaces_ready = ensure_not_terminating(
            client,
            &namespaces,
            settings.wait,
            Duration::from_millis(100),
            |ns| {
                reporter.note(&format!(
                    "Namespace {ns} is being deleted (Terminating): waiting for it to go ({}, --lock-timeout)",
                    waited(settings.wait)
                ))
            },
        );
        // Discovery of every apiVersion the plan applies (and of the inventory's
        // ConfigMap), asked while the namespaces are read: each is otherwise one more
        // round trip later, in turn. A kind not served yet (its CRD is in the plan) is
        // looked up again when it is applied.
        let mut kinds: Vec<(&str, &str)> = self
            .prepared
            .plan
            .objects()
            .map(|o| (o.api_version.as_str(), o.kind.as_str()))
            .chain([("v1", "ConfigMap")])
            .collect();
        kinds.sort();
        kinds.dedup_by_key(|(v, _)| *v);
        let discovery = futures::future::join_all(
            kinds
                .into_iter()
                .map(|(v, k)| self.cluster.resolve_kind(v, k)),
        );
        let (existing, _) = tokio::join!(namespaces_ready, discovery);
        let existing = existing.map_err(|e| failure("namespace", e.to_string()))?;
        if self.dry_run {
            return Ok((vec![], None));
        }

        // 2. The lease lives in the app's namespace: create it first if the plan does.
        let mut preapplied = vec![];
        if !existing.contains(&app_ns) {
            let is_it = |o: &&crate::plan::CompiledObject| {
                o.api_version == "v1" && o.kind == "Namespace" && o.name == app_ns
            };
            let in_plan = self.prepared.plan.objects().find(is_it);
            let Some(obj) = in_plan.or_else(|| self.prepared.whole()?.objects().find(is_it)) else {
                self.reporter.warning(&format!(
                    "namespace {app_ns} does not exist and the plan does not create it: deploying without the deploy lease"
                ));
                return Ok((vec![], None));
            };
            let done = apply_ahead(&self.cluster, obj, opts)
                .await
                .map_err(|e| Failure {
                    object: Some(format!("namespace/{app_ns}")),
                    ..failure(e.kind(), e.to_string())
                })?;
            if in_plan.is_some() {
                preapplied.push(done);
            } else {
                self.reporter
                    .note(&format!("{} (for the deploy lease)", done.result.line()));
            }
        }

        // 3. The deploy lease.
        let name = lease::lease_name(&self.prepared.project.app_name());
        let lease_opts = LeaseOptions {
            wait: settings.wait,
            poll: Duration::from_millis(250),
            ..Default::default()
        };
        let lease = DeployLease::acquire(
            client.clone(),
            &app_ns,
            &name,
            &lease::identity(),
            &lease_opts,
            |holder| {
                reporter.note(&format!(
                    "Waiting for the deploy lease {app_ns}/{name}, held by {holder} ({}, --lock-timeout)",
                    waited(settings.wait)
                ))
            },
        )
        .await
        .map_err(|e| failure("lease", e.to_string()))?;
        Ok((preapplied, Some(lease)))
    }

    /// Delete the plan in reverse order; for the whole project, also what the inventory
    /// records beyond it, and then the inventory.
    pub async fn delete(&self, settings: &DeleteSettings) -> Report {
        let opts = DeleteOptions {
            propagation: if settings.foreground {
                Propagation::Foreground
            } else {
                Propagation::Background
            },
            wait: settings.wait,
            dry_run: self.dry_run,
        };
        let key = self.inventory_key();
        let whole = self.prepared.whole.is_none().then_some(&key);
        let report = delete_and_forget(
            &self.cluster,
            &self.prepared.plan,
            self.lifecycle(),
            self.reporter.as_ref(),
            &opts,
            settings.concurrency,
            whole,
        )
        .await;
        self.reporter.summary(&report);
        report
    }

    /// Delete what a previous apply applied and the plan no longer has.
    pub async fn prune(&self) -> Report {
        let interrupt = self.cluster.interrupt();
        let pruned = interrupt
            .or_interrupted(prune_plan(
                &self.cluster,
                &self.prepared.plan,
                &self.inventory_key(),
                self.lifecycle(),
                self.reporter.as_ref(),
                self.dry_run,
            ))
            .await;
        let report = pruned.unwrap_or_else(|| {
            let mut report = Report::new(Step::Prune, self.dry_run);
            report.interrupt(None, interrupt.signal_name());
            report
        });
        self.reporter.summary(&report);
        report
    }

    /// What an apply would change (no hooks run).
    pub async fn diff(&self) -> anyhow::Result<DiffReport> {
        Ok(diff_plan(
            &self.cluster,
            &self.prepared.plan,
            &ApplyOptions::default(),
            DEFAULT_CONCURRENCY,
        )
        .await?)
    }

    /// Run one declared hook on its own, at its point, announced as a deploy announces it;
    /// true if it succeeded.
    pub async fn run_hook(&self, choice: &HookChoice) -> anyhow::Result<bool> {
        let hooks = self
            .hooks
            .as_ref()
            .context("the project declares no hooks")?;
        let file: Option<&PlannedFile> = choice.file.map(|i| &self.prepared.plan.files[i]);
        let spec = &choice.spec;
        Ok(match hooks.run_alone(spec, file).await {
            Ok(run) => {
                self.reporter.hook_succeeded(&spec.name, run.elapsed);
                true
            }
            Err(failure) => {
                self.reporter
                    .hook_failed(&spec.name, &spec.describe_point(), &failure.to_string());
                false
            }
        })
    }
}

//! Walking a plan: the files one after another, the objects of one file in document order
//! (runs of same-kind objects concurrently, bounded), with lifecycle points around the
//! whole walk and around each file. Shared by apply (plan order) and delete (reverse order).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use futures::StreamExt;
use kube::api::ListParams;

use super::inventory::{config_sha, AppliedRecord};
use super::objects::{apply_known, Before, LiveVersion};
use super::report::{Failure, FileReport, ObjectResult, Progress, Report};
use super::{
    ApplyOptions, ApplyOutcome, Cluster, ClusterError, DeleteOptions, DeleteOutcome, ObjectRef,
};
use crate::lifecycle::{Lifecycle, LifecycleFailure, Point, Step, When};
use crate::plan::{CompiledObject, Plan, PlannedFile};
use kube::api::ObjectMeta;

/// What to do to each object.
#[derive(Debug, Clone)]
pub(super) enum Op {
    Apply(ApplyOptions),
    Delete(DeleteOptions),
}

impl Op {
    fn step(&self) -> Step {
        match self {
            Op::Apply(_) => Step::Apply,
            Op::Delete(_) => Step::Delete,
        }
    }

    fn dry_run(&self) -> bool {
        match self {
            Op::Apply(o) => o.dry_run,
            Op::Delete(o) => o.dry_run,
        }
    }

    fn reversed(&self) -> bool {
        matches!(self, Op::Delete(_))
    }
}

pub(super) struct Walk<'a> {
    pub cluster: &'a Cluster,
    pub lifecycle: &'a dyn Lifecycle,
    pub progress: &'a dyn Progress,
    pub op: Op,
    /// Objects in flight at once (the objects of one run of a kind; files go one by one).
    pub concurrency: usize,
    /// Objects applied before the walk (a deploy creates the app's Namespace first, to hold
    /// its lease there): reported in their place, not applied again.
    pub(super) preapplied: HashMap<ObjectKey, ObjectResult>,
    /// What kubes applied last to the objects it may skip when they are unchanged (empty:
    /// apply everything). See [`AppliedRecord`].
    pub(super) previous: HashMap<ObjectKey, AppliedRecord>,
}

impl<'a> Walk<'a> {
    pub(super) fn new(
        cluster: &'a Cluster,
        lifecycle: &'a dyn Lifecycle,
        progress: &'a dyn Progress,
        op: Op,
        concurrency: usize,
    ) -> Walk<'a> {
        Walk {
            cluster,
            lifecycle,
            progress,
            op,
            concurrency: concurrency.max(1),
            preapplied: HashMap::new(),
            previous: HashMap::new(),
        }
    }

    /// Skip objects whose record here still holds for the live object.
    pub(super) fn with_previous(mut self, previous: HashMap<ObjectKey, AppliedRecord>) -> Self {
        self.previous = previous;
        self
    }

    /// Report these objects (applied already) instead of applying them.
    pub(super) fn with_preapplied(mut self, done: &[(ObjectKey, ObjectResult)]) -> Self {
        self.preapplied = done.iter().cloned().collect();
        self
    }
}

impl Walk<'_> {
    pub(super) async fn run(&self, plan: &Plan) -> Report {
        self.run_listed(plan, None).await
    }

    /// [`Walk::run`] with the plan's kinds listed already ([`Walk::prefetch`], made before
    /// the walk: an apply lists them while it reads its inventory).
    pub(super) async fn run_listed(&self, plan: &Plan, listed: Option<Prefetched>) -> Report {
        let step = self.op.step();
        let interrupt = self.cluster.interrupt();
        let mut report = Report::new(step, self.op.dry_run());
        let files: Vec<&PlannedFile> = if self.op.reversed() {
            plan.files().rev().collect()
        } else {
            plan.files().collect()
        };
        self.progress.start(step, files.len());
        let created = namespaces_created(plan);

        let before = Point {
            when: When::Before,
            step,
        };
        match interrupt
            .or_interrupted(self.lifecycle.at(before, None))
            .await
        {
            None => report.interrupt(None, interrupt.signal_name()),
            Some(Err(f)) => report.fail(hook_failure(f, None)),
            Some(Ok(())) => {}
        }
        // A list made before the walk holds unless a before-step hook wrote since: then the
        // kinds are listed again, after it.
        let listed = listed.filter(|l| l.hook_writes == self.lifecycle.writes());
        let listed = if let (true, Some(listed)) = (report.ok, listed) {
            listed
        } else if report.ok {
            let every_kind = !self.previous.is_empty();
            match interrupt
                .or_interrupted(self.prefetch(&files, every_kind))
                .await
            {
                Some(listed) => listed,
                None => {
                    report.interrupt(None, interrupt.signal_name());
                    Prefetched::default()
                }
            }
        } else {
            Prefetched::default()
        };
        for file in files {
            if !report.ok {
                report.not_attempted.push(file.output.clone());
                continue;
            }
            let fr = Mutex::new(FileReport {
                file: file.output.clone(),
                target: file.target(),
                objects: vec![],
            });
            let outcome = interrupt
                .or_interrupted(self.file(file, &listed, &created, &fr))
                .await;
            report
                .files
                .push(fr.into_inner().unwrap_or_else(|e| e.into_inner()));
            match outcome {
                None => report.interrupt(Some(file.output.clone()), interrupt.signal_name()),
                Some(Some(f)) => report.fail(f),
                Some(None) => {}
            }
        }
        if report.ok {
            let after = Point {
                when: When::After,
                step,
            };
            match interrupt
                .or_interrupted(self.lifecycle.at(after, None))
                .await
            {
                None => report.interrupt(None, interrupt.signal_name()),
                Some(Err(f)) => report.fail(hook_failure(f, None)),
                Some(Ok(())) => {}
            }
        }
        report.retries = self.cluster.retries();
        report
    }

    /// One file: its before-hook, its objects in order, its after-hook, in sequence. What
    /// it did is in `fr` as it goes (so an interrupted file still says what it applied).
    async fn file(
        &self,
        file: &PlannedFile,
        listed: &Prefetched,
        created: &HashSet<String>,
        fr: &Mutex<FileReport>,
    ) -> Option<Failure> {
        let step = self.op.step();
        let lock = || fr.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(f) = self
            .lifecycle
            .at(
                Point {
                    when: When::Before,
                    step,
                },
                Some(file),
            )
            .await
        {
            return Some(hook_failure(f, Some(&file.output)));
        }
        let objects: Vec<&CompiledObject> = if self.op.reversed() {
            file.objects.iter().rev().collect()
        } else {
            file.objects.iter().collect()
        };
        // Objects of one kind in a row do not depend on each other (unlike a CRD and its
        // resources, or a Namespace and what lives in it): apply each such run concurrently,
        // runs in document order.
        for run in same_kind_runs(&objects) {
            let stop = AtomicBool::new(false);
            let results: Vec<Option<Result<ObjectResult, ClusterError>>> =
                futures::stream::iter(run.iter())
                    .map(|obj| {
                        let stop = &stop;
                        async move {
                            if stop.load(Ordering::SeqCst) {
                                return None;
                            }
                            let r = self.object(obj, listed, created).await;
                            if r.is_err() {
                                stop.store(true, Ordering::SeqCst);
                            }
                            Some(r)
                        }
                    })
                    .buffered(self.concurrency)
                    .collect()
                    .await;
            let mut failure = None;
            for (obj, r) in run.iter().zip(results) {
                match r {
                    Some(Ok(o)) => lock().objects.push(o),
                    Some(Err(e)) if failure.is_none() => {
                        failure = Some(Failure {
                            file: Some(file.output.clone()),
                            object: Some(format!(
                                "{}/{}",
                                display_kind(&obj.api_version, &obj.kind),
                                obj.name
                            )),
                            hook: None,
                            kind: e.kind().to_string(),
                            message: e.to_string(),
                        });
                    }
                    _ => {}
                }
            }
            if failure.is_some() {
                self.progress.file_done(step, &lock());
                return failure;
            }
        }
        // Shown before the after-hook runs, so a long wait (a migration Job) follows the
        // lines saying what was applied, as in Kubes' own output.
        self.progress.file_done(step, &lock());
        if let Err(f) = self
            .lifecycle
            .at(
                Point {
                    when: When::After,
                    step,
                },
                Some(file),
            )
            .await
        {
            return Some(hook_failure(f, Some(&file.output)));
        }
        None
    }

    pub(super) async fn object(
        &self,
        obj: &CompiledObject,
        listed: &Prefetched,
        created: &HashSet<String>,
    ) -> Result<ObjectResult, ClusterError> {
        match &self.op {
            Op::Apply(opts) => {
                let key = ObjectKey::of(obj);
                if let Some(done) = self.preapplied.get(&key) {
                    return Ok(done.clone());
                }
                if let Some(unchanged) = self.unchanged(obj, &key, opts, listed) {
                    return Ok(unchanged);
                }
                let before = match listed.versions.get(&key) {
                    Some(live) => Before::Listed(live.clone()),
                    None => Before::Unknown,
                };
                let a = match apply_known(self.cluster, &obj.body, opts, before).await {
                    Ok(a) => a,
                    // A dry run creates no namespace, so the objects of one the plan
                    // creates are NotFound: what a real apply would do is create them.
                    Err(e) if opts.dry_run && e.is_not_found() => {
                        let Some(ns) = obj.namespace.as_ref().filter(|ns| {
                            created.contains(*ns)
                                && e.to_string().contains(&format!("namespaces \"{ns}\""))
                        }) else {
                            return Err(e);
                        };
                        return Ok(ObjectResult {
                            object: ObjectRef {
                                api_version: obj.api_version.clone(),
                                kind: obj.kind.clone(),
                                namespace: Some(ns.clone()),
                                name: obj.name.clone(),
                            },
                            display: format!(
                                "{}/{}",
                                display_kind(&obj.api_version, &obj.kind),
                                obj.name
                            ),
                            action: format!(
                                "would be created (dry run; namespace {ns} does not exist yet)"
                            ),
                            applied: None,
                        });
                    }
                    Err(e) => return Err(e),
                };
                let applied = if opts.dry_run {
                    None
                } else {
                    AppliedRecord::of_applied(&obj.body, &opts.field_manager, &a.object.metadata)
                };
                Ok(ObjectResult {
                    object: ObjectRef {
                        api_version: obj.api_version.clone(),
                        kind: obj.kind.clone(),
                        namespace: a.namespace.clone(),
                        name: a.name.clone(),
                    },
                    display: format!("{}/{}", a.kind.display_name(), a.name),
                    action: a.outcome.to_string(),
                    applied,
                })
            }
            Op::Delete(opts) => {
                let r = ObjectRef::of(&obj.body)?;
                let outcome = delete_ref(self.cluster, &r, opts).await?;
                Ok(ObjectResult {
                    display: format!("{}/{}", display_kind(&r.api_version, &r.kind), r.name),
                    object: r,
                    action: outcome.to_string(),
                    applied: None,
                })
            }
        }
    }
}

impl Walk<'_> {
    /// `obj` reported unchanged without applying it, when kubes applied this very
    /// configuration last, the listed live object is still as that apply left it, and no
    /// hook that may write has run since the list.
    fn unchanged(
        &self,
        obj: &CompiledObject,
        key: &ObjectKey,
        opts: &ApplyOptions,
        listed: &Prefetched,
    ) -> Option<ObjectResult> {
        let previous = self.previous.get(key)?;
        if opts.dry_run || self.lifecycle.writes() != listed.hook_writes {
            return None;
        }
        let live = listed.meta.get(key)?;
        let sha = config_sha(&obj.body, &opts.field_manager);
        if !previous.still_holds(&sha, live, &opts.field_manager) {
            return None;
        }
        Some(ObjectResult {
            object: ObjectRef {
                api_version: obj.api_version.clone(),
                kind: obj.kind.clone(),
                namespace: live.namespace.clone(),
                name: obj.name.clone(),
            },
            display: format!("{}/{}", display_kind(&obj.api_version, &obj.kind), obj.name),
            action: ApplyOutcome::Unchanged.to_string(),
            // Now known to hold at the live version: the next check is a string compare.
            applied: Some(AppliedRecord {
                rv: live.resource_version.clone().unwrap_or_default(),
                ..previous.clone()
            }),
        })
    }

    /// Before applying, list the kinds the plan has several objects of (one request per
    /// kind and namespace instead of one GET per object) to know which exist, with which
    /// uid and resourceVersion. A hook may delete and recreate an object in between: the
    /// uid tells (see `objects::apply_known`). Anything not prefetched, or a failed list,
    /// falls back to a GET. With `every_kind` (there are records of a previous apply, or
    /// there may be), every kind is listed and each object's metadata kept: the list is
    /// what lets unchanged objects go unsent.
    pub(super) async fn prefetch(&self, files: &[&PlannedFile], every_kind: bool) -> Prefetched {
        let mut listed = Prefetched {
            hook_writes: self.lifecycle.writes(),
            ..Default::default()
        };
        let min = if every_kind { 1 } else { PREFETCH_MIN };
        let Op::Apply(opts) = &self.op else {
            return listed;
        };
        if opts.dry_run {
            return listed;
        }
        let mut groups: HashMap<(String, String, Option<String>), Vec<&CompiledObject>> =
            HashMap::new();
        for obj in files.iter().flat_map(|f| f.objects.iter()) {
            groups
                .entry((
                    obj.api_version.clone(),
                    obj.kind.clone(),
                    obj.namespace.clone(),
                ))
                .or_default()
                .push(obj);
        }
        let lists = futures::stream::iter(groups.into_iter().filter(|(_, objs)| objs.len() >= min))
            .map(|((api_version, kind, ns), objs)| async move {
                let rk = self.cluster.resolve_kind(&api_version, &kind).await.ok()?;
                // Objects without a namespace resolve to the default one; prefetch only
                // where the plan names it (compile always does).
                if rk.namespaced && ns.is_none() {
                    return None;
                }
                let list = self
                    .cluster
                    .api(&rk, ns.as_deref())
                    .list_metadata(&ListParams::default())
                    .await
                    .ok()?;
                let live: HashMap<String, ObjectMeta> = list
                    .items
                    .into_iter()
                    .filter_map(|m| Some((m.metadata.name.clone()?, m.metadata)))
                    .collect();
                Some((objs, live))
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        for (objs, live) in lists.into_iter().flatten() {
            for obj in objs {
                let key = ObjectKey::of(obj);
                let meta = live.get(&obj.name);
                listed.versions.insert(
                    key.clone(),
                    meta.map(|m| LiveVersion {
                        uid: m.uid.clone(),
                        resource_version: m.resource_version.clone().unwrap_or_default(),
                    }),
                );
                if let Some(meta) = meta.filter(|_| every_kind) {
                    listed.meta.insert(key, meta.clone());
                }
            }
        }
        listed
    }
}

/// Consecutive objects of the same apiVersion and kind.
fn same_kind_runs<'o>(objects: &[&'o CompiledObject]) -> Vec<Vec<&'o CompiledObject>> {
    let mut runs: Vec<Vec<&CompiledObject>> = vec![];
    for &o in objects {
        match runs.last_mut() {
            Some(run) if run[0].api_version == o.api_version && run[0].kind == o.kind => {
                run.push(o)
            }
            _ => runs.push(vec![o]),
        }
    }
    runs
}

/// The names of the Namespaces `plan` creates (core/v1 `Namespace` objects).
fn namespaces_created(plan: &Plan) -> HashSet<String> {
    plan.objects()
        .filter(|o| o.api_version == "v1" && o.kind == "Namespace")
        .map(|o| o.name.clone())
        .collect()
}

/// An object's identity in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ObjectKey {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    name: String,
}

impl ObjectKey {
    pub(super) fn of(obj: &CompiledObject) -> ObjectKey {
        ObjectKey {
            api_version: obj.api_version.clone(),
            kind: obj.kind.clone(),
            namespace: obj.namespace.clone(),
            name: obj.name.clone(),
        }
    }

    /// The key of an inventory entry (its namespace as resolved when it was applied).
    pub(super) fn of_ref(r: &ObjectRef) -> ObjectKey {
        ObjectKey {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        }
    }
}

/// What a prefetch listed: each object's live version, or `None` when it did not exist.
/// Objects not in the map were not listed (a GET tells).
#[derive(Debug, Default)]
pub(super) struct Prefetched {
    versions: HashMap<ObjectKey, Option<LiveVersion>>,
    /// The listed metadata of each object, when every kind was listed (for
    /// [`Walk::unchanged`]).
    meta: HashMap<ObjectKey, ObjectMeta>,
    /// [`Lifecycle::writes`] when the list was made.
    hook_writes: u64,
}

/// Objects of one kind and namespace in a plan from which a list beats single gets.
const PREFETCH_MIN: usize = 4;

/// Delete by reference; a kind the server no longer serves (its CRD is gone) means the
/// object is gone too.
pub(super) async fn delete_ref(
    cluster: &Cluster,
    r: &ObjectRef,
    opts: &DeleteOptions,
) -> Result<DeleteOutcome, ClusterError> {
    let rk = match cluster.resolve_kind(&r.api_version, &r.kind).await {
        Ok(rk) => rk,
        Err(e) if e.is_not_found() => return Ok(DeleteOutcome::Absent),
        Err(e) => return Err(e),
    };
    cluster
        .delete_object(&rk, r.namespace.as_deref(), &r.name, opts)
        .await
}

/// kubectl's kind name from apiVersion + kind, without asking the server:
/// `apps/v1` + `Deployment` -> `deployment.apps`.
pub fn display_kind(api_version: &str, kind: &str) -> String {
    match api_version.split_once('/') {
        Some((group, _)) => format!("{}.{group}", kind.to_lowercase()),
        None => kind.to_lowercase(),
    }
}

pub(super) fn hook_failure(f: LifecycleFailure, file: Option<&PathBuf>) -> Failure {
    Failure {
        file: file.cloned(),
        object: None,
        message: f.to_string(),
        hook: Some(f.hook),
        kind: "hook".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::{display_kind, same_kind_runs};
    use crate::plan::CompiledObject;

    fn obj(kind: &str, name: &str) -> CompiledObject {
        CompiledObject {
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            namespace: None,
            body: serde_json::json!({}),
        }
    }

    #[test]
    fn runs_split_where_the_kind_changes() {
        let objs = [
            obj("Namespace", "a"),
            obj("ConfigMap", "x"),
            obj("ConfigMap", "y"),
            obj("Service", "s"),
            obj("ConfigMap", "z"),
        ];
        let refs: Vec<&CompiledObject> = objs.iter().collect();
        let runs: Vec<Vec<&str>> = same_kind_runs(&refs)
            .iter()
            .map(|r| r.iter().map(|o| o.name.as_str()).collect())
            .collect();
        assert_eq!(runs, vec![vec!["a"], vec!["x", "y"], vec!["s"], vec!["z"]]);
    }

    #[test]
    fn display_kind_matches_kubectl() {
        assert_eq!(display_kind("apps/v1", "Deployment"), "deployment.apps");
        assert_eq!(display_kind("v1", "Service"), "service");
        assert_eq!(display_kind("batch/v1", "Job"), "job.batch");
    }
}

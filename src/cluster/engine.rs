//! Walking a plan: steps in sequence, the files of one step concurrently (bounded), the
//! objects of one file in document order, with lifecycle points around the whole walk
//! and around each file. Shared by apply (plan order) and delete (reverse order).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use kube::api::ListParams;

use super::report::{Failure, FileReport, ObjectResult, Progress, Report};
use super::objects::{apply_known, Before};
use super::{ApplyOptions, Cluster, ClusterError, DeleteOptions, DeleteOutcome, ObjectRef};
use crate::lifecycle::{Lifecycle, LifecycleFailure, Point, Step, When};
use crate::plan::{Plan, PlannedFile, PlannedObject};

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
    /// Files of one step in flight at once.
    pub concurrency: usize,
}

impl Walk<'_> {
    pub(super) async fn run(&self, plan: &Plan) -> Report {
        let step = self.op.step();
        let mut report = Report::new(step, self.op.dry_run());
        let steps: Vec<Vec<&PlannedFile>> = if self.op.reversed() {
            plan.steps.iter().rev().map(|s| s.files.iter().rev().collect()).collect()
        } else {
            plan.steps.iter().map(|s| s.files.iter().collect()).collect()
        };
        self.progress.start(step, steps.iter().map(Vec::len).sum());

        if let Err(f) = self.lifecycle.at(Point { when: When::Before, step }, None).await {
            report.fail(hook_failure(f, None));
        }
        for files in &steps {
            if !report.ok {
                report.not_attempted.extend(files.iter().map(|f| f.output.clone()));
                continue;
            }
            let known = self.prefetch(files).await;
            let known = &known;
            let stop = AtomicBool::new(false);
            let mut results: Vec<(usize, Option<(FileReport, Option<Failure>)>)> =
                futures::stream::iter(files.iter().enumerate())
                    .map(|(i, file)| {
                        let stop = &stop;
                        async move {
                            // Files not started before a failure in this step are not attempted.
                            if stop.load(Ordering::SeqCst) {
                                return (i, None);
                            }
                            let (fr, failure) = self.file(file, known).await;
                            if failure.is_some() {
                                stop.store(true, Ordering::SeqCst);
                            }
                            self.progress.file_done(step, &fr);
                            (i, Some((fr, failure)))
                        }
                    })
                    .buffer_unordered(self.concurrency.max(1))
                    .collect()
                    .await;
            results.sort_by_key(|(i, _)| *i);
            for (i, r) in results {
                match r {
                    None => report.not_attempted.push(files[i].output.clone()),
                    Some((fr, failure)) => {
                        report.files.push(fr);
                        if let Some(f) = failure {
                            report.fail(f);
                        }
                    }
                }
            }
        }
        if report.ok {
            if let Err(f) = self.lifecycle.at(Point { when: When::After, step }, None).await {
                report.fail(hook_failure(f, None));
            }
        }
        report.retries = self.cluster.retries();
        report
    }

    /// One file: its before-hook, its objects in order, its after-hook, in sequence.
    async fn file(&self, file: &PlannedFile, known: &Known) -> (FileReport, Option<Failure>) {
        let step = self.op.step();
        let mut fr = FileReport { file: file.output.clone(), target: file.target(), objects: vec![] };
        if let Err(f) = self.lifecycle.at(Point { when: When::Before, step }, Some(file)).await {
            return (fr, Some(hook_failure(f, Some(&file.output))));
        }
        let objects: Vec<&PlannedObject> =
            if self.op.reversed() { file.objects.iter().rev().collect() } else { file.objects.iter().collect() };
        for obj in objects {
            match self.object(obj, known).await {
                Ok(r) => fr.objects.push(r),
                Err(e) => {
                    let failure = Failure {
                        file: Some(file.output.clone()),
                        object: Some(format!("{}/{}", display_kind(&obj.api_version, &obj.kind), obj.name)),
                        hook: None,
                        kind: e.kind().to_string(),
                        message: e.to_string(),
                    };
                    return (fr, Some(failure));
                }
            }
        }
        if let Err(f) = self.lifecycle.at(Point { when: When::After, step }, Some(file)).await {
            return (fr, Some(hook_failure(f, Some(&file.output))));
        }
        (fr, None)
    }

    async fn object(&self, obj: &PlannedObject, known: &Known) -> Result<ObjectResult, ClusterError> {
        match &self.op {
            Op::Apply(opts) => {
                let before = match known.get(&(obj.api_version.clone(), obj.kind.clone(), obj.namespace.clone(), obj.name.clone())) {
                    Some(rv) => Before::Listed(rv.clone()),
                    None => Before::Unknown,
                };
                let a = apply_known(self.cluster, &obj.body, opts, before).await?;
                Ok(ObjectResult {
                    object: ObjectRef {
                        api_version: obj.api_version.clone(),
                        kind: obj.kind.clone(),
                        namespace: a.namespace.clone(),
                        name: a.name.clone(),
                    },
                    display: format!("{}/{}", a.kind.display_name(), a.name),
                    action: a.outcome.to_string(),
                })
            }
            Op::Delete(opts) => {
                let r = ObjectRef::of(&obj.body)?;
                let outcome = delete_ref(self.cluster, &r, opts).await?;
                Ok(ObjectResult {
                    display: format!("{}/{}", display_kind(&r.api_version, &r.kind), r.name),
                    object: r,
                    action: outcome.to_string(),
                })
            }
        }
    }
}

impl Walk<'_> {
    /// Before applying a step, list the kinds it has many objects of (one request per
    /// kind and namespace instead of one GET per object) to know which exist and at what
    /// resourceVersion. Anything not prefetched, or a failed list, falls back to a GET.
    async fn prefetch(&self, files: &[&PlannedFile]) -> Known {
        let mut known = Known::new();
        let Op::Apply(opts) = &self.op else { return known };
        if opts.dry_run {
            return known;
        }
        let mut groups: HashMap<(String, String, Option<String>), Vec<&PlannedObject>> = HashMap::new();
        for obj in files.iter().flat_map(|f| f.objects.iter()) {
            groups.entry((obj.api_version.clone(), obj.kind.clone(), obj.namespace.clone())).or_default().push(obj);
        }
        for ((api_version, kind, ns), objs) in groups {
            if objs.len() < PREFETCH_MIN {
                continue;
            }
            let Ok(rk) = self.cluster.resolve_kind(&api_version, &kind).await else { continue };
            // Objects without a namespace resolve to the default one; keep it simple and
            // prefetch only where the plan names the namespace (compile always does).
            if rk.namespaced && ns.is_none() {
                continue;
            }
            let Ok(list) = self.cluster.api(&rk, ns.as_deref()).list_metadata(&ListParams::default()).await else { continue };
            let live: HashMap<String, Option<String>> =
                list.items.into_iter().filter_map(|m| Some((m.metadata.name?, m.metadata.resource_version))).collect();
            for obj in objs {
                let rv = live.get(&obj.name).map(|rv| rv.clone().unwrap_or_default());
                known.insert((api_version.clone(), kind.clone(), ns.clone(), obj.name.clone()), rv);
            }
        }
        known
    }
}

/// Live resourceVersions by (apiVersion, kind, namespace, name); `None` = absent.
type Known = HashMap<(String, String, Option<String>, String), Option<String>>;

/// Objects of one kind and namespace in a step from which a list beats single gets.
const PREFETCH_MIN: usize = 8;

/// Delete by reference; a kind the server no longer serves (its CRD is gone) means the
/// object is gone too.
pub(super) async fn delete_ref(cluster: &Cluster, r: &ObjectRef, opts: &DeleteOptions) -> Result<DeleteOutcome, ClusterError> {
    let rk = match cluster.resolve_kind(&r.api_version, &r.kind).await {
        Ok(rk) => rk,
        Err(e) if e.is_not_found() => return Ok(DeleteOutcome::Absent),
        Err(e) => return Err(e),
    };
    cluster.delete_object(&rk, r.namespace.as_deref(), &r.name, opts).await
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
    use super::display_kind;

    #[test]
    fn display_kind_matches_kubectl() {
        assert_eq!(display_kind("apps/v1", "Deployment"), "deployment.apps");
        assert_eq!(display_kind("v1", "Service"), "service");
        assert_eq!(display_kind("batch/v1", "Job"), "job.batch");
    }
}

//! Stories told below the CLI, through the library the hook engine builds on: CRDs
//! applied earlier in a run are usable later in it, lifecycle points run in the right
//! order around steps and files, and a lifecycle failure stops the run like an API error.

use std::sync::Mutex;

use crate::cluster_common::{file, kubectl_json, plan, Server};
use kubes::cluster::apply::apply_plan;
use kubes::cluster::delete::delete_plan;
use kubes::cluster::report::Silent;
use kubes::cluster::{ApplyOptions, DeleteOptions};
use kubes::lifecycle::{Lifecycle, LifecycleFailure, LifecycleFuture, NoHooks, Point, When};
use kubes::plan::PlannedFile;

fn crd_and_widget() -> kubes::plan::Plan {
    plan(vec![
        file(
            "shared",
            "customresourcedefinition",
            "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
",
        ),
        file("web", "widget", "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: default\nspec:\n  size: 3\n"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_applied_earlier_in_the_run_is_usable_later_in_it() {
    let srv = Server::start_async().await;
    let cluster = srv.cluster().await;
    // Look the kind up before the CRD exists, so discovery has a miss to recover from.
    let err = cluster
        .resolve_kind("example.com/v1", "Widget")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");

    let report = apply_plan(
        &cluster,
        &crd_and_widget(),
        &NoHooks,
        &Silent,
        &ApplyOptions::default(),
        4,
    )
    .await;
    assert!(report.ok, "{:?}", report.failure);
    let lines: Vec<String> = report.objects().map(|o| o.line()).collect();
    assert_eq!(
        lines,
        [
            "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created",
            "widget.example.com/w created"
        ]
    );
    let w = kubectl_json(
        srv.kubeconfig(),
        &["get", "widgets.example.com", "w", "-n", "default"],
    )
    .expect("kubectl sees the widget");
    assert_eq!(w["spec"]["size"], 3);
    let rk = cluster
        .resolve_resource("widgets.example.com")
        .await
        .unwrap();
    assert_eq!((rk.resource.kind.as_str(), rk.namespaced), ("Widget", true));
}

/// Records every lifecycle point it is called at, and fails at one if asked to.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    fail_at: Option<(When, String)>,
}

/// Progress goes into the same log, to show when lines are printed relative to hooks.
impl kubes::cluster::report::Progress for Recorder {
    fn file_done(&self, step: kubes::lifecycle::Step, file: &kubes::cluster::report::FileReport) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("{step} done {}", file.target));
    }
}

impl Lifecycle for Recorder {
    fn at<'a>(&'a self, point: Point, target: Option<&'a PlannedFile>) -> LifecycleFuture<'a> {
        let name = format!(
            "{point}{}",
            target
                .map(|f| format!(" {}", f.target()))
                .unwrap_or_default()
        );
        self.calls.lock().unwrap().push(name);
        let fail = self
            .fail_at
            .as_ref()
            .is_some_and(|(w, t)| *w == point.when && target.is_some_and(|f| &f.target() == t));
        Box::pin(async move {
            if fail {
                Err(LifecycleFailure {
                    hook: "migrate-wait".into(),
                    point,
                    target: target.map(|f| f.target()),
                    reason: "job failed: exit 1".into(),
                })
            } else {
                Ok(())
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_points_run_around_the_step_and_each_file_in_order() {
    let srv = Server::start_async().await;
    let cluster = srv.cluster().await;
    let p = crd_and_widget();
    let rec = Recorder::default();
    let report = apply_plan(&cluster, &p, &rec, &rec, &ApplyOptions::default(), 4).await;
    assert!(report.ok, "{:?}", report.failure);
    assert_eq!(
        *rec.calls.lock().unwrap(),
        [
            "before apply",
            "before apply shared/customresourcedefinition",
            "apply done shared/customresourcedefinition",
            "after apply shared/customresourcedefinition",
            "before apply web/widget",
            "apply done web/widget",
            "after apply web/widget",
            "after apply"
        ]
    );

    let rec = Recorder::default();
    let report = delete_plan(&cluster, &p, &rec, &rec, &DeleteOptions::default(), 4).await;
    assert!(report.ok, "{:?}", report.failure);
    assert_eq!(
        *rec.calls.lock().unwrap(),
        [
            "before delete",
            "before delete web/widget",
            "delete done web/widget",
            "after delete web/widget",
            "before delete shared/customresourcedefinition",
            "delete done shared/customresourcedefinition",
            "after delete shared/customresourcedefinition",
            "after delete"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lifecycle_failure_stops_the_run_and_is_reported_like_an_api_error() {
    let srv = Server::start_async().await;
    let cluster = srv.cluster().await;
    let p = plan(vec![
        file(
            "migrate",
            "job",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: migrate\n  namespace: default\n",
        ),
        file(
            "web",
            "configmap",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n  namespace: default\n",
        ),
    ]);
    let rec = Recorder {
        fail_at: Some((When::After, "migrate/job".into())),
        ..Default::default()
    };
    let report = apply_plan(&cluster, &p, &rec, &Silent, &ApplyOptions::default(), 4).await;
    assert!(!report.ok);
    let f = report.failure.as_ref().unwrap();
    assert_eq!(
        (f.kind.as_str(), f.hook.as_deref()),
        ("hook", Some("migrate-wait"))
    );
    assert_eq!(
        f.message,
        "hook migrate-wait failed at after apply on migrate/job: job failed: exit 1"
    );
    assert_eq!(
        report.objects().map(|o| o.line()).collect::<Vec<_>>(),
        ["configmap/migrate created"]
    );
    assert_eq!(
        report.not_attempted,
        [std::path::PathBuf::from(".kubes/output/web/configmap.yaml")]
    );
    assert!(
        !rec.calls.lock().unwrap().iter().any(|c| c == "after apply"),
        "no after-step point after a failure"
    );
    assert!(kubectl_json(
        srv.kubeconfig(),
        &["get", "configmap", "web", "-n", "default"]
    )
    .is_none());
}

/// The seed's cleanup hook: deletes an object right before its file is applied.
struct DeleteBeforeApply {
    cluster: kubes::cluster::Cluster,
    name: &'static str,
}

impl Lifecycle for DeleteBeforeApply {
    fn at<'a>(&'a self, point: Point, target: Option<&'a PlannedFile>) -> LifecycleFuture<'a> {
        Box::pin(async move {
            if point.when == When::Before && target.is_some() {
                let rk = self.cluster.resolve_kind("v1", "ConfigMap").await.unwrap();
                let opts = DeleteOptions {
                    wait: Some(std::time::Duration::from_secs(10)),
                    ..Default::default()
                };
                self.cluster
                    .delete_object(&rk, Some("default"), self.name, &opts)
                    .await
                    .unwrap();
            }
            Ok(())
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_a_before_hook_deleted_is_reported_created_again() {
    let srv = Server::start_async().await;
    let cluster = srv.cluster().await;
    let docs: Vec<String> = (0..5)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: default\ndata:\n  i: '{i}'\n"))
        .collect();
    // Enough ConfigMaps for the engine to list them up front rather than get each.
    let p = plan(vec![file("migrate", "configmap", &docs.join("---\n"))]);
    let first = apply_plan(&cluster, &p, &NoHooks, &Silent, &ApplyOptions::default(), 4).await;
    assert!(first.ok, "{:?}", first.failure);
    let hook = DeleteBeforeApply {
        cluster: cluster.clone(),
        name: "cm-2",
    };
    let again = apply_plan(&cluster, &p, &hook, &Silent, &ApplyOptions::default(), 4).await;
    assert!(again.ok, "{:?}", again.failure);
    let lines: Vec<String> = again.objects().map(|o| o.line()).collect();
    assert_eq!(
        lines,
        [
            "configmap/cm-0 unchanged",
            "configmap/cm-1 unchanged",
            "configmap/cm-2 created",
            "configmap/cm-3 unchanged",
            "configmap/cm-4 unchanged"
        ]
    );
}

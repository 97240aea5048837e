//! Property tests of the host side of the WIT and of the hooks.yaml parser (proptest, stable
//! Rust). Every `cluster` function is called with arbitrary strings and JSON, straight on the
//! host adapter, against the test API server; after each call the server's request log must
//! hold nothing the grants do not cover (and no path a name could have smuggled in), and
//! nothing may panic. hooks.yaml text, arbitrary and structured, must parse or fail cleanly.
//!
//! A short run by default (fits CI); `PROPTEST_CASES=5000` for a long one.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kube_testserver::{Options, RecordedRequest, TestServer};
use kubes::cluster::{Cluster, ConnectOptions};
use kubes::hooks::grants::{Grant, Grants, Request, Verb};
use kubes::hooks::host::bindings::kubes::hook::cluster::{Host, KindRef, LogOptions};
use kubes::hooks::host::bindings::kubes::hook::progress::{
    Host as ProgressHost, HostJobProgress, JobEvent as WitJobEvent, JobItem, JobOptions,
};
use kubes::hooks::host::{ClusterAccess, DenialLog, HookState, HostCtx, ObjectRef};
use kubes::hooks::limits::HookLimits;
use kubes::hooks::sandbox::{MemoryLimiter, OutputBudget};
use kubes::hooks::MemoryReporter;
use proptest::prelude::*;
use serde_json::json;

/// What the fuzzed hook may do: a little of every shape (named, namespaced, cluster-scoped,
/// logs, events).
pub(crate) fn grants() -> Vec<Grant> {
    let g = |verbs: &[Verb], res: &[&str], names: &[&str], cluster: bool| Grant {
        verbs: verbs.to_vec(),
        resources: res.iter().map(|s| s.to_string()).collect(),
        names: names.iter().map(|s| s.to_string()).collect(),
        namespaces: vec![],
        cluster,
    };
    vec![
        g(
            &[Verb::Get, Verb::List, Verb::Watch],
            &["configmaps"],
            &[],
            false,
        ),
        g(&[Verb::Apply], &["configmaps"], &["allowed"], false),
        g(
            &[Verb::Get, Verb::Delete],
            &["jobs.batch"],
            &["migrate"],
            false,
        ),
        g(&[Verb::Logs, Verb::Watch], &["pods"], &[], false),
        g(&[Verb::Watch], &["jobs.batch"], &["migrate"], false),
        g(&[Verb::Watch], &["deployments.apps"], &["web"], false),
        g(&[Verb::List], &["events"], &[], false),
        g(&[Verb::Get, Verb::List], &["namespaces"], &[], true),
    ]
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    srv: TestServer,
    cluster: Cluster,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let srv = TestServer::start_blocking(Options::default()).unwrap();
        let cluster = rt
            .block_on(Cluster::connect(&ConnectOptions {
                kubeconfig: Some(srv.kubeconfig_path().to_path_buf()),
                ..Default::default()
            }))
            .unwrap();
        rt.block_on(async {
            let o = kubes::cluster::ApplyOptions::default();
            for obj in [
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "allowed", "namespace": "demo"}}),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "demo"}}),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim", "namespace": "demo"},
                       "spec": {"containers": [{"name": "app", "image": "app:1"}]}}),
            ] {
                cluster.apply_object(&obj, &o).await.unwrap();
            }
        });
        Fixture { rt, srv, cluster }
    })
}

pub(crate) fn state(cluster: &Cluster) -> HookState {
    state_with(cluster, grants())
}

pub(crate) fn state_with(cluster: &Cluster, grants: Vec<Grant>) -> HookState {
    let limits = HookLimits::default();
    HookState {
        wasi: wasmtime_wasi::WasiCtxBuilder::new().build(),
        table: wasmtime::component::ResourceTable::new(),
        limiter: MemoryLimiter::new(256 << 20),
        deadline: Instant::now() + Duration::from_secs(60),
        deadline_hit: false,
        host: HostCtx {
            hook: "fuzz".into(),
            grants: Grants {
                hook: "fuzz".into(),
                app_namespace: "demo".into(),
                grants,
            },
            cluster: Some(ClusterAccess {
                cluster: cluster.clone(),
                dry_run: false,
            }),
            reporter: Arc::new(MemoryReporter::new()),
            denials: DenialLog::new(limits.denials),
            calls: Default::default(),
            streams: kubes::hooks::host::streams::StreamBudget::new(&limits),
            output: Arc::new(OutputBudget::new(limits.output)),
            limits,
        },
    }
}

/// One call a guest could make.
#[derive(Debug, Clone)]
enum Call {
    Get(ObjectRef),
    List(KindRef, Option<String>, Option<String>),
    Apply(String),
    Delete(ObjectRef, Option<u32>),
    Events(ObjectRef),
    WaitFor(ObjectRef, Vec<String>),
    Watch(KindRef, Option<String>, Option<String>, Option<String>),
    Logs(String, Option<String>, Option<String>),
    FollowJob(String, Option<String>, Option<String>, bool),
    FollowRollout(String, Option<String>),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("allowed".to_string()),
        Just("migrate".to_string()),
        Just("web".to_string()),
        Just("victim".to_string()),
        Just("demo".to_string()),
        Just("..".to_string()),
        Just("victim/log".to_string()),
        Just("a%2Fb".to_string()),
        "[a-z0-9.-]{1,12}",
        "[a-zA-Z0-9/?#%.:= ,()!-]{0,24}",
        any::<String>(),
        "x{250,300}",
    ]
}

fn kind() -> impl Strategy<Value = KindRef> {
    let known = prop_oneof![
        Just(("v1", "ConfigMap")),
        Just(("v1", "Secret")),
        Just(("v1", "Pod")),
        Just(("v1", "Namespace")),
        Just(("v1", "Event")),
        Just(("batch/v1", "Job")),
        Just(("apps/v1", "Deployment")),
        Just(("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")),
        Just(("rbac.authorization.k8s.io/v1", "Role")),
    ]
    .prop_map(|(a, k)| (a.to_string(), k.to_string()));
    prop_oneof![4 => known, 1 => (text(), text())]
        .prop_map(|(api_version, kind)| KindRef { api_version, kind })
}

fn object() -> impl Strategy<Value = ObjectRef> {
    (kind(), text(), proptest::option::of(text())).prop_map(|(k, name, namespace)| ObjectRef {
        api_version: k.api_version,
        kind: k.kind,
        name,
        namespace,
    })
}

fn selector() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        Just("app=web".to_string()),
        Just("a in (b,c),!d".to_string()),
        text()
    ])
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        (object(), any::<bool>()).prop_map(|(o, data)| {
            let mut v = json!({"apiVersion": o.api_version, "kind": o.kind, "metadata": {"name": o.name}});
            if let Some(ns) = o.namespace {
                v["metadata"]["namespace"] = json!(ns);
            }
            if data {
                v["data"] = json!({"k": "v"});
            }
            v.to_string()
        }),
        Just("{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"allowed\"}}".to_string()),
        Just("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]".to_string()),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        object().prop_map(Call::Get),
        (kind(), proptest::option::of(text()), selector())
            .prop_map(|(k, n, s)| Call::List(k, n, s)),
        body().prop_map(Call::Apply),
        (object(), proptest::option::of(0u32..50)).prop_map(|(o, w)| Call::Delete(o, w)),
        object().prop_map(Call::Events),
        (object(), proptest::collection::vec(text(), 0..3)).prop_map(|(o, c)| Call::WaitFor(o, c)),
        (
            kind(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            selector()
        )
            .prop_map(|(k, ns, n, s)| Call::Watch(k, ns, n, s)),
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text())
        )
            .prop_map(|(p, ns, c)| Call::Logs(p, ns, c)),
        (
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            any::<bool>()
        )
            .prop_map(|(n, ns, c, logs)| Call::FollowJob(n, ns, c, logs)),
        (text(), proptest::option::of(text())).prop_map(|(n, ns)| Call::FollowRollout(n, ns)),
    ]
}

async fn make(state: &mut HookState, call: Call) {
    // The results do not matter here: what reached the wire does.
    match call {
        Call::Get(o) => drop(state.get(o).await),
        Call::List(k, ns, sel) => drop(state.list(k, ns, sel).await),
        Call::Apply(j) => drop(state.apply(j).await),
        Call::Delete(o, w) => drop(state.delete(o, w).await),
        Call::Events(o) => drop(state.events(o).await),
        Call::WaitFor(o, c) => drop(state.wait_for(o, c, 30).await),
        Call::Watch(k, ns, n, sel) => drop(state.watch(k, ns, n, sel).await),
        Call::Logs(p, ns, c) => {
            let opts = LogOptions {
                container: c,
                follow: false,
                tail_lines: Some(1),
            };
            drop(state.logs(p, ns, opts).await)
        }
        // Left open: the followers run (and ask the server) until the state is dropped.
        Call::FollowJob(n, ns, container, logs) => {
            let opts = JobOptions {
                logs,
                container,
                pull_grace_ms: 1000,
            };
            drop(ProgressHost::follow_job(state, n, ns, opts).await)
        }
        Call::FollowRollout(n, ns) => drop(ProgressHost::follow_rollout(state, n, ns).await),
    }
}

/// Whether a request on the wire is one the grants cover (or discovery, which reads no
/// object). `None`: covered; `Some(why)`: not.
fn uncovered(r: &RecordedRequest, g: &Grants) -> Option<String> {
    if r.path.contains("..") || r.path.contains('%') || r.path.contains("//") {
        return Some("a path with `..`, `%` or `//`".into());
    }
    let segs: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api"] | ["apis"] | ["version"] | ["api", _] | ["apis", _] | ["apis", _, _] => {
            return (r.method != "GET").then(|| "a write to a discovery path".into())
        }
        ["api", _, rest @ ..] => ("", rest),
        ["apis", g, _, rest @ ..] => (*g, rest),
        _ => return Some("an unknown path".into()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some(*ns), rest),
        _ => (None, rest),
    };
    // A list or watch of one object names it in its field selector.
    let selected = r.query.as_deref().and_then(|q| {
        q.split('&')
            .find_map(|p| p.strip_prefix("fieldSelector=metadata.name%3D"))
            .filter(|n| !n.contains('%') && !n.contains(','))
    });
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(*n), None),
        [p, n, s] => (*p, Some(*n), Some(*s)),
        _ => return Some("an unknown resource path".into()),
    };
    let resource = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    let watch = r
        .query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"));
    let verb = match (r.method.as_str(), name, sub) {
        ("GET", Some(_), Some("log")) => Verb::Logs,
        ("GET", _, Some(_)) => return Some("a subresource".into()),
        ("GET", _, _) if watch => Verb::Watch,
        ("GET", Some(_), None) => Verb::Get,
        ("GET", None, None) => Verb::List,
        ("PATCH", Some(_), None) => Verb::Apply,
        ("DELETE", Some(_), None) => Verb::Delete,
        _ => return Some("an unexpected method".into()),
    };
    // A list or watch by name is checked as one on that name.
    let name = name.or(selected);
    let req = |verb| Request {
        verb,
        resource: &resource,
        name,
        namespace,
    };
    if g.check(&req(verb)).is_ok() {
        return None;
    }
    // The host reads a pod to find its first container before opening its log.
    if verb == Verb::Get && resource == "pods" && g.check(&req(Verb::Logs)).is_ok() {
        return None;
    }
    // A watch is answered by a list first.
    if verb == Verb::List && g.check(&req(Verb::Watch)).is_ok() {
        return None;
    }
    // A delete that waits watches its one object until it is gone.
    if matches!(verb, Verb::List | Verb::Watch)
        && selected.is_some()
        && g.check(&req(Verb::Delete)).is_ok()
    {
        return None;
    }
    Some(format!(
        "{verb} {resource} {name:?} in {namespace:?} is not granted"
    ))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(300),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_guest_input_reaches_the_wire_beyond_the_grants(calls in proptest::collection::vec(call(), 1..4)) {
        let f = fixture();
        let _one_at_a_time = lock();
        f.srv.clear_requests();
        let mut st = state(&f.cluster);
        f.rt.block_on(async {
            for c in calls.clone() {
                let _ = tokio::time::timeout(Duration::from_secs(5), make(&mut st, c)).await;
            }
        });
        // Watches and log streams stop with the state.
        drop(st);
        let g = Grants { hook: "fuzz".into(), app_namespace: "demo".into(), grants: grants() };
        for r in f.srv.requests() {
            if let Some(why) = uncovered(&r, &g) {
                prop_assert!(false, "{why}: {r}\ncalls: {calls:?}");
            }
        }
    }

    #[test]
    fn hooks_yaml_parses_or_fails_cleanly(text in any::<String>()) {
        let _ = kubes::hooks::HooksConfig::parse(std::path::Path::new("hooks.yaml"), &text);
    }

    #[test]
    fn structured_hooks_yaml_parses_or_fails_cleanly(
        name in text(),
        when in prop_oneof![Just("before"), Just("after"), Just("during")],
        step in prop_oneof![Just("apply"), Just("compile"), Just("x")],
        timeout in prop_oneof![Just(".inf".to_string()), Just("1e300".to_string()), Just("-5".to_string()), Just("30s".to_string()), any::<f64>().prop_map(|f| f.to_string()), text()],
        memory in prop_oneof![Just("256Mi".to_string()), Just("99999999999999999999Gi".to_string()), any::<u64>().prop_map(|n| n.to_string()), text()],
        module in text(),
        resource in text(),
        cluster in any::<bool>(),
        limit in prop_oneof![Just("1Mi".to_string()), any::<i64>().prop_map(|n| n.to_string()), text()],
    ) {
        let yaml = format!(
            "hooks:\n  - name: {name:?}\n    {when}: {step}\n    module: {module:?}\n    timeout: {timeout}\n    memory: {memory}\n    limits: {{ module_size: {limit:?}, streams: 3 }}\n    grants:\n      - {{ verbs: [get], resources: [{resource:?}], cluster: {cluster} }}\n"
        );
        let _ = kubes::hooks::HooksConfig::parse(std::path::Path::new("hooks.yaml"), &yaml);
    }
}

/// The fuzz cases share one server's request log: one at a time.
fn lock() -> std::sync::MutexGuard<'static, ()> {
    static L: std::sync::Mutex<()> = std::sync::Mutex::new(());
    L.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn the_checker_itself_flags_what_is_not_granted() {
    let g = Grants {
        hook: "fuzz".into(),
        app_namespace: "demo".into(),
        grants: grants(),
    };
    let r = |method: &str, path: &str, query: Option<&str>| RecordedRequest {
        method: method.into(),
        path: path.into(),
        query: query.map(str::to_string),
    };
    assert!(uncovered(&r("GET", "/api/v1/namespaces/demo/configmaps/x", None), &g).is_none());
    assert!(uncovered(&r("GET", "/apis/batch/v1", None), &g).is_none());
    assert!(uncovered(&r("GET", "/api/v1/namespaces/demo/secrets/s", None), &g).is_some());
    assert!(uncovered(
        &r(
            "GET",
            "/api/v1/namespaces/demo/pods/victim/log",
            Some("tailLines=1")
        ),
        &g
    )
    .is_none());
    assert!(uncovered(
        &r("GET", "/api/v1/namespaces/kube-system/pods/p/log", None),
        &g
    )
    .is_some());
    assert!(uncovered(
        &r("PATCH", "/api/v1/namespaces/demo/configmaps/other", None),
        &g
    )
    .is_some());
    assert!(uncovered(&r("DELETE", "/api/v1/namespaces/victim", None), &g).is_some());
    assert!(uncovered(&r("GET", "/api/v1/namespaces/victim", None), &g).is_none());
    assert!(uncovered(&r("GET", "/api/v1/namespaces/demo/pods/a%2Fb", None), &g).is_some());
    // A delete that waits watches its object (named in the field selector), nothing else.
    let jobs = "/apis/batch/v1/namespaces/demo/jobs";
    let watch_of = |name: &str| format!("watch=true&fieldSelector=metadata.name%3D{name}");
    assert!(uncovered(&r("GET", jobs, Some(&watch_of("migrate"))), &g).is_none());
    assert!(uncovered(&r("GET", jobs, Some(&watch_of("other"))), &g).is_some());
    assert!(uncovered(&r("GET", jobs, Some("watch=true")), &g).is_some());
}

/// The pipeline end to end can fail: calls that the grants allow reach the wire and pass the
/// checker; the same calls made by a hook with wider grants are flagged by it.
#[test]
fn the_fuzz_pipeline_sees_what_reaches_the_wire() {
    let f = fixture();
    let _one_at_a_time = lock();
    let narrow = Grants {
        hook: "fuzz".into(),
        app_namespace: "demo".into(),
        grants: grants(),
    };
    let secret = ObjectRef {
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: "s".into(),
        namespace: None,
    };
    let cm = ObjectRef {
        kind: "ConfigMap".into(),
        name: "allowed".into(),
        ..secret.clone()
    };
    // Allowed: a get of the ConfigMap reaches the server and is covered.
    f.srv.clear_requests();
    let mut st = state(&f.cluster);
    f.rt.block_on(make(&mut st, Call::Get(cm)));
    let reqs = f.srv.requests();
    assert!(
        reqs.iter()
            .any(|r| r.path == "/api/v1/namespaces/demo/configmaps/allowed"),
        "{reqs:?}"
    );
    assert!(
        reqs.iter().all(|r| uncovered(r, &narrow).is_none()),
        "{reqs:?}"
    );
    // Refused with the fuzz grants: nothing on the wire for the Secret.
    f.srv.clear_requests();
    f.rt.block_on(make(&mut st, Call::Get(secret.clone())));
    assert!(f.srv.requests().iter().all(|r| !r.path.contains("secrets")));
    // A hook granted everything gets the Secret, and the checker flags that request.
    let mut all = Grant {
        verbs: Verb::ALL.to_vec(),
        resources: vec!["secrets".into()],
        names: vec![],
        namespaces: vec!["*".into()],
        cluster: true,
    };
    all.resources.push("*".into());
    f.srv.clear_requests();
    let mut wide = state_with(&f.cluster, vec![all]);
    f.rt.block_on(make(&mut wide, Call::Get(secret)));
    let flagged: Vec<_> = f
        .srv
        .requests()
        .into_iter()
        .filter(|r| uncovered(r, &narrow).is_some())
        .collect();
    assert!(
        flagged
            .iter()
            .any(|r| r.path == "/api/v1/namespaces/demo/secrets/s"),
        "{flagged:?}"
    );
}

/// A hook that follows more Jobs than it may, and never reads: the follows beyond
/// `limits.streams` are refused; what the others hold is within `limits.stream_buffer` (their
/// followers pause, losing nothing); and none of them outlives the run.
#[test]
fn follows_beyond_the_limits_are_refused_unread_ones_pause_and_none_outlives_its_run() {
    // Each watch is cut after one event, so a follower still running after the run shows
    // itself by watching again.
    let srv = TestServer::start_blocking(Options {
        faults: kube_testserver::Faults {
            drop_watch_after: Some(1),
            ..Default::default()
        },
        ..Options::default()
    })
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = rt
        .block_on(Cluster::connect(&ConnectOptions {
            kubeconfig: Some(srv.kubeconfig_path().to_path_buf()),
            ..Default::default()
        }))
        .unwrap();
    let apply = |obj: serde_json::Value| {
        rt.block_on(cluster.apply_object(&obj, &kubes::cluster::ApplyOptions::default()))
            .unwrap();
    };
    apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}));
    // 400 lines of 100 bytes: ten times the stream buffer below.
    let mut script = String::from("attempts:\n- logs:\n");
    for i in 0..400 {
        script.push_str(&format!("  - {{line: '{i:03} {}'}}\n", "x".repeat(96)));
    }
    let job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "demo"},
            "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": {"kubes.test/script": script}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "db-migrate:1"}]}}}})
    };
    let grants = vec![
        Grant {
            verbs: vec![Verb::Watch],
            resources: vec!["jobs.batch".into()],
            names: vec![],
            namespaces: vec![],
            cluster: false,
        },
        Grant {
            verbs: vec![Verb::Watch, Verb::Logs],
            resources: vec!["pods".into()],
            names: vec![],
            namespaces: vec![],
            cluster: false,
        },
    ];
    let mut st = state_with(&cluster, grants);
    let limits = HookLimits {
        streams: 4,
        stream_buffer: 16 * 1024,
        ..HookLimits::default()
    };
    st.host.streams = kubes::hooks::host::streams::StreamBudget::new(&limits);
    st.host.limits = limits;
    let opts = || JobOptions {
        logs: true,
        container: None,
        pull_grace_ms: 1000,
    };
    let mut follows = Vec::new();
    let mut refused = Vec::new();
    rt.block_on(async {
        // Three of the noisy Job, one of a Job not there yet, two too many.
        for name in ["noisy", "noisy", "noisy", "later", "noisy", "later"] {
            match ProgressHost::follow_job(&mut st, name.into(), None, opts())
                .await
                .unwrap()
            {
                Ok(f) => follows.push(f),
                Err(e) => refused.push(format!("{e:?}")),
            }
        }
    });
    assert_eq!(follows.len(), 4);
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains("`limits: {streams: N}`"), "{refused:?}");
    apply(job("noisy"));
    // Nobody reads: what the followers hold stays within the buffer.
    let mut most = 0;
    // (Unread for 0.4 s: see the issue-12 note on a follow left unread for seconds.)
    for _ in 0..std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
    {
        std::thread::sleep(Duration::from_millis(50));
        most = most.max(st.host.streams.buffered());
    }
    assert!(
        most > 8 * 1024,
        "the followers never filled the buffer: {most}"
    );
    assert!(most <= 16 * 1024, "{most} bytes buffered");
    // The run's buffer is shared: the hook drops two of its unread follows, so the first
    // gets the room; reading it then gives every line, in order, and the outcome: the
    // follower paused, it lost nothing.
    let first = follows.remove(0);
    for f in follows.drain(..2) {
        rt.block_on(HostJobProgress::drop(&mut st, f)).unwrap();
    }
    let mut lines = 0;
    let mut last = None;
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let rep =
                kubes::hooks::host::bindings::kubes::hook::progress::HostJobProgress::try_next(
                    &mut st,
                    wasmtime::component::Resource::new_borrow(first.rep()),
                )
                .await
                .unwrap()
                .unwrap();
            match rep {
                JobItem::Event(WitJobEvent::Log(l)) => {
                    assert!(l.text.starts_with(&format!("{lines:03} ")), "{}", l.text);
                    lines += 1;
                }
                JobItem::Event(e) => last = Some(format!("{e:?}")),
                JobItem::Pending => tokio::time::sleep(Duration::from_millis(5)).await,
                JobItem::End => break,
            }
        }
    });
    assert_eq!(lines, 400, "last event: {last:?}");
    assert!(
        last.as_deref()
            .is_some_and(|e| e.starts_with("JobEvent::Complete(")),
        "{last:?}"
    );
    // The run ends (its state dropped); then Job `later` appears: no follower may see it.
    drop(follows);
    drop(first);
    drop(st);
    std::thread::sleep(Duration::from_millis(300));
    srv.clear_requests();
    apply(job("later"));
    std::thread::sleep(Duration::from_millis(1500));
    let watches: Vec<String> = srv
        .requests()
        .iter()
        .filter(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("watch=true") || q.contains("Selector"))
        })
        .map(|r| r.to_string())
        .collect();
    assert!(
        watches.is_empty(),
        "a follower outlived its run: {watches:#?}"
    );
}

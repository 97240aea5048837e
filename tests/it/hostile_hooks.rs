//! Story: a hook from anywhere gets nothing it was not granted. Each class of escape found
//! by attacking the first round (docs/security.md) has a hostile hook here, run the way a
//! user runs hooks (`kubes hooks run` on a project, against the test API server). Each is
//! contained with a line naming the hook and the rule, the server's state and request log
//! show nothing beyond the grants, and kubes' own peak memory stays bounded (its `VmHWM`,
//! sampled every 2 ms, printed).
//!
//! The hooks are real components built from `examples/hooks/hostile/*`; the compile bomb is
//! generated here (a valid component of 300,000 empty functions).

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use kube_testserver::RecordedRequest;
use serde_json::json;

use crate::cluster_common::Server;
use crate::common::write;
use crate::hooks_support::guest;

/// The hostile project: app `demo` in namespace `demo`, every hostile hook declared as a
/// whole-step `before: apply` hook with the grants an attacker would ask for.
const HOOKS_YAML: &str = r#"
hooks:
  - name: cluster-scope
    before: apply
    module: hooks/cluster-scope.wasm
    grants:
      - { verbs: [get, list, apply, delete, watch], resources: ["*"], namespaces: [demo] }
  - name: name-injection
    before: apply
    module: hooks/name-injection.wasm
    grants:
      - { verbs: [get, list, watch, logs, delete], resources: [pods, configmaps, events] }
  - name: flood-watches
    before: apply
    module: hooks/flood.wasm
    config: { mode: watches, kind: ConfigMap, count: 150, hold_ms: 1500 }
    grants:
      - { verbs: [watch], resources: [configmaps] }
  - name: flood-follows
    before: apply
    module: hooks/flood.wasm
    config: { mode: follows, job: migrate, deployment: web, count: 150, hold_ms: 1000 }
    grants:
      - { verbs: [watch], resources: [jobs.batch], names: [migrate] }
      - { verbs: [watch], resources: [deployments.apps], names: [web] }
      - { verbs: [watch, logs], resources: [pods] }
  - name: flood-apply
    before: apply
    module: hooks/flood.wasm
    memory: 1Gi
    config: { mode: big-apply, mib: 96 }
  - name: flood-denials
    before: apply
    module: hooks/flood.wasm
    config: { mode: denials, count: 1500, long: 20 }
  - name: flood-output
    before: apply
    module: hooks/flood.wasm
    limits: { output: 1Mi }
    config: { mode: output, lines: 200000 }
  - name: terminal
    before: apply
    module: hooks/terminal.wasm
  - name: bomb
    before: apply
    module: hooks/bomb.wasm
  - name: big-module
    before: apply
    module: hooks/bomb.wasm
    limits: { module_size: 1Mi }
  - name: outside
    before: apply
    module: hooks/outside.wasm
  - name: no-grants
    before: apply
    module: hooks/delete-ungranted.wasm
"#;

/// hooks.yaml with only the hook `name` of [`HOOKS_YAML`].
fn only_hook(name: &str) -> String {
    let start = format!("  - name: {name}\n");
    let block = HOOKS_YAML
        .split_inclusive('\n')
        .skip_while(|l| *l != start)
        .enumerate()
        .take_while(|(i, l)| *i == 0 || !l.starts_with("  - name: "))
        .map(|(_, l)| l)
        .collect::<String>();
    assert!(!block.is_empty(), "no hook {name} in HOOKS_YAML");
    format!("hooks:\n{block}")
}

/// A valid component wrapping one core module of `n` empty functions: cheap to write, costly
/// to compile (the first round took 7 s and 1.7 GB for 300,000).
fn compile_bomb(n: u32) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, Component, Function, FunctionSection, Module, ModuleSection, TypeSection,
    };
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut funcs = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut body = Function::new([]);
    body.instructions().end();
    for _ in 0..n {
        funcs.function(0);
        code.function(&body);
    }
    let mut module = Module::new();
    module.section(&types).section(&funcs).section(&code);
    let mut component = Component::new();
    component.section(&ModuleSection(&module));
    component.finish()
}

struct Hostile {
    srv: Server,
    project: tempfile::TempDir,
    /// Holds the module the `outside` hook's symlink points to.
    _outside: tempfile::TempDir,
}

fn hostile_project() -> Hostile {
    let srv = Server::start();
    let project = tempfile::tempdir().unwrap();
    let p = project.path();
    write(p, ".kubes/config.yaml", "app: demo\nnamespace: demo\n");
    write(
        p,
        ".kubes/resources/shared/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n",
    );
    write(p, ".kubes/config/hooks.yaml", HOOKS_YAML);
    std::fs::create_dir_all(p.join("hooks")).unwrap();
    for (file, built) in [
        ("cluster-scope", "hostile_cluster_scope"),
        ("name-injection", "hostile_name_injection"),
        ("flood", "hostile_flood"),
        ("terminal", "hostile_terminal"),
        ("delete-ungranted", "hostile_delete_ungranted"),
    ] {
        std::fs::copy(guest(built), p.join(format!("hooks/{file}.wasm"))).unwrap();
    }
    std::fs::write(p.join("hooks/bomb.wasm"), compile_bomb(300_000)).unwrap();
    // A hook module that is a symlink to a component outside the project.
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("probe.wasm");
    std::fs::copy(guest("hook_probe"), &target).unwrap();
    std::os::unix::fs::symlink(&target, p.join("hooks/outside.wasm")).unwrap();
    let h = Hostile {
        srv,
        project,
        _outside: outside,
    };
    h.seed_cluster();
    h
}

/// What one `kubes` process did, with its peak resident memory.
struct Measured {
    code: Option<i32>,
    signal: Option<i32>,
    stdout: String,
    stderr: String,
    max_rss_mib: f64,
}

impl Measured {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
    fn show(&self) -> String {
        format!(
            "exit {:?} signal {:?}, peak RSS {:.0} MiB\nstdout:\n{}\nstderr:\n{}",
            self.code,
            self.signal,
            self.max_rss_mib,
            cut(&self.stdout, 6000),
            cut(&self.stderr, 6000)
        )
    }
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Run `cmd` to the end, reading its output as it comes, and take its peak RSS.
fn run_measured(mut cmd: Command) -> Measured {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("kubes starts");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).unwrap();
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        err.read_to_end(&mut b).unwrap();
        b
    });
    let pid = child.id() as libc::pid_t;
    // Peak RSS from the child's own high-water mark (`VmHWM`), sampled until it exits:
    // `wait4`'s ru_maxrss would also count the test process it was forked from (Linux keeps
    // the pre-exec high-water mark), which in one big test binary is hundreds of MiB.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak_kib = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    if let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmHWM:"))
                        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
                    {
                        peak_kib = peak_kib.max(kib);
                    }
                }
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            peak_kib
        })
    };
    let mut status = 0;
    // SAFETY: plain syscall on our own child, with valid out-pointers; std's Child is not
    // waited on afterwards.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let _ = usage;
    assert_eq!(r, pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak_kib = sampler.join().unwrap();
    let status = std::process::ExitStatus::from_raw(status);
    Measured {
        code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        max_rss_mib: peak_kib as f64 / 1024.0,
    }
}

/// Peak memory a hostile run may cost kubes: the guest's own memory (its cap) plus the host's
/// bounded buffers; the first round needed 1.4 to 5.6 GB for these.
const RSS_BOUND_MIB: f64 = 400.0;

impl Hostile {
    fn dir(&self) -> &Path {
        self.project.path()
    }

    fn kubes(&self, args: &[&str]) -> Command {
        // The run's clean environment, hook cache and cache key (not ~/.config/kubes).
        let mut cmd = crate::common::kubes_process();
        cmd.arg("--project")
            .arg(self.dir())
            .arg("--kubeconfig")
            .arg(self.srv.kubeconfig())
            .args(args);
        cmd
    }

    /// `kubes hooks run NAME`, measured, with hooks.yaml declaring that hook alone (kubes
    /// loads every declared module before running any, so the bomb would stop them all);
    /// the request log covers this run only.
    fn run_hook(&self, name: &str) -> Measured {
        write(self.dir(), ".kubes/config/hooks.yaml", &only_hook(name));
        self.srv.srv.clear_requests();
        let m = run_measured(self.kubes(&["hooks", "run", name]));
        println!(
            "hook {name}: exit {:?}, kubes peak RSS {:.0} MiB",
            m.code, m.max_rss_mib
        );
        if m.code != Some(0) {
            println!("  {}", cut(m.stderr.trim(), 600).replace('\n', "\n  "));
        }
        m
    }

    /// What the cluster holds before any hostile hook runs: the app namespace, a victim
    /// namespace, a Secret, a pod, a few ConfigMaps of 200 KiB to make watches heavy.
    fn seed_cluster(&self) {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = self.srv.cluster().await;
            let opts = kubes::cluster::ApplyOptions::default();
            for obj in [
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo"}}),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "victim"}}),
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-password", "namespace": "demo"}, "stringData": {"password": "hunter2"}}),
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim", "namespace": "demo"},
                       "spec": {"containers": [{"name": "app", "image": "app:1"}]}}),
            ] {
                c.apply_object(&obj, &opts).await.unwrap();
            }
            let big = "x".repeat(200 * 1024);
            for i in 0..20 {
                let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": format!("heavy-{i}"), "namespace": "demo"}, "data": {"blob": big}});
                c.apply_object(&cm, &opts).await.unwrap();
            }
        });
    }

    fn exists(&self, group: &str, plural: &str, ns: Option<&str>, name: &str) -> bool {
        self.srv.srv.object(group, plural, ns, name).is_some()
    }

    /// The requests of the last run that changed something (anything but GET).
    fn writes(&self) -> Vec<RecordedRequest> {
        self.srv
            .srv
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

/// Lines `attempt LABEL: refused: ...` and `LEAKED LABEL: ...` a hostile hook printed.
fn attempts(m: &Measured, hook: &str) -> (Vec<(String, String)>, Vec<String>) {
    let prefix = format!("[{hook}] ");
    let mut refused = Vec::new();
    let mut leaked = Vec::new();
    for line in m.stdout.lines().filter_map(|l| l.strip_prefix(&prefix)) {
        if let Some(rest) = line.strip_prefix("attempt ") {
            let (label, why) = rest.split_once(": refused: ").expect("attempt line");
            refused.push((label.to_string(), why.to_string()));
        } else if let Some(rest) = line.strip_prefix("LEAKED ") {
            leaked.push(rest.to_string());
        }
    }
    (refused, leaked)
}

fn assert_bounded(m: &Measured) {
    assert!(
        m.max_rss_mib < RSS_BOUND_MIB,
        "kubes used {:.0} MiB (bound {RSS_BOUND_MIB} MiB)\n{}",
        m.max_rss_mib,
        m.show()
    );
    assert!(!m.stderr.contains("panicked"), "{}", m.show());
}

#[test]
fn a_hostile_hook_is_contained_in_every_class() {
    let h = hostile_project();

    // 1. A namespaced wildcard grant reaches nothing cluster-scoped, nor RBAC or credentials.
    let m = h.run_hook("cluster-scope");
    assert_eq!(m.code, Some(0), "{}", m.show());
    let (refused, leaked) = attempts(&m, "cluster-scope");
    assert!(leaked.is_empty(), "{leaked:?}\n{}", m.show());
    assert_eq!(refused.len(), 15, "{refused:#?}");
    for (label, why) in &refused {
        assert!(why.contains("Forbidden"), "{label}: {why}");
    }
    assert!(
        m.stdout
            .contains("[cluster-scope] control: applied configmap allowed"),
        "{}",
        m.show()
    );
    let all = m.all();
    assert!(all.contains("audit: hook=cluster-scope verb=apply resource=clusterrolebindings.rbac.authorization.k8s.io name=kubes-pwn namespace=(cluster) denied: `*` never covers the RBAC and credential kinds"), "{all}");
    assert!(all.contains("audit: hook=cluster-scope verb=delete resource=namespaces name=victim namespace=(cluster) denied: cluster-scoped objects are covered only by a grant with `cluster: true`"), "{all}");
    assert!(all.contains("audit: hook=cluster-scope verb=get resource=secrets name=db-password namespace=demo denied: `*` never covers the RBAC and credential kinds"), "{all}");
    // The cluster: nothing beyond the ConfigMap the grant does cover.
    assert!(!h.exists(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        None,
        "kubes-pwn"
    ));
    assert!(!h.exists(
        "rbac.authorization.k8s.io",
        "roles",
        Some("demo"),
        "kubes-pwn"
    ));
    assert!(!h.exists(
        "rbac.authorization.k8s.io",
        "rolebindings",
        Some("demo"),
        "kubes-pwn"
    ));
    assert!(!h.exists("", "serviceaccounts", Some("demo"), "kubes-pwn"));
    assert!(!h.exists(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        None,
        "pwns.example.com"
    ));
    assert!(h.exists("", "namespaces", None, "victim"));
    assert!(h.exists("", "configmaps", Some("demo"), "allowed"));
    let writes = h.writes();
    assert!(
        writes
            .iter()
            .all(|r| r.path == "/api/v1/namespaces/demo/configmaps/allowed"),
        "{writes:#?}"
    );
    assert_bounded(&m);

    // 2. Names, namespaces, kinds, versions, selectors and containers are validated before
    //    the grant check: none reaches a subresource, another path or a query parameter.
    let m = h.run_hook("name-injection");
    assert_eq!(m.code, Some(0), "{}", m.show());
    let (refused, leaked) = attempts(&m, "name-injection");
    assert!(leaked.is_empty(), "{leaked:?}");
    assert_eq!(refused.len(), 25, "{refused:#?}");
    for (label, why) in &refused {
        assert!(why.contains("Invalid"), "{label} should be invalid: {why}");
    }
    assert!(
        m.stdout
            .contains("[name-injection] control: got pod victim"),
        "{}",
        m.show()
    );
    for r in h.srv.srv.requests() {
        // Discovery (`/api`, `/apis/GROUP/VERSION`) names no namespace; the only resource
        // request is the control get, with no query.
        let discovery = !r.path.contains("/namespaces");
        let control = r.path == "/api/v1/namespaces/demo/pods/victim";
        assert!(
            r.method == "GET" && r.query.is_none() && (discovery || control),
            "a request beyond the control get: {r}"
        );
    }
    assert_bounded(&m);

    // 3b. Watches: at most `limits.streams` open, and what they buffer is bounded.
    let m = h.run_hook("flood-watches");
    assert_eq!(m.code, Some(0), "{}", m.show());
    assert!(
        m.stdout.contains("[flood-watches] opened 64 watches"),
        "{}",
        m.show()
    );
    assert!(m.stdout.contains("first refusal: ClusterError::Invalid(\"this hook already has 64 watches and log streams open"), "{}", m.show());
    assert_bounded(&m);

    // 3b'. Follows (the progress interface): hostile names, kinds of syntax and sizes are
    //     refused before any request; at most `limits.streams` follows open; the followers
    //     ask only for the one Job, the one Deployment and the pods, as granted.
    let m = h.run_hook("flood-follows");
    assert_eq!(m.code, Some(0), "{}", m.show());
    assert!(
        m.stdout
            .contains("[flood-follows] hostile follows refused 26 of 26"),
        "{}",
        m.show()
    );
    assert!(
        m.stdout.contains("[flood-follows] opened 64 follows"),
        "{}",
        m.show()
    );
    assert!(m.stdout.contains("first refusal: ClusterError::Invalid(\"this hook already has 64 watches and log streams open"), "{}", m.show());
    for r in h.srv.srv.requests() {
        let discovery = !r.path.contains("/namespaces");
        let query = r.query.as_deref().unwrap_or("");
        let followed = match r.path.as_str() {
            "/apis/batch/v1/namespaces/demo/jobs" => {
                query.contains("fieldSelector=metadata.name%3Dmigrate")
            }
            "/apis/apps/v1/namespaces/demo/deployments" => {
                query.contains("fieldSelector=metadata.name%3Dweb")
            }
            "/api/v1/namespaces/demo/pods" => query.contains("labelSelector="),
            _ => false,
        };
        assert!(
            r.method == "GET" && (discovery || followed),
            "a request beyond the follows: {r}"
        );
    }
    assert_bounded(&m);

    // 3c. A 96 MiB object is refused by size before it is parsed (no grant needed to try).
    let m = h.run_hook("flood-apply");
    assert_eq!(m.code, Some(0), "{}", m.show());
    assert!(m.stdout.contains("[flood-apply] apply refused: ClusterError::Invalid(\"the object is 100663296 bytes, more than the request limit of 3145728 bytes"), "{}", m.show());
    // The guest's 96 MiB (and its copy) are inside its own 1 GiB cap; the host adds no tree.
    assert!(m.max_rss_mib < 700.0, "{}", m.show());
    assert!(!m.stderr.contains("panicked"));

    // 3d. Denials are kept compactly and printed up to a cap, the rest counted.
    let m = h.run_hook("flood-denials");
    assert_eq!(m.code, Some(0), "{}", m.show());
    assert!(
        m.stdout.contains("[flood-denials] denied 1500, invalid 20"),
        "{}",
        m.show()
    );
    let audit_lines = m
        .all()
        .lines()
        .filter(|l| l.starts_with("audit: hook=flood-denials verb="))
        .count();
    assert_eq!(audit_lines, 50, "{}", m.show());
    assert!(
        m.all()
            .contains("audit: hook=flood-denials made 1450 more denied calls than the 50 printed"),
        "{}",
        m.show()
    );
    assert!(
        m.all().len() < 64 * 1024,
        "the 1 MiB names must not be echoed: {} bytes",
        m.all().len()
    );
    assert_bounded(&m);

    // 3e. Output beyond the hook's output limit is counted, not printed.
    let m = h.run_hook("flood-output");
    assert_eq!(m.code, Some(0), "{}", m.show());
    // The limit counts the hook's own bytes (a line and its newline), not kubes' prefix.
    let printed = m
        .stdout
        .lines()
        .filter(|l| l.starts_with("[flood-output] xxx"))
        .count();
    assert_eq!(
        printed,
        (1 << 20) / 101,
        "lines of 100 bytes printed under a 1 MiB limit"
    );
    assert!(
        m.all()
            .contains("[flood-output] output limit of 1048576 bytes reached"),
        "{}",
        cut(&m.all(), 2000)
    );
    assert!(m.all().contains("bytes of output were not printed"));
    assert_bounded(&m);

    // 3a. A compile bomb is refused from its size of work, before the compiler sees it.
    let m = h.run_hook("bomb");
    assert_eq!(m.code, Some(1), "{}", m.show());
    assert!(m.stderr.contains("hook bomb"), "{}", m.show());
    assert!(
        m.stderr
            .contains("300000 functions, more than the limit of 50000"),
        "{}",
        m.show()
    );
    assert!(m.max_rss_mib < 150.0, "{}", m.show());
    let m = h.run_hook("big-module");
    assert_eq!(m.code, Some(1), "{}", m.show());
    assert!(
        m.stderr.contains("more than the limit of 1048576 bytes"),
        "{}",
        m.show()
    );

    // 5. Terminal control sequences are escaped in every channel, the error message too.
    let m = h.run_hook("terminal");
    assert_eq!(m.code, Some(1), "{}", m.show());
    let all = m.all();
    for c in ['\u{1b}', '\u{7}', '\u{8}', '\u{7f}', '\u{9b}', '\r'] {
        assert!(!all.contains(c), "{c:?} reached the terminal:\n{all:?}");
    }
    assert!(
        all.contains("[terminal] \\x1b[2K\\x0d[kubes] deploy complete"),
        "{all}"
    );
    assert!(
        all.contains("[terminal] \\x1b]52;c;ZWNobyBwd25lZA==\\x07"),
        "{all}"
    );
    assert!(all.contains("[terminal] \\u{9b}31mred"), "{all}");
    assert!(all.contains("[terminal] a\tb"), "tabs stay: {all}");
    assert!(
        all.contains("\\x1b[31mforged error\\x1b[0m\\x0d[other-hook] ok"),
        "{all}"
    );

    // 6. A module symlinked out of the project is not loaded.
    let m = h.run_hook("outside");
    assert_eq!(m.code, Some(1), "{}", m.show());
    assert!(m.stderr.contains("hook outside"), "{}", m.show());
    assert!(
        m.stderr
            .contains("module hooks/outside.wasm leads outside the project"),
        "{}",
        m.show()
    );
    assert!(
        !m.stdout.contains("[outside]"),
        "the outside module ran: {}",
        m.show()
    );

    // 7. A call no grant can cover is refused before any request, discovery included.
    let m = h.run_hook("no-grants");
    let hook_requests: Vec<RecordedRequest> = h.srv.srv.requests();
    assert!(
        m.all().contains("audit: hook=no-grants verb=delete"),
        "{}",
        m.show()
    );
    // `kubes hooks run` itself connects and plans (a version check at most); the hook
    // adds nothing: no discovery of the Job's group, no delete.
    assert!(
        hook_requests
            .iter()
            .all(|r| r.method == "GET" && !r.path.starts_with("/apis/batch")),
        "{hook_requests:#?}"
    );
}

#[test]
fn a_cache_entry_swapped_for_another_components_is_rebuilt_not_run() {
    use kubes::hooks::cache::CacheOutcome;
    use kubes::hooks::{HookEngine, MemoryReporter};
    let tmp = tempfile::tempdir().unwrap();
    let (root, key) = (
        tmp.path().join("cache"),
        Some(tmp.path().join("config/cache.key")),
    );
    let probe = guest("hook_probe");
    let panic = guest("hostile_panic");
    let rt = tokio::runtime::Runtime::new().unwrap();

    let first = HookEngine::with_cache(Some(root.clone()), key.clone()).unwrap();
    let p = first.load(&probe).unwrap();
    let x = first.load(&panic).unwrap();
    let dir = first.cache().dir().unwrap().to_path_buf();
    // The attacker copies the panicking hook's compiled entry under the probe's digest.
    std::fs::copy(
        dir.join(format!("{}.cwasm", x.digest)),
        dir.join(format!("{}.cwasm", p.digest)),
    )
    .unwrap();

    let second = HookEngine::with_cache(Some(root.clone()), key.clone()).unwrap();
    let p2 = second.load(&probe).unwrap();
    match &p2.cache {
        CacheOutcome::Rebuilt(why) => assert!(why.contains("authentication"), "{why}"),
        other => panic!("the swapped entry was used: {other:?}"),
    }
    // And what runs is the probe, not the impostor.
    let mem = MemoryReporter::new();
    let out = rt.block_on(second.run(
        &p2,
        crate::hooks_support::invocation("probe", Arc::new(mem.clone())),
    ));
    assert!(out.is_ok(), "{:?}", out.err().map(|e| e.to_string()));
    assert!(
        !mem.lines().iter().any(|l| l.contains("panicked")),
        "{:?}",
        mem.lines()
    );
    // The rebuilt entry is authentic again.
    let third = HookEngine::with_cache(Some(root.clone()), key.clone()).unwrap();
    assert_eq!(third.load(&probe).unwrap().cache, CacheOutcome::Hit);

    // A cache directory others can write is not used at all.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o777)).unwrap();
    let shared = HookEngine::with_cache(Some(root.clone()), key).unwrap();
    assert!(shared.cache().dir().is_none());
    assert!(shared
        .cache()
        .refused()
        .unwrap()
        .contains("written by others"));
    assert_eq!(shared.load(&probe).unwrap().cache, CacheOutcome::Compiled);
}

#[test]
fn hooks_inspect_shows_effective_grants() {
    let h = hostile_project();
    let out = h
        .kubes(&["hooks", "inspect", "cluster-scope"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("hook cluster-scope (before apply):"),
        "{text}"
    );
    assert!(text.contains("grant: get, list, apply, delete, watch on every resource except the RBAC and credential kinds"), "{text}");
    assert!(
        text.contains("in namespaces demo; cluster-scoped objects: no"),
        "{text}"
    );
    assert!(
        text.contains(
            "`*` never covers: secrets, serviceaccounts, roles.rbac.authorization.k8s.io"
        ),
        "{text}"
    );
    assert!(
        text.contains("limits: timeout 1m; memory 268435456 bytes"),
        "{text}"
    );
}

#[test]
fn small_holes_are_closed() {
    let h = hostile_project();
    // `timeout: .inf` in hooks.yaml: an error naming the file and field, not a panic.
    let p = h.dir();
    let yaml = std::fs::read_to_string(p.join(".kubes/config/hooks.yaml")).unwrap();
    std::fs::write(
        p.join(".kubes/config/hooks.yaml"),
        yaml.replacen(
            "    module: hooks/terminal.wasm\n",
            "    module: hooks/terminal.wasm\n    timeout: .inf\n",
            1,
        ),
    )
    .unwrap();
    let m = run_measured(h.kubes(&["hooks", "list"]));
    assert_eq!(m.code, Some(2), "bad input: {}", m.show());
    assert!(
        m.stderr.contains("hooks.yaml:") && m.stderr.contains("hook terminal: timeout:"),
        "{}",
        m.show()
    );
    assert!(!m.stderr.contains("panicked"), "{}", m.show());
    std::fs::write(p.join(".kubes/config/hooks.yaml"), yaml).unwrap();

    // A closed stdout (`kubes plan | head -0`): kubes ends quietly, no panic.
    let mut cmd = h.kubes(&["plan"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A resource symlinked from outside the project is not read by compile.
    let outside_res = tempfile::tempdir().unwrap();
    std::fs::write(
        outside_res.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        outside_res.path().join("cm.yaml"),
        p.join(".kubes/resources/shared/configmap.yaml"),
    )
    .unwrap();
    let m = run_measured(h.kubes(&["compile"]));
    assert_eq!(m.code, Some(2), "bad input: {}", m.show());
    assert!(
        m.stderr.contains("configmap.yaml") && m.stderr.contains("outside the project"),
        "{}",
        m.show()
    );
    std::fs::remove_file(p.join(".kubes/resources/shared/configmap.yaml")).unwrap();

    // hooks.yaml symlinked from outside the project is not read.
    let outside = tempfile::tempdir().unwrap();
    let evil: PathBuf = outside.path().join("hooks.yaml");
    std::fs::write(&evil, "hooks: []\n").unwrap();
    std::fs::remove_file(p.join(".kubes/config/hooks.yaml")).unwrap();
    std::os::unix::fs::symlink(&evil, p.join(".kubes/config/hooks.yaml")).unwrap();
    let m = run_measured(h.kubes(&["hooks", "list"]));
    assert_eq!(m.code, Some(2), "bad input: {}", m.show());
    assert!(m.stderr.contains("hooks.yaml"), "{}", m.show());
}

#[test]
fn kubes_diff_masks_secret_data() {
    let h = hostile_project();
    write(
        h.dir(),
        ".kubes/resources/shared/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-password\n  namespace: demo\nstringData:\n  password: correct-horse\n",
    );
    let m = run_measured(h.kubes(&["diff"]));
    assert_eq!(m.code, Some(1), "{}", m.show());
    let all = m.all();
    assert!(
        !all.contains("hunter2") && !all.contains("correct-horse"),
        "{all}"
    );
    assert!(
        !all.contains("aHVudGVyMg=="),
        "base64 of the live value leaked: {all}"
    );
    assert!(all.contains("***"), "{all}");
}

//! Story: a hook is a sandboxed WebAssembly component. Hostile hooks that try to read host
//! files or the environment, open sockets, spin forever, eat memory, overflow the stack or
//! panic are each stopped and reported with a reason a user can act on, and the host keeps
//! running hooks afterwards. Broken modules (not wasm, a core module, the wrong world, a
//! missing file) are refused with a clear error.
//!
//! The hooks are real components built from `examples/hooks` by the test setup.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hooks_support::{guest, invocation, write};
use kubes::hooks::cache::CacheOutcome;
use kubes::hooks::{HookEngine, HookError, MemoryReporter};

fn engine() -> HookEngine {
    // No on-disk cache here: these tests are about the sandbox (the cache has its own test).
    HookEngine::with_cache_root(None).unwrap()
}

fn no_leak(lines: &[String]) {
    assert!(
        !lines.iter().any(|l| l.contains("LEAKED")),
        "the hook escaped: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_host_files_fails_inside_the_sandbox() {
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_read_file")).unwrap();
    let err = e
        .run(&hook, invocation("read-file", Arc::new(mem.clone())))
        .await
        .unwrap_err();
    match &err.error {
        HookError::Failed(m) => assert!(m.starts_with("could not read /etc/passwd"), "{m}"),
        other => panic!("expected the hook to fail on its own, got {other}"),
    }
    no_leak(&mem.lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_environment_is_invisible() {
    // The host has an environment to leak (no `set_var` here: every story shares this
    // process, and setting a variable while others spawn processes is a data race).
    assert!(
        std::env::vars_os().next().is_some(),
        "the test process has no environment, so this story shows nothing"
    );
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_read_env")).unwrap();
    let err = e
        .run(&hook, invocation("read-env", Arc::new(mem.clone())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err.error, HookError::Failed(m) if m.starts_with("environment is empty")),
        "{err}"
    );
    no_leak(&mem.lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn sockets_and_name_lookup_are_denied() {
    // A listener the hook could reach if sockets were allowed.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_open_socket")).unwrap();
    let mut inv = invocation("open-socket", Arc::new(mem.clone()));
    inv.config_json = format!(r#"{{"port":{port}}}"#);
    let err = e.run(&hook, inv).await.unwrap_err();
    let HookError::Failed(m) = &err.error else {
        panic!("expected a failed hook, got {err}")
    };
    assert!(m.starts_with("network denied"), "{m}");
    // Lookups are refused as a resolver failure, connections as access denied: both by
    // the host, before any packet leaves.
    assert!(
        m.contains("lookup Err") && m.contains("permanent-resolver-failure"),
        "{m}"
    );
    assert!(m.contains("access-denied"), "{m}");
    assert!(listener.accept().is_err(), "the hook connected to the host");
    no_leak(&mem.lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endless_loop_is_stopped_at_its_timeout() {
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_spin")).unwrap();
    let mut inv = invocation("spin", Arc::new(mem.clone()));
    inv.timeout = Duration::from_millis(500);
    let start = Instant::now();
    let err = e.run(&hook, inv).await.unwrap_err();
    let took = start.elapsed();
    assert!(
        matches!(err.error, HookError::Deadline { timeout } if timeout == Duration::from_millis(500)),
        "{err}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        err.to_string()
            .contains("deadline exceeded: stopped after its timeout of 500ms"),
        "{err}"
    );
    assert!(
        mem.lines().contains(&"[spin] spinning forever".to_string()),
        "{:?}",
        mem.lines()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_beyond_the_cap_is_refused() {
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_alloc")).unwrap();
    let mut inv = invocation("alloc", Arc::new(mem.clone()));
    inv.memory = 64 << 20;
    let err = e.run(&hook, inv).await.unwrap_err();
    match err.error {
        HookError::MemoryCap { cap, wanted } => {
            assert_eq!(cap, 64 << 20);
            assert!(wanted > cap);
        }
        other => panic!("expected memory cap, got {other}"),
    }
    assert!(err.to_string().contains("memory cap hit"));
    no_leak(&mem.lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stack_overflow_traps_with_a_backtrace() {
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_stack")).unwrap();
    let err = e
        .run(&hook, invocation("stack", Arc::new(mem.clone())))
        .await
        .unwrap_err();
    let HookError::Trap { message, backtrace } = &err.error else {
        panic!("expected a trap, got {err}")
    };
    assert!(message.contains("call stack exhausted"), "{message}");
    assert!(
        backtrace.as_deref().unwrap_or("").contains("recurse"),
        "{backtrace:?}"
    );
    no_leak(&mem.lines());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_trap_with_the_panic_message_in_the_output() {
    let e = engine();
    let mem = MemoryReporter::new();
    let hook = e.load(&guest("hostile_panic")).unwrap();
    let err = e
        .run(&hook, invocation("panic", Arc::new(mem.clone())))
        .await
        .unwrap_err();
    assert!(
        matches!(&err.error, HookError::Trap { message, .. } if message.contains("unreachable")),
        "{err}"
    );
    let lines = mem.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("[panic] ") && l.contains("hostile hook panicked on purpose")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_host_is_unharmed_after_hostile_hooks() {
    let e = engine();
    let quiet = Arc::new(MemoryReporter::new());
    for (name, timeout, stopped_by) in [
        ("hostile_spin", 200, "deadline"),
        ("hostile_alloc", 20_000, "memory cap"),
        ("hostile_stack", 20_000, "trap"),
        ("hostile_panic", 20_000, "trap"),
    ] {
        let hook = e.load(&guest(name)).unwrap();
        let mut inv = invocation(name, quiet.clone());
        inv.timeout = Duration::from_millis(timeout);
        let err = e
            .run(&hook, inv)
            .await
            .expect_err("a hostile hook is stopped");
        // Each is stopped for its own reason, not for one an earlier hook left behind.
        let why = match &err.error {
            HookError::Deadline { .. } => "deadline",
            HookError::MemoryCap { .. } => "memory cap",
            HookError::Trap { .. } => "trap",
            _ => "something else",
        };
        assert_eq!(why, stopped_by, "{name}: {err}");
    }
    let mem = MemoryReporter::new();
    let probe = e.load(&guest("hook_probe")).unwrap();
    let mut inv = invocation("probe", Arc::new(mem.clone()));
    inv.config_json = r#"{"hello":"world"}"#.into();
    e.run(&probe, inv).await.unwrap();
    assert!(
        mem.lines()
            .iter()
            .any(|l| l == r#"[probe] info: config {"hello":"world"}"#),
        "{:?}",
        mem.lines()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_is_prefixed_and_config_reaches_the_guest() {
    let e = engine();
    let mem = MemoryReporter::new();
    let probe = e.load(&guest("hook_probe")).unwrap();
    let mut inv = invocation("probe", Arc::new(mem.clone()));
    inv.config_json = r#"{"stderr":"to stderr","n":[1,2]}"#.into();
    e.run(&probe, inv).await.unwrap();
    assert_eq!(
        mem.lines(),
        vec![
            "[probe] probe probe at before apply on whole step app=demo env=dev ns=demo dry_run=false",
            r#"[probe] info: config {"stderr":"to stderr","n":[1,2]}"#,
            "[probe] to stderr",
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_run_starts_from_a_fresh_instance() {
    // The engine shares the compiled, pre-linked component between runs; a guest's globals
    // (here a static run counter) must still start afresh every run.
    let e = engine();
    let probe = e.load(&guest("hook_probe")).unwrap();
    for _ in 0..3 {
        let mem = MemoryReporter::new();
        let mut inv = invocation("probe", Arc::new(mem.clone()));
        inv.config_json = r#"{"count":true}"#.into();
        e.run(&probe, inv).await.unwrap();
        let counts: Vec<_> = mem
            .lines()
            .into_iter()
            .filter(|l| l.contains("runs in this instance"))
            .collect();
        assert_eq!(counts, vec!["[probe] probe runs in this instance: 1"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hook_returning_an_error_fails_with_its_message() {
    let e = engine();
    let probe = e.load(&guest("hook_probe")).unwrap();
    let mut inv = invocation("probe", Arc::new(MemoryReporter::new()));
    inv.config_json = r#"{"fail":"migration not ready"}"#.into();
    let err = e.run(&probe, inv).await.unwrap_err();
    assert_eq!(err.to_string(), "returned an error: migration not ready");
}

#[tokio::test(flavor = "multi_thread")]
async fn read_output_preopens_only_the_output_dir_read_only() {
    let dir = tempfile::tempdir().unwrap();
    write(
        &dir.path().join("web/deployment.yaml"),
        "kind: Deployment\n",
    );
    let e = engine();
    let probe = e.load(&guest("hook_probe")).unwrap();

    let mem = MemoryReporter::new();
    let mut inv = invocation("probe", Arc::new(mem.clone()));
    inv.read_output = Some(dir.path().to_path_buf());
    inv.config_json = r#"{"read":"/output/web/deployment.yaml"}"#.into();
    e.run(&probe, inv).await.unwrap();
    assert!(mem
        .lines()
        .contains(&"[probe] read /output/web/deployment.yaml: kind: Deployment".to_string()));

    // Without read_output the same read fails.
    let mut inv = invocation("probe", Arc::new(MemoryReporter::new()));
    inv.config_json = r#"{"read":"/output/web/deployment.yaml"}"#.into();
    let err = e.run(&probe, inv).await.unwrap_err();
    assert!(
        err.to_string().contains("read /output/web/deployment.yaml"),
        "{err}"
    );
}

#[test]
fn broken_modules_are_refused_with_the_reason() {
    let e = engine();
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("nope.wasm");
    let err = e.load(&missing).err().unwrap();
    assert!(matches!(err, HookError::ModuleMissing { .. }), "{err}");
    assert!(err.to_string().ends_with("nope.wasm does not exist"));

    let script = dir.path().join("wait.sh");
    write(
        &script,
        "#!/bin/sh\nkubectl wait --for=condition=Complete job/migrate\n",
    );
    let err = e.load(&script).err().unwrap();
    assert!(matches!(err, HookError::NotWasm { .. }), "{err}");

    // The smallest valid core module: magic and version 1, no sections.
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let err = e.load(&core).err().unwrap();
    assert!(matches!(err, HookError::NotAComponent { .. }), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"));

    let err = e.load(&guest("hostile-wrong-world")).err().unwrap();
    let HookError::WrongWorld { missing, .. } = &err else {
        panic!("expected wrong world, got {err}")
    };
    assert!(missing[0].contains("missing export `run`"), "{missing:?}");
    assert!(missing[0].contains("WASI command"), "{missing:?}");
}

#[test]
fn compiled_components_are_cached_and_bad_entries_rebuilt() {
    // A cache and a cache key of this test's own (not the user's ~/.cache, ~/.config).
    let tmp = tempfile::tempdir().unwrap();
    let cached_engine = || {
        HookEngine::with_cache(
            Some(tmp.path().join("cache")),
            Some(tmp.path().join("config/cache.key")),
        )
        .unwrap()
    };
    let wasm = guest("hook_probe");

    let first = cached_engine();
    assert_eq!(first.load(&wasm).unwrap().cache, CacheOutcome::Compiled);
    // A new engine (a new process, as far as the cache knows) finds the entry.
    let second = cached_engine();
    let loaded = second.load(&wasm).unwrap();
    assert_eq!(loaded.cache, CacheOutcome::Hit);

    // Corrupt the entry: it must be detected and rebuilt, not loaded.
    let entry = second
        .cache()
        .dir()
        .unwrap()
        .join(format!("{}.cwasm", loaded.digest));
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();
    let third = cached_engine();
    match third.load(&wasm).unwrap().cache {
        CacheOutcome::Rebuilt(why) => assert!(why.contains("authentication"), "{why}"),
        other => panic!("expected a rebuild, got {other:?}"),
    }
    let fourth = cached_engine();
    assert_eq!(fourth.load(&wasm).unwrap().cache, CacheOutcome::Hit);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_sees_nothing_of_the_previous_run_of_the_same_hook() {
    // One engine, one loaded hook, run again and again: the runs share the engine's pooled
    // instance slots (the second run takes the slot the first left), never their memory.
    let e = engine();
    assert!(
        e.pooled(),
        "the engine fell back to on-demand instances: no slot is reused"
    );
    let hook = e.load(&guest("hostile_remember")).unwrap();
    for run in 1..=4 {
        let mem = MemoryReporter::new();
        e.run(&hook, invocation("remember", Arc::new(mem.clone())))
            .await
            .unwrap_or_else(|f| panic!("run {run}: {f}"));
        let lines = mem.lines();
        // The search works: it finds the marker the run planted before searching.
        assert!(
            lines
                .iter()
                .any(|l| l.contains("self-check: found own marker")),
            "run {run}: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("nothing of an earlier run")),
            "run {run}: {lines:#?}"
        );
        assert!(
            lines.iter().any(|l| l.contains("planted the marker")),
            "run {run}: {lines:#?}"
        );
        no_leak(&lines);
    }
}

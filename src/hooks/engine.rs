//! The hook engine: one wasmtime engine (async, component model, epoch interruption) with a
//! linker holding WASI p2 and the `kubes:hook` host interfaces; components loaded through
//! the on-disk cache; and [`HookEngine::run`], which runs one hook in a fresh sandboxed store
//! with a memory cap and a deadline.
//!
//! The deadline is enforced twice over, because a guest can be in one of two places when it
//! runs out of time: executing wasm (an epoch tick every [`EPOCH_TICK`] checks the deadline
//! and traps), or waiting in a host call such as a watch (the whole call is raced against a
//! tokio timer and dropped, which cancels the host future and tears down the store).
//! An interrupt (Ctrl-C: the run's [`crate::cluster::Interrupt`], reached through the
//! hook's cluster connection) stops a hook the same two ways, at once.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Store, Trap, UpdateDeadline, WasmBacktrace,
};

use super::cache::{self, CacheOutcome, ModuleCache};
use super::error::{HookError, RunFailure};
use super::grants::{Denial, Grant, Grants};
use super::host::bindings::{self as host_bindings, HookPre};
use super::host::bindings_v01::{self as host_bindings_v01, HookPre as HookPreV01};
use super::host::{
    ClusterAccess, DenialLog, HookState, HostCtx, RunContext, Target, WitStep, WitWhen,
};
use super::inspect;
use super::limits::{self, HookLimits};
use super::output::{escape_controls, HookReporter};
use super::pool;
use super::sandbox::{self, MemoryLimiter};
use crate::lifecycle::{Point, Step, When};

/// How often the epoch advances: the granularity of deadlines for running wasm.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Default memory cap for a hook.
pub const DEFAULT_MEMORY: u64 = 256 * 1024 * 1024;

/// A component ready to instantiate, known by its content digest.
#[derive(Clone)]
pub struct LoadedHook {
    pub path: PathBuf,
    /// Hex SHA-256 of the component file.
    pub digest: String,
    /// Whether it came from the on-disk cache.
    pub cache: CacheOutcome,
    pre: Pre,
}

/// A component linked against the world it was built for.
#[derive(Clone)]
enum Pre {
    /// `kubes:hook@0.2.0`.
    Current(HookPre<HookState>),
    /// `kubes:hook@0.1.0`: its cluster and log calls are served by the same host code.
    V01(HookPreV01<HookState>),
}

impl LoadedHook {
    /// The `kubes:hook` version the component was built for (`0.2.0`, `0.1.0`).
    pub fn world_version(&self) -> &'static str {
        match self.pre {
            Pre::Current(_) => "0.2.0",
            Pre::V01(_) => "0.1.0",
        }
    }
}

/// Everything one run needs besides the component.
pub struct HookInvocation {
    pub name: String,
    pub point: Point,
    /// The file a per-resource hook runs around.
    pub target: Option<Target>,
    pub app: String,
    pub env: String,
    pub namespace: String,
    pub dry_run: bool,
    /// The hook's `config` as JSON.
    pub config_json: String,
    pub timeout: Duration,
    /// Memory cap in bytes.
    pub memory: u64,
    /// Host directory to preopen read-only at [`sandbox::OUTPUT_GUEST_DIR`].
    pub read_output: Option<PathBuf>,
    pub grants: Vec<Grant>,
    pub limits: HookLimits,
    pub cluster: Option<ClusterAccess>,
    pub reporter: Arc<dyn HookReporter>,
}

/// A successful run.
#[derive(Debug)]
pub struct RunReport {
    pub elapsed: Duration,
    /// Calls the grants refused (the hook carried on regardless): the first ones in full.
    pub denials: Vec<Denial>,
    /// Denials beyond the ones kept in `denials` (see [`HookLimits::denials`]).
    pub more_denials: u64,
    /// The cluster calls the grants allowed, `VERB RESOURCE[ NAME]`, the first ones.
    pub calls: Vec<String>,
}

/// Longest text of a hook's own (its error message, a trap's backtrace) that is kept.
const MAX_GUEST_TEXT: usize = 8 * 1024;

/// Text that came from a guest, made safe to print: control characters escaped, cut at
/// `max` bytes (on a character boundary) with the size said.
pub fn guest_text(s: &str, max: usize) -> String {
    let cut = if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}... ({} bytes in all)", &s[..end], s.len())
    } else {
        s.to_string()
    };
    escape_controls(&cut).into_owned()
}

pub struct HookEngine {
    engine: Engine,
    linker: Linker<HookState>,
    cache: ModuleCache,
    /// Components already loaded in this process, by digest.
    loaded: Mutex<HashMap<String, LoadedHook>>,
    ticker_stop: Arc<AtomicBool>,
    /// Runs holding a pool slot (see [`pool`]).
    slots: pool::Slots,
    pooled: bool,
}

impl Drop for HookEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl HookEngine {
    /// An engine caching compiled components in the default place (see [`cache::default_root`]).
    pub fn new() -> anyhow::Result<Self> {
        Self::with_cache_root(cache::default_root())
    }

    /// An engine caching under `root` (`None`: no on-disk cache), its entries authenticated
    /// with the per-user key (see [`cache::default_key_path`]).
    pub fn with_cache_root(root: Option<PathBuf>) -> anyhow::Result<Self> {
        Self::with_cache(root, cache::default_key_path())
    }

    /// An engine caching under `root`, with the cache key at `key_path`.
    pub fn with_cache(root: Option<PathBuf>, key_path: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut cfg = Config::new();
        // Async host calls are on by default in this wasmtime; backtraces (20 frames) too.
        cfg.wasm_component_model(true).epoch_interruption(true);
        let on_demand = cfg.clone();
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool::config()));
        // The pool's address space is reserved up front; where it cannot be (a small
        // `ulimit -v`), each run maps its own memory instead.
        let (engine, pooled) = match Engine::new(&cfg) {
            Ok(engine) => (engine, true),
            Err(_) => (Engine::new(&on_demand)?, false),
        };
        let mut linker = Linker::new(&engine);
        // All of WASI p2 is linked because every guest toolchain imports some of it; what
        // the sandbox allows is decided per run by the WASI context (see `sandbox`).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        // Our interfaces only: `Hook::add_to_linker` would add wasi:io a second time.
        host_bindings::kubes::hook::types::add_to_linker::<_, HasSelf<HookState>>(
            &mut linker,
            |s| s,
        )?;
        host_bindings::kubes::hook::cluster::add_to_linker::<_, HasSelf<HookState>>(
            &mut linker,
            |s| s,
        )?;
        host_bindings::kubes::hook::log::add_to_linker::<_, HasSelf<HookState>>(
            &mut linker,
            |s| s,
        )?;
        host_bindings::kubes::hook::progress::add_to_linker::<_, HasSelf<HookState>>(
            &mut linker,
            |s| s,
        )?;
        // The previous contract, 0.1.0: the same types (an instance of type exports only)
        // and the same calls, under its own names.
        linker.instance("kubes:hook/types@0.1.0")?;
        host_bindings_v01::kubes::hook::cluster::add_to_linker::<_, HasSelf<HookState>>(
            &mut linker,
            |s| s,
        )?;
        host_bindings_v01::kubes::hook::log::add_to_linker::<_, HasSelf<HookState>>(
            &mut linker,
            |s| s,
        )?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (e, stop) = (engine.clone(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("kubes-hook-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    e.increment_epoch();
                }
            })?;

        let cache = ModuleCache::with_key_path(root, key_path, &engine);
        Ok(HookEngine {
            engine,
            linker,
            cache,
            loaded: Mutex::new(HashMap::new()),
            ticker_stop,
            slots: pool::Slots::new(),
            pooled,
        })
    }

    /// Whether runs take their instances from the pool (false: the pool could not be
    /// mapped and each run maps its own).
    pub fn pooled(&self) -> bool {
        self.pooled
    }

    pub fn wasmtime(&self) -> &Engine {
        &self.engine
    }

    pub fn cache(&self) -> &ModuleCache {
        &self.cache
    }

    /// Read `path` (any file the user named), check it is a component, and compile it (or
    /// take it from the cache) within the default limits. Does not check the world: see
    /// [`HookEngine::load`].
    pub fn compile(&self, path: &Path) -> Result<(Component, String, CacheOutcome), HookError> {
        let limits = HookLimits::default();
        let bytes = read_module(path, open_ambient(path)?, &limits)?;
        let digest = cache::digest(&bytes);
        let (component, outcome) = self.compile_bytes(path, bytes, &digest, &limits)?;
        Ok((component, digest, outcome))
    }

    /// Load a hook module from a file the user named, within the default limits.
    pub fn load(&self, path: &Path) -> Result<LoadedHook, HookError> {
        self.load_with(path, &HookLimits::default())
    }

    /// Load a hook module from a file the user named, within `limits`.
    pub fn load_with(&self, path: &Path, limits: &HookLimits) -> Result<LoadedHook, HookError> {
        self.load_file(path, open_ambient(path)?, limits)
    }

    /// Load a hook module at `rel` inside `project` (a capability for the project root:
    /// neither `..` nor a symlink can lead outside it).
    pub fn load_from(
        &self,
        project: &cap_std::fs::Dir,
        rel: &Path,
        limits: &HookLimits,
    ) -> Result<LoadedHook, HookError> {
        let file = project.open(rel).map_err(|e| {
            // cap-std refuses a path that escapes the root with PermissionDenied.
            if e.kind() == std::io::ErrorKind::PermissionDenied
                && e.to_string().contains("outside of the filesystem")
            {
                HookError::OutsideProject {
                    path: rel.to_path_buf(),
                }
            } else {
                open_error(rel, e)
            }
        })?;
        self.load_file(rel, file.into_std(), limits)
    }

    /// Load an opened module file. When the cache knows this very version of the file (by
    /// its identity: see [`cache::FileStamp`]) and holds its compiled entry, the file is not
    /// read at all: a 20 MB Python hook costs a few `stat`s and a memory map.
    fn load_file(
        &self,
        path: &Path,
        file: std::fs::File,
        limits: &HookLimits,
    ) -> Result<LoadedHook, HookError> {
        let stamp = file
            .metadata()
            .ok()
            .filter(|m| m.is_file() && m.len() <= limits.module_size)
            .map(|m| cache::FileStamp::of(&m));
        if let Some(digest) = stamp.as_ref().and_then(|s| self.cache.known_digest(s)) {
            if let Some(hook) = self.already_loaded(path, &digest) {
                return Ok(hook);
            }
            if let Some(component) = self.cache.load_hit(&self.engine, &digest) {
                return self.finish(path, digest, component, CacheOutcome::Hit);
            }
        }
        let bytes = read_module(path, file, limits)?;
        let hook = self.load_bytes(path, bytes, limits)?;
        if let Some(stamp) = stamp {
            self.cache.remember_digest(&stamp, &hook.digest);
        }
        Ok(hook)
    }

    fn already_loaded(&self, path: &Path, digest: &str) -> Option<LoadedHook> {
        let loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        loaded.get(digest).map(|h| LoadedHook {
            path: path.to_path_buf(),
            cache: CacheOutcome::Hit,
            ..h.clone()
        })
    }

    /// Link a compiled component and remember it for this process.
    fn finish(
        &self,
        path: &Path,
        digest: String,
        component: Component,
        outcome: CacheOutcome,
    ) -> Result<LoadedHook, HookError> {
        let pre = self.prepare(path, &component)?;
        let hook = LoadedHook {
            path: path.to_path_buf(),
            digest: digest.clone(),
            cache: outcome,
            pre,
        };
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest, hook.clone());
        Ok(hook)
    }

    /// Compile (or take from cache) `bytes`, known as `path` in messages, and check it fits
    /// the `hook` world.
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        limits: &HookLimits,
    ) -> Result<LoadedHook, HookError> {
        let digest = cache::digest(&bytes);
        if let Some(hook) = self.already_loaded(path, &digest) {
            return Ok(hook);
        }
        let (component, outcome) = self.compile_bytes(path, bytes, &digest, limits)?;
        self.finish(path, digest, component, outcome)
    }

    /// The cache, or a compile within the budget: the component's size of work is counted
    /// from its binary first (a module of a million empty functions is refused before the
    /// compiler sees it), and the compile itself must finish in `limits.compile_time`.
    fn compile_bytes(
        &self,
        path: &Path,
        bytes: Vec<u8>,
        digest: &str,
        limits: &HookLimits,
    ) -> Result<(Component, CacheOutcome), HookError> {
        let refuse = |message: String| HookError::Compile {
            path: path.to_path_buf(),
            message,
        };
        let cost =
            limits::compile_cost(&bytes).map_err(|m| refuse(format!("invalid component: {m}")))?;
        limits.check_compile(&cost).map_err(&refuse)?;
        let budget = limits.compile_time;
        self.cache
            .load_or_compile(&self.engine, digest, || {
                compile_within(&self.engine, bytes, budget)
            })
            .map_err(|e| refuse(guest_text(&format!("{e:#}"), MAX_GUEST_TEXT)))
    }

    /// Link `component` against the hook world it was built for, naming every gap.
    fn prepare(&self, path: &Path, component: &Component) -> Result<Pre, HookError> {
        let wrong = |missing: Vec<String>| HookError::WrongWorld {
            path: path.to_path_buf(),
            missing,
        };
        let gaps = inspect::world_gaps(&self.engine, component);
        if !gaps.is_empty() {
            return Err(wrong(gaps));
        }
        let pre = self
            .linker
            .instantiate_pre(component)
            .map_err(|e| wrong(vec![format!("{e:#}")]))?;
        let err = |e: wasmtime::Error| wrong(vec![format!("{e:#}")]);
        match inspect::hook_version(&self.engine, component) {
            Some(inspect::HookVersion::V01) => HookPreV01::new(pre).map(Pre::V01).map_err(err),
            _ => HookPre::new(pre).map(Pre::Current).map_err(err),
        }
    }

    /// Run one hook to completion, its deadline, its memory cap or a trap.
    pub async fn run(
        &self,
        hook: &LoadedHook,
        inv: HookInvocation,
    ) -> Result<RunReport, RunFailure> {
        // Held until the store is gone (declared first, dropped last).
        let _slot = self.slots.take().await;
        let start = Instant::now();
        // The run's interruption (Ctrl-C), through its cluster connection: running wasm
        // traps at the next tick, a waiting host call is dropped (below).
        let interrupt = inv
            .cluster
            .as_ref()
            .map(|c| c.cluster.interrupt().clone())
            .unwrap_or_default();
        let output = Arc::new(sandbox::OutputBudget::new(inv.limits.output));
        let (wasi, stdout, stderr) = sandbox::wasi_context(
            &inv.name,
            inv.reporter.clone(),
            inv.read_output.as_deref(),
            output.clone(),
        )
        .map_err(|e| HookError::Host(format!("could not set up the sandbox: {e:#}")))?;
        let state = HookState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(inv.memory),
            deadline: start + inv.timeout,
            deadline_hit: false,
            host: HostCtx {
                hook: inv.name.clone(),
                grants: Grants {
                    hook: inv.name.clone(),
                    app_namespace: inv.namespace.clone(),
                    grants: inv.grants,
                },
                cluster: inv.cluster,
                reporter: inv.reporter.clone(),
                denials: DenialLog::new(inv.limits.denials),
                calls: Default::default(),
                limits: inv.limits.clone(),
                streams: super::host::streams::StreamBudget::new(&inv.limits),
                output: output.clone(),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        let stop = interrupt.clone();
        store.epoch_deadline_callback(move |mut ctx| {
            if stop.is_set() {
                return Err(Trap::Interrupt.into());
            }
            let s = ctx.data_mut();
            if Instant::now() >= s.deadline {
                s.deadline_hit = true;
                return Err(Trap::Interrupt.into());
            }
            // Yield to the executor each tick so timers (and other hooks' tasks) run.
            Ok(UpdateDeadline::Yield(1))
        });

        let ctx = RunContext {
            hook: inv.name.clone(),
            app: inv.app,
            env: inv.env,
            namespace: inv.namespace,
            when: match inv.point.when {
                When::Before => WitWhen::Before,
                When::After => WitWhen::After,
            },
            step: match inv.point.step {
                Step::Compile => WitStep::Compile,
                Step::Apply => WitStep::Apply,
                Step::Delete => WitStep::Delete,
                Step::Prune => WitStep::Prune,
            },
            target: inv.target,
            config_json: inv.config_json,
            dry_run: inv.dry_run,
        };

        let run = tokio::time::timeout(inv.timeout, async {
            match &hook.pre {
                Pre::Current(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance.call_run(&mut store, &ctx).await
                }
                Pre::V01(pre) => {
                    let instance = pre.instantiate_async(&mut store).await?;
                    instance.call_run(&mut store, &ctx).await
                }
            }
        });
        // Raced against the interrupt the way the timeout races it: dropping the run
        // cancels a host call in flight (a watch) and tears the store down.
        let outcome = interrupt.or_interrupted(run).await;
        stdout.finish();
        stderr.finish();
        let state = store.data_mut();
        output.report(&inv.name, &*inv.reporter);
        let (denials, more_denials) = state.host.denials.take();
        let (calls, _) = state.host.calls.take();
        if more_denials > 0 {
            state.host.reporter.note(&format!(
                "audit: hook={} made {} more denied calls than the {} printed",
                inv.name, more_denials, inv.limits.denials
            ));
        }
        let error = match outcome {
            Some(Ok(Ok(Ok(())))) => {
                return Ok(RunReport {
                    elapsed: start.elapsed(),
                    denials,
                    more_denials,
                    calls,
                })
            }
            // Dropped, or trapped at an epoch tick, because the run was interrupted.
            None => HookError::Host(format!("interrupted by {}", interrupt.signal_name())),
            Some(_) if interrupt.is_set() => {
                HookError::Host(format!("interrupted by {}", interrupt.signal_name()))
            }
            Some(Ok(Ok(Err(message)))) => HookError::Failed(guest_text(&message, MAX_GUEST_TEXT)),
            Some(Ok(Err(e))) => classify(e, state, inv.timeout),
            Some(Err(_elapsed)) => HookError::Deadline {
                timeout: inv.timeout,
            },
        };
        Err(RunFailure {
            error,
            denials,
            more_denials,
            calls,
        })
    }
}

fn open_error(path: &Path, e: std::io::Error) -> HookError {
    match e.kind() {
        std::io::ErrorKind::NotFound => HookError::ModuleMissing {
            path: path.to_path_buf(),
        },
        _ => HookError::ModuleUnreadable {
            path: path.to_path_buf(),
            source: e,
        },
    }
}

fn open_ambient(path: &Path) -> Result<std::fs::File, HookError> {
    std::fs::File::open(path).map_err(|e| open_error(path, e))
}

/// Compile on a thread of its own and wait at most `budget`: a component that takes longer
/// is refused (the compile is left to finish in the background and its result dropped).
fn compile_within(
    engine: &Engine,
    bytes: Vec<u8>,
    budget: Duration,
) -> wasmtime::Result<Component> {
    let (tx, rx) = std::sync::mpsc::channel();
    let engine = engine.clone();
    std::thread::Builder::new()
        .name("kubes-hook-compile".into())
        .spawn(move || {
            let _ = tx.send(Component::new(&engine, &bytes));
        })?;
    match rx.recv_timeout(budget) {
        Ok(result) => result,
        Err(_) => wasmtime::bail!(
            "compiling took longer than the compile budget of {} (raise `limits: {{compile_time: ...}}` for this hook if it is genuine)",
            humantime::format_duration(budget)
        ),
    }
}

/// Read a module file, refusing one larger than `limits.module_size` before reading it all.
fn read_module(
    path: &Path,
    file: std::fs::File,
    limits: &HookLimits,
) -> Result<Vec<u8>, HookError> {
    let unreadable = |e| HookError::ModuleUnreadable {
        path: path.to_path_buf(),
        source: e,
    };
    let too_large = |size: u64| HookError::TooLarge {
        path: path.to_path_buf(),
        size,
        limit: limits.module_size,
    };
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(unreadable(std::io::Error::other("not a regular file")));
    }
    if meta.len() > limits.module_size {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limits.module_size + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limits.module_size {
        return Err(too_large(bytes.len() as u64));
    }
    match inspect::binary_kind(&bytes) {
        inspect::BinaryKind::Component => Ok(bytes),
        inspect::BinaryKind::CoreModule => Err(HookError::NotAComponent {
            path: path.to_path_buf(),
        }),
        inspect::BinaryKind::NotWasm(detail) => Err(HookError::NotWasm {
            path: path.to_path_buf(),
            detail,
        }),
    }
}

/// Turn a wasmtime error from a run into what the user should read.
fn classify(e: wasmtime::Error, state: &HookState, timeout: Duration) -> HookError {
    if state.deadline_hit || e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return HookError::Deadline { timeout };
    }
    if let Some(wanted) = state.limiter.refused {
        return HookError::MemoryCap {
            cap: state.limiter.cap,
            wanted,
        };
    }
    // Frame names come from the guest's name section: untrusted text.
    let backtrace = e
        .downcast_ref::<WasmBacktrace>()
        .map(|bt| guest_text(&bt.to_string(), MAX_GUEST_TEXT));
    let message = match e.downcast_ref::<Trap>() {
        Some(trap) => trap.to_string(),
        None => guest_text(&e.root_cause().to_string(), MAX_GUEST_TEXT),
    };
    HookError::Trap { message, backtrace }
}

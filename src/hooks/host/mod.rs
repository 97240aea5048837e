//! The host side of the `kubes:hook` WIT package: generated bindings, the per-run store
//! state, and one thin adapter per interface (`log` here, `cluster` in [`cluster`]).

/// What a host function of a `kubes:hook` interface returns: a trap (`Err`) or the
/// guest-visible result.
pub type CallResult<T> = wasmtime::Result<Result<T, ClusterError>>;

/// Return early from a host function with the guest-visible error.
macro_rules! or_return_to_guest {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        }
    };
}

pub mod cluster;
pub mod compat;
pub mod input;
pub mod progress;
pub mod streams;

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::grants::{Denial, Grants, Verb};
use super::limits::HookLimits;
use super::output::{escape_controls, HookReporter, OutputKind};
use super::sandbox::{MemoryLimiter, OutputBudget};

pub use cluster::ClusterAccess;

/// Bindings generated from `wit/` (the one source of truth): `kubes:hook@0.2.0`. Cluster
/// and progress calls are async so a watch or wait does not block a thread, and the deadline
/// can cancel them.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "hook",
        imports: {
            "kubes:hook/cluster": async | trappable,
            "kubes:hook/progress": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "kubes:hook/cluster.watcher": super::streams::WatchStream,
            "kubes:hook/cluster.log-stream": super::streams::LogStream,
            "kubes:hook/progress.job-progress": super::progress::JobProgress,
            "kubes:hook/progress.rollout-progress": super::progress::RolloutProgress,
        },
    });
}

/// Bindings of the previous contract, `kubes:hook@0.1.0` (`wit/v0.1`), so components built
/// for it keep running. Its types are the same as 0.2.0's and map to them; its `cluster` and
/// `log` calls are served by the same host code (see [`compat`]).
pub mod bindings_v01 {
    wasmtime::component::bindgen!({
        path: "wit/v0.1",
        world: "hook",
        imports: {
            "kubes:hook/cluster": async | trappable,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "kubes:hook/types": super::bindings::kubes::hook::types,
            "kubes:hook/cluster.watcher": super::streams::WatchStream,
            "kubes:hook/cluster.log-stream": super::streams::LogStream,
        },
    });
}

pub use bindings::kubes::hook::types::{
    ClusterError, Context as RunContext, ObjectRef, Step as WitStep, Target, When as WitWhen,
};

/// Everything one hook run's store holds. Created fresh for each run and dropped after it,
/// so nothing leaks from one run (or hook) to the next.
pub struct HookState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: MemoryLimiter,
    /// When the run must stop; checked on every epoch tick.
    pub deadline: Instant,
    /// Set when the epoch callback stopped the guest at its deadline.
    pub deadline_hit: bool,
    pub host: HostCtx,
}

/// What the host-side adapters need: who is calling, what it may do, and where to report.
pub struct HostCtx {
    pub hook: String,
    pub grants: Grants,
    pub cluster: Option<ClusterAccess>,
    pub reporter: Arc<dyn HookReporter>,
    /// Calls the grants refused during this run.
    pub denials: DenialLog,
    /// Calls the grants allowed during this run (what `kubes hooks test` checks).
    pub calls: CallLog,
    pub limits: HookLimits,
    /// Open streams and the bytes they buffer, against `limits`.
    pub streams: streams::StreamBudget,
    /// Output printed for this run (shared with the captured stdout/stderr).
    pub output: Arc<OutputBudget>,
}

/// The calls the grants allowed in one run, `VERB RESOURCE[ NAME]`, the first
/// [`CallLog::CAP`] kept (a hook in a loop costs a counter, not memory).
#[derive(Debug, Default)]
pub struct CallLog {
    kept: Vec<String>,
    more: u64,
}

impl CallLog {
    pub const CAP: usize = 1_000;

    pub fn record(&mut self, verb: Verb, resource: &str, name: Option<&str>) {
        if self.kept.len() >= Self::CAP {
            self.more += 1;
            return;
        }
        let mut s = format!("{verb} {resource}");
        if let Some(n) = name {
            s.push(' ');
            s.push_str(&escape_controls(n));
        }
        self.kept.push(s);
    }

    /// The calls kept, and how many more were made.
    pub fn take(&mut self) -> (Vec<String>, u64) {
        (std::mem::take(&mut self.kept), self.more)
    }
}

/// The denials of one run: the first `cap` kept in full (and printed as audit lines), the
/// rest only counted, so a hook that makes a million refused calls costs a counter.
#[derive(Debug, Default)]
pub struct DenialLog {
    kept: Vec<Denial>,
    more: u64,
    cap: usize,
}

impl DenialLog {
    pub fn new(cap: usize) -> Self {
        DenialLog {
            kept: Vec::new(),
            more: 0,
            cap,
        }
    }

    /// Record one; true when it was kept (and should be printed).
    pub fn record(&mut self, d: Denial) -> bool {
        if self.kept.len() < self.cap {
            self.kept.push(d);
            true
        } else {
            self.more += 1;
            false
        }
    }

    /// The kept denials and how many more there were.
    pub fn take(&mut self) -> (Vec<Denial>, u64) {
        (
            std::mem::take(&mut self.kept),
            std::mem::take(&mut self.more),
        )
    }
}

impl WasiView for HookState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl bindings::kubes::hook::types::Host for HookState {}

impl bindings_v01::kubes::hook::log::Host for HookState {
    fn debug(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Debug, &message);
        Ok(())
    }
    fn info(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Info, &message);
        Ok(())
    }
    fn warn(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Warn, &message);
        Ok(())
    }
    fn error(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Error, &message);
        Ok(())
    }
}

impl bindings::kubes::hook::log::Host for HookState {
    fn debug(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Debug, &message);
        Ok(())
    }
    fn info(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Info, &message);
        Ok(())
    }
    fn warn(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Warn, &message);
        Ok(())
    }
    fn error(&mut self, message: String) -> wasmtime::Result<()> {
        self.log(OutputKind::Error, &message);
        Ok(())
    }
}

impl HookState {
    fn log(&self, kind: OutputKind, message: &str) {
        // One message may span lines; each is prefixed so the deploy log stays readable.
        for line in message.lines() {
            if self
                .host
                .output
                .admit(&self.host.hook, line.len(), &*self.host.reporter)
            {
                self.host.reporter.hook_line(&self.host.hook, kind, line);
            }
        }
    }
}

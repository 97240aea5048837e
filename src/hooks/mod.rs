//! The WASM hook engine: hooks declared in `.kubes/config/hooks.yaml` are WebAssembly
//! components of the `kubes:hook` world (see `wit/`), run in a sandbox at lifecycle points.
//!
//! - [`config`]: parsing and validating hooks.yaml into [`config::HookSpec`]s.
//! - [`grants`]: what a hook may do in the cluster; every cluster call is checked here.
//! - [`cache`]: precompiled components on disk, keyed by content digest and engine settings.
//! - [`engine`]: loading components and running one hook in a fresh sandboxed store.
//! - [`sandbox`]: the WASI context (no files, env or sockets), memory cap, captured output.
//! - [`host`]: the host side of the WIT interfaces (`log`, `cluster`), a thin adapter.
//! - [`inspect`]: a component's imports/exports and whether it fits the `hook` world.
//! - [`describe`]: what `kubes hooks list` and `kubes hooks inspect` report.
//! - [`limits`]: the bounds on what the host does for a hook (compile, streams, sizes, output).
//! - [`dispatch`]: the [`crate::lifecycle::Lifecycle`] implementation the steps call: the
//!   hooks declared for a point, run in order.
//! - [`testing`]: `kubes hooks test` (scenario files against the simulated cluster on virtual
//!   time) and `kubes deploy --record` / `--replay`.
//! - [`output`]: the interface hook output, audit lines and run notices go through
//!   ([`HookReporter`]; `crate::reporter::Reporter` shows them), and their escaping.

pub mod audit;
pub mod cache;
pub mod config;
pub mod describe;
pub mod dispatch;
pub mod engine;
pub mod error;
pub mod grants;
pub mod host;
pub mod inspect;
pub mod limits;
pub mod output;
pub mod pool;
pub mod registry;
pub mod sandbox;
pub mod testing;

pub use config::{HookSpec, HooksConfig};
pub use dispatch::{HookLifecycle, RunInfo};
pub use engine::{HookEngine, HookInvocation, LoadedHook, RunReport};
pub use error::{HookError, RunFailure};
pub use grants::{Denial, DenyRule, Grant, Verb};
pub use output::{HookReporter, MemoryReporter, OutputKind};

//! The integration tests: one test binary (`cargo test --test it`), one module per user story,
//! so that wasmtime and kube-rs are linked once rather than once per story. Filter by story
//! with the module path, e.g. `cargo test --test it migration_e2e::` or `-- hooks_sandbox::`.
//!
//! Shared helpers: `common` (fixture projects, running the `kubes` binary), `cluster_common`
//! (the test API server, kubectl), `hooks_support` (the example hooks, built once per run,
//! and engine-level hook scenarios; the hook benches include it too).

mod cluster_common;
mod common;
mod hooks_support;

mod apply;
mod ci;
mod compile;
mod compile_hooks;
mod connect;
mod delete;
mod diff;
mod engine;
mod example_hooks;
mod faults;
mod follow;
mod hook_scenarios;
mod hooks_cli;
mod hooks_cluster;
mod hooks_lifecycle;
mod hooks_sandbox;
mod host_fuzz;
mod hostile_hooks;
mod init_plan;
mod interrupt;
mod lease;
mod migrate_wait_contract;
mod migration_e2e;
mod namespaces;
mod new_hook;
mod polyglot_hooks;
mod prune;
mod rbac;
mod readme_commands;
mod registry;

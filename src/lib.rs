//! kubes: compile a project's Kubernetes resources and apply them to a cluster, running
//! sandboxed WebAssembly hooks at named lifecycle points.
//!
//! Data flows one way, and so do imports (docs/architecture.md, "Import direction"):
//! [`project`] (config, variables, layering, ordering) -> [`compile`] (templates rendered
//! into output files) -> [`plan`] (files in apply order) -> [`lifecycle`] (the points hooks
//! attach to) -> [`cluster`] (apply, delete, diff, prune) -> [`hooks`] (the WASM hook
//! engine) -> [`reporter`] (what the user sees) -> [`deploy`] (the session every front end
//! drives) -> [`cli`]. [`names`], [`yaml`] and [`junit`] are leaves anyone may use;
//! [`scaffold`] is used by the CLI only.

pub mod cli;
// --- cluster: kube-rs client, apply/delete/diff/prune walks ---
pub mod cluster;
// --- foundation: project (config, variables, layering, ordering) and compile (templates) ---
pub mod compile;
// --- the deploy session: project -> plan -> cluster -> hooks, for every front end ---
pub mod deploy;
pub mod hooks;
// --- JUnit XML, the one writer of every `--junit` report ---
pub mod junit;
pub mod lifecycle;
pub mod names;
pub mod plan;
pub mod project;
// --- least-privilege RBAC for a CI runner (`kubes rbac`) ---
pub mod rbac;
// --- everything the user sees: text or JSON lines ---
pub mod reporter;
// --- scaffolding: `kubes init`, `kubes new hook` (hook projects in Rust, Python, JavaScript) ---
pub mod scaffold;
pub mod yaml;

//! kubes: compile a project's Kubernetes resources and apply them to a cluster, running
//! sandboxed WebAssembly hooks at named lifecycle points.
//!
//! Data flows one way: [`project`] (config, variables, templates, layering) ->
//! [`compile`] (rendered output files) -> [`plan`] (ordered resources) -> apply
//! (`cluster`), with the hook engine (`hooks`) called at named points.
//! Nothing in `project` talks to the cluster; nothing in `cluster` knows about templates.

pub mod cli;
// --- cluster: kube-rs client, apply/delete/diff/prune engines ---
pub mod cluster;
// --- foundation: project (config, variables, templates, layering, ordering) and compile ---
pub mod compile;
pub mod hooks;
pub mod lifecycle;
pub mod names;
pub mod plan;
pub mod project;
// --- scaffolding: `kubes new hook` (hook projects in Rust, Python, JavaScript) ---
pub mod scaffold;

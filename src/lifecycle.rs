//! Named lifecycle points, and the seam between the steps (compile, apply, delete, prune)
//! and whatever runs at those points (the WASM hook engine, or nothing).
//!
//! Steps call [`Lifecycle::at`] before and after the whole step and before and after each
//! file; the implementation decides which hooks match. The steps never know hooks exist.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::plan::PlannedFile;

/// A step of the deploy that hooks can attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Compile,
    Apply,
    Delete,
    Prune,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    Before,
    After,
}

/// One lifecycle point: before/after a step, for the whole step or for one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    pub when: When,
    pub step: Step,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Compile => "compile",
            Step::Apply => "apply",
            Step::Delete => "delete",
            Step::Prune => "prune",
        })
    }
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            When::Before => "before",
            When::After => "after",
        })
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.when, self.step)
    }
}

/// Why the deploy must stop at a lifecycle point (a hook failed with `exit_on_fail: true`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleFailure {
    /// The hook's name.
    pub hook: String,
    pub point: Point,
    /// `role/kind` for per-file hooks.
    pub target: Option<String>,
    /// What went wrong, as the user should read it (may span several lines, e.g. log tails).
    pub reason: String,
}

impl fmt::Display for LifecycleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hook {} failed at {}", self.hook, self.point)?;
        if let Some(t) = &self.target {
            write!(f, " on {t}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for LifecycleFailure {}

pub type LifecycleFuture<'a> =
    Pin<Box<dyn Future<Output = Result<(), LifecycleFailure>> + Send + 'a>>;

/// What the steps call at each lifecycle point. `target` is the file for per-file points
/// and `None` for whole-step points.
pub trait Lifecycle: Send + Sync {
    fn at<'a>(&'a self, point: Point, target: Option<&'a PlannedFile>) -> LifecycleFuture<'a>;

    /// How many runs so far could have written to the cluster (a hook granted `apply` or
    /// `delete`). A step that read the cluster before compares it after: when it changed,
    /// what it read may be stale (a before-hook deleted the old migration Job).
    fn writes(&self) -> u64 {
        0
    }
}

/// Runs nothing: for steps run without hooks.
pub struct NoHooks;

impl Lifecycle for NoHooks {
    fn at<'a>(&'a self, _point: Point, _target: Option<&'a PlannedFile>) -> LifecycleFuture<'a> {
        Box::pin(async { Ok(()) })
    }
}

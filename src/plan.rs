//! The plan: every compiled resource file in apply order. This is the hand-off point
//! between the project side (project, compile) and the cluster side (apply, delete, hooks).
//!
//! A plan is built from the output of compile and the configured ordering; apply walks
//! `files` in order, delete walks them in reverse. Kubes' order is total, so there are no
//! groups of files that may go at once: concurrency lives inside a file (see
//! `cluster::walk`).

use std::path::PathBuf;

use serde::Serialize;

use crate::compile::Compiled;
pub use crate::compile::CompiledObject;
use crate::project::ordering::RankKey;
use crate::project::Project;

/// One compiled output file, `.kubes/output/<role>/<kind>.yaml`: the unit Kubes applies
/// with one `kubectl apply -f`, and the unit hooks attach to with `on: <role>/<kind>`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedFile {
    /// The role folder, e.g. `migrate`.
    pub role: String,
    /// The kind file stem, e.g. `job` (lowercase, as the user named the file).
    pub kind: String,
    /// Path of the output file relative to the project root, e.g. `.kubes/output/migrate/job.yaml`.
    pub output: PathBuf,
    /// The source file the main layer came from, relative to the project root.
    pub source: PathBuf,
    /// Objects in document order.
    pub objects: Vec<CompiledObject>,
}

impl PlannedFile {
    /// `role/kind`, the name hooks match with `on:`.
    pub fn target(&self) -> String {
        format!("{}/{}", self.role, self.kind)
    }
}

/// All files in apply order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub files: Vec<PlannedFile>,
}

impl Plan {
    /// The plan for a compiled project: every compiled file not skipped (`skip`,
    /// `KUBES_SKIP`), in apply order (see [`crate::project::ordering`]: roles first, then
    /// kinds, ties by name). The order is total, and the migration flow needs `migrate/job`
    /// and its hooks to finish before `web/*` starts, so files are applied one by one.
    pub fn build(project: &Project, compiled: &Compiled) -> Plan {
        let order = &project.config.order;
        let mut files: Vec<(RankKey, PlannedFile)> = compiled
            .files
            .iter()
            .filter(|f| !project.is_skipped(&f.role, &f.kind))
            .map(|f| {
                let object_kind = f.objects.first().map(|o| o.kind.as_str());
                let key = RankKey::new(&order.roles, &order.kinds, &f.role, &f.kind, object_kind);
                let file = PlannedFile {
                    role: f.role.clone(),
                    kind: f.kind.clone(),
                    output: f.output.clone(),
                    source: f.source.clone(),
                    objects: f.objects.clone(),
                };
                (key, file)
            })
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        Plan {
            files: files.into_iter().map(|(_, f)| f).collect(),
        }
    }

    /// Files in apply order.
    pub fn files(&self) -> impl DoubleEndedIterator<Item = &PlannedFile> {
        self.files.iter()
    }

    /// Every object, in apply order.
    pub fn objects(&self) -> impl Iterator<Item = &CompiledObject> {
        self.files.iter().flat_map(|f| f.objects.iter())
    }

    /// The roles of the plan, sorted, each once.
    pub fn roles(&self) -> Vec<&str> {
        let mut roles: Vec<&str> = self.files.iter().map(|f| f.role.as_str()).collect();
        roles.sort_unstable();
        roles.dedup();
        roles
    }

    /// Keep only files whose role is in `roles` (all files when `roles` is empty).
    pub fn restrict_to_roles(&mut self, roles: &[String]) {
        if roles.is_empty() {
            return;
        }
        self.files.retain(|f| roles.iter().any(|r| r == &f.role));
    }
}

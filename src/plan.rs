//! The plan: every compiled resource file in apply order. This is the hand-off point
//! between the project side (compile) and the cluster side (apply, delete, hooks).
//!
//! A plan is built from the output of compile and the configured ordering; apply walks
//! `steps` in order, delete walks them in reverse. Files in one step share an ordering
//! rank and may be applied concurrently.

use std::path::PathBuf;

use serde::Serialize;

/// One Kubernetes object from a compiled output file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `None` for cluster-scoped kinds and for namespaced objects left without one.
    pub namespace: Option<String>,
    /// The full object as rendered (JSON form of the YAML document).
    pub body: serde_json::Value,
}

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
    pub objects: Vec<PlannedObject>,
}

impl PlannedFile {
    /// `role/kind`, the name hooks match with `on:`.
    pub fn target(&self) -> String {
        format!("{}/{}", self.role, self.kind)
    }
}

/// Files sharing one ordering rank (same role group and kind rank).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanStep {
    pub files: Vec<PlannedFile>,
}

/// All files in apply order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub steps: Vec<PlanStep>,
}

impl Plan {
    /// Files in apply order.
    pub fn files(&self) -> impl DoubleEndedIterator<Item = &PlannedFile> {
        self.steps.iter().flat_map(|s| s.files.iter())
    }

    /// Files in delete order (the reverse of apply order).
    pub fn files_reversed(&self) -> impl Iterator<Item = &PlannedFile> {
        self.files().rev()
    }

    /// Keep only files whose role is in `roles` (all files when `roles` is empty).
    pub fn restrict_to_roles(&mut self, roles: &[String]) {
        if roles.is_empty() {
            return;
        }
        for step in &mut self.steps {
            step.files.retain(|f| roles.iter().any(|r| r == &f.role));
        }
        self.steps.retain(|s| !s.files.is_empty());
    }
}

/// The plan for a compiled project: every compiled file not skipped (`skip`, `KUBES_SKIP`),
/// in apply order (see [`crate::project::ordering`]: roles first, then kinds).
///
/// Each step holds one file: Kubes' order is total (role, then kind, ties by name), and the
/// seed's flow needs `migrate/job` and its hooks to finish before `web/*` starts.
pub fn build(project: &crate::project::Project, compiled: &crate::compile::Compiled) -> Plan {
    use crate::project::ordering::RankKey;
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
        steps: files
            .into_iter()
            .map(|(_, f)| PlanStep { files: vec![f] })
            .collect(),
    }
}

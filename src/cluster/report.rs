//! What a run did: per file and object, the failure that stopped it, what was not
//! attempted. The apply, delete and prune walks fill a [`Report`] and tell a [`Progress`]
//! as files finish; `crate::reporter::Reporter` is the progress of a real run and decides
//! how to show it (lines, progress bar, JSON lines).

use std::path::PathBuf;

use serde::Serialize;

use super::ObjectRef;
use crate::lifecycle::Step;

/// One object's result within a file.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectResult {
    #[serde(flatten)]
    pub object: ObjectRef,
    /// kubectl's name: `deployment.apps/web`.
    pub display: String,
    /// `created`, `configured`, `unchanged`, `deleted`, `absent`, `skipped`.
    pub action: String,
    /// An apply's record for the inventory (see [`super::inventory::AppliedRecord`]).
    #[serde(skip)]
    pub applied: Option<super::inventory::AppliedRecord>,
}

impl ObjectResult {
    /// kubectl's line: `deployment.apps/web created`.
    pub fn line(&self) -> String {
        format!("{} {}", self.display, self.action)
    }
}

/// One output file, as far as it got.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// Output path relative to the project, e.g. `.kubes/output/web/deployment.yaml`.
    pub file: PathBuf,
    /// `role/kind`.
    pub target: String,
    pub objects: Vec<ObjectResult>,
}

/// Why a run stopped.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The object that failed (`deployment.apps/web`), when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The hook that failed, when a hook stopped the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
    /// `not-found`, `forbidden`, `conflict`, `invalid`, `timeout`, `unavailable`, `other`, `hook`,
    /// `lease` (another deploy holds the app's lease), `namespace` (one is Terminating),
    /// `interrupted` (SIGINT, SIGTERM).
    pub kind: String,
    /// The API's (or hook's) message.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(o) = &self.object {
            write!(f, "{o}: ")?;
        }
        // A hook failure's message already names the hook.
        f.write_str(&self.message)
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub step: Step,
    pub dry_run: bool,
    pub ok: bool,
    /// Files attempted, in plan order.
    pub files: Vec<FileReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Files not attempted because the run stopped, in plan order.
    pub not_attempted: Vec<PathBuf>,
    /// Objects deleted by prune (after an apply with `--prune`, or by `kubes prune`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<ObjectResult>,
    /// HTTP requests retried (429, 5xx, connection errors).
    pub retries: u64,
}

impl Report {
    pub fn new(step: Step, dry_run: bool) -> Report {
        Report {
            step,
            dry_run,
            ok: true,
            files: vec![],
            failure: None,
            not_attempted: vec![],
            pruned: vec![],
            retries: 0,
        }
    }

    pub fn fail(&mut self, failure: Failure) {
        self.ok = false;
        // The first failure is the one that stopped the run; later ones (concurrent
        // files of the same step) are still in their file reports.
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
    }

    /// Stop the run because it was interrupted (Ctrl-C: `signal` is `SIGINT`), at `file`
    /// (the one in progress), if any.
    pub fn interrupt(&mut self, file: Option<PathBuf>, signal: &str) {
        self.fail(Failure {
            file,
            object: None,
            hook: None,
            kind: INTERRUPTED.into(),
            message: format!("interrupted by {signal}"),
        });
    }

    /// Whether the run stopped because it was interrupted.
    pub fn interrupted(&self) -> bool {
        self.failure.as_ref().is_some_and(|f| f.kind == INTERRUPTED)
    }

    /// Every object the run touched, in plan order.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectResult> {
        self.files.iter().flat_map(|f| f.objects.iter())
    }

    /// The summary printed after a failed run.
    pub fn failure_summary(&self) -> String {
        let mut s = String::new();
        let Some(fail) = &self.failure else { return s };
        let done: Vec<&ObjectResult> = self.objects().collect();
        let verb = self.step.to_string();
        let interrupted = self.interrupted();
        s.push_str(&format!(
            "{verb} {}",
            if interrupted {
                "interrupted"
            } else {
                "stopped"
            }
        ));
        if let Some(file) = &fail.file {
            s.push_str(&format!(" at {}", file.display()));
        }
        s.push('\n');
        s.push_str(&format!("  done ({}):", done.len()));
        if done.is_empty() {
            s.push_str(" nothing");
        }
        s.push('\n');
        for o in &done {
            s.push_str(&format!("    {}\n", o.line()));
        }
        if interrupted {
            match &fail.file {
                Some(file) => s.push_str(&format!("  interrupted at: {}\n", file.display())),
                None => s.push_str(&format!("  interrupted: {}\n", fail.message)),
            }
        } else {
            s.push_str(&format!("  failed: {fail}\n"));
        }
        s.push_str(&format!("  not attempted ({}):", self.not_attempted.len()));
        if self.not_attempted.is_empty() {
            s.push_str(" nothing");
        }
        s.push('\n');
        for f in &self.not_attempted {
            s.push_str(&format!("    {}\n", f.display()));
        }
        s
    }
}

/// `Failure::kind` of a run stopped by an interrupt (Ctrl-C, SIGTERM).
pub const INTERRUPTED: &str = "interrupted";

/// Where the walks announce progress as it happens. Implementations must be cheap:
/// they are called from concurrent tasks.
pub trait Progress: Send + Sync {
    /// Called once with the number of files the step will walk.
    fn start(&self, _step: Step, _files: usize) {}
    /// A file's objects were applied (all, or up to the one that failed); called before
    /// the file's after-hook runs.
    fn file_done(&self, step: Step, file: &FileReport);
    /// An object of a previous apply was pruned (or found absent, or skipped).
    fn pruned(&self, _object: &ObjectResult) {}
    fn finish(&self) {}
}

/// Discards progress: for callers that only want the [`Report`].
pub struct Silent;

impl Progress for Silent {
    fn file_done(&self, _step: Step, _file: &FileReport) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, action: &str) -> ObjectResult {
        ObjectResult {
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "Service".into(),
                namespace: Some("default".into()),
                name: name.into(),
            },
            display: format!("service/{name}"),
            action: action.into(),
            applied: None,
        }
    }

    #[test]
    fn summary_lists_done_failed_and_not_attempted() {
        let mut r = Report::new(Step::Apply, false);
        r.files.push(FileReport {
            file: ".kubes/output/web/service.yaml".into(),
            target: "web/service".into(),
            objects: vec![obj("web", "created")],
        });
        r.fail(Failure {
            file: Some(".kubes/output/web/deployment.yaml".into()),
            object: Some("deployment.apps/web".into()),
            hook: None,
            kind: "invalid".into(),
            message: "spec.replicas: Invalid value".into(),
        });
        r.not_attempted
            .push(".kubes/output/worker/deployment.yaml".into());
        let s = r.failure_summary();
        assert!(!r.ok);
        assert!(
            s.starts_with("apply stopped at .kubes/output/web/deployment.yaml\n"),
            "{s}"
        );
        assert!(s.contains("    service/web created\n"), "{s}");
        assert!(
            s.contains("  failed: deployment.apps/web: spec.replicas: Invalid value\n"),
            "{s}"
        );
        assert!(
            s.contains("  not attempted (1):\n    .kubes/output/worker/deployment.yaml\n"),
            "{s}"
        );
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["failure"]["kind"], "invalid");
        assert_eq!(json["files"][0]["objects"][0]["action"], "created");
        assert_eq!(json["files"][0]["objects"][0]["apiVersion"], "v1");
    }
}

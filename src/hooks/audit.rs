//! `kubes hooks audit`: everything a reviewer needs to know about what the project's hooks
//! may do, as data: each hook's source (where its module comes from and its digest), its
//! effective grants, its limits and its lifecycle points. Sorted (hooks by name, grants and
//! their lists in order), so the text and the JSON are the same for the same project and a
//! change shows as a diff in review; `--check FILE` compares with a committed audit.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cache;
use super::config::{HookSpec, HooksConfig, ModuleSource};
use super::grants::{Grant, EXPLICIT_ONLY};
use super::registry::lock::LockFile;

/// The audit of one project's hooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// The namespace grants without `namespaces` apply to.
    pub app_namespace: String,
    pub hooks: Vec<AuditedHook>,
}

/// One hook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedHook {
    pub name: String,
    /// Where it runs: `before apply`, `after apply on migrate/job`.
    pub runs: String,
    pub exit_on_fail: bool,
    /// Whether it may read `.kubes/output` (not at `before compile`).
    pub read_output: bool,
    pub source: HookSource,
    pub grants: Vec<AuditedGrant>,
    pub limits: AuditedLimits,
}

/// Where a hook's module comes from. Today a file of the project (`kind: file`, `location`
/// its path, `digest` the sha256 of its bytes); a registry source fills `location` with the
/// reference, `digest` with the manifest digest and `signer` with who signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSource {
    pub kind: String,
    pub location: String,
    /// `sha256:<hex>`, or `missing` / `unreadable: ...` when the module cannot be read.
    pub digest: String,
    /// Who signed the module, when its source says (registry hooks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
}

impl HookSource {
    /// A module file of the project at `module` (relative to `root`).
    pub fn file(root: &Path, module: &Path) -> HookSource {
        let read = crate::project::open_root(root).and_then(|d| d.read(module));
        let digest = match read {
            Ok(bytes) => format!("sha256:{}", cache::digest(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing".to_string(),
            Err(e) => format!("unreadable: {e}"),
        };
        HookSource {
            kind: "file".into(),
            location: module.display().to_string(),
            digest,
            signer: None,
        }
    }
}

impl HookSource {
    /// A registry module, as `.kubes/hooks.lock` pins it: the audit never contacts a registry,
    /// so an unpinned reference says so instead of a digest. The pin's signature digest is
    /// named when the lock recorded one (whose key signed it is checked at load, against
    /// the trust policy).
    pub fn registry(root: &Path, reference: &str) -> HookSource {
        let (digest, signer) = match LockFile::load(root) {
            Ok(Some(lock)) => match lock.pin(reference) {
                Some(pin) => (
                    format!(
                        "{} (component {}, {} bytes)",
                        pin.digest, pin.component, pin.size
                    ),
                    pin.signature.as_ref().map(|s| format!("signature {s}")),
                ),
                None => ("unpinned: not in .kubes/hooks.lock".to_string(), None),
            },
            Ok(None) => ("unpinned: no .kubes/hooks.lock".to_string(), None),
            Err(e) => (format!("unreadable lock: {e:#}"), None),
        };
        HookSource {
            kind: "registry".into(),
            location: reference.to_string(),
            digest,
            signer,
        }
    }
}

/// One grant with its defaults made explicit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuditedGrant {
    pub verbs: Vec<String>,
    pub resources: Vec<String>,
    /// Empty: any name.
    pub names: Vec<String>,
    /// The namespaces it reaches (`*`: every one).
    pub namespaces: Vec<String>,
    pub cluster_scoped: bool,
    /// What `*` in `resources` never covers (empty without `*`).
    pub never: Vec<String>,
}

/// A hook's bounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedLimits {
    pub timeout_ms: u64,
    pub memory: u64,
    pub module_size: u64,
    pub functions: u64,
    pub compile_time_ms: u64,
    pub streams: usize,
    pub stream_buffer: u64,
    pub request_size: u64,
    pub response_size: u64,
    pub denials: usize,
    pub output: u64,
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

fn audited_grant(g: &Grant, app_namespace: &str) -> AuditedGrant {
    let wildcard = g.resources.iter().any(|r| r == "*");
    AuditedGrant {
        verbs: sorted(g.verbs.iter().map(|v| v.to_string()).collect()),
        resources: sorted(g.resources.clone()),
        names: sorted(g.names.clone()),
        namespaces: if g.namespaces.is_empty() {
            vec![app_namespace.to_string()]
        } else {
            sorted(g.namespaces.clone())
        },
        cluster_scoped: g.cluster,
        never: if wildcard {
            EXPLICIT_ONLY
                .iter()
                .filter(|r| !g.resources.iter().any(|x| x == *r))
                .map(|r| r.to_string())
                .collect()
        } else {
            Vec::new()
        },
    }
}

fn audited(root: &Path, h: &HookSpec, app_namespace: &str) -> AuditedHook {
    let l = &h.limits;
    let mut grants: Vec<AuditedGrant> = h
        .grants
        .iter()
        .map(|g| audited_grant(g, app_namespace))
        .collect();
    grants.sort();
    grants.dedup();
    AuditedHook {
        name: h.name.clone(),
        runs: h.describe_point(),
        exit_on_fail: h.exit_on_fail,
        read_output: h.read_output,
        source: match &h.module {
            ModuleSource::File(path) => HookSource::file(root, path),
            ModuleSource::Registry(reference) => HookSource::registry(root, reference),
        },
        grants,
        limits: AuditedLimits {
            timeout_ms: h.timeout.as_millis() as u64,
            memory: h.memory,
            module_size: l.module_size,
            functions: l.functions,
            compile_time_ms: l.compile_time.as_millis() as u64,
            streams: l.streams,
            stream_buffer: l.stream_buffer,
            request_size: l.request_size,
            response_size: l.response_size,
            denials: l.denials,
            output: l.output,
        },
    }
}

/// The audit of the hooks declared in `root`'s hooks.yaml.
pub fn audit(root: &Path, app_namespace: &str) -> anyhow::Result<Audit> {
    let config = HooksConfig::load(root)?;
    let mut hooks: Vec<AuditedHook> = config
        .hooks
        .iter()
        .map(|h| audited(root, h, app_namespace))
        .collect();
    hooks.sort_by(|a, b| a.name.cmp(&b.name).then(a.runs.cmp(&b.runs)));
    Ok(Audit {
        app_namespace: app_namespace.to_string(),
        hooks,
    })
}

/// The audit of a project's hooks, their grants defaulting to its namespace (or `default`).
pub fn audit_project(options: &crate::project::ProjectOptions) -> anyhow::Result<Audit> {
    let project = crate::project::Project::load(options)?;
    let namespace = project.config.namespace.as_deref().unwrap_or("default");
    audit(&project.root, namespace)
}

impl Audit {
    /// [`Audit::check`] against the committed audit in `file`.
    pub fn check_file(&self, file: &Path) -> anyhow::Result<Option<String>> {
        use anyhow::Context as _;
        let committed = std::fs::read_to_string(file)
            .with_context(|| format!("reading the committed audit {}", file.display()))?;
        Ok(self.check(&committed, &file.display().to_string()))
    }

    /// The text form: one block per hook, stable line by line (what a committed audit
    /// usually is).
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "# kubes hooks audit (app namespace {})\n",
            self.app_namespace
        );
        if self.hooks.is_empty() {
            out.push_str("no hooks\n");
        }
        for h in &self.hooks {
            out.push_str(&format!("\nhook {}\n", h.name));
            out.push_str(&format!(
                "  runs: {} (exit_on_fail: {}, read_output: {})\n",
                h.runs, h.exit_on_fail, h.read_output
            ));
            let s = &h.source;
            out.push_str(&format!("  source: {} {} {}", s.kind, s.location, s.digest));
            if let Some(signer) = &s.signer {
                out.push_str(&format!(" signed by {signer}"));
            }
            out.push('\n');
            if h.grants.is_empty() {
                out.push_str("  grants: none (no cluster calls)\n");
            }
            for g in &h.grants {
                out.push_str(&format!(
                    "  grant: {} on {}",
                    g.verbs.join(","),
                    g.resources.join(",")
                ));
                if !g.names.is_empty() {
                    out.push_str(&format!(" names={}", g.names.join(",")));
                }
                out.push_str(&format!(" namespaces={}", g.namespaces.join(",")));
                out.push_str(&format!(" cluster-scoped={}\n", g.cluster_scoped));
                if !g.never.is_empty() {
                    out.push_str(&format!("    `*` never covers: {}\n", g.never.join(",")));
                }
            }
            let l = &h.limits;
            out.push_str(&format!(
                "  limits: timeout={}ms memory={} module_size={} functions={} compile_time={}ms streams={} stream_buffer={} request_size={} response_size={} denials={} output={}\n",
                l.timeout_ms, l.memory, l.module_size, l.functions, l.compile_time_ms, l.streams,
                l.stream_buffer, l.request_size, l.response_size, l.denials, l.output
            ));
        }
        out
    }

    /// The JSON form, pretty (for a committed file), keys sorted as in `--output json`.
    pub fn to_pretty_json(&self) -> String {
        let v = serde_json::to_value(self).expect("an audit serializes");
        let mut s = serde_json::to_string_pretty(&v).expect("a value serializes");
        s.push('\n');
        s
    }

    /// Compare with a committed audit (`committed`: its text form, or its JSON form in one
    /// line or pretty); `None` when they are the same, else a unified diff (committed ->
    /// now) of the form the committed file is in.
    pub fn check(&self, committed: &str, committed_name: &str) -> Option<String> {
        let (before, now) = if committed.trim_start().starts_with('{') {
            let pretty = match serde_json::from_str::<serde_json::Value>(committed) {
                Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
                Err(_) => committed.to_string(),
            };
            (pretty, self.to_pretty_json())
        } else {
            (committed.to_string(), self.to_text())
        };
        if before == now {
            return None;
        }
        Some(
            similar::TextDiff::from_lines(&before, &now)
                .unified_diff()
                .context_radius(2)
                .header(committed_name, "now")
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(hooks_yaml: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kubes/config")).unwrap();
        std::fs::write(dir.path().join(".kubes/config/hooks.yaml"), hooks_yaml).unwrap();
        std::fs::write(dir.path().join("a.wasm"), b"\0asm").unwrap();
        dir
    }

    const TWO: &str = "hooks:
  - name: zeta
    after: apply
    module: a.wasm
    grants:
      - { verbs: [watch, get], resources: [pods, jobs.batch] }
  - name: alpha
    before: apply
    on: migrate/job
    module: missing.wasm
    grants:
      - { verbs: [delete], resources: [jobs.batch], names: [migrate] }
      - { verbs: [list], resources: ['*'], namespaces: ['*'] }
";

    #[test]
    fn hooks_and_grants_are_sorted_with_defaults_made_explicit() {
        let dir = project(TWO);
        let a = audit(dir.path(), "demo").unwrap();
        let names: Vec<&str> = a.hooks.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["alpha", "zeta"]);
        let alpha = &a.hooks[0];
        assert_eq!(alpha.runs, "before apply on migrate/job");
        assert_eq!(alpha.source.digest, "missing");
        assert_eq!(alpha.grants[0].verbs, ["delete"]);
        assert_eq!(alpha.grants[0].namespaces, ["demo"]);
        assert_eq!(alpha.grants[1].namespaces, ["*"]);
        assert!(alpha.grants[1].never.contains(&"secrets".to_string()));
        let zeta = &a.hooks[1];
        assert_eq!(zeta.grants[0].verbs, ["get", "watch"]);
        assert_eq!(zeta.grants[0].resources, ["jobs.batch", "pods"]);
        assert!(zeta.source.digest.starts_with("sha256:"));
        // The same project, written in another order, audits the same.
        let reordered = TWO.replace(
            "[watch, get], resources: [pods, jobs.batch]",
            "[get, watch], resources: [jobs.batch, pods]",
        );
        let b = audit(project(&reordered).path(), "demo").unwrap();
        assert_eq!(a.to_text(), b.to_text());
    }

    #[test]
    fn check_names_what_changed_in_the_form_committed() {
        let dir = project(TWO);
        let a = audit(dir.path(), "demo").unwrap();
        assert_eq!(a.check(&a.to_text(), "audit.txt"), None);
        assert_eq!(a.check(&a.to_pretty_json(), "audit.json"), None);
        assert_eq!(
            a.check(&serde_json::to_string(&a).unwrap(), "audit.json"),
            None
        );
        let wider = audit(
            project(&TWO.replace("verbs: [delete]", "verbs: [delete, apply]")).path(),
            "demo",
        )
        .unwrap();
        let diff = wider.check(&a.to_text(), "audit.txt").unwrap();
        assert!(diff.contains("-  grant: delete on jobs.batch"), "{diff}");
        assert!(
            diff.contains("+  grant: apply,delete on jobs.batch"),
            "{diff}"
        );
        let diff = wider.check(&a.to_pretty_json(), "audit.json").unwrap();
        assert!(
            diff.lines()
                .any(|l| l.starts_with('+') && l.contains("\"apply\"")),
            "{diff}"
        );
    }
}

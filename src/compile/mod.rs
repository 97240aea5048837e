//! `kubes compile`: render every main resource file with its layers into
//! `.kubes/output/<role>/<kind>.yaml`.
//!
//! Per main file `<role>/<kind>`: render each layer as a template (context: built-ins and
//! the variables for that role/kind), parse it as YAML, merge pre layers + each main
//! document + post layers, give namespaced objects the configured namespace, check the
//! objects, then write. Nothing is written unless every file compiles; outputs whose source
//! is gone are removed; unchanged outputs are not rewritten.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

mod emit;
pub mod template;

use crate::project::layering::{self, FileIndex, Layers};
use crate::project::{location, Project, ProjectError};
use crate::yaml::{self, type_name, Mapping, Value};
use template::{Renderer, TemplateContext, TemplateError};

/// Kinds that live outside namespaces: never given the configured namespace.
pub const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Is `kind` one of the known cluster-scoped kinds?
pub fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// One Kubernetes object from a compiled output file: its identity and its body. The plan
/// carries these to the cluster side unchanged (`plan::PlannedFile::objects`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompiledObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// `None` for cluster-scoped kinds and for namespaced objects left without one.
    pub namespace: Option<String>,
    /// The full object as rendered (JSON form of the YAML document).
    pub body: serde_json::Value,
}

/// The result of a compile: every output file, in `role/kind` name order (not apply order;
/// see `plan::Plan::build`).
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    pub files: Vec<CompiledFile>,
    /// Output files removed because their source no longer exists (relative to the root).
    pub removed: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompiledFile {
    pub role: String,
    /// File stem of the main layer, e.g. `deployment`.
    pub kind: String,
    /// `.kubes/output/<role>/<kind>.yaml`, relative to the project root.
    pub output: PathBuf,
    /// The main layer, relative to the project root.
    pub source: PathBuf,
    /// Every layer that went into the output, in merge order, relative to the project root.
    pub layers: Vec<PathBuf>,
    pub objects: Vec<CompiledObject>,
    /// The YAML written (or found unchanged) at `output`.
    pub yaml: String,
    /// False when the output already held exactly this content.
    pub written: bool,
}

/// Why compile failed. Every variant names the file (and line where there is one).
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{}: {message}{}", location(path, *line, *column), rendered_context(rendered))]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        rendered: Option<String>,
    },
    #[error("{}: document {index}: {message}", path.display())]
    Document {
        path: PathBuf,
        index: usize,
        message: String,
    },
    #[error("{}: a layer file holds one mapping (it is merged into each document of the main file); found {found}", path.display())]
    Layer { path: PathBuf, found: String },
    #[error("{kind} {} is defined twice: in {} and in {}", qualified(namespace, name), first.display(), second.display())]
    Duplicate {
        kind: String,
        namespace: Option<String>,
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{}: resource files go in .kubes/resources/<role>/<kind>.yaml (e.g. web/deployment.yaml)", path.display())]
    Stray { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// For templates, the failing line as rendered (its number is of the rendered text).
fn rendered_context(rendered: &Option<String>) -> String {
    match rendered {
        Some(line) => {
            format!("\n  rendered line: {line}\n  (line numbers are of the rendered template)")
        }
        None => String::new(),
    }
}

fn qualified(namespace: &Option<String>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// Compile the project into `.kubes/output`.
pub fn compile(project: &Project) -> Result<Compiled, CompileError> {
    let files = render_all(project)?;
    check_duplicates(&files).map_err(|e| e.under(&project.root))?;
    write_outputs(project, files).map_err(|e| e.under(&project.root))
}

impl CompileError {
    /// Paths in messages are relative to the project root; with `--project DIR` the user
    /// needs them from where they stand.
    fn under(self, root: &Path) -> CompileError {
        if root == Path::new(".") || root.as_os_str().is_empty() {
            return self;
        }
        let fix = |p: PathBuf| if p.is_relative() { root.join(p) } else { p };
        match self {
            CompileError::Template(mut t) => {
                t.path = fix(t.path);
                CompileError::Template(t)
            }
            CompileError::Yaml {
                path,
                line,
                column,
                message,
                rendered,
            } => CompileError::Yaml {
                path: fix(path),
                line,
                column,
                message,
                rendered,
            },
            CompileError::Document {
                path,
                index,
                message,
            } => CompileError::Document {
                path: fix(path),
                index,
                message,
            },
            CompileError::Layer { path, found } => CompileError::Layer {
                path: fix(path),
                found,
            },
            CompileError::Duplicate {
                kind,
                namespace,
                name,
                first,
                second,
            } => CompileError::Duplicate {
                kind,
                namespace,
                name,
                first: fix(first),
                second: fix(second),
            },
            CompileError::Stray { path } => CompileError::Stray { path: fix(path) },
            CompileError::Io { path, source } => CompileError::Io {
                path: fix(path),
                source,
            },
            other @ CompileError::Project(_) => other,
        }
    }
}

/// Render and merge every main file, without writing anything.
pub fn render_all(project: &Project) -> Result<Vec<CompiledFile>, CompileError> {
    render_files(project).map_err(|e| e.under(&project.root))
}

fn render_files(project: &Project) -> Result<Vec<CompiledFile>, CompileError> {
    let index = FileIndex::scan(&project.files, &project.resources_dir())?;
    let (mains, stray) = layering::main_files(&index);
    if let Some(s) = stray.first() {
        let rel = index.get(s).unwrap_or(s);
        return Err(CompileError::Stray {
            path: layering::resource_path(rel),
        });
    }
    // Files are independent: render them on a few threads, each with its own caches, and
    // keep name order (so the first error reported is the same on every run).
    let results = in_parallel(&mains, |chunk| {
        let mut compiler = FileCompiler::new(project, &index);
        chunk
            .iter()
            .map(|(role, kind)| compiler.compile_file(role, kind))
            .collect()
    });
    results.into_iter().collect()
}

/// Below this many items, threads cost more than they save.
const PARALLEL_MIN: usize = 64;

/// `work` over contiguous chunks of `items` on up to 4 threads (`KUBES_COMPILE_THREADS`
/// overrides); results in item order.
fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let threads = std::env::var("KUBES_COMPILE_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(4)
        });
    if threads < 2 || items.len() < PARALLEL_MIN {
        return work(items);
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| scope.spawn(|| work(c)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Renders files, caching contexts per variable-file set and rendered layers per context.
struct FileCompiler<'p> {
    project: &'p Project,
    index: &'p FileIndex,
    renderer: Renderer,
    contexts: HashMap<Vec<String>, (usize, TemplateContext)>,
    layers: HashMap<(usize, String), Vec<Value>>,
}

impl<'p> FileCompiler<'p> {
    fn new(project: &'p Project, index: &'p FileIndex) -> Self {
        FileCompiler {
            project,
            index,
            renderer: Renderer::new(),
            contexts: HashMap::new(),
            layers: HashMap::new(),
        }
    }

    fn context(
        &mut self,
        role: &str,
        kind: &str,
    ) -> Result<(usize, TemplateContext), CompileError> {
        let files = self.project.variables.files_for(role, kind);
        if let Some(found) = self.contexts.get(&files) {
            return Ok(found.clone());
        }
        let vars = self.project.variables.merged(&files)?;
        let c = &self.project.config;
        let builtins = [
            ("app", c.app.as_deref()),
            ("env", Some(self.project.env.as_str())),
            ("namespace", c.namespace.as_deref()),
            ("docker_image", c.image.as_deref()),
            // Kubes' older name for the same image.
            ("built_image", c.image.as_deref()),
        ];
        let entry = (self.contexts.len(), TemplateContext::new(&builtins, &vars));
        self.contexts.insert(files, entry.clone());
        Ok(entry)
    }

    /// Render and parse one layer file into its documents (nulls dropped).
    fn documents(
        &mut self,
        ctx_id: usize,
        ctx: &TemplateContext,
        rel: &str,
    ) -> Result<Vec<Value>, CompileError> {
        let key = (ctx_id, rel.to_string());
        if let Some(docs) = self.layers.get(&key) {
            return Ok(docs.clone());
        }
        let abs = self.project.resources_dir().join(rel);
        let shown = layering::resource_path(rel);
        let source = self
            .project
            .files
            .read_to_string(&abs)
            .map_err(|e| CompileError::Io {
                path: shown.clone(),
                source: e,
            })?;
        let rendered = self.renderer.render(&shown, &source, ctx)?;
        let is_template = matches!(rendered, std::borrow::Cow::Owned(_));
        let docs = parse_documents(&shown, &rendered, is_template)?;
        self.layers.insert(key, docs.clone());
        Ok(docs)
    }

    fn merged_layer(
        &mut self,
        ctx_id: usize,
        ctx: &TemplateContext,
        files: &[String],
    ) -> Result<Option<Value>, CompileError> {
        let mut merged: Option<Value> = None;
        for rel in files {
            let mut docs = self.documents(ctx_id, ctx, rel)?;
            let doc = match docs.len() {
                0 => continue,
                1 => docs.remove(0),
                n => {
                    return Err(CompileError::Layer {
                        path: layering::resource_path(rel),
                        found: format!("{n} documents"),
                    })
                }
            };
            if !doc.is_mapping() {
                return Err(CompileError::Layer {
                    path: layering::resource_path(rel),
                    found: type_name(&doc).into(),
                });
            }
            match &mut merged {
                Some(m) => layering::deep_merge(m, doc),
                None => merged = Some(doc),
            }
        }
        Ok(merged)
    }

    fn compile_file(&mut self, role: &str, kind: &str) -> Result<CompiledFile, CompileError> {
        let Layers { pre, main, post } = layering::layers_for(
            self.index,
            role,
            kind,
            &self.project.env,
            self.project.app.as_deref(),
        )
        .expect("main files come from the index");
        let (ctx_id, ctx) = self.context(role, kind)?;
        let pre_layer = self.merged_layer(ctx_id, &ctx, &pre)?;
        let post_layer = self.merged_layer(ctx_id, &ctx, &post)?;
        let main_docs = self.documents(ctx_id, &ctx, &main)?;
        let source = layering::resource_path(&main);

        let mut objects = Vec::with_capacity(main_docs.len());
        let mut yaml = String::new();
        for (i, doc) in main_docs.into_iter().enumerate() {
            let index = i + 1;
            if !doc.is_mapping() {
                return Err(CompileError::Document {
                    path: source.clone(),
                    index,
                    message: format!(
                        "expected a Kubernetes object (a mapping), found {}",
                        type_name(&doc)
                    ),
                });
            }
            // The main document keeps its key order; keys only the pre layers have follow.
            let mut merged = doc;
            if let Some(pre) = &pre_layer {
                layering::merge_under(&mut merged, pre.clone());
            }
            if let Some(post) = &post_layer {
                layering::deep_merge(&mut merged, post.clone());
            }
            identity_first(&mut merged);
            let object = finish_object(&mut merged, self.project.config.namespace.as_deref())
                .map_err(|message| CompileError::Document {
                    path: source.clone(),
                    index,
                    message,
                })?;
            if i > 0 {
                yaml.push_str("---\n");
            }
            yaml.push_str(&emit::document(&merged));
            objects.push(object);
        }

        let layers = Layers { pre, main, post };
        Ok(CompiledFile {
            role: role.to_string(),
            kind: kind.to_string(),
            output: PathBuf::from(format!(".kubes/output/{role}/{kind}.yaml")),
            source,
            layers: layers.all().map(|l| layering::resource_path(l)).collect(),
            objects,
            yaml,
            written: false,
        })
    }
}

/// `apiVersion`, `kind`, `metadata` first, as people expect to read them.
fn identity_first(doc: &mut Value) {
    let Value::Mapping(m) = doc else { return };
    if m.keys()
        .take(3)
        .map(|k| k.as_str())
        .eq([Some("apiVersion"), Some("kind"), Some("metadata")])
    {
        return;
    }
    let mut ordered = Mapping::with_capacity(m.len());
    for key in ["apiVersion", "kind", "metadata"] {
        if let Some(v) = m.remove(key) {
            ordered.insert(Value::from(key), v);
        }
    }
    for (k, v) in std::mem::take(m) {
        ordered.insert(k, v);
    }
    *m = ordered;
}

/// Parse every YAML document of a rendered file; empty documents are dropped.
fn parse_documents(path: &Path, text: &str, rendered: bool) -> Result<Vec<Value>, CompileError> {
    let mut docs = Vec::new();
    for doc in yaml::documents(text) {
        let doc = doc.map_err(|e| CompileError::Yaml {
            path: path.to_path_buf(),
            line: e.line,
            column: e.column,
            rendered: rendered.then(|| {
                let n = e.line.unwrap_or(0);
                text.lines()
                    .nth(n.saturating_sub(1))
                    .unwrap_or("")
                    .to_string()
            }),
            message: e.message,
        })?;
        if !doc.is_null() {
            docs.push(yaml::untag(doc));
        }
    }
    Ok(docs)
}

/// Check an object's identity, apply the namespace rule, and describe it for the plan.
fn finish_object(doc: &mut Value, namespace: Option<&str>) -> Result<CompiledObject, String> {
    let str_field = |doc: &Value, key: &str| -> Result<String, String> {
        match doc.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(other) => Err(format!(
                "`{key}` must be a non-empty string, found {}",
                type_name(other)
            )),
            None => Err(format!("missing `{key}`")),
        }
    };
    let api_version = str_field(doc, "apiVersion")?;
    let kind = str_field(doc, "kind")?;
    let metadata = match doc.get_mut("metadata") {
        Some(Value::Mapping(m)) => m,
        Some(other) => {
            return Err(format!(
                "`metadata` must be a mapping, found {}",
                type_name(other)
            ))
        }
        None => return Err("missing `metadata` (with at least `name`)".into()),
    };
    let name = match metadata.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(format!(
                "`metadata.name` must be a non-empty string, found {}",
                type_name(other)
            ))
        }
        None => return Err("missing `metadata.name`".into()),
    };
    let cluster_scoped = is_cluster_scoped(&kind);
    let object_ns = match metadata.get("namespace") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => {
            return Err(format!(
                "`metadata.namespace` must be a string, found {}",
                type_name(other)
            ))
        }
    };
    let object_ns = match (object_ns, namespace, cluster_scoped) {
        (Some(ns), _, _) => Some(ns),
        (None, Some(ns), false) => {
            metadata.insert(Value::from("namespace"), Value::from(ns));
            Some(ns.to_string())
        }
        (None, _, _) => None,
    };
    let body =
        serde_json::to_value(&*doc).map_err(|e| format!("cannot be represented as JSON: {e}"))?;
    Ok(CompiledObject {
        api_version,
        kind,
        name,
        namespace: if cluster_scoped { None } else { object_ns },
        body,
    })
}

fn check_duplicates(files: &[CompiledFile]) -> Result<(), CompileError> {
    let mut seen: HashMap<(&str, Option<&str>, &str), &Path> = HashMap::new();
    for f in files {
        for o in &f.objects {
            let key = (o.kind.as_str(), o.namespace.as_deref(), o.name.as_str());
            if let Some(first) = seen.insert(key, &f.source) {
                return Err(CompileError::Duplicate {
                    kind: o.kind.clone(),
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                    first: first.to_path_buf(),
                    second: f.source.clone(),
                });
            }
        }
    }
    Ok(())
}

fn write_outputs(
    project: &Project,
    mut files: Vec<CompiledFile>,
) -> Result<Compiled, CompileError> {
    let io = |path: &Path, e: std::io::Error| CompileError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let out_dir = project.output_dir();
    let produced: BTreeSet<PathBuf> = files.iter().map(|f| project.root.join(&f.output)).collect();
    let written = in_parallel(&files, |chunk| {
        chunk
            .iter()
            .map(|f| write_if_changed(project, f).map_err(|(p, e)| io(&p, e)))
            .collect()
    });
    for (f, w) in files.iter_mut().zip(written) {
        f.written = w?;
    }
    let removed = remove_stale(&project.root, &out_dir, &produced)?;
    Ok(Compiled { files, removed })
}

/// `.<kind>.yaml.tmp-<pid>`, as [`write_if_changed`] names its temp files.
fn is_leftover_temp(name: &str) -> bool {
    name.starts_with('.')
        && name
            .rsplit_once(".yaml.tmp-")
            .is_some_and(|(_, pid)| pid.chars().all(|c| c.is_ascii_digit()))
}

/// Write one output unless it already holds exactly this content; true if written.
fn write_if_changed(
    project: &Project,
    f: &CompiledFile,
) -> Result<bool, (PathBuf, std::io::Error)> {
    let abs = project.root.join(&f.output);
    if std::fs::read(&abs).is_ok_and(|old| old == f.yaml.as_bytes()) {
        return Ok(false);
    }
    let dir = abs.parent().expect("output files sit in a role directory");
    std::fs::create_dir_all(dir).map_err(|e| (dir.to_path_buf(), e))?;
    // Write beside the target and rename over it, so readers never see half a file.
    let tmp = dir.join(format!(".{}.yaml.tmp-{}", f.kind, std::process::id()));
    std::fs::write(&tmp, &f.yaml).map_err(|e| (tmp.clone(), e))?;
    std::fs::rename(&tmp, &abs).map_err(|e| (abs.clone(), e))?;
    Ok(true)
}

/// Remove `<role>/<kind>.yaml` outputs nobody produced, and role directories left empty.
fn remove_stale(
    root: &Path,
    out_dir: &Path,
    produced: &BTreeSet<PathBuf>,
) -> Result<Vec<PathBuf>, CompileError> {
    let io = |path: &Path, e: std::io::Error| CompileError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut removed = Vec::new();
    let Ok(roles) = std::fs::read_dir(out_dir) else {
        return Ok(removed);
    };
    for role in roles.flatten() {
        if !role.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let role_dir = role.path();
        for entry in std::fs::read_dir(&role_dir)
            .map_err(|e| io(&role_dir, e))?
            .flatten()
        {
            let p = entry.path();
            let is_output = p.extension().is_some_and(|e| e == "yaml" || e == "yml")
                && entry.file_type().is_ok_and(|t| t.is_file())
                && !entry.file_name().to_string_lossy().starts_with('.');
            if is_output && !produced.contains(&p) {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                removed.push(p.strip_prefix(root).unwrap_or(&p).to_path_buf());
            } else if is_leftover_temp(&entry.file_name().to_string_lossy()) {
                // A temp file of an interrupted run (ours were all renamed by now).
                let _ = std::fs::remove_file(&p);
            }
        }
        // Only succeeds when empty, which is the point.
        let _ = std::fs::remove_dir(&role_dir);
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(text: &str, ns: Option<&str>) -> Result<(CompiledObject, Value), String> {
        let mut v: Value = yaml::from_str(text).unwrap();
        finish_object(&mut v, ns).map(|o| (o, v))
    }

    #[test]
    fn namespaced_objects_without_namespace_get_the_configured_one() {
        let (o, v) = obj(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}",
            Some("demo"),
        )
        .unwrap();
        assert_eq!(o.namespace.as_deref(), Some("demo"));
        assert_eq!(v["metadata"]["namespace"], Value::from("demo"));
        assert_eq!(o.body["metadata"]["namespace"], serde_json::json!("demo"));
    }

    #[test]
    fn explicit_namespaces_and_cluster_scoped_kinds_are_left_alone() {
        let (o, _) = obj(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: other}",
            Some("demo"),
        )
        .unwrap();
        assert_eq!(o.namespace.as_deref(), Some("other"));
        let (o, v) = obj(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}",
            Some("demo"),
        )
        .unwrap();
        assert_eq!(o.namespace, None);
        assert!(v["metadata"].get("namespace").is_none());
        let (o, _) = obj("apiVersion: v1\nkind: Service\nmetadata: {name: web}", None).unwrap();
        assert_eq!(o.namespace, None);
    }

    #[test]
    fn leftover_temp_files_are_recognised() {
        assert!(is_leftover_temp(".deployment.yaml.tmp-4242"));
        assert!(!is_leftover_temp("deployment.yaml"));
        assert!(!is_leftover_temp(".notes.yaml.tmp-x"));
    }

    #[test]
    fn objects_without_identity_are_errors() {
        assert!(obj("kind: Service\nmetadata: {name: web}", None)
            .unwrap_err()
            .contains("apiVersion"));
        assert!(obj("apiVersion: v1\nkind: Service\nmetadata: {}", None)
            .unwrap_err()
            .contains("metadata.name"));
        assert!(obj("apiVersion: v1\nkind: Service\n", None)
            .unwrap_err()
            .contains("metadata"));
    }

    #[test]
    fn yaml_errors_carry_line_and_column_across_documents() {
        let err =
            parse_documents(Path::new("web/x.yaml"), "a: 1\n---\nb: 2\nc: [\n", false).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("web/x.yaml:"), "{msg}");
        match err {
            CompileError::Yaml { line, .. } => assert!(line >= Some(4), "{msg}"),
            other => panic!("{other}"),
        }
    }
}

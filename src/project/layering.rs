//! Kubes layering: which files under `.kubes/resources` make up one output file, and how
//! they merge.
//!
//! For the main file `<role>/<kind>.yaml`, in merge order (each `.yaml` or `.yml`):
//!
//! | type | file |
//! |------|------|
//! | pre  | `base/all`, `base/all/<env>`, `base/<kind>`, `base/<kind>/base`, `base/<kind>/<env>`, `<role>/all` |
//! | main | `<role>/<kind>` |
//! | post | `<role>/<kind>/base`, `<role>/<kind>/<env>`, `<role>/<kind>/<app>`, `<role>/<kind>/<app>/base`, `<role>/<kind>/<app>/<env>` |
//!
//! Pre layers merge into one map, each main document merges over it, then the post layers
//! merge over each document: maps deep-merged, everything else (arrays too) replaced.
//! App layers apply only when an app is selected (`--app`/`KUBES_APP`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::yaml::Value;

use super::files::ProjectFiles;
use super::ProjectError;

/// Every `.yaml`/`.yml` file under a directory, keyed by its path without extension
/// (`web/deployment`), relative and `/`-separated. Built once per compile so layer lookups
/// cost a map probe instead of a filesystem call.
#[derive(Debug, Default, Clone)]
pub struct FileIndex {
    files: BTreeMap<String, String>,
}

impl FileIndex {
    /// Walk `dir` (missing is empty). Two files differing only by `.yaml`/`.yml` are an error.
    pub fn scan(files: &ProjectFiles, dir: &Path) -> Result<FileIndex, ProjectError> {
        let mut index = FileIndex::default();
        if !files.is_dir(dir) {
            return Ok(index);
        }
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((abs, rel)) = stack.pop() {
            let entries = files
                .read_dir(&abs)
                .map_err(|e| ProjectError::io(&abs, e))?;
            for entry in entries {
                let name = entry.name;
                if name.starts_with('.') {
                    continue; // editor swap files, our own temp files
                }
                let child_rel = if rel.is_empty() {
                    name.clone()
                } else {
                    format!("{rel}/{name}")
                };
                if entry.is_dir {
                    stack.push((abs.join(&name), child_rel));
                    continue;
                }
                let stem = match child_rel
                    .strip_suffix(".yaml")
                    .or_else(|| child_rel.strip_suffix(".yml"))
                {
                    Some(s) => s.to_string(),
                    None => continue,
                };
                if let Some(other) = index.files.insert(stem, child_rel.clone()) {
                    return Err(ProjectError::Invalid {
                        path: dir.join(&child_rel),
                        message: format!("both {other} and {child_rel} exist; keep one of them"),
                    });
                }
            }
        }
        Ok(index)
    }

    /// The file (with extension) for a path without extension, if it exists.
    pub fn get(&self, stem: &str) -> Option<&str> {
        self.files.get(stem).map(|s| s.as_str())
    }

    /// All paths without extension, sorted.
    pub fn stems(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(|s| s.as_str())
    }
}

/// The layers of one main file, as paths relative to `.kubes/resources` (with extension).
#[derive(Debug, Clone, PartialEq)]
pub struct Layers {
    pub pre: Vec<String>,
    pub main: String,
    pub post: Vec<String>,
}

impl Layers {
    /// All layer files in merge order.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.pre
            .iter()
            .chain(std::iter::once(&self.main))
            .chain(self.post.iter())
    }
}

/// Candidate layer stems (without extension), in merge order.
pub fn layer_stems(
    role: &str,
    kind: &str,
    env: &str,
    app: Option<&str>,
) -> (Vec<String>, Vec<String>) {
    let pre = vec![
        "base/all".to_string(),
        format!("base/all/{env}"),
        format!("base/{kind}"),
        format!("base/{kind}/base"),
        format!("base/{kind}/{env}"),
        format!("{role}/all"),
    ];
    let mut post = vec![
        format!("{role}/{kind}/base"),
        format!("{role}/{kind}/{env}"),
    ];
    if let Some(app) = app {
        post.push(format!("{role}/{kind}/{app}"));
        post.push(format!("{role}/{kind}/{app}/base"));
        post.push(format!("{role}/{kind}/{app}/{env}"));
    }
    (pre, post)
}

/// The existing layers for the main file `role/kind`.
pub fn layers_for(
    index: &FileIndex,
    role: &str,
    kind: &str,
    env: &str,
    app: Option<&str>,
) -> Option<Layers> {
    let main = index.get(&format!("{role}/{kind}"))?.to_string();
    let (pre, post) = layer_stems(role, kind, env, app);
    let existing = |stems: Vec<String>| -> Vec<String> {
        stems
            .iter()
            .filter_map(|s| index.get(s).map(str::to_string))
            .collect()
    };
    Some(Layers {
        pre: existing(pre),
        main,
        post: existing(post),
    })
}

/// Main resource files: `<role>/<kind>` exactly two levels deep, not under `base/`, not `all`.
/// Returns `(role, kind)` pairs, sorted, and the stems of files that fit no layer slot at
/// the top level (a `.kubes/resources/x.yaml`), which the caller reports.
pub fn main_files(index: &FileIndex) -> (Vec<(String, String)>, Vec<String>) {
    let mut mains = BTreeSet::new();
    let mut stray = Vec::new();
    for stem in index.stems() {
        let parts: Vec<&str> = stem.split('/').collect();
        match parts.as_slice() {
            [_single] => stray.push(stem.to_string()),
            ["base", _] => {}
            [_, "all"] => {}
            [role, kind] => {
                mains.insert((role.to_string(), kind.to_string()));
            }
            _ => {}
        }
    }
    (mains.into_iter().collect(), stray)
}

/// Merge `over` into `base`: maps deep-merged key by key, anything else replaced.
pub fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Mapping(b), Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => deep_merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Merge `base` under `target`: like [`deep_merge`] with `base` first, but `target` keeps
/// its key order and wins on conflicts; keys only `base` has are appended.
pub fn merge_under(target: &mut Value, base: Value) {
    // Only map-into-map merges; otherwise the target's value wins and `base` is dropped.
    if let (Value::Mapping(t), Value::Mapping(b)) = (target, base) {
        for (k, v) in b {
            match t.get_mut(&k) {
                Some(existing) => merge_under(existing, v),
                None => {
                    t.insert(k, v);
                }
            }
        }
    }
}

/// Path of a layer relative to the project root, for messages.
pub fn resource_path(rel: &str) -> PathBuf {
    Path::new(".kubes/resources").join(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        crate::yaml::from_str(s).unwrap()
    }

    #[test]
    fn maps_merge_deeply_and_arrays_are_replaced() {
        let mut base =
            yaml("metadata: {labels: {app: demo, tier: x}}\nspec: {ports: [1, 2], replicas: 1}");
        deep_merge(
            &mut base,
            yaml("metadata: {labels: {tier: web}}\nspec: {ports: [3]}"),
        );
        assert_eq!(
            base,
            yaml("metadata: {labels: {app: demo, tier: web}}\nspec: {ports: [3], replicas: 1}")
        );
    }

    #[test]
    fn merging_under_keeps_the_upper_order_and_values() {
        let mut main = yaml("kind: Service\nmetadata: {name: web, labels: {role: web}}");
        merge_under(
            &mut main,
            yaml("metadata: {labels: {app: demo, role: base}, annotations: {a: b}}"),
        );
        let mut expected_over =
            yaml("metadata: {labels: {app: demo, role: base}, annotations: {a: b}}");
        deep_merge(
            &mut expected_over,
            yaml("kind: Service\nmetadata: {name: web, labels: {role: web}}"),
        );
        assert_eq!(main, expected_over); // same content as base-then-main
        let keys: Vec<&str> = main
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(keys, ["kind", "metadata"]);
        let meta: Vec<&str> = main["metadata"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert_eq!(meta, ["name", "labels", "annotations"]);
    }

    #[test]
    fn layer_order_is_kubes_full_layering() {
        let (pre, post) = layer_stems("web", "deployment", "dev", Some("app1"));
        assert_eq!(
            pre,
            [
                "base/all",
                "base/all/dev",
                "base/deployment",
                "base/deployment/base",
                "base/deployment/dev",
                "web/all"
            ]
        );
        assert_eq!(
            post,
            [
                "web/deployment/base",
                "web/deployment/dev",
                "web/deployment/app1",
                "web/deployment/app1/base",
                "web/deployment/app1/dev"
            ]
        );
        let (_, post) = layer_stems("web", "deployment", "dev", None);
        assert_eq!(post, ["web/deployment/base", "web/deployment/dev"]);
    }

    #[test]
    fn index_finds_mains_and_existing_layers_only() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "base/all.yaml",
            "base/deployment.yml",
            "web/all.yaml",
            "web/deployment.yaml",
            "web/deployment/dev.yaml",
            "web/deployment/prod.yaml",
            "web/service.yml",
            "shared/namespace.yaml",
            "web/notes.txt",
        ] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        let index = FileIndex::scan(&ProjectFiles::open(dir.path()).unwrap(), dir.path()).unwrap();
        let (mains, stray) = main_files(&index);
        assert!(stray.is_empty());
        let mains: Vec<String> = mains.iter().map(|(r, k)| format!("{r}/{k}")).collect();
        assert_eq!(mains, ["shared/namespace", "web/deployment", "web/service"]);
        let l = layers_for(&index, "web", "deployment", "dev", None).unwrap();
        assert_eq!(
            l.pre,
            ["base/all.yaml", "base/deployment.yml", "web/all.yaml"]
        );
        assert_eq!(l.main, "web/deployment.yaml");
        assert_eq!(l.post, ["web/deployment/dev.yaml"]);
    }

    #[test]
    fn yaml_and_yml_for_the_same_layer_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("web")).unwrap();
        std::fs::write(dir.path().join("web/service.yaml"), "").unwrap();
        std::fs::write(dir.path().join("web/service.yml"), "").unwrap();
        let err = FileIndex::scan(&ProjectFiles::open(dir.path()).unwrap(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("web/service.yaml") && err.contains("web/service.yml"),
            "{err}"
        );
    }
}

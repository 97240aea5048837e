//! Variables: YAML maps under `.kubes/variables`, later files overriding earlier ones
//! (maps deep-merged). Templates see each variable as `@name` and as `name`.
//!
//! Files, in order (as Kubes layers its variables):
//! `base`, `<env>`, then the ones scoped to the resource being rendered: `base/all`,
//! `base/all/<env>`, `base/<kind>`, `base/<kind>/base`, `base/<kind>/<env>`, `<role>/<kind>`,
//! `<role>/<kind>/base`, `<role>/<kind>/<env>`; with an app selected, the same list again
//! under `<app>/`, preceded by `<app>` itself. Each may be `.yaml` or `.yml`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::yaml::{self, Mapping, Value};

use super::files::ProjectFiles;
use super::layering::{deep_merge, FileIndex};
use super::ProjectError;

/// The variables directory, indexed once, with parsed files cached.
#[derive(Debug)]
pub struct Variables {
    dir: PathBuf,
    index: FileIndex,
    files: ProjectFiles,
    env: String,
    app: Option<String>,
    parsed: Mutex<HashMap<String, Mapping>>,
}

impl Variables {
    pub fn load(
        files: &ProjectFiles,
        kubes_dir: &Path,
        env: &str,
        app: Option<&str>,
    ) -> Result<Variables, ProjectError> {
        let dir = kubes_dir.join("variables");
        Ok(Variables {
            index: FileIndex::scan(files, &dir)?,
            files: files.clone(),
            dir,
            env: env.to_string(),
            app: app.map(str::to_string),
            parsed: Mutex::new(HashMap::new()),
        })
    }

    /// Variable files (relative to `.kubes/variables`, with extension) that apply to the
    /// resource `role/kind`, in merge order. Only existing files are listed.
    pub fn files_for(&self, role: &str, kind: &str) -> Vec<String> {
        let env = &self.env;
        let layers = [
            "base".to_string(),
            env.clone(),
            "base/all".to_string(),
            format!("base/all/{env}"),
            format!("base/{kind}"),
            format!("base/{kind}/base"),
            format!("base/{kind}/{env}"),
            format!("{role}/{kind}"),
            format!("{role}/{kind}/base"),
            format!("{role}/{kind}/{env}"),
        ];
        let mut stems: Vec<String> = layers.to_vec();
        if let Some(app) = &self.app {
            stems.push(app.clone());
            stems.extend(layers.iter().map(|l| format!("{app}/{l}")));
        }
        stems
            .iter()
            .filter_map(|s| self.index.get(s).map(str::to_string))
            .collect()
    }

    /// Merge the given files (as returned by [`files_for`](Self::files_for)).
    pub fn merged(&self, files: &[String]) -> Result<Mapping, ProjectError> {
        let mut merged = Value::Mapping(Mapping::new());
        for f in files {
            deep_merge(&mut merged, Value::Mapping(self.parse(f)?));
        }
        match merged {
            Value::Mapping(m) => Ok(m),
            _ => unreachable!("merging maps into a map yields a map"),
        }
    }

    fn parse(&self, rel: &str) -> Result<Mapping, ProjectError> {
        if let Some(m) = self.parsed.lock().expect("variables cache").get(rel) {
            return Ok(m.clone());
        }
        let path = self.dir.join(rel);
        let text = self
            .files
            .read_to_string(&path)
            .map_err(|e| ProjectError::io(&path, e))?;
        let value: Value = yaml::from_str(&text).map_err(|e| ProjectError::yaml(&path, e))?;
        let map = match value {
            Value::Null => Mapping::new(),
            Value::Mapping(m) => m,
            _ => {
                return Err(ProjectError::Invalid {
                    path,
                    message: "expected a mapping of variable names to values".into(),
                })
            }
        };
        for key in map.keys() {
            if !key.is_string() {
                return Err(ProjectError::Invalid {
                    path,
                    message: format!("variable names must be strings, found {}", short(key)),
                });
            }
        }
        self.parsed
            .lock()
            .expect("variables cache")
            .insert(rel.to_string(), map.clone());
        Ok(map)
    }
}

fn short(v: &Value) -> String {
    yaml::to_string(v).unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join("variables").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn env_app_and_resource_files_override_in_kubes_order() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path();
        write(
            k,
            "base.yaml",
            "replicas: 1\nendpoint: base\nlabels: {team: a, tier: x}\n",
        );
        write(k, "prod.yaml", "replicas: 3\nlabels: {tier: prod}\n");
        write(k, "web/deployment.yaml", "endpoint: web-deployment\n");
        write(k, "api.yaml", "endpoint: api\n");
        write(k, "api/prod.yml", "replicas: 5\n");

        let vars = Variables::load(&ProjectFiles::open(k).unwrap(), k, "prod", None).unwrap();
        let m = vars.merged(&vars.files_for("web", "deployment")).unwrap();
        assert_eq!(m["replicas"], Value::from(3));
        assert_eq!(m["endpoint"], Value::from("web-deployment"));
        assert_eq!(m["labels"]["team"], Value::from("a"));
        assert_eq!(m["labels"]["tier"], Value::from("prod"));
        let svc = vars.merged(&vars.files_for("web", "service")).unwrap();
        assert_eq!(svc["endpoint"], Value::from("base"));

        let vars =
            Variables::load(&ProjectFiles::open(k).unwrap(), k, "prod", Some("api")).unwrap();
        let files = vars.files_for("web", "deployment");
        assert_eq!(
            files,
            [
                "base.yaml",
                "prod.yaml",
                "web/deployment.yaml",
                "api.yaml",
                "api/prod.yml"
            ]
        );
        let m = vars.merged(&files).unwrap();
        assert_eq!(m["replicas"], Value::from(5));
        assert_eq!(m["endpoint"], Value::from("api"));
    }

    #[test]
    fn a_list_instead_of_a_map_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "base.yaml", "- a\n- b\n");
        let vars = Variables::load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap();
        let err = vars
            .merged(&vars.files_for("web", "service"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("variables/base.yaml") && err.contains("mapping"),
            "{err}"
        );
    }
}

//! `.kubes/config.yaml` and its overrides, merged into one typed [`Config`].
//!
//! Files, later ones overriding earlier ones key by key (lists are replaced, not appended):
//! `.kubes/config.yaml`, `.kubes/config/env/<env>.yaml`, `.kubes/config/app/<app>.yaml`,
//! `.kubes/config/app/<app>/<env>.yaml`. Every file is checked on its own so an unknown key
//! is reported with the file and line it is in.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ordering::{default_kind_order, default_role_order};
use super::ProjectError;
use crate::yaml;

/// The merged project configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// The app's name (`app` in templates). Defaults to the selected `--app`/`KUBES_APP`.
    pub app: Option<String>,
    /// Namespace given to namespaced resources that have none. `-n` wins over the files.
    pub namespace: Option<String>,
    /// Image for `docker_image` in templates. `--image` wins over the files.
    pub image: Option<String>,
    /// Kubeconfig context to use (usually set per env in `config/env/<env>.yaml`).
    pub context: Option<String>,
    /// Apply order of roles and kinds.
    pub order: Order,
    /// `role/kind` targets (or roles, or kinds) left out of the plan; `KUBES_SKIP` adds more.
    pub skip: Vec<String>,
    /// Delete objects kubes applied before that are no longer in the output.
    pub prune: bool,
    /// Append a content hash to ConfigMap and Secret names (done by the apply engine).
    pub suffix_hash: bool,
}

/// Apply order: roles first, then kinds within a role. Names not listed sort after the
/// listed ones, alphabetically.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Order {
    pub roles: Vec<String>,
    pub kinds: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            app: None,
            namespace: None,
            image: None,
            context: None,
            order: Order {
                roles: default_role_order(),
                kinds: default_kind_order(),
            },
            skip: Vec::new(),
            prune: false,
            suffix_hash: true,
        }
    }
}

/// One config file as written: every key optional, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    app: Option<String>,
    namespace: Option<String>,
    image: Option<String>,
    context: Option<String>,
    order: Option<OrderFile>,
    skip: Option<Vec<String>>,
    prune: Option<bool>,
    suffix_hash: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFile {
    roles: Option<Vec<String>>,
    kinds: Option<Vec<String>>,
}

/// The config files for `env` and `app`, in the order they apply (existing or not).
pub fn config_layers(kubes_dir: &Path, env: &str, app: Option<&str>) -> Vec<PathBuf> {
    let mut files = vec![
        kubes_dir.join("config.yaml"),
        kubes_dir.join("config/env").join(format!("{env}.yaml")),
    ];
    if let Some(app) = app {
        files.push(kubes_dir.join("config/app").join(format!("{app}.yaml")));
        files.push(
            kubes_dir
                .join("config/app")
                .join(app)
                .join(format!("{env}.yaml")),
        );
    }
    files
}

/// Load and merge the config files that exist. Returns the config and the files read.
pub fn load(
    files: &super::files::ProjectFiles,
    kubes_dir: &Path,
    env: &str,
    app: Option<&str>,
) -> Result<(Config, Vec<PathBuf>), ProjectError> {
    let mut config = Config::default();
    let mut read = Vec::new();
    for path in config_layers(kubes_dir, env, app) {
        let text = match files.read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(ProjectError::Io { path, source: e }),
        };
        let file = parse_file(&path, &text)?;
        if let Some(ns) = &file.namespace {
            check_namespace(ns).map_err(|message| ProjectError::Invalid {
                path: path.clone(),
                message,
            })?;
        }
        apply(&mut config, file);
        read.push(path);
    }
    Ok((config, read))
}

/// A namespace name must be a DNS-1123 label, or every apply into it fails later.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    crate::names::dns_label(ns).map_err(|_| {
        format!(
            "namespace `{ns}` is not a valid Kubernetes namespace name (lowercase letters, digits and `-`, at most 63, starting and ending with a letter or digit)"
        )
    })
}

fn apply(config: &mut Config, file: ConfigFile) {
    if let Some(v) = file.app {
        config.app = Some(v);
    }
    if let Some(v) = file.namespace {
        config.namespace = Some(v);
    }
    if let Some(v) = file.image {
        config.image = Some(v);
    }
    if let Some(v) = file.context {
        config.context = Some(v);
    }
    if let Some(order) = file.order {
        if let Some(v) = order.roles {
            config.order.roles = v;
        }
        if let Some(v) = order.kinds {
            config.order.kinds = v;
        }
    }
    if let Some(v) = file.skip {
        config.skip = v;
    }
    if let Some(v) = file.prune {
        config.prune = v;
    }
    if let Some(v) = file.suffix_hash {
        config.suffix_hash = v;
    }
}

fn parse_file(path: &Path, text: &str) -> Result<ConfigFile, ProjectError> {
    // First as plain YAML, so syntax errors and empty files are told apart from schema errors.
    let value: yaml::Value = yaml::from_str(text).map_err(|e| ProjectError::yaml(path, e))?;
    match value {
        yaml::Value::Null => return Ok(ConfigFile::default()),
        yaml::Value::Mapping(_) => {}
        _ => {
            return Err(ProjectError::Invalid {
                path: path.to_path_buf(),
                message: "expected a mapping of settings (app, namespace, image, ...)".into(),
            })
        }
    }
    yaml::from_str(text).map_err(|e| schema_error(path, e))
}

const KNOWN_KEYS: &str =
    "app, namespace, image, context, order (roles, kinds), skip, prune, suffix_hash";

fn schema_error(path: &Path, err: yaml::Error) -> ProjectError {
    match err.unknown_field() {
        Some(key) => ProjectError::UnknownKey {
            path: path.to_path_buf(),
            line: err.line,
            key,
            known: KNOWN_KEYS.into(),
        },
        None => ProjectError::yaml(path, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::files::ProjectFiles;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn later_files_override_earlier_ones_key_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path();
        write(
            k,
            "config.yaml",
            "app: demo\nnamespace: demo\nimage: demo/web:1\norder:\n  roles: [shared, web]\n",
        );
        write(
            k,
            "config/env/prod.yaml",
            "namespace: demo-prod\ncontext: prod-cluster\n",
        );
        write(
            k,
            "config/app/api.yaml",
            "image: demo/api:1\norder:\n  kinds: [Service]\n",
        );
        write(
            k,
            "config/app/api/prod.yaml",
            "image: demo/api:2\nprune: true\n",
        );

        let (c, read) = load(&ProjectFiles::open(k).unwrap(), k, "prod", Some("api")).unwrap();
        assert_eq!(read.len(), 4);
        assert_eq!(c.app.as_deref(), Some("demo"));
        assert_eq!(c.namespace.as_deref(), Some("demo-prod"));
        assert_eq!(c.context.as_deref(), Some("prod-cluster"));
        assert_eq!(c.image.as_deref(), Some("demo/api:2"));
        // order.roles from config.yaml survives an override of order.kinds only
        assert_eq!(c.order.roles, vec!["shared", "web"]);
        assert_eq!(c.order.kinds, vec!["Service"]);
        assert!(c.prune);
        assert!(c.suffix_hash);

        let (dev, _) = load(&ProjectFiles::open(k).unwrap(), k, "dev", None).unwrap();
        assert_eq!(dev.namespace.as_deref(), Some("demo"));
        assert_eq!(dev.image.as_deref(), Some("demo/web:1"));
        assert_eq!(dev.context, None);
        assert!(!dev.prune);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.yaml", "app: demo\nnamespase: demo\n");
        let err = load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("config.yaml:2"), "{err}");
        assert!(err.contains("unknown key `namespase`"), "{err}");
    }

    #[test]
    fn unknown_nested_key_is_named_with_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config/env/dev.yaml", "order:\n  role: [web]\n");
        let err = load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("dev.yaml"), "{err}");
        assert!(err.contains("`order.role`"), "{err}");
    }

    #[test]
    fn yaml_syntax_error_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.yaml", "app: demo\nnamespace: [demo\n");
        let err = load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("config.yaml:"), "{err}");
        assert!(err.contains("column"), "{err}");
    }

    #[test]
    fn wrong_type_is_an_error_not_a_default() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.yaml", "prune: maybe\n");
        let err = load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("prune"), "{err}");
    }

    #[test]
    fn an_invalid_namespace_is_reported_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config/env/dev.yaml", "namespace: Demo_App\n");
        let err = load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("dev.yaml") && err.contains("`Demo_App` is not a valid"),
            "{err}"
        );
    }

    #[test]
    fn empty_or_missing_files_give_defaults() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "config.yaml", "# nothing yet\n");
        let (c, _) = load(
            &ProjectFiles::open(dir.path()).unwrap(),
            dir.path(),
            "dev",
            None,
        )
        .unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.order.roles, vec!["common", "shared"]);
    }
}

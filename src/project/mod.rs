//! The user's project: `.kubes/` config, variables, layering and ordering (the templates
//! are rendered by `compile`, in `compile/template.rs`).
//!
//! Pure: reads files under the project root and the process environment (`KUBES_SKIP`),
//! never talks to a cluster. Imports nothing of the crate but the leaves `names` and `yaml`.

pub mod config;
pub mod files;
pub mod layering;
pub mod ordering;
pub mod variables;

use std::path::{Path, PathBuf};

pub use config::{Config, Order};
pub use ordering::target_matches;

/// What selects a project and its settings; filled from the CLI's global flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectOptions {
    /// Directory holding `.kubes/`.
    pub root: PathBuf,
    /// Environment (`--env`/`KUBES_ENV`, default `dev`).
    pub env: String,
    /// App (`--app`/`KUBES_APP`): selects `config/app/<app>...`, app variables and app layers.
    pub app: Option<String>,
    /// `--image`: wins over the configured `image`.
    pub image: Option<String>,
    /// `-n/--namespace`: wins over the configured `namespace`.
    pub namespace: Option<String>,
}

impl ProjectOptions {
    /// Options for `root` in env `dev`, no app and no overrides.
    pub fn new(root: impl Into<PathBuf>) -> ProjectOptions {
        ProjectOptions {
            root: root.into(),
            env: "dev".into(),
            app: None,
            image: None,
            namespace: None,
        }
    }
}

/// A loaded project: merged config and variables, ready to compile.
#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub env: String,
    /// The selected app (`--app`/`KUBES_APP`), which picks app config, variables and layers.
    pub app: Option<String>,
    /// Merged config, with `--image`, `-n` and `KUBES_SKIP` applied (and `app` defaulted to `--app`).
    pub config: Config,
    /// Config files that were read, in merge order.
    pub config_files: Vec<PathBuf>,
    pub variables: variables::Variables,
    /// The project root as a capability: every `.kubes/` file is read through it.
    pub files: files::ProjectFiles,
    /// Things the user should hear about that do not stop the run (e.g. Kubes' Ruby files,
    /// which kubes does not read). The CLI prints them to stderr.
    pub warnings: Vec<String>,
}

/// The project root as a capability (`cap_std::fs::Dir`): what is read through it cannot
/// leave the project, by `..` or by a symlink.
pub fn open_root(root: &Path) -> std::io::Result<cap_std::fs::Dir> {
    cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot open the project {}: {e}", root.display()),
        )
    })
}

impl Project {
    /// Read `.kubes/` under `opts.root`. Fails with a how-to if there is none.
    pub fn load(opts: &ProjectOptions) -> Result<Project, ProjectError> {
        let kubes_dir = opts.root.join(".kubes");
        if !kubes_dir.is_dir() {
            return Err(ProjectError::NoKubesDir {
                root: opts.root.clone(),
            });
        }
        validate_name("env", &opts.env)?;
        if let Some(app) = &opts.app {
            validate_name("app", app)?;
        }
        let files =
            files::ProjectFiles::open(&opts.root).map_err(|e| ProjectError::io(&opts.root, e))?;
        let (mut config, config_files) =
            config::load(&files, &kubes_dir, &opts.env, opts.app.as_deref())?;
        // `--app` selects app files; the name in templates is the configured `app` (which an
        // app's own config file may set), or the selected app when no file names one.
        if config.app.is_none() {
            config.app = opts.app.clone();
        }
        if let Some(image) = &opts.image {
            config.image = Some(image.clone());
        }
        if let Some(ns) = &opts.namespace {
            config::check_namespace(ns).map_err(|message| ProjectError::Option {
                option: "--namespace",
                message,
            })?;
            config.namespace = Some(ns.clone());
        }
        if let Ok(skip) = std::env::var("KUBES_SKIP") {
            config
                .skip
                .extend(skip.split_whitespace().map(str::to_string));
        }
        let variables =
            variables::Variables::load(&files, &kubes_dir, &opts.env, opts.app.as_deref())?;
        Ok(Project {
            root: opts.root.clone(),
            env: opts.env.clone(),
            app: opts.app.clone(),
            config,
            config_files,
            variables,
            warnings: ruby_file_warnings(&files, &kubes_dir),
            files,
        })
    }

    /// `<root>/.kubes`
    pub fn kubes_dir(&self) -> PathBuf {
        self.root.join(".kubes")
    }

    /// `<root>/.kubes/resources`
    pub fn resources_dir(&self) -> PathBuf {
        self.kubes_dir().join("resources")
    }

    /// `<root>/.kubes/output`
    pub fn output_dir(&self) -> PathBuf {
        self.kubes_dir().join("output")
    }

    /// The app's name as the cluster sees it (managed-by labels, the inventory's name, what
    /// hooks are told): the configured `app`, else `--app`, else the project directory's
    /// name, else `app`.
    pub fn app_name(&self) -> String {
        self.config
            .app
            .clone()
            .or_else(|| self.app.clone())
            .or_else(|| {
                self.root
                    .canonicalize()
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            })
            .unwrap_or_else(|| "app".into())
    }

    /// Is the file `role/kind` left out of the plan by `skip`/`KUBES_SKIP`?
    pub fn is_skipped(&self, role: &str, kind: &str) -> bool {
        self.config
            .skip
            .iter()
            .any(|p| target_matches(p, role, kind))
    }
}

/// Kubes (Ruby) read `config.rb`, `variables/*.rb` and `.rb` resources (its DSL); kubes
/// reads YAML only, so such files would be silently ignored. Say so instead.
fn ruby_file_warnings(files: &files::ProjectFiles, kubes_dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![kubes_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = files.read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = dir.join(&entry.name);
            if entry.is_dir {
                if entry.name != "output" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rb") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
        .into_iter()
        .map(|p| {
            let instead = if p.components().any(|c| c.as_os_str() == "hooks") {
                "hooks are declared in .kubes/config/hooks.yaml and run as WebAssembly components"
            } else {
                "config -> .kubes/config.yaml, variables -> .kubes/variables/*.yaml, resources -> .yaml templates"
            };
            format!("{} is ignored: kubes reads YAML, not Kubes' Ruby ({instead})", p.display())
        })
        .collect()
}

/// Env and app names become path segments: keep them to one plain segment.
fn validate_name(what: &'static str, name: &str) -> Result<(), ProjectError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ProjectError::BadName {
            what,
            name: name.to_string(),
        })
    }
}

/// Why a project could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("no .kubes/ directory in {}: run `kubes init` there to create one, or point --project at a directory that has one", root.display())]
    NoKubesDir { root: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", location(path, *line, *column))]
    Yaml {
        path: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    #[error("{}: unknown key `{key}` (known keys: {known})", location(path, *line, None))]
    UnknownKey {
        path: PathBuf,
        line: Option<usize>,
        key: String,
        known: String,
    },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("{option}: {message}")]
    Option {
        option: &'static str,
        message: String,
    },
    #[error("invalid {what} name `{name}`: use letters, digits, `-`, `_` or `.`")]
    BadName { what: &'static str, name: String },
}

impl ProjectError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> ProjectError {
        ProjectError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn yaml(path: &Path, err: crate::yaml::Error) -> ProjectError {
        ProjectError::Yaml {
            path: path.to_path_buf(),
            line: err.line,
            column: err.column,
            message: err.message,
        }
    }
}

/// `file:line:column`, as much of it as is known.
pub(crate) fn location(path: &Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", path.display()),
        (Some(l), None) => format!("{}:{l}", path.display()),
        _ => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_kubes_dir_says_how_to_create_one() {
        let dir = tempfile::tempdir().unwrap();
        let err = Project::load(&ProjectOptions::new(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no .kubes/ directory") && err.contains("kubes init"),
            "{err}"
        );
    }

    #[test]
    fn flags_win_over_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kubes")).unwrap();
        std::fs::write(
            dir.path().join(".kubes/config.yaml"),
            "app: demo\nnamespace: demo\nimage: a:1\n",
        )
        .unwrap();
        let mut opts = ProjectOptions::new(dir.path());
        opts.image = Some("b:2".into());
        opts.namespace = Some("other".into());
        let p = Project::load(&opts).unwrap();
        assert_eq!(p.config.image.as_deref(), Some("b:2"));
        assert_eq!(p.config.namespace.as_deref(), Some("other"));
        assert_eq!(p.config.app.as_deref(), Some("demo"));
    }

    #[test]
    fn kubes_ruby_files_are_reported_not_silently_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kubes/variables")).unwrap();
        std::fs::write(dir.path().join(".kubes/config.rb"), "").unwrap();
        std::fs::write(dir.path().join(".kubes/variables/base.rb"), "@x = 1").unwrap();
        let p = Project::load(&ProjectOptions::new(dir.path())).unwrap();
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        assert!(
            p.warnings[0].contains("config.rb is ignored"),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn env_names_cannot_escape_the_project() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".kubes")).unwrap();
        let mut opts = ProjectOptions::new(dir.path());
        opts.env = "../../etc".into();
        assert!(matches!(
            Project::load(&opts),
            Err(ProjectError::BadName { .. })
        ));
    }
}

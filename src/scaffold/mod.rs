//! Scaffolding: `kubes init` (a starter `.kubes/`, in [`init`]) and `kubes new hook NAME
//! --lang rust|python|js` (the rest of this module), which writes a hook project that
//! builds, on its own and outside this repository, into a component for the `kubes:hook`
//! world.
//!
//! Every scaffold carries the WIT contract (`wit/`, embedded from the repository at compile
//! time, see [`embedded`]); the Rust one also vendors the guest SDK. Templates live in
//! `templates/<lang>/` and are rendered with [`render::render`]. Nothing is written until
//! every file has rendered, and never into a non-empty directory.

mod embedded;
pub mod init;
mod js;
mod name;
mod python;
mod render;
mod rust;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The guest languages a hook can be scaffolded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Js];
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
        })
    }
}

impl FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "python" | "py" => Ok(Lang::Python),
            "js" | "javascript" => Ok(Lang::Js),
            _ => Err(format!(
                "unknown hook language `{s}`: expected rust, python or js"
            )),
        }
    }
}

/// Pinned guest tool versions the Python and JavaScript scaffolds name (the same pins as
/// `scripts/hook-tools.sh`).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("invalid hook name `{name}`: {reason} (a hook name is a DNS-1123 label{})",
        if suggestion.is_empty() { String::new() } else { format!("; try `{suggestion}`") })]
    InvalidName {
        name: String,
        reason: String,
        suggestion: String,
    },

    #[error("{} already exists and is not empty; choose another --dir or remove it", path.display())]
    DirNotEmpty { path: PathBuf },

    #[error("{} exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },

    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A template of this binary is broken: a bug, reported rather than panicking.
    #[error("internal error in the {template} template: {reason}")]
    Template { template: String, reason: String },
}

/// One file of a scaffold, relative to its directory.
#[derive(Debug, Clone)]
pub struct ScaffoldFile {
    pub path: String,
    pub contents: String,
    /// Written with the executable bit (build scripts).
    pub executable: bool,
}

/// How to build a scaffold, and what comes out.
#[derive(Debug, Clone)]
pub struct BuildSteps {
    /// What the build needs installed first, in words.
    pub requires: String,
    /// The command, run inside the scaffold's directory.
    pub command: String,
    /// The component the command writes, relative to the scaffold's directory.
    pub artifact: String,
}

/// A rendered scaffold, not yet written.
#[derive(Debug, Clone)]
pub struct Scaffold {
    pub name: String,
    pub lang: Lang,
    pub files: Vec<ScaffoldFile>,
    pub build: BuildSteps,
}

/// Render the scaffold for hook `name` in `lang`, validating the name.
pub fn scaffold(name: &str, lang: Lang) -> Result<Scaffold, ScaffoldError> {
    name::validate(name, lang).map_err(|reason| ScaffoldError::InvalidName {
        name: name.to_string(),
        reason,
        suggestion: Some(name::suggest(name))
            .filter(|s| s != name && name::validate(s, lang).is_ok())
            .unwrap_or_default(),
    })?;
    let build = match lang {
        Lang::Rust => rust::build_steps(name),
        Lang::Python => python::build_steps(name),
        Lang::Js => js::build_steps(name),
    };
    let snippet = hooks_yaml_snippet(name);
    let values = Values {
        name,
        build: &build,
        hooks_yaml: &snippet,
    };
    let mut files = match lang {
        Lang::Rust => rust::files(&values)?,
        Lang::Python => python::files(&values)?,
        Lang::Js => js::files(&values)?,
    };
    files.extend(scenario_files(name, lang, &build.artifact));
    files.extend(embedded::WIT.iter().map(|(path, text)| ScaffoldFile {
        path: path.to_string(),
        contents: text.to_string(),
        executable: false,
    }));
    Ok(Scaffold {
        name: name.to_string(),
        lang,
        files,
        build,
    })
}

/// What every language's templates may use.
pub(crate) struct Values<'a> {
    pub name: &'a str,
    pub build: &'a BuildSteps,
    pub hooks_yaml: &'a str,
}

impl Values<'_> {
    /// Render one template, naming it in the error if it is broken.
    pub fn render(
        &self,
        template_name: &str,
        template: &str,
        extra: &[(&str, &str)],
    ) -> Result<String, ScaffoldError> {
        let mut values = vec![
            ("name", self.name),
            ("build_requires", self.build.requires.as_str()),
            ("build_command", self.build.command.as_str()),
            ("artifact", self.build.artifact.as_str()),
            ("hooks_yaml", self.hooks_yaml),
            ("componentize_py_version", COMPONENTIZE_PY_VERSION),
            ("componentize_js_version", COMPONENTIZE_JS_VERSION),
        ];
        values.extend_from_slice(extra);
        render::render(template, &values).map_err(|reason| ScaffoldError::Template {
            template: template_name.to_string(),
            reason,
        })
    }

    pub fn file(
        &self,
        path: &str,
        template: &str,
        extra: &[(&str, &str)],
    ) -> Result<ScaffoldFile, ScaffoldError> {
        Ok(ScaffoldFile {
            path: path.to_string(),
            contents: self.render(path, template, extra)?,
            executable: path.ends_with(".sh"),
        })
    }
}

/// The hooks.yaml entry that wires the scaffolded hook into a project: after the web
/// Deployment (what `kubes init` scaffolds) is applied, with the one grant the example needs.
pub fn hooks_yaml_snippet(name: &str) -> String {
    format!(
        "hooks:
  - name: {name}
    after: apply                # before:/after: compile, apply, delete, prune
    on: web/deployment          # the role/kind file it runs around; without `on`, once per step
    module: hooks/{name}.wasm  # the built component, copied into the project
    timeout: 30s
    config: {{ message: \"hello from {name}\" }}
    grants:                     # the example gets the objects of its target file
      - {{ verbs: [get], resources: [deployments.apps] }}
"
    )
}

/// The scaffold's own tests for `kubes hooks test`: the hook as the snippet declares it
/// (`tests/hook.yaml`, its module the build's artifact) and two scenarios, one where the
/// target Deployment exists and one where it does not, both passing as scaffolded.
fn scenario_files(name: &str, lang: Lang, artifact: &str) -> Vec<ScaffoldFile> {
    // A Python or JavaScript component carries its interpreter (12-18 MB): compiling it
    // can pass the default 2 min budget on a busy machine. It is the author's own file.
    let limits = match lang {
        Lang::Rust => "",
        Lang::Python | Lang::Js => {
            "limits: { compile_time: 10m }   # the component carries its interpreter\n"
        }
    };
    let file = |path: &str, contents: String| ScaffoldFile {
        path: path.to_string(),
        contents,
        executable: false,
    };
    vec![
        file(
            "tests/hook.yaml",
            format!(
                "# The hook as .kubes/config/hooks.yaml declares it; every scenario here starts from
# this and may change any key under its own `hook:`. `module` is the built component,
# relative to the hook project. Run the scenarios with `kubes hooks test` (docs: kubes'
# docs/hook-testing.md).
name: {name}
after: apply
on: web/deployment
module: {artifact}
timeout: 30s
config: {{ message: \"hello from {name}\" }}
grants:
  - {{ verbs: [get], resources: [deployments.apps] }}
{limits}"
            ),
        ),
        file(
            "tests/finds-the-deployment.scenario.yaml",
            format!(
                "description: After the web Deployment is applied the hook gets it and says what it found.
workloads:
  - deployment: web      # applied just before the hook runs, as `kubes deploy` does
    replicas: 2
    image: web:1
expect:
  outcome: ok
  output:                # in this order; other lines may come between
    - hello from {name}
    - {{ re: '^Deployment/web: found, uid \\S+, resourceVersion \\d+$' }}
    - 'info: {name} done'
  calls: [get deployments.apps web]
"
            ),
        ),
        file(
            "tests/fails-if-missing.scenario.yaml",
            format!(
                "description: Told to fail on a missing object, the hook fails when the Deployment is not there.
hook:
  config: {{ message: \"hello from {name}\", fail_if_missing: true }}
target:                  # the file it runs around, whose object was never applied
  file: web/deployment
  objects: [{{ apiVersion: apps/v1, kind: Deployment, name: web }}]
expect:
  error: '^Deployment/web( in demo)? does not exist$'
  output: [hello from {name}]
  never: [found, 'info: {name} done']
"
            ),
        ),
    ]
}

/// Where the files went.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    /// Paths relative to `dir`, in the order written.
    pub files: Vec<String>,
}

/// Write `scaffold` into `dir`, which must not exist or be an empty directory.
pub fn write(scaffold: &Scaffold, dir: &Path) -> Result<Written, ScaffoldError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    match std::fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => {
            return Err(ScaffoldError::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(io(dir))?;
            if entries.next().is_some() {
                return Err(ScaffoldError::DirNotEmpty {
                    path: dir.to_path_buf(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let mut written = Vec::new();
    for file in &scaffold.files {
        let path = dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, &file.contents).map_err(io(&path))?;
        if file.executable {
            make_executable(&path).map_err(io(&path))?;
        }
        written.push(file.path.clone());
    }
    Ok(Written {
        dir: dir.to_path_buf(),
        files: written,
    })
}

#[cfg(unix)]
fn make_executable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut perms = std::fs::metadata(path)?.permissions();
    perms.set_mode(perms.mode() | 0o111);
    std::fs::set_permissions(path, perms)
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// `dir` as a shell word: quoted when it holds anything but plain path characters.
pub fn shell_word(dir: &Path) -> String {
    let s = dir.display().to_string();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests;

//! The Python scaffold: `app.py` and a `build.sh` running componentize-py over `./wit`.

use super::{BuildSteps, ScaffoldError, ScaffoldFile, Values, COMPONENTIZE_PY_VERSION};

const APP_PY: &str = include_str!("templates/python/app.py.tmpl");
const BUILD_SH: &str = include_str!("templates/python/build.sh.tmpl");
const README: &str = include_str!("templates/python/README.md.tmpl");
const GITIGNORE: &str = include_str!("templates/python/gitignore.tmpl");

pub fn build_steps(name: &str) -> BuildSteps {
    BuildSteps {
        requires: format!(
            "componentize-py {COMPONENTIZE_PY_VERSION}: `pip install componentize-py=={COMPONENTIZE_PY_VERSION}`, or set $KUBES_COMPONENTIZE_PY"
        ),
        command: "./build.sh".into(),
        artifact: format!("{name}.wasm"),
    }
}

pub fn files(values: &Values) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    Ok(vec![
        values.file("app.py", APP_PY, &[])?,
        values.file("build.sh", BUILD_SH, &[])?,
        values.file("README.md", README, &[])?,
        values.file(".gitignore", GITIGNORE, &[])?,
    ])
}

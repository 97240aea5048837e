//! The JavaScript scaffold: `hook.js` and a `build.sh` running componentize-js over `./wit`.

use super::{BuildSteps, ScaffoldError, ScaffoldFile, Values, COMPONENTIZE_JS_VERSION};

const HOOK_JS: &str = include_str!("templates/js/hook.js.tmpl");
const BUILD_SH: &str = include_str!("templates/js/build.sh.tmpl");
const README: &str = include_str!("templates/js/README.md.tmpl");
const GITIGNORE: &str = include_str!("templates/js/gitignore.tmpl");

pub fn build_steps(name: &str) -> BuildSteps {
    BuildSteps {
        requires: format!(
            "Node.js with npx, which fetches componentize-js {COMPONENTIZE_JS_VERSION}; or set $KUBES_COMPONENTIZE_JS"
        ),
        command: "./build.sh".into(),
        artifact: format!("{name}.wasm"),
    }
}

pub fn files(values: &Values) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    Ok(vec![
        values.file("hook.js", HOOK_JS, &[])?,
        values.file("build.sh", BUILD_SH, &[])?,
        values.file("README.md", README, &[])?,
        values.file(".gitignore", GITIGNORE, &[])?,
    ])
}

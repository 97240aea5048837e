//! The Rust scaffold: a `cdylib` crate using the guest SDK, vendored under
//! `vendor/kubes-hook-sdk/` so the project builds with registry crates only.

use super::embedded::{SDK_LOCK, SDK_MANIFEST, SDK_README, SDK_SOURCES};
use super::{BuildSteps, ScaffoldError, ScaffoldFile, Values};

const CARGO_TOML: &str = include_str!("templates/rust/Cargo.toml.tmpl");
const LIB_RS: &str = include_str!("templates/rust/lib.rs.tmpl");
const README: &str = include_str!("templates/rust/README.md.tmpl");
const GITIGNORE: &str = include_str!("templates/rust/gitignore.tmpl");

const SDK_DIR: &str = "vendor/kubes-hook-sdk";

pub fn build_steps(name: &str) -> BuildSteps {
    BuildSteps {
        requires: "Rust with the wasm32-wasip2 target: `rustup target add wasm32-wasip2`".into(),
        command: "cargo build --target wasm32-wasip2 --release".into(),
        artifact: format!(
            "target/wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ),
    }
}

pub fn files(values: &Values) -> Result<Vec<ScaffoldFile>, ScaffoldError> {
    let plain = |path: String, contents: String| ScaffoldFile {
        path,
        contents,
        executable: false,
    };
    let mut files = vec![
        values.file("Cargo.toml", CARGO_TOML, &[])?,
        values.file("src/lib.rs", LIB_RS, &[])?,
        values.file("README.md", README, &[])?,
        values.file(".gitignore", GITIGNORE, &[])?,
        // The SDK's lock: the hook starts from the versions the SDK is tested with.
        plain("Cargo.lock".into(), SDK_LOCK.to_string()),
        plain(
            format!("{SDK_DIR}/Cargo.toml"),
            vendored_manifest(SDK_MANIFEST)?,
        ),
        plain(format!("{SDK_DIR}/README.md"), SDK_README.to_string()),
    ];
    for (path, text) in SDK_SOURCES {
        let text = if *path == "src/lib.rs" {
            vendored_lib(text)?
        } else {
            text.to_string()
        };
        files.push(plain(format!("{SDK_DIR}/{path}"), text));
    }
    Ok(files)
}

fn broken(reason: impl Into<String>) -> ScaffoldError {
    ScaffoldError::Template {
        template: format!("{SDK_DIR} (from hooks-sdk/)"),
        reason: reason.into(),
    }
}

/// The SDK generates its bindings from `../wit` (the repository's `wit/`). Vendored two
/// levels down, the scaffold's own `wit/` is `../../wit`.
fn vendored_lib(lib_rs: &str) -> Result<String, ScaffoldError> {
    const FROM: &str = "path: \"../wit\"";
    match lib_rs.matches(FROM).count() {
        1 => Ok(lib_rs.replacen(FROM, "path: \"../../wit\"", 1)),
        n => Err(broken(format!(
            "hooks-sdk/src/lib.rs has {n} occurrences of `{FROM}`, expected exactly one"
        ))),
    }
}

/// The SDK's manifest declares its own empty `[workspace]` (so it never attaches to the
/// host's). Vendored, it is a member of the hook's workspace instead: drop that table and
/// the comment above it.
fn vendored_manifest(manifest: &str) -> Result<String, ScaffoldError> {
    let lines: Vec<&str> = manifest.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim() == "[workspace]")
        .ok_or_else(|| broken("hooks-sdk/Cargo.toml has no `[workspace]` table to drop"))?;
    let body_empty = lines[at + 1..]
        .iter()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_none_or(|l| l.starts_with('['));
    if !body_empty {
        return Err(broken(
            "hooks-sdk/Cargo.toml's `[workspace]` table has keys; the vendoring expects it empty",
        ));
    }
    let mut start = at;
    while start > 0 && lines[start - 1].trim_start().starts_with('#') {
        start -= 1;
    }
    let mut out = format!(
        "# Vendored by `kubes new hook` (kubes {}) from its hooks-sdk/.\n",
        env!("CARGO_PKG_VERSION")
    );
    for line in lines[..start].iter().chain(&lines[at + 1..]) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_finds_the_scaffolds_wit() {
        let lib = vendored_lib(
            SDK_SOURCES
                .iter()
                .find(|(p, _)| *p == "src/lib.rs")
                .unwrap()
                .1,
        )
        .unwrap();
        assert!(lib.contains("path: \"../../wit\""));
        assert!(!lib.contains("path: \"../wit\""));
        assert!(vendored_lib("no path here").is_err());
    }

    #[test]
    fn the_vendored_sdk_manifest_joins_the_hooks_workspace() {
        let m = vendored_manifest(SDK_MANIFEST).unwrap();
        assert!(!m.contains("[workspace]"), "{m}");
        assert!(m.contains("name = \"kubes-hook-sdk\""));
        assert!(m.contains("wit-bindgen"));
        let err = vendored_manifest("[package]\n[workspace]\nmembers = [\"x\"]\n").unwrap_err();
        assert!(err.to_string().contains("has keys"), "{err}");
        assert!(vendored_manifest("[package]\n").is_err());
    }

    #[test]
    fn a_dashed_name_builds_an_underscored_component() {
        assert_eq!(
            build_steps("my-hook").artifact,
            "target/wasm32-wasip2/release/my_hook.wasm"
        );
    }
}

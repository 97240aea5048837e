//! Rendering and writing scaffolds (the builds themselves are in tests/it/new_hook.rs).

use super::*;

fn file<'a>(s: &'a Scaffold, path: &str) -> &'a str {
    &s.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} not in the {} scaffold", s.lang))
        .contents
}

#[test]
fn every_language_renders_with_the_contract_and_a_readme() {
    for lang in Lang::ALL {
        let s = scaffold("my-hook", lang).unwrap();
        assert_eq!(file(&s, "wit/hook.wit"), include_str!("../../wit/hook.wit"));
        assert!(file(&s, "wit/deps/io/io.wit").contains("package wasi:io"));
        let readme = file(&s, "README.md");
        assert!(readme.starts_with("# my-hook\n"), "{lang}: {readme}");
        assert!(
            readme.contains(&s.build.command),
            "{lang}: build command missing"
        );
        assert!(
            readme.contains(&hooks_yaml_snippet("my-hook")),
            "{lang}: snippet missing"
        );
        assert!(!file(&s, ".gitignore").is_empty());
        let mut paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(
            paths.len(),
            s.files.len(),
            "{lang}: a path is written twice"
        );
    }
}

#[test]
fn the_rust_scaffold_vendors_the_sdk_and_names_the_crate() {
    let s = scaffold("my-hook", Lang::Rust).unwrap();
    assert!(file(&s, "Cargo.toml").contains("name = \"my-hook\""));
    assert!(file(&s, "Cargo.toml").contains("path = \"vendor/kubes-hook-sdk\""));
    assert!(file(&s, "src/lib.rs").contains("export_hook!(ThisHook)"));
    assert!(file(&s, "vendor/kubes-hook-sdk/src/lib.rs").contains("path: \"../../wit\""));
    assert!(file(&s, "vendor/kubes-hook-sdk/src/job.rs").contains("pub fn wait_for_job"));
    assert!(file(&s, "Cargo.lock").contains("name = \"wit-bindgen\""));
    assert_eq!(
        s.build.artifact,
        "target/wasm32-wasip2/release/my_hook.wasm"
    );
}

#[test]
fn python_and_js_scaffolds_build_with_a_script_naming_the_pinned_tool() {
    let py = scaffold("my-hook", Lang::Python).unwrap();
    let sh = py.files.iter().find(|f| f.path == "build.sh").unwrap();
    assert!(sh.executable);
    assert!(sh
        .contents
        .contains("${KUBES_COMPONENTIZE_PY:-componentize-py}"));
    assert!(sh.contents.contains("componentize-py==0.25.1"));
    assert!(sh.contents.contains("-o my-hook.wasm"));
    assert!(file(&py, "app.py").contains("class WitWorld(wit_world.WitWorld)"));

    let js = scaffold("my-hook", Lang::Js).unwrap();
    let sh = file(&js, "build.sh");
    assert!(sh.contains("@bytecodealliance/componentize-js@0.23.0"));
    assert!(sh.contains("-d http fetch-event"));
    assert!(sh.contains("$KUBES_COMPONENTIZE_JS"));
    assert!(file(&js, "hook.js").contains("export function run(ctx)"));
    for s in [&py, &js] {
        assert_eq!(s.build.command, "./build.sh");
        assert_eq!(s.build.artifact, "my-hook.wasm");
    }
}

#[test]
fn a_bad_name_is_refused_with_the_reason_and_a_suggestion() {
    let err = scaffold("My_Hook", Lang::Python).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid hook name `My_Hook`: it contains 'M'; only lowercase letters a-z, digits 0-9 \
         and '-' are allowed (a hook name is a DNS-1123 label; try `my-hook`)"
    );
    let err = scaffold("___", Lang::Js).unwrap_err().to_string();
    assert!(!err.contains("try"), "{err}");
}

#[test]
fn languages_parse_with_aliases_and_a_clear_error() {
    assert_eq!("rust".parse::<Lang>(), Ok(Lang::Rust));
    assert_eq!("Python".parse::<Lang>(), Ok(Lang::Python));
    assert_eq!("javascript".parse::<Lang>(), Ok(Lang::Js));
    assert_eq!(
        "go".parse::<Lang>(),
        Err("unknown hook language `go`: expected rust, python or js".to_string())
    );
}

#[test]
fn writes_into_a_new_or_empty_directory_only() {
    let tmp = tempfile::tempdir().unwrap();
    let s = scaffold("my-hook", Lang::Js).unwrap();

    let fresh = tmp.path().join("a/b/my-hook");
    let written = write(&s, &fresh).unwrap();
    assert_eq!(written.files.len(), s.files.len());
    assert_eq!(
        std::fs::read_to_string(fresh.join("hook.js")).unwrap(),
        file(&s, "hook.js")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fresh.join("build.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "build.sh is executable");
    }

    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    write(&s, &empty).unwrap();

    let err = write(&s, &fresh).unwrap_err();
    assert!(matches!(err, ScaffoldError::DirNotEmpty { .. }), "{err}");
    assert!(err.to_string().contains("already exists and is not empty"));

    let a_file = tmp.path().join("file");
    std::fs::write(&a_file, "x").unwrap();
    let err = write(&s, &a_file).unwrap_err();
    assert!(err.to_string().contains("is not a directory"), "{err}");
}

#[test]
fn shell_words_are_quoted_when_needed() {
    assert_eq!(shell_word(Path::new("./my-hook")), "./my-hook");
    assert_eq!(shell_word(Path::new("my dir")), "'my dir'");
    assert_eq!(shell_word(Path::new("it's")), r"'it'\''s'");
}

#[test]
fn scaffold_tool_pins_match_the_repository_build_tools() {
    // The scaffolds name the same tool versions the repository's own hook builds install.
    let tools = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/hook-tools.sh"),
    )
    .unwrap();
    for (var, version) in [
        ("KUBES_COMPONENTIZE_PY_VERSION", COMPONENTIZE_PY_VERSION),
        ("KUBES_COMPONENTIZE_JS_VERSION", COMPONENTIZE_JS_VERSION),
    ] {
        let pin = format!("{var}=\"{version}\"");
        assert!(tools.contains(&pin), "scripts/hook-tools.sh lacks {pin}");
    }
}

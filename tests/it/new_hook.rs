//! Story: a hook author runs `kubes new hook NAME --lang rust|python|js`, builds the scaffold
//! where it was written (outside this repository: Rust with registry crates only, Python and
//! JavaScript with the pinned componentize tools), checks the component with
//! `kubes hooks inspect`, runs its scenarios with `kubes hooks test`, pastes the hooks.yaml snippet the command printed into a project
//! made by `kubes init`, and sees the hook's lines, prefixed with its name, in the deploy log.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::cluster_common::{kubectl_json, Server};
use crate::common::{self, kubes_bin, repo};

/// `kubes new hook ARGS...` run in `cwd`, with no project or cluster involved.
fn kubes_new(cwd: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = kubes_bin();
    cmd.current_dir(cwd).args(["new", "hook"]).args(args);
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs a build command, failing the test with its output when it fails.
fn run_build(what: &str, cmd: &mut Command) {
    let started = Instant::now();
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    eprintln!("{what}: built in {:.1?}", started.elapsed());
}

/// Builds the scaffold in `dir` the way its README says, and returns the component.
fn build(lang: &str, dir: &Path, name: &str) -> PathBuf {
    match lang {
        "rust" => {
            // As on a machine without this repository: the host build's flags and target
            // must not leak into the guest's, and its target dir is the scaffold's own
            // (where its tests/hook.yaml finds the component). CI may name a target dir
            // kept in its cache instead (KUBES_TEST_SCAFFOLD_TARGET_DIR, .ci/run): the
            // scaffold's registry dependencies are then not compiled again in every run; the
            // component is copied to where it would have been.
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let target = std::env::var_os("KUBES_TEST_SCAFFOLD_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| dir.join("target"));
            run_build(
                "cargo build (rust scaffold)",
                Command::new(cargo)
                    .current_dir(dir)
                    .args(["build", "--quiet", "--target", "wasm32-wasip2", "--release"])
                    .env_remove("RUSTFLAGS")
                    .env_remove("CARGO_BUILD_TARGET")
                    .env_remove("CARGO_MANIFEST_DIR")
                    .env("CARGO_TARGET_DIR", &target),
            );
            let file = format!("{}.wasm", name.replace('-', "_"));
            let built = target.join("wasm32-wasip2/release").join(&file);
            assert!(built.exists(), "{} not built", built.display());
            let wasm = dir.join("target/wasm32-wasip2/release").join(&file);
            if built != wasm {
                std::fs::create_dir_all(wasm.parent().unwrap()).unwrap();
                std::fs::copy(&built, &wasm).unwrap();
            }
            wasm
        }
        _ => {
            // The pinned tools (installed into .tools/ on first use), then the scaffold's
            // own build script, which finds them through KUBES_COMPONENTIZE_PY/_JS.
            run_build(
                &format!("build.sh ({lang} scaffold)"),
                Command::new("bash")
                    .args([
                        "-c",
                        "source \"$1/scripts/hook-tools.sh\" && exec \"$2/build.sh\"",
                        "build",
                    ])
                    .arg(repo())
                    .arg(dir),
            );
            let wasm = dir.join(format!("{name}.wasm"));
            assert!(wasm.exists(), "{} not built", wasm.display());
            wasm
        }
    }
}

/// The whole story for one language.
fn scaffold_build_inspect_deploy(lang: &str) {
    let name = format!("hello-{lang}");
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");

    // 1. Scaffold: default directory ./NAME, files listed, build command and snippet printed.
    let out = kubes_new(work.path(), &[&name, "--lang", lang])
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let dir = work.path().join(&name);
    assert!(
        stdout.starts_with(&format!("Created hook {name} ({lang}) in {name}:\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  {name}/README.md\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("  {name}/wit/hook.wit\n")),
        "{stdout}"
    );
    let build_line = match lang {
        "rust" => format!("  cd {name} && cargo build --target wasm32-wasip2 --release\n"),
        _ => format!("  cd {name} && ./build.sh\n"),
    };
    assert!(stdout.contains(&build_line), "{stdout}");
    let snippet = &stdout[stdout.find("\nhooks:\n").expect("a hooks.yaml snippet") + 1..];

    // 2. Build it, outside this repository.
    let wasm = build(lang, &dir, &name);

    // 3. Its scenarios pass, against the simulated cluster: scaffold, build, test.
    let out = kubes_bin()
        .env("KUBES_CACHE_DIR", &cache)
        .args(["hooks", "test"])
        .arg(&dir)
        .assert()
        .success();
    let table = text(&out.get_output().stdout);
    eprintln!("--- {lang}: kubes hooks test\n{table}");
    for scenario in ["fails-if-missing", "finds-the-deployment"] {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(scenario) && l.split_whitespace().nth(1) == Some("ok")),
            "{scenario}: {table}"
        );
    }
    assert!(table.contains("2 scenarios, 2 passed, 0 failed"), "{table}");
    assert!(
        stdout.contains(&format!("  kubes hooks test {name}\n")),
        "{stdout}"
    );

    // 3b. It fits the hook world.
    let out = kubes_bin()
        .env("KUBES_CACHE_DIR", &cache)
        .args(["hooks", "inspect"])
        .arg(&wasm)
        .assert()
        .success();
    let inspected = text(&out.get_output().stdout);
    assert!(
        inspected.contains("hook world: yes (kubes:hook/hook@0.2.0)"),
        "{inspected}"
    );
    assert!(inspected.contains("\n  func run"), "{inspected}");

    // 4. Wired into a `kubes init` project with the printed snippet, it runs in a deploy.
    let srv = Server::start();
    let project = work.path().join("app");
    common::kubes(&project)
        .args(["init", "--name", "demo"])
        .assert()
        .success();
    std::fs::create_dir_all(project.join("hooks")).unwrap();
    std::fs::copy(&wasm, project.join(format!("hooks/{name}.wasm"))).unwrap();

    // Run alone before anything is applied, told to fail on a missing object: the hook's
    // error (Err in Rust, a raised Err in Python, a throw in JS) fails it with its text.
    let strict = snippet.replace(
        &format!("config: {{ message: \"hello from {name}\" }}"),
        &format!("config: {{ message: \"hello from {name}\", fail_if_missing: true }}"),
    );
    assert_ne!(
        strict, snippet,
        "the snippet's config line changed; update this test"
    );
    std::fs::write(project.join(".kubes/config/hooks.yaml"), &strict).unwrap();
    let out = srv
        .kubes(&project)
        .env("KUBES_CACHE_DIR", &cache)
        .args(["hooks", "run", &name])
        .assert()
        .failure();
    let stderr = text(&out.get_output().stderr);
    eprintln!("--- {lang}: kubes hooks run {name} (fail_if_missing)\n{stderr}");
    assert!(
        stderr.contains(&format!(
            "hook {name} failed at after apply on web/deployment: returned an error: Deployment/web"
        )) && stderr.contains("does not exist"),
        "{stderr}"
    );

    std::fs::write(project.join(".kubes/config/hooks.yaml"), snippet).unwrap();
    let out = srv
        .kubes(&project)
        .env("KUBES_CACHE_DIR", &cache)
        .arg("deploy")
        .assert()
        .success();
    let stdout = text(&out.get_output().stdout);
    let stderr = text(&out.get_output().stderr);
    eprintln!("--- {lang}: kubes deploy\n{stdout}");
    let uid = kubectl_json(
        srv.kubeconfig(),
        &["get", "deployment", "web", "-n", "demo"],
    )
    .expect("the deploy applied the web Deployment")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let hook_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with(&format!("[{name}] ")))
        .collect();
    let expected = [
        format!("[{name}] hello from {name}"),
        format!(
            "[{name}] hello from {name} ({lang}) at after apply: app demo, env dev, namespace demo"
        ),
        format!("[{name}] Deployment/web: found, uid {uid}, resourceVersion "),
        format!("[{name}] info: {name} done"),
    ];
    assert_eq!(
        hook_lines.len(),
        expected.len(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for (line, want) in hook_lines.iter().zip(&expected) {
        assert!(
            line.starts_with(want.as_str()),
            "{line:?} should start with {want:?}\nstdout:\n{stdout}"
        );
    }
}

#[test]
fn a_rust_hook_scaffold_builds_on_its_own_and_runs_in_a_deploy() {
    scaffold_build_inspect_deploy("rust");
}

#[test]
fn a_python_hook_scaffold_builds_with_componentize_py_and_runs_in_a_deploy() {
    scaffold_build_inspect_deploy("python");
}

#[test]
fn a_js_hook_scaffold_builds_with_componentize_js_and_runs_in_a_deploy() {
    scaffold_build_inspect_deploy("js");
}

#[test]
fn a_name_that_is_not_a_dns_label_is_refused_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    for (bad, why) in [
        ("My_Hook", "invalid hook name `My_Hook`: it contains 'M'"),
        (
            "hook-",
            "invalid hook name `hook-`: it must start and end with a letter or a digit",
        ),
        (
            "1st",
            "invalid hook name `1st`: a Rust package name cannot start with a digit",
        ),
    ] {
        let out = kubes_new(work.path(), &[bad]).assert().failure();
        let stderr = text(&out.get_output().stderr);
        assert!(
            stderr.starts_with(&format!("error: {why}")),
            "{bad}: {stderr}"
        );
    }
    // The DNS-1123 rule suggests a fix.
    let out = kubes_new(work.path(), &["My_Hook", "--lang", "js"])
        .assert()
        .failure();
    assert!(text(&out.get_output().stderr).contains("try `my-hook`"));
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn an_existing_non_empty_directory_is_left_alone() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("mine");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "keep me").unwrap();
    let out = kubes_new(work.path(), &["my-hook", "--dir", "mine"])
        .assert()
        .failure();
    assert_eq!(
        text(&out.get_output().stderr),
        "error: mine already exists and is not empty; choose another --dir or remove it\n"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["notes.txt"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "keep me"
    );

    // An empty one is fine, and --dir is where the files go.
    std::fs::create_dir(work.path().join("empty")).unwrap();
    kubes_new(
        work.path(),
        &["my-hook", "--lang", "python", "--dir", "empty"],
    )
    .assert()
    .success();
    assert!(work.path().join("empty/app.py").exists());
    assert!(!work.path().join("my-hook").exists());
}

#[test]
fn an_unknown_language_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = kubes_new(work.path(), &["my-hook", "--lang", "go"])
        .assert()
        .failure();
    let stderr = text(&out.get_output().stderr);
    assert!(
        stderr.contains("unknown hook language `go`: expected rust, python or js"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn json_output_tells_a_script_where_things_are() {
    let work = tempfile::tempdir().unwrap();
    let out = kubes_new(work.path(), &["my-hook", "--dir", "hooks/my hook"])
        .args(["--output", "json"])
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["name"], "my-hook");
    assert_eq!(report["lang"], "rust");
    assert_eq!(
        report["build_command"],
        "cd 'hooks/my hook' && cargo build --target wasm32-wasip2 --release"
    );
    assert_eq!(
        report["artifact"],
        "hooks/my hook/target/wasm32-wasip2/release/my_hook.wasm"
    );
    let files: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for f in &files {
        assert!(work.path().join("hooks/my hook").join(f).is_file(), "{f}");
    }
    assert!(
        files.contains(&"vendor/kubes-hook-sdk/src/lib.rs"),
        "{files:?}"
    );
    assert!(report["hooks_yaml"]
        .as_str()
        .unwrap()
        .contains("module: hooks/my-hook.wasm"));
}

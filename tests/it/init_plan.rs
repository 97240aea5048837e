//! A new user: `kubes init && kubes compile && kubes plan` in an empty directory.

use crate::common::*;

#[test]
fn init_compile_plan_works_in_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("my_shop");
    std::fs::create_dir(&app_dir).unwrap();

    let out = stdout(kubes(&app_dir).arg("init"));
    assert!(out.contains("app `my-shop`"), "{out}");
    for f in [
        ".kubes/config.yaml",
        ".kubes/resources/shared/namespace.yaml",
        ".kubes/resources/web/deployment.yaml",
        ".kubes/resources/web/service.yaml",
    ] {
        assert!(out.contains(f), "{out}");
    }

    let out = stdout(kubes(&app_dir).arg("compile"));
    assert!(out.contains("Compiled 3 files"), "{out}");
    let deployment = read(&app_dir, ".kubes/output/web/deployment.yaml");
    assert!(deployment.contains("image: nginx:1.27\n"), "{deployment}");
    assert!(deployment.contains("replicas: 1\n"), "{deployment}");
    assert!(deployment.contains("namespace: my-shop\n"), "{deployment}");

    assert_eq!(
        stdout(kubes(&app_dir).arg("plan")),
        "shared/namespace  Namespace/my-shop\n\
         web/service       Service/web  (namespace my-shop)\n\
         web/deployment    Deployment/web  (namespace my-shop)\n"
    );
}

#[test]
fn init_keeps_files_that_exist_and_takes_a_name_and_image() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".kubes/config.yaml",
        "app: mine\nnamespace: mine\nimage: mine:1\n",
    );
    let out = stdout(kubes(dir.path()).args(["init", "--name", "shop", "--image", "shop:2"]));
    assert!(out.contains("kept     .kubes/config.yaml"), "{out}");
    assert_eq!(
        read(dir.path(), ".kubes/config.yaml"),
        "app: mine\nnamespace: mine\nimage: mine:1\n"
    );
    stdout(kubes(dir.path()).arg("compile"));
    assert!(read(dir.path(), ".kubes/output/web/deployment.yaml").contains("image: mine:1\n"));

    let err = stderr_of_failure(kubes(dir.path()).args(["init", "--name", "Bad_Name"]));
    assert!(err.contains("not a valid Kubernetes name"), "{err}");
}

#[test]
fn without_a_kubes_directory_every_command_says_how_to_create_one() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in ["compile", "plan"] {
        let err = stderr_of_failure(kubes(dir.path()).arg(cmd));
        assert!(
            err.contains("no .kubes/ directory") && err.contains("kubes init"),
            "{cmd}: {err}"
        );
    }
}

#[test]
fn completion_prints_a_script_for_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(kubes(dir.path()).args(["completion", "bash"]));
    assert!(
        out.contains("kubes") && out.contains("compile") && out.contains("plan"),
        "{}",
        &out[..200.min(out.len())]
    );
}

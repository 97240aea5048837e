//! `kubes compile` and `kubes plan` on real project trees, as a user runs them.

use crate::common::*;

const SEED_JOB: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: demo
spec:
  template:
    spec:
      containers:
      - name: migrate
        image: demo/web:1
        command:
        - bin/job/migrate.sh
      restartPolicy: Never
  backoffLimit: 4
";

#[test]
fn the_seed_migration_app_compiles_and_plans_namespace_job_service_deployment() {
    let dir = seed_app();
    let out = stdout(kubes(dir.path()).arg("compile"));
    assert!(out.contains("Compiled 4 files"), "{out}");
    for f in [
        "shared/namespace",
        "migrate/job",
        "web/service",
        "web/deployment",
    ] {
        assert!(
            out.contains(&format!("wrote      .kubes/output/{f}.yaml")),
            "{out}"
        );
    }
    assert_eq!(
        files_under(&dir.path().join(".kubes/output")),
        [
            "migrate/job.yaml",
            "shared/namespace.yaml",
            "web/deployment.yaml",
            "web/service.yaml"
        ]
    );
    assert_eq!(read(dir.path(), ".kubes/output/migrate/job.yaml"), SEED_JOB);
    assert_eq!(
        read(dir.path(), ".kubes/output/shared/namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n"
    );

    let plan = stdout(kubes(dir.path()).arg("plan"));
    assert_eq!(
        plan,
        "shared/namespace  Namespace/demo\n\
         migrate/job       Job/migrate  (namespace demo)\n\
         web/service       Service/web  (namespace demo)\n\
         web/deployment    Deployment/web  (namespace demo)\n"
    );

    let json: serde_json::Value = serde_json::from_str(&stdout(
        kubes(dir.path()).args(["plan", "--output", "json"]),
    ))
    .unwrap();
    let targets: Vec<String> = json["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}/{}",
                f["role"].as_str().unwrap(),
                f["kind"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            "shared/namespace",
            "migrate/job",
            "web/service",
            "web/deployment"
        ]
    );
    let job = &json["files"][1]["objects"][0];
    assert_eq!(job["body"]["spec"]["backoffLimit"], 4);
    assert_eq!(
        job["body"]["spec"]["template"]["spec"]["restartPolicy"],
        "Never"
    );
    assert_eq!(job["namespace"], "demo");
}

#[test]
fn kubes_built_image_helper_is_the_same_image() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/resources/web/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: <%= built_image %>\n",
    );
    stdout(kubes(dir.path()).args(["compile", "--image", "demo/web:9"]));
    assert!(read(dir.path(), ".kubes/output/web/deployment.yaml").contains("image: demo/web:9\n"));
}

#[test]
fn image_flag_wins_over_configured_image() {
    let dir = seed_app();
    stdout(kubes(dir.path()).args(["compile", "--image", "demo/web:2"]));
    assert!(read(dir.path(), ".kubes/output/migrate/job.yaml").contains("image: demo/web:2\n"));
    stdout(kubes(dir.path()).args(["-n", "staging", "compile"]));
    let job = read(dir.path(), ".kubes/output/migrate/job.yaml");
    assert!(
        job.contains("namespace: staging\n") && job.contains("image: demo/web:1\n"),
        "{job}"
    );
}

/// Every layer Kubes documents, env and app config overrides, variables layered by env and
/// app, `<%= @var %>`, blocks, `base64`, `.yml`, several documents in one file.
#[test]
fn a_project_using_every_layer_compiles_to_what_a_kubes_user_expects() {
    let fixture = repo().join("tests/fixtures/layered");
    for (expected, args) in [
        ("dev", vec![]),
        ("prod-admin", vec!["--env", "prod", "--app", "admin"]),
    ] {
        let dir = copy_project(&fixture);
        stdout(kubes(dir.path()).args(&args).arg("compile"));
        let want_dir = fixture.join("expected").join(expected);
        let got = files_under(&dir.path().join(".kubes/output"));
        assert_eq!(got, files_under(&want_dir), "{expected}: output files");
        for f in got {
            assert_eq!(
                read(dir.path(), &format!(".kubes/output/{f}")),
                read(&want_dir, &f),
                "{expected}: {f} differs from tests/fixtures/layered/expected/{expected}/{f}"
            );
        }
    }
}

#[test]
fn env_vars_select_env_and_app_like_the_flags() {
    let dir = copy_project(&repo().join("tests/fixtures/layered"));
    stdout(
        kubes(dir.path())
            .env("KUBES_ENV", "prod")
            .env("KUBES_APP", "admin")
            .arg("compile"),
    );
    assert_eq!(
        read(dir.path(), ".kubes/output/web/deployment.yaml"),
        read(
            &repo().join("tests/fixtures/layered/expected/prod-admin"),
            "web/deployment.yaml"
        )
    );
}

#[test]
fn an_undefined_variable_names_file_and_line_and_writes_nothing() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/resources/web/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: <%= @service_name %>\n",
    );
    let err = stderr_of_failure(kubes(dir.path()).arg("compile"));
    assert!(
        err.contains(".kubes/resources/web/service.yaml:4: undefined variable `@service_name`"),
        "{err}"
    );
    assert!(
        !dir.path().join(".kubes/output").exists(),
        "nothing may be written on error"
    );
}

#[test]
fn a_missing_image_is_an_error_that_says_where_to_set_it() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/config.yaml",
        "app: demo\nnamespace: demo\n",
    );
    let err = stderr_of_failure(kubes(dir.path()).arg("compile"));
    assert!(
        err.contains("undefined variable `docker_image`") && err.contains("--image"),
        "{err}"
    );
}

#[test]
fn a_yaml_error_names_file_line_and_column() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/resources/web/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: [web\n",
    );
    let err = stderr_of_failure(kubes(dir.path()).arg("compile"));
    assert!(err.contains(".kubes/resources/web/service.yaml:"), "{err}");
    assert!(regex_like_line_col(&err), "{err}");
}

fn regex_like_line_col(s: &str) -> bool {
    // `file:<line>:<column>: ...`
    s.split("service.yaml:").nth(1).is_some_and(|rest| {
        let mut parts = rest.splitn(3, ':');
        parts.next().is_some_and(|l| l.parse::<usize>().is_ok())
            && parts.next().is_some_and(|c| c.parse::<usize>().is_ok())
    })
}

#[test]
fn the_same_object_defined_twice_names_both_files() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/resources/api/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n",
    );
    let err = stderr_of_failure(kubes(dir.path()).arg("compile"));
    assert!(err.contains("Service demo/web is defined twice"), "{err}");
    assert!(
        err.contains(".kubes/resources/api/service.yaml")
            && err.contains(".kubes/resources/web/service.yaml"),
        "{err}"
    );
}

#[test]
fn an_unknown_config_key_names_file_and_key() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/config/env/dev.yaml",
        "namespace: demo-dev\nimagee: x\n",
    );
    let err = stderr_of_failure(kubes(dir.path()).arg("compile"));
    assert!(
        err.contains(".kubes/config/env/dev.yaml:2: unknown key `imagee`"),
        "{err}"
    );
}

#[test]
fn outputs_whose_source_is_gone_are_removed() {
    let dir = seed_app();
    stdout(kubes(dir.path()).arg("compile"));
    std::fs::remove_file(dir.path().join(".kubes/resources/migrate/job.yaml")).unwrap();
    let out = stdout(kubes(dir.path()).arg("compile"));
    assert!(
        out.contains("removed    .kubes/output/migrate/job.yaml"),
        "{out}"
    );
    assert!(
        out.contains("unchanged  .kubes/output/web/service.yaml"),
        "{out}"
    );
    assert!(!dir.path().join(".kubes/output/migrate").exists());
}

#[test]
fn skipped_targets_are_left_out_of_the_plan() {
    let dir = seed_app();
    let plan = stdout(
        kubes(dir.path())
            .env("KUBES_SKIP", "migrate/job web/service")
            .arg("plan"),
    );
    assert_eq!(
        plan,
        "shared/namespace  Namespace/demo\nweb/deployment    Deployment/web  (namespace demo)\n"
    );
    write(dir.path(), ".kubes/config/env/dev.yaml", "skip: [web]\n");
    let plan = stdout(kubes(dir.path()).arg("plan"));
    assert_eq!(
        plan,
        "shared/namespace  Namespace/demo\nmigrate/job       Job/migrate  (namespace demo)\n"
    );
}

#[test]
fn plan_can_be_restricted_to_roles_and_reordered_by_config() {
    let dir = seed_app();
    let plan = stdout(kubes(dir.path()).args(["plan", "web"]));
    assert_eq!(plan, "web/service     Service/web  (namespace demo)\nweb/deployment  Deployment/web  (namespace demo)\n");
    write(
        dir.path(),
        ".kubes/config/env/dev.yaml",
        "order:\n  roles: [shared, web, migrate]\n  kinds: [Namespace, Deployment, Service]\n",
    );
    let plan = stdout(kubes(dir.path()).arg("plan"));
    let targets: Vec<&str> = plan
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "shared/namespace",
            "web/deployment",
            "web/service",
            "migrate/job"
        ]
    );
}

#[test]
fn hook_declarations_beside_the_config_do_not_disturb_compile() {
    // `.kubes/config/hooks.yaml` belongs to the hook engine: compile neither reads nor rejects
    // it, and plan lists the hook under the resource it runs around.
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/config/hooks.yaml",
        "hooks:\n  - name: migrate-wait\n    after: apply\n    on: migrate/job\n    module: hooks/migrate_wait.wasm\n",
    );
    let plan = stdout(kubes(dir.path()).arg("plan"));
    let lines: Vec<&str> = plan.lines().map(str::trim).collect();
    assert_eq!(lines.len(), 5, "{plan}");
    assert!(lines[0].starts_with("shared/namespace"), "{plan}");
    assert!(lines[1].starts_with("migrate/job"), "{plan}");
    assert_eq!(
        lines[2], "hook migrate-wait (after apply, hooks/migrate_wait.wasm)",
        "{plan}"
    );
    assert!(lines[3].starts_with("web/service"), "{plan}");
    assert!(lines[4].starts_with("web/deployment"), "{plan}");
}

#[test]
fn a_large_project_compiles_every_file_and_reports_the_first_error_by_name() {
    // Large enough that compile renders and writes on several threads.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".kubes/config.yaml",
        "app: big\nnamespace: big\nimage: big:1\n",
    );
    for i in 0..150 {
        write(
            dir.path(),
            &format!(".kubes/resources/role-{:02}/config_map_{i:03}.yaml", i % 10),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  image: <%= docker_image %>\n"),
        );
    }
    let out = stdout(kubes(dir.path()).arg("compile"));
    assert!(out.contains("Compiled 150 files"), "{out}");
    assert_eq!(files_under(&dir.path().join(".kubes/output")).len(), 150);
    assert_eq!(stdout(kubes(dir.path()).arg("plan")).lines().count(), 150);

    write(
        dir.path(),
        ".kubes/resources/role-09/config_map_149.yaml",
        "a: <%= @late %>\n",
    );
    write(
        dir.path(),
        ".kubes/resources/role-00/config_map_000.yaml",
        "a: <%= @early %>\n",
    );
    for _ in 0..3 {
        let err = stderr_of_failure(kubes(dir.path()).arg("compile"));
        assert!(
            err.contains("role-00/config_map_000.yaml:1: undefined variable `@early`"),
            "{err}"
        );
    }
}

#[test]
fn kubes_ruby_files_get_a_warning_on_stderr_and_the_plan_stays_clean() {
    let dir = seed_app();
    write(
        dir.path(),
        ".kubes/config/hooks/kubectl.rb",
        "before(\"apply\", on: \"migrate/job\")\n",
    );
    let out = kubes(dir.path())
        .arg("plan")
        .assert()
        .success()
        .get_output()
        .clone();
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    );
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    assert!(
        stderr.contains("kubectl.rb is ignored") && stderr.contains("hooks.yaml"),
        "{stderr}"
    );
}

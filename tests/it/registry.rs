//! Story: a platform team shares its deploy hooks through an OCI registry, and CI runners
//! deploy with them pinned. Against a real registry — Debian's `docker-registry`, started
//! here on 127.0.0.1 with a config file of its own, once without auth and once with htpasswd
//! auth — and the real `kubes` binary with the test API server:
//!
//! - the migration example's three hooks are pushed, `kubes hooks inspect` shows one without
//!   running it, `kubes hooks lock` pins them, and `kubes deploy --locked` runs the whole
//!   migration flow with every hook from the registry;
//! - with the registry stopped, the warm store is enough; `kubes hooks save` / `load` carry
//!   the hooks to an empty store on a runner with no registry at all;
//! - a tag moved after locking, a reference the lock does not pin, a blob changed in the
//!   registry and one changed in the local store are all refused before anything is applied;
//! - with htpasswd auth, credentials come from the Docker config file;
//! - under `trust: require`, an unsigned module and one signed by an untrusted key are
//!   refused before anything is applied, and one signed with `kubes hooks sign` deploys.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::cluster_common::{kubectl_json, Deploy, Server};
use crate::common::{copy_project, repo, tools_dir};
use crate::hooks_support;

const HOOKS: [&str; 3] = ["migrate-cleanup", "migrate-wait", "rollout-wait"];

/// A `docker-registry` process on 127.0.0.1:PORT with its storage in a temp dir.
struct Registry {
    child: Option<Child>,
    host: String,
    dir: tempfile::TempDir,
}

impl Registry {
    fn start(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let auth_yaml = match auth {
            None => String::new(),
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("htpasswd (apache2-utils; scripts/setup.sh installs it)");
                assert!(out.status.success());
                std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: kubes-test\n    path: {}\n",
                    dir.path().join("htpasswd").display()
                )
            }
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth_yaml}",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let mut reg = Registry {
            child: None,
            host: format!("127.0.0.1:{port}"),
            dir,
        };
        reg.run(&config_path);
        reg
    }

    fn run(&mut self, config: &Path) {
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package; scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.host).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn reference(&self, repo: &str, tag: &str) -> String {
        format!("oci://{}/{repo}:{tag}", self.host)
    }

    /// The file the registry keeps blob `digest` in.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The environment of one runner: its own store and compile cache, its Docker config.
struct Runner {
    cache: tempfile::TempDir,
    docker: tempfile::TempDir,
}

impl Runner {
    fn new() -> Runner {
        Runner {
            cache: tempfile::tempdir().unwrap(),
            docker: tempfile::tempdir().unwrap(),
        }
    }

    fn login(&self, host: &str, user: &str, password: &str) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        std::fs::write(
            self.docker.path().join("config.json"),
            format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
        )
        .unwrap();
    }

    fn kubes(&self, project: &Path) -> assert_cmd::Command {
        let mut cmd = crate::common::kubes(project);
        cmd.env("KUBES_CACHE_DIR", self.cache.path())
            .env("DOCKER_CONFIG", self.docker.path())
            .env_remove("KUBES_LOCKED")
            .env_remove("KUBES_REGISTRY_TOKEN");
        cmd
    }

    /// `kubes ARGS` in `project`: its output, the exit code.
    fn run(&self, project: &Path, args: &[&str]) -> (i32, String, String) {
        let out = self.kubes(project).args(args).output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    /// `kubes ARGS` that must succeed; its stdout.
    fn ok(&self, project: &Path, args: &[&str]) -> String {
        let (code, out, err) = self.run(project, args);
        assert_eq!(code, 0, "kubes {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    fn deploy(&self, srv: &Server, project: &Path, args: &[&str]) -> Deploy {
        let started = Instant::now();
        let out = self
            .kubes(project)
            .arg("--kubeconfig")
            .arg(srv.kubeconfig())
            .args(args)
            .output()
            .unwrap();
        Deploy {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
            elapsed: started.elapsed(),
            ended: SystemTime::now(),
        }
    }
}

/// The migration example with its hooks.yaml's modules replaced by `refs` (hook -> reference),
/// and no hook files in the project at all.
fn migration_app_from(refs: &[(&str, String)], extra: &str) -> tempfile::TempDir {
    let project = copy_project(&repo().join("examples/migration"));
    let _ = std::fs::remove_dir_all(project.path().join("hooks"));
    let file = project.path().join(".kubes/config/hooks.yaml");
    let mut text = std::fs::read_to_string(&file).unwrap();
    for (hook, r) in refs {
        text = text.replace(
            &format!("module: hooks/{hook}.wasm"),
            &format!("module: {r}"),
        );
    }
    text.push_str(extra);
    std::fs::write(&file, text).unwrap();
    project
}

/// Push the three example hooks as `hooks/NAME:TAG`; their references.
fn push_hooks(runner: &Runner, reg: &Registry, tag: &str) -> Vec<(&'static str, String)> {
    let scratch = tempfile::tempdir().unwrap();
    HOOKS
        .iter()
        .map(|hook| {
            let file = hooks_support::guest(&hook.replace('-', "_"));
            let r = reg.reference(&format!("hooks/{hook}"), tag);
            runner.ok(
                scratch.path(),
                &[
                    "hooks",
                    "push",
                    file.to_str().unwrap(),
                    &r,
                    "--source",
                    "https://git.example/platform/hooks",
                    "--artifact-version",
                    "1.0.0",
                ],
            );
            (*hook, r)
        })
        .collect()
}

fn assert_nothing_applied(srv: &Server, run: &Deploy) {
    assert_ne!(run.code, 0, "{}", run.show());
    assert!(
        kubectl_json(srv.kubeconfig(), &["get", "namespace", "demo"]).is_none(),
        "something was applied:\n{}",
        run.show()
    );
}

#[test]
fn hooks_from_a_registry_pinned_locked_offline_and_air_gapped() {
    let mut reg = Registry::start(None);
    let dev = Runner::new();
    let refs = push_hooks(&dev, &reg, "v1");

    // Inspect without running: the CNCF wasm layout, its world, the annotations.
    let scratch = tempfile::tempdir().unwrap();
    let shown = dev.ok(scratch.path(), &["hooks", "inspect", &refs[1].1]);
    for want in [
        "world:     kubes:hook/hook@0.2.0",
        "source:    https://git.example/platform/hooks",
        "version:   1.0.0",
        "kubes:hook/progress@0.2.0",
        "signature: none",
    ] {
        assert!(shown.contains(want), "{want:?} missing:\n{shown}");
    }

    let project = migration_app_from(&refs, "");
    let locked = dev.ok(project.path(), &["hooks", "lock"]);
    assert!(locked.contains("(3 modules)"), "{locked}");
    let lock = std::fs::read_to_string(project.path().join(".kubes/hooks.lock")).unwrap();
    for (_, r) in &refs {
        assert!(lock.contains(r.as_str()), "{lock}");
    }

    // A CI runner with nothing cached: a locked deploy, every hook from the registry.
    let srv = Server::start();
    let ci = Runner::new();
    let run = ci.deploy(&srv, project.path(), &["deploy", "--locked"]);
    assert_eq!(run.code, 0, "{}", run.show());
    run.assert_in_order(&[
        &format!("=> hook migrate-cleanup ({})", refs[0].1),
        "job.batch/migrate created",
        &format!("=> hook migrate-wait ({})", refs[1].1),
        "[migrate-wait] Migration complete",
        "deployment.apps/web created",
        &format!("=> hook rollout-wait ({})", refs[2].1),
        "[rollout-wait] Deployment/web rolled out",
    ]);

    // Save the project's hooks for an air-gapped runner, then take the registry away.
    let tarball = scratch.path().join("hooks.tar");
    let saved = ci.ok(
        project.path(),
        &["hooks", "save", tarball.to_str().unwrap()],
    );
    assert!(saved.contains("3 modules"), "{saved}");
    reg.stop();

    // The warm store is enough (the tags cannot be checked: said, not fatal).
    let srv = Server::start();
    let mut again = ci.kubes(project.path());
    let out = again
        .env("KUBES_LOCKED", "1")
        .arg("--kubeconfig")
        .arg(srv.kubeconfig())
        .arg("deploy")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("[migrate-wait] Migration complete"),
        "{stdout}"
    );
    assert!(
        format!("{stdout}{stderr}").contains("registry not reachable; the tag was not checked"),
        "{stdout}\n{stderr}"
    );

    // An empty store with no registry: refused before anything is applied...
    let gapped = Runner::new();
    let srv = Server::start();
    let run = gapped.deploy(&srv, project.path(), &["deploy", "--locked"]);
    assert_nothing_applied(&srv, &run);
    assert!(
        run.stderr.contains("cannot reach the registry"),
        "{}",
        run.show()
    );
    // ...until the tarball is loaded.
    let loaded = gapped.ok(
        scratch.path(),
        &["hooks", "load", tarball.to_str().unwrap()],
    );
    assert!(loaded.contains("3 modules"), "{loaded}");
    let run = gapped.deploy(&srv, project.path(), &["deploy", "--locked"]);
    assert_eq!(run.code, 0, "{}", run.show());
    run.assert_in_order(&[
        "[migrate-wait] Migration complete",
        "deployment.apps/web created",
    ]);
}

#[test]
fn moved_tags_unpinned_references_and_changed_blobs_are_refused_before_anything_is_applied() {
    let reg = Registry::start(None);
    let dev = Runner::new();
    let refs = push_hooks(&dev, &reg, "v1");
    let project = migration_app_from(&refs, "");
    dev.ok(project.path(), &["hooks", "lock"]);

    // The tag moves: another component pushed under migrate-wait:v1.
    let scratch = tempfile::tempdir().unwrap();
    let other = hooks_support::guest("rollout_wait");
    dev.ok(
        scratch.path(),
        &["hooks", "push", other.to_str().unwrap(), &refs[1].1],
    );
    let srv = Server::start();
    let ci = Runner::new();
    let run = ci.deploy(&srv, project.path(), &["deploy", "--locked"]);
    assert_nothing_applied(&srv, &run);
    assert!(
        run.stderr.contains("the tag moved since it was locked"),
        "{}",
        run.show()
    );

    // A reference the lock does not pin.
    let unpinned = migration_app_from(
        &[
            ("migrate-cleanup", refs[0].1.clone()),
            ("migrate-wait", reg.reference("hooks/migrate-wait", "v2")),
            ("rollout-wait", refs[2].1.clone()),
        ],
        "",
    );
    std::fs::copy(
        project.path().join(".kubes/hooks.lock"),
        unpinned.path().join(".kubes/hooks.lock"),
    )
    .unwrap();
    let run = ci.deploy(&srv, unpinned.path(), &["deploy", "--locked"]);
    assert_nothing_applied(&srv, &run);
    assert!(
        run.stderr.contains("is not pinned in .kubes/hooks.lock"),
        "{}",
        run.show()
    );

    // A blob changed in the registry's storage: the pull refuses it.
    let pulled = dev.ok(scratch.path(), &["hooks", "pull", &refs[2].1]);
    let component = pulled
        .lines()
        .find_map(|l| l.trim().strip_prefix("component: "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    let file = reg.blob_file(&component);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let fresh = Runner::new();
    let (code, _, err) = fresh.run(scratch.path(), &["hooks", "pull", &refs[2].1]);
    assert_ne!(code, 0);
    assert!(err.contains("digest"), "{err}");

    // A blob changed in the local store: dropped, fetched again, never run. With the
    // registry's copy changed too, nothing verifies: refused.
    let store_file = dev
        .cache
        .path()
        .join("oci/blobs/sha256")
        .join(component.strip_prefix("sha256:").unwrap());
    std::fs::write(&store_file, b"not the component").unwrap();
    let (code, _, err) = dev.run(scratch.path(), &["hooks", "pull", &refs[2].1]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("does not match its digest"), "{err}");
    assert!(err.contains("digest mismatch"), "{err}");
}

#[test]
fn a_registry_with_htpasswd_auth_takes_credentials_from_the_docker_config() {
    let reg = Registry::start(Some(("ci", "s3cret")));
    let runner = Runner::new();
    let scratch = tempfile::tempdir().unwrap();
    let file = hooks_support::guest("migrate_wait");
    let r = reg.reference("hooks/migrate-wait", "v1");
    let (code, _, err) = runner.run(
        scratch.path(),
        &["hooks", "push", file.to_str().unwrap(), &r],
    );
    assert_ne!(code, 0, "pushed without credentials");
    assert!(
        err.to_lowercase().contains("unauthorized") || err.contains("401"),
        "{err}"
    );

    runner.login(&reg.host, "ci", "s3cret");
    runner.ok(
        scratch.path(),
        &["hooks", "push", file.to_str().unwrap(), &r],
    );
    let pulled = Runner::new();
    pulled.login(&reg.host, "ci", "s3cret");
    let out = pulled.ok(scratch.path(), &["hooks", "pull", &r]);
    assert!(out.contains("from the registry"), "{out}");
    // Wrong password: refused.
    let wrong = Runner::new();
    wrong.login(&reg.host, "ci", "guess");
    let (code, _, _) = wrong.run(scratch.path(), &["hooks", "pull", &r]);
    assert_ne!(code, 0);
}

#[test]
fn under_trust_require_only_modules_signed_by_a_trusted_key_deploy() {
    let reg = Registry::start(None);
    let dev = Runner::new();
    let refs = push_hooks(&dev, &reg, "v1");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("team.key");
    let rogue = keys.path().join("rogue.key");
    let out = dev.ok(keys.path(), &["hooks", "keygen", key.to_str().unwrap()]);
    dev.ok(keys.path(), &["hooks", "keygen", rogue.to_str().unwrap()]);
    let public = out
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap()
        .to_string();
    let trust = format!("\ntrust:\n  keys: [{public}]\n  require: true\n");
    let project = migration_app_from(&refs, &trust);
    let srv = Server::start();

    // Nothing signed yet.
    let run = dev.deploy(&srv, project.path(), &["deploy"]);
    assert_nothing_applied(&srv, &run);
    assert!(run.stderr.contains("no signature found"), "{}", run.show());

    // Signed, but one of them by a key the project does not trust.
    dev.ok(
        keys.path(),
        &["hooks", "sign", &refs[0].1, "--key", key.to_str().unwrap()],
    );
    dev.ok(
        keys.path(),
        &[
            "hooks",
            "sign",
            &refs[1].1,
            "--key",
            rogue.to_str().unwrap(),
        ],
    );
    dev.ok(
        keys.path(),
        &["hooks", "sign", &refs[2].1, "--key", key.to_str().unwrap()],
    );
    let run = dev.deploy(&srv, project.path(), &["deploy"]);
    assert_nothing_applied(&srv, &run);
    assert!(
        run.stderr.contains("which is not a trusted key"),
        "{}",
        run.show()
    );

    dev.ok(
        keys.path(),
        &["hooks", "sign", &refs[1].1, "--key", key.to_str().unwrap()],
    );
    let shown = dev.ok(project.path(), &["hooks", "inspect", &refs[1].1]);
    assert!(
        shown.contains(&format!("signed by: {public} (trusted)")),
        "{shown}"
    );
    let run = dev.deploy(&srv, project.path(), &["deploy"]);
    assert_eq!(run.code, 0, "{}", run.show());
    run.assert_in_order(&[
        "[migrate-wait] Migration complete",
        "deployment.apps/web created",
    ]);
}

/// The ORAS Python SDK that scripts/setup.sh installs under .tools/oras: a second OCI
/// client, written independently of oci-client.
fn oras_python() -> PathBuf {
    let python = tools_dir().join("oras/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/setup.sh` (it installs the ORAS Python SDK)",
        python.display()
    );
    python
}

const ORAS_SCRIPT: &str = r#"
import json, os, sys, oras.client
host, action, target, path = sys.argv[1:5]
c = oras.client.OrasClient(hostname=host, insecure=True)
if action == "pull":
    print("\n".join(c.pull(target=f"{host}/{target}", outdir=path)))
else:
    d = os.path.dirname(path)
    cfg = os.path.join(d, "config.json")
    json.dump({"architecture": "wasm", "os": "wasip2", "layerDigests": []}, open(cfg, "w"))
    os.chdir(d)
    r = c.push(target=f"{host}/{target}", files=[os.path.basename(path) + ":application/wasm"],
               manifest_config="config.json:application/vnd.wasm.config.v0+json",
               disable_path_validation=True)
    r.raise_for_status()
"#;

fn oras(reg: &Registry, args: &[&str]) -> String {
    let out = Command::new(oras_python())
        .arg("-c")
        .arg(ORAS_SCRIPT)
        .arg(&reg.host)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "oras {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn an_independent_oci_client_reads_what_kubes_pushes_and_kubes_runs_what_it_pushes() {
    let reg = Registry::start(None);
    let dev = Runner::new();
    let refs = push_hooks(&dev, &reg, "v1");

    // ORAS pulls the kubes-pushed migrate-wait: the same bytes, under the file name kubes
    // annotated, and a component kubes accepts as a hook (inspect compiles and links it).
    let out = tempfile::tempdir().unwrap();
    let listed = oras(
        &reg,
        &[
            "pull",
            "hooks/migrate-wait:v1",
            out.path().to_str().unwrap(),
        ],
    );
    let pulled = PathBuf::from(listed.lines().next().unwrap());
    assert_eq!(pulled.file_name().unwrap(), "migrate_wait.wasm", "{listed}");
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(hooks_support::guest("migrate_wait")).unwrap()
    );
    let shown = dev.ok(out.path(), &["hooks", "inspect", pulled.to_str().unwrap()]);
    assert!(shown.contains("kubes:hook/hook@0.2.0"), "{shown}");

    // ORAS pushes migrate-wait under another name; the migration deploys with it from there.
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("migrate-wait.wasm");
    std::fs::copy(hooks_support::guest("migrate_wait"), &file).unwrap();
    oras(
        &reg,
        &["push", "team/oras-migrate-wait:v1", file.to_str().unwrap()],
    );
    let from_oras = reg.reference("team/oras-migrate-wait", "v1");
    let project = migration_app_from(
        &[
            ("migrate-cleanup", refs[0].1.clone()),
            ("migrate-wait", from_oras.clone()),
            ("rollout-wait", refs[2].1.clone()),
        ],
        "",
    );
    let srv = Server::start();
    let run = dev.deploy(&srv, project.path(), &["deploy"]);
    assert_eq!(run.code, 0, "{}", run.show());
    run.assert_in_order(&[
        &format!("=> hook migrate-wait ({from_oras})"),
        "[migrate-wait] Migration complete",
    ]);
}

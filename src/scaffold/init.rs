//! `kubes init`: a working `.kubes/` for an app (config, a dev env file, variables, a
//! Namespace, a Service and a Deployment), written next to whatever is there already:
//! existing files are kept, never overwritten.

use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

use crate::names;

/// What `init` did.
#[derive(Debug, Serialize)]
pub struct Initialised {
    /// The app name the files use.
    pub app: String,
    /// Files written, relative to the project root.
    pub created: Vec<&'static str>,
    /// Files left as they were because they exist.
    pub kept: Vec<&'static str>,
}

/// Write the starter project into `root` for app `name` (default: the directory's name made
/// a DNS-1123 label, or `demo`), its deployment running `image`.
pub fn init(root: &Path, name: Option<&str>, image: &str) -> anyhow::Result<Initialised> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let app = match name {
        Some(n) => {
            anyhow::ensure!(
                names::dns_label(n).is_ok(),
                "app name `{n}` is not a valid Kubernetes name; try `{}`",
                names::to_dns_label(n)
            );
            n.to_string()
        }
        None => {
            let dir = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
            let base = dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let clean = names::to_dns_label(&base);
            if clean.is_empty() {
                "demo".to_string()
            } else {
                clean
            }
        }
    };
    let mut done = Initialised {
        app,
        created: Vec::new(),
        kept: Vec::new(),
    };
    for (rel, text) in files(&done.app, image) {
        let path = root.join(rel);
        if path.exists() {
            done.kept.push(rel);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        done.created.push(rel);
    }
    Ok(done)
}

fn files(app: &str, image: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            ".kubes/config.yaml",
            format!(
                "# kubes settings. Overridden by config/env/<env>.yaml, then config/app/<app>.yaml\n\
                 # and config/app/<app>/<env>.yaml.\n\
                 app: {app}\n\
                 namespace: {app}\n\
                 # What <%= docker_image %> renders to; `--image` overrides it.\n\
                 image: {image}\n"
            ),
        ),
        (
            ".kubes/config/env/dev.yaml",
            "# Settings for KUBES_ENV=dev (the default env), e.g. the kubeconfig context:\n\
             # context: my-dev-cluster\n"
                .to_string(),
        ),
        (
            ".kubes/variables/base.yaml",
            "# Variables for every env; <env>.yaml overrides them. Use as <%= @replicas %>.\n\
             replicas: 1\n\
             port: 80\n"
                .to_string(),
        ),
        (".kubes/.gitignore", "output/\n".to_string()),
        (
            ".kubes/resources/shared/namespace.yaml",
            "apiVersion: v1\n\
             kind: Namespace\n\
             metadata:\n  name: <%= namespace %>\n"
                .to_string(),
        ),
        (
            ".kubes/resources/web/service.yaml",
            "apiVersion: v1\n\
             kind: Service\n\
             metadata:\n  name: web\n  labels:\n    app: <%= app %>\n    role: web\n\
             spec:\n  selector:\n    app: <%= app %>\n    role: web\n  ports:\n  - port: 80\n    targetPort: <%= @port %>\n"
                .to_string(),
        ),
        (
            ".kubes/resources/web/deployment.yaml",
            "apiVersion: apps/v1\n\
             kind: Deployment\n\
             metadata:\n  name: web\n  labels:\n    app: <%= app %>\n    role: web\n\
             spec:\n  replicas: <%= @replicas %>\n  selector:\n    matchLabels:\n      app: <%= app %>\n      role: web\n\
             \x20 template:\n    metadata:\n      labels:\n        app: <%= app %>\n        role: web\n\
             \x20   spec:\n      containers:\n      - name: web\n        image: <%= docker_image %>\n\
             \x20       ports:\n        - containerPort: <%= @port %>\n"
                .to_string(),
        ),
    ]
}

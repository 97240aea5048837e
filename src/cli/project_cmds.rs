//! `kubes init`, `compile`, `plan`, `completion`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, CommandFactory};
use serde_json::json;

use super::{Cli, GlobalArgs, OutputFormat};
use crate::compile::{compile as compile_project, Compiled};
use crate::plan::Plan;
use crate::project::{Project, ProjectOptions};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// App name for the scaffold (default: the project directory's name).
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Image the scaffolded deployment runs (`image` in .kubes/config.yaml).
    #[arg(long, default_value = "nginx:1.27")]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct CompileArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long)]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long)]
    pub image: Option<String>,
    /// Restrict to these roles.
    pub roles: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    pub shell: clap_complete::Shell,
}

/// The project options the global flags select (plus a command's `--image`).
pub fn project_options(g: &GlobalArgs, image: Option<String>) -> ProjectOptions {
    ProjectOptions {
        root: g.project.clone(),
        env: g.env.clone(),
        app: g.app.clone(),
        image,
        namespace: g.namespace.clone(),
    }
}

pub fn init(g: &GlobalArgs, a: InitArgs) -> anyhow::Result<ExitCode> {
    let root = &g.project;
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let name = match a.name {
        Some(n) => {
            let clean = dns_label(&n);
            anyhow::ensure!(
                clean == n,
                "app name `{n}` is not a valid Kubernetes name; try `{clean}`"
            );
            n
        }
        None => {
            let dir = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
            let base = dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let clean = dns_label(&base);
            if clean.is_empty() {
                "demo".to_string()
            } else {
                clean
            }
        }
    };
    let mut created = Vec::new();
    let mut kept = Vec::new();
    for (rel, text) in scaffold(&name, &a.image) {
        let path = root.join(rel);
        if path.exists() {
            kept.push(rel);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        created.push(rel);
    }
    if g.output == OutputFormat::Json {
        println!(
            "{}",
            json!({ "app": name, "created": created, "kept": kept })
        );
    } else if !g.quiet {
        println!(
            "Initialised kubes project for app `{name}` in {}",
            root.display()
        );
        for rel in &created {
            println!("  created  {rel}");
        }
        for rel in &kept {
            println!("  kept     {rel} (already exists)");
        }
        println!("Next: kubes compile && kubes plan");
    }
    Ok(ExitCode::SUCCESS)
}

/// Lowercase, `[a-z0-9-]`, no leading/trailing dash, at most 63 characters.
fn dns_label(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-');
    let mut out = String::new();
    for c in trimmed.chars().take(63) {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    out.trim_end_matches('-').to_string()
}

fn scaffold(app: &str, image: &str) -> Vec<(&'static str, String)> {
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

pub fn compile(g: &GlobalArgs, a: CompileArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&project_options(g, a.image))?;
    print_warnings(g, &project);
    let compiled = compile_project(&project)?;
    match g.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&compiled_json(&compiled))?
        ),
        OutputFormat::Text if !g.quiet => print_compiled(
            &project,
            &compiled,
            g.verbose,
            &mut std::io::stdout().lock(),
        )?,
        OutputFormat::Text => {}
    }
    Ok(ExitCode::SUCCESS)
}

fn compiled_json(c: &Compiled) -> serde_json::Value {
    json!({
        "files": c.files.iter().map(|f| json!({
            "target": format!("{}/{}", f.role, f.kind),
            "output": f.output,
            "source": f.source,
            "layers": f.layers,
            "written": f.written,
            "objects": f.objects.iter().map(|o| json!({"kind": o.kind, "name": o.name, "namespace": o.namespace})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "removed": c.removed,
    })
}

/// `kubes compile`'s report: what was written, left unchanged and removed.
fn print_compiled(
    project: &Project,
    c: &Compiled,
    verbose: u8,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    let written = c.files.iter().filter(|f| f.written).count();
    writeln!(
        w,
        "Compiled {} file{} into .kubes/output (env {}{}): {} written, {} unchanged, {} removed",
        c.files.len(),
        if c.files.len() == 1 { "" } else { "s" },
        project.env,
        project
            .app
            .as_deref()
            .map(|a| format!(", app {a}"))
            .unwrap_or_default(),
        written,
        c.files.len() - written,
        c.removed.len(),
    )?;
    for f in &c.files {
        let status = if f.written { "wrote" } else { "unchanged" };
        writeln!(w, "  {status:<9}  {}", f.output.display())?;
        if verbose > 0 {
            for l in &f.layers {
                writeln!(w, "               <- {}", l.display())?;
            }
        }
    }
    for r in &c.removed {
        writeln!(w, "  {:<9}  {}", "removed", r.display())?;
    }
    Ok(())
}

pub fn plan(g: &GlobalArgs, a: PlanArgs) -> anyhow::Result<ExitCode> {
    let project = Project::load(&project_options(g, a.image))?;
    print_warnings(g, &project);
    let compiled = compile_project(&project)?;
    let mut plan = crate::plan::build(&project, &compiled);
    plan.restrict_to_roles(&a.roles);
    // hooks: attached hooks are shown under their files (and step hooks around the list).
    let hooks = crate::hooks::HooksConfig::load(&project.root)?;
    match g.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&plan)?),
        OutputFormat::Text => print_plan(&plan, &hooks, &mut std::io::stdout().lock())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of a plan: one line per object, in apply order, e.g.
/// `shared/namespace  Namespace/demo` or `web/service  Service/web  (namespace demo)`.
/// Keep all plan printing here: hooks attached to a file are printed under its lines.
pub fn print_plan(
    plan: &Plan,
    hooks: &crate::hooks::HooksConfig,
    w: &mut dyn Write,
) -> std::io::Result<()> {
    use crate::lifecycle::{Point, Step, When};
    let width = plan.files().map(|f| f.target().len()).max().unwrap_or(0);
    if plan.steps.is_empty() {
        writeln!(
            w,
            "Nothing to apply: no resources in .kubes/resources (or all skipped)."
        )?;
    }
    // hooks: `hook NAME (POINT, MODULE)` lines, step hooks before/after the list. A file's
    // before-hooks carry the file's name in the first column: indented like after-hooks they
    // would read as belonging to the file printed above them.
    let hook_lines = |w: &mut dyn Write, when: When, target: Option<&str>| -> std::io::Result<()> {
        for h in hooks.hooks_at(
            Point {
                when,
                step: Step::Apply,
            },
            target,
        ) {
            let lead = match (target, when) {
                (None, _) => String::new(),
                (Some(t), When::Before) => format!("{t:<width$}  "),
                (Some(_), When::After) => " ".repeat(width + 2),
            };
            writeln!(
                w,
                "{lead}hook {} ({}, {})",
                h.name,
                h.point,
                h.module.display()
            )?;
        }
        Ok(())
    };
    hook_lines(w, When::Before, None)?;
    for file in plan.files() {
        let target = file.target();
        hook_lines(w, When::Before, Some(&target))?;
        if file.objects.is_empty() {
            writeln!(w, "{target:<width$}  (no objects)")?;
        }
        for o in &file.objects {
            match &o.namespace {
                Some(ns) => writeln!(
                    w,
                    "{target:<width$}  {}/{}  (namespace {ns})",
                    o.kind, o.name
                )?,
                None => writeln!(w, "{target:<width$}  {}/{}", o.kind, o.name)?,
            }
        }
        hook_lines(w, When::After, Some(&target))?;
    }
    hook_lines(w, When::After, None)?;
    Ok(())
}

/// Non-fatal notes from loading the project, on stderr (kept off stdout, which may be JSON).
pub fn print_warnings(g: &GlobalArgs, project: &Project) {
    if !g.quiet {
        for w in &project.warnings {
            eprintln!("warning: {w}");
        }
    }
}

pub fn completion(a: CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "kubes", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_label_cleans_directory_names() {
        assert_eq!(dns_label("My_App"), "my-app");
        assert_eq!(dns_label("--x--y--"), "x-y");
        assert_eq!(dns_label("tmp.AbC123"), "tmp-abc123");
    }
}

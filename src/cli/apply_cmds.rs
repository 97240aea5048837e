//! `kubes apply`, `delete`, `deploy`, `diff`, `prune`: compile, connect, run an engine
//! from `crate::cluster`, show its progress and report.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

use super::{GlobalArgs, OutputFormat};
use crate::cluster::apply::{apply_and_record, RecordOptions, DEFAULT_CONCURRENCY};
use crate::cluster::delete::delete_and_forget;
use crate::cluster::diff::diff_plan;
use crate::cluster::inventory::InventoryKey;
use crate::cluster::labels::{label_plan, managed_labels};
use crate::cluster::prune::prune_plan;
use crate::cluster::report::{FileReport, Progress, Report};
use crate::cluster::suffix_hash::apply_suffix_hash;
use crate::cluster::{ApplyOptions, Cluster, ConnectOptions, DeleteOptions, Propagation};
use crate::compile::compile_and_plan;
use crate::lifecycle::{Lifecycle, NoHooks, Step};
use crate::plan::Plan;
use crate::project::{Project, ProjectOptions};

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// Restrict to these roles (e.g. `kubes apply migrate` to run migrations as their own step).
    pub roles: Vec<String>,
    /// Delete objects applied before that are no longer planned (also `prune: true` in config).
    #[arg(long)]
    pub prune: bool,
    /// Server-side dry run: validate everything, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not take over fields other field managers own (fail on conflicts instead).
    #[arg(long)]
    pub no_force_conflicts: bool,
    /// Files of one ordering step applied at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Image for `docker_image`, overriding the configured `image`.
    #[arg(long)]
    pub image: Option<String>,
    #[command(flatten)]
    pub apply: ApplyArgs,
}

#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// Restrict to these roles.
    pub roles: Vec<String>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Wait until each object is gone (finalizers done) before going on.
    #[arg(long)]
    pub wait: bool,
    /// How long `--wait` waits for one object.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Delete dependents first and only then the owner (`foreground` propagation).
    #[arg(long)]
    pub foreground: bool,
    /// Server-side dry run: change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_name = "N")]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// Restrict to these roles.
    pub roles: Vec<String>,
    /// Colour the diff: auto (on a terminal), always, never.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// The lifecycle for a run: the one place hooks get wired in.
fn lifecycle_for(
    project: &Project,
    cluster: &Cluster,
    g: &GlobalArgs,
    dry_run: bool,
) -> anyhow::Result<Box<dyn Lifecycle>> {
    // hooks: the project's WASM hooks from .kubes/config/hooks.yaml, if it declares any.
    let info = crate::hooks::lifecycle::RunInfo {
        app: app_name(project),
        env: project.env.clone(),
        namespace: cluster.default_namespace().to_string(),
        dry_run,
    };
    let access = crate::hooks::host::ClusterAccess {
        cluster: cluster.clone(),
        dry_run,
    };
    let reporter = std::sync::Arc::new(crate::hooks::ConsoleReporter {
        verbose: g.verbose > 0,
        quiet: g.quiet,
    });
    match crate::hooks::HookLifecycle::for_project(&project.root, info, Some(access), reporter)? {
        Some(hooks) => Ok(Box::new(hooks)),
        None => Ok(Box::new(NoHooks)),
    }
}

pub fn apply(g: &GlobalArgs, a: ApplyArgs) -> anyhow::Result<ExitCode> {
    run_apply(g, None, a)
}

pub fn deploy(g: &GlobalArgs, a: DeployArgs) -> anyhow::Result<ExitCode> {
    run_apply(g, a.image, a.apply)
}

pub fn delete(g: &GlobalArgs, a: DeleteArgs) -> anyhow::Result<ExitCode> {
    let (project, mut plan) = load(g, None, &a.roles)?;
    if !a.yes && !a.dry_run {
        if !std::io::stdin().is_terminal() {
            anyhow::bail!("kubes delete: refusing to delete without confirmation on a non-interactive input; pass -y");
        }
        let n: usize = plan.files().map(|f| f.objects.len()).sum();
        eprint!(
            "Delete {n} objects of app {} (env {})? [y/N] ",
            app_name(&project),
            project.env
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .context("reading the confirmation")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("nothing deleted");
            return Ok(ExitCode::from(1));
        }
    }
    prepare(&project, &mut plan);
    runtime()?.block_on(async {
        let cluster = connect(g, &project).await?;
        let lifecycle = lifecycle_for(&project, &cluster, g, a.dry_run)?;
        let printer = Printer::new(g, "delete", a.dry_run);
        let opts = DeleteOptions {
            propagation: if a.foreground {
                Propagation::Foreground
            } else {
                Propagation::Background
            },
            wait: a.wait.then_some(a.timeout),
            dry_run: a.dry_run,
        };
        let key = inventory_key(&project, &cluster);
        let whole = a.roles.is_empty().then_some(&key);
        let report = delete_and_forget(
            &cluster,
            &plan,
            lifecycle.as_ref(),
            &printer,
            &opts,
            a.concurrency,
            whole,
        )
        .await;
        printer.finish_report(&report)
    })
}

pub fn diff(g: &GlobalArgs, a: DiffArgs) -> anyhow::Result<ExitCode> {
    // kubectl's convention: 0 no differences, 1 differences, >1 an error.
    match run_diff(g, a) {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn run_diff(g: &GlobalArgs, a: DiffArgs) -> anyhow::Result<ExitCode> {
    let (project, mut plan) = load(g, None, &a.roles)?;
    prepare(&project, &mut plan);
    let color = match a.color.as_str() {
        "always" => true,
        "never" => false,
        _ => std::io::stdout().is_terminal(),
    };
    runtime()?.block_on(async {
        let cluster = connect(g, &project).await?;
        let report = diff_plan(
            &cluster,
            &plan,
            &ApplyOptions::default(),
            DEFAULT_CONCURRENCY,
        )
        .await?;
        if g.output == OutputFormat::Json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else if !g.quiet {
            let mut out = std::io::stdout().lock();
            for d in &report.differ {
                for line in d.diff.lines() {
                    writeln!(out, "{}", paint(line, color))?;
                }
            }
        }
        Ok(ExitCode::from(if report.differ.is_empty() { 0 } else { 1 }))
    })
}

pub fn prune(g: &GlobalArgs, a: PruneArgs) -> anyhow::Result<ExitCode> {
    let (project, mut plan) = load(g, None, &[])?;
    prepare(&project, &mut plan);
    runtime()?.block_on(async {
        let cluster = connect(g, &project).await?;
        let lifecycle = lifecycle_for(&project, &cluster, g, a.dry_run)?;
        let printer = Printer::new(g, "prune", a.dry_run);
        let key = inventory_key(&project, &cluster);
        let report = prune_plan(
            &cluster,
            &plan,
            &key,
            lifecycle.as_ref(),
            &printer,
            a.dry_run,
        )
        .await;
        printer.finish_report(&report)
    })
}

fn run_apply(g: &GlobalArgs, image: Option<String>, a: ApplyArgs) -> anyhow::Result<ExitCode> {
    let (project, mut plan, mut whole) = load_whole(g, image, &a.roles)?;
    prepare(&project, &mut plan);
    prepare(&project, &mut whole);
    runtime()?.block_on(async {
        let cluster = connect(g, &project).await?;
        let lifecycle = lifecycle_for(&project, &cluster, g, a.dry_run)?;
        let printer = Printer::new(g, "apply", a.dry_run);
        let opts = ApplyOptions {
            force_conflicts: !a.no_force_conflicts,
            dry_run: a.dry_run,
            ..Default::default()
        };
        let record = RecordOptions {
            inventory: inventory_key(&project, &cluster),
            prune: a.prune || project.config.prune,
            whole_plan: (!a.roles.is_empty()).then_some(&whole),
        };
        let report = apply_and_record(
            &cluster,
            &plan,
            lifecycle.as_ref(),
            &printer,
            &opts,
            a.concurrency,
            &record,
        )
        .await;
        printer.finish_report(&report)
    })
}

fn load(
    g: &GlobalArgs,
    image: Option<String>,
    roles: &[String],
) -> anyhow::Result<(Project, Plan)> {
    let (project, plan, _whole) = load_whole(g, image, roles)?;
    Ok((project, plan))
}

/// The project, the plan restricted to `roles`, and the whole plan.
fn load_whole(
    g: &GlobalArgs,
    image: Option<String>,
    roles: &[String],
) -> anyhow::Result<(Project, Plan, Plan)> {
    let opts = ProjectOptions {
        root: g.project.clone(),
        env: g.env.clone(),
        app: g.app.clone(),
        image,
        namespace: g.namespace.clone(),
    };
    let (project, whole) = compile_and_plan(&opts)?;
    let mut plan = whole.clone();
    if !roles.is_empty() {
        let known: Vec<&str> = plan.files().map(|f| f.role.as_str()).collect();
        if let Some(r) = roles.iter().find(|r| !known.contains(&r.as_str())) {
            anyhow::bail!(
                "no role {r:?} in the plan (roles: {})",
                dedup(known).join(", ")
            );
        }
        plan.restrict_to_roles(roles);
    }
    Ok((project, plan, whole))
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

/// What every command applies, diffs or deletes: managed-by labels and (when configured)
/// content-hashed ConfigMap/Secret names. Diff and delete must see the same names as apply.
fn prepare(project: &Project, plan: &mut Plan) {
    label_plan(plan, &managed_labels(&app_name(project), &project.env));
    if project.config.suffix_hash {
        apply_suffix_hash(plan);
    }
}

fn app_name(project: &Project) -> String {
    project
        .config
        .app
        .clone()
        .or_else(|| project.app.clone())
        .or_else(|| {
            project
                .root
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_else(|| "app".into())
}

fn inventory_key(project: &Project, cluster: &Cluster) -> InventoryKey {
    InventoryKey {
        app: app_name(project),
        env: project.env.clone(),
        namespace: project
            .config
            .namespace
            .clone()
            .unwrap_or_else(|| cluster.default_namespace().to_string()),
    }
}

async fn connect(g: &GlobalArgs, project: &Project) -> anyhow::Result<Cluster> {
    let opts = ConnectOptions {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone().or_else(|| project.config.context.clone()),
        namespace: g
            .namespace
            .clone()
            .or_else(|| project.config.namespace.clone()),
        ..Default::default()
    };
    Cluster::connect(&opts)
        .await
        .context("connecting to the cluster")
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

fn paint(line: &str, color: bool) -> String {
    if !color {
        return line.to_string();
    }
    let code = if line.starts_with("+++") || line.starts_with("---") {
        "1"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with('-') {
        "31"
    } else if line.starts_with("@@") {
        "36"
    } else {
        return line.to_string();
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

/// Shows progress: plain lines without a terminal, a progress bar with lines above it on
/// one, nothing but errors with `-q`, and one JSON document at the end with `--output json`.
struct Printer {
    mode: Mode,
    verb: &'static str,
    dry_run: bool,
    verbose: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Lines,
    Bar,
    Quiet,
    Json,
}

impl Printer {
    fn new(g: &GlobalArgs, verb: &'static str, dry_run: bool) -> Printer {
        let mode = if g.output == OutputFormat::Json {
            Mode::Json
        } else if g.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        Printer {
            mode,
            verb,
            dry_run,
            verbose: g.verbose > 0,
            bar: Mutex::new(None),
        }
    }

    fn line(&self, text: &str) {
        match self.mode {
            Mode::Lines => println!("{text}"),
            Mode::Bar => match &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
                Some(b) => b.println(text),
                None => println!("{text}"),
            },
            Mode::Quiet | Mode::Json => {}
        }
    }

    /// Print the end of a run; the exit code says whether it succeeded.
    fn finish_report(&self, report: &Report) -> anyhow::Result<ExitCode> {
        self.finish();
        if self.verbose && self.mode != Mode::Json && report.retries > 0 {
            eprintln!(
                "{} requests retried (429, 5xx or connection errors)",
                report.retries
            );
        }
        if self.mode == Mode::Json {
            println!("{}", serde_json::to_string_pretty(report)?);
        } else if let Some(fail) = &report.failure {
            eprintln!("error: {fail}");
            if self.mode != Mode::Quiet {
                eprint!("{}", report.failure_summary());
            }
        }
        Ok(if report.ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

impl Progress for Printer {
    fn start(&self, _step: Step, files: usize) {
        if self.mode == Mode::Bar {
            let bar = indicatif::ProgressBar::new(files as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {pos}/{len} files",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(self.verb);
            bar.enable_steady_tick(Duration::from_millis(120));
            *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
        }
    }

    fn file_done(&self, step: Step, file: &FileReport) {
        let mut text = format!("=> {step} {}", file.file.display());
        for o in &file.objects {
            text.push('\n');
            text.push_str(&o.line());
            if self.dry_run {
                text.push_str(" (server dry run)");
            }
        }
        self.line(&text);
        if let Some(b) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            b.inc(1);
        }
    }

    fn note(&self, line: &str) {
        if self.dry_run {
            self.line(&format!("{line} (server dry run)"));
        } else {
            self.line(line);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            b.finish_and_clear();
        }
    }
}

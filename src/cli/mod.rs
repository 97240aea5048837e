//! Command-line interface: argument parsing and dispatch only. Each command (or group of
//! small ones) lives in its own `*_cmd(s).rs`, turns its arguments into library calls
//! (`crate::deploy` for everything that touches a cluster) and hands what comes back to
//! the [`Reporter`]; nothing here knows how a step is done or how a result is shown.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cluster::Interrupt;
use crate::deploy::Connection;
use crate::project::ProjectOptions;
use crate::reporter::{Format, Reporter, ReporterOptions};

#[derive(Debug, Parser)]
#[command(
    name = "kubes",
    version,
    about = "Compile Kubernetes resources and apply them, with sandboxed WebAssembly hooks"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Project directory (the one holding `.kubes/`).
    #[arg(
        long,
        global = true,
        default_value = ".",
        value_name = "DIR",
        env = "KUBES_PROJECT"
    )]
    pub project: PathBuf,
    /// Environment: selects config/env/<env>.yaml, variables/<env>.yaml and env layers.
    #[arg(long, global = true, env = "KUBES_ENV", default_value = "dev")]
    pub env: String,
    /// App: selects config/app/<app>... and app layers.
    #[arg(long, global = true, env = "KUBES_APP")]
    pub app: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH", env = "KUBES_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the env's `context`, then the kubeconfig's current one).
    #[arg(long, global = true, env = "KUBES_CONTEXT")]
    pub context: Option<String>,
    /// Namespace, overriding the configured one.
    #[arg(short = 'n', long, global = true, env = "KUBES_NAMESPACE")]
    pub namespace: Option<String>,
    /// More output (repeatable).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count, env = "KUBES_VERBOSE")]
    pub verbose: u8,
    /// Print only errors.
    #[arg(short = 'q', long, global = true, env = "KUBES_QUIET")]
    pub quiet: bool,
    /// Output format.
    #[arg(long, global = true, env = "KUBES_OUTPUT", value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also write a run (apply, deploy, delete, prune) as a JUnit XML report: one test case
    /// per file and per hook run.
    #[arg(long, global = true, env = "KUBES_JUNIT", value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    /// JSON lines: one JSON value per line (a run: one event per line, the report last).
    Json,
}

impl GlobalArgs {
    /// The project the flags select, with a command's `--image`.
    pub fn project_options(&self, image: Option<String>) -> ProjectOptions {
        ProjectOptions {
            root: self.project.clone(),
            env: self.env.clone(),
            app: self.app.clone(),
            image,
            namespace: self.namespace.clone(),
        }
    }

    /// The cluster the flags select.
    pub fn connection(&self) -> Connection {
        Connection {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
        }
    }

    /// The reporter for this invocation: text (a progress bar when stdout and stderr are
    /// terminals) or JSON lines.
    pub fn reporter(&self) -> Arc<Reporter> {
        let reporter = Arc::new(Reporter::new(ReporterOptions {
            format: match self.output {
                OutputFormat::Text => Format::Text,
                OutputFormat::Json => Format::JsonLines,
            },
            quiet: self.quiet,
            verbose: self.verbose > 0,
            progress_bar: std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
        }));
        if let Some(path) = &self.junit {
            reporter.junit_to(path.clone());
        }
        reporter
    }
}

/// The async runtime the cluster commands run on (multi-threaded, IO and timers).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Runtime::new()?)
}

/// Run a cluster command on the runtime with SIGINT and SIGTERM caught: the first one
/// triggers the run's [`Interrupt`] (hooks stop at once, no further file is applied, the
/// summary says where it stopped) and the command exits 128 + the signal (130 for Ctrl-C,
/// 143 for SIGTERM); a second one exits at once.
fn run_interruptible<F>(command: impl FnOnce(Interrupt) -> F) -> anyhow::Result<ExitCode>
where
    F: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    let rt = runtime()?;
    let interrupt = Interrupt::new();
    let result = rt.block_on(async {
        catch_signals(interrupt.clone())?;
        command(interrupt.clone()).await
    });
    // Nothing left is worth waiting for (a blocking read, a dropped watch's connection).
    rt.shutdown_background();
    match interrupt.signal() {
        Some(signal) => {
            if let Err(e) = &result {
                eprintln!("interrupted ({}): {e:#}", interrupt.signal_name());
            }
            Ok(ExitCode::from((128 + signal) as u8))
        }
        None => result,
    }
}

/// Listen for SIGINT and SIGTERM on the runtime (from now on they no longer kill the
/// process): the first triggers `interrupt`, a second exits at once.
fn catch_signals(interrupt: Interrupt) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let sig = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            if interrupt.is_set() {
                std::process::exit(128 + sig);
            }
            interrupt.trigger(sig);
        }
    });
    Ok(())
}

/// `KUBES_LOCKED` set (and not `0`, `false`, `no`, `off`, empty): registry hook modules only
/// as `.kubes/hooks.lock` pins them, for the commands without a `--locked` flag.
fn locked_from_env() -> bool {
    std::env::var("KUBES_LOCKED").is_ok_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off"
        )
    })
}

/// The exit code of a check: 0 when it passed, else 1.
fn exit_code(ok: bool) -> ExitCode {
    ExitCode::from(u8::from(!ok))
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // --- project side: init, compile, plan, completion ---
    /// Scaffold a working `.kubes/` for an app.
    Init(project_cmds::InitArgs),
    /// Render `.kubes/resources` into `.kubes/output`.
    Compile(project_cmds::CompileArgs),
    /// Print, in apply order, every resource apply would apply and the hooks attached to it.
    Plan(project_cmds::PlanArgs),
    /// Print a shell completion script.
    Completion(project_cmds::CompletionArgs),
    // --- cluster side: apply, deploy, delete, diff, prune ---
    /// Compile, then server-side apply every planned resource in plan order.
    Apply(apply_cmd::ApplyArgs),
    /// Compile and apply, with `--image` setting `docker_image`.
    Deploy(apply_cmd::DeployArgs),
    /// Delete the planned resources, in reverse order.
    Delete(delete_cmd::DeleteArgs),
    /// Show what apply would change (exit 0: nothing, 1: something; errors: 2 bad input, 3 cluster).
    Diff(diff_cmd::DiffArgs),
    /// Delete objects applied before that are no longer planned.
    Prune(prune_cmd::PruneArgs),
    /// Print the least-privilege Roles, ClusterRoles and bindings a CI runner's
    /// ServiceAccount needs to deploy this project (YAML to apply once as an admin).
    Rbac(rbac_cmd::RbacArgs),

    // --- hooks: list, run, inspect ---
    /// Inspect and run the project's WebAssembly hooks.
    Hooks(hooks_cmds::HooksArgs),

    // --- scaffolding: new hook ---
    /// Scaffold something new: `kubes new hook NAME --lang rust|python|js`.
    New(new_cmds::NewArgs),
}

mod apply_cmd;
mod delete_cmd;
mod diff_cmd;
pub mod exit;
mod project_cmds;
mod prune_cmd;
mod rbac_cmd;
// hooks
mod hooks_cmds;
// scaffolding
mod new_cmds;

/// Parse arguments, run the command, map errors to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit::for_error(&err))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let g = &cli.global;
    match cli.command {
        Command::Init(a) => project_cmds::init(g, a),
        Command::Compile(a) => project_cmds::compile(g, a),
        Command::Plan(a) => project_cmds::plan(g, a),
        Command::Completion(a) => project_cmds::completion(a),
        // cluster side
        Command::Apply(a) => apply_cmd::apply(g, None, a),
        Command::Deploy(a) => apply_cmd::apply(g, a.image, a.apply),
        Command::Delete(a) => delete_cmd::delete(g, a),
        Command::Diff(a) => diff_cmd::diff(g, a),
        Command::Prune(a) => prune_cmd::prune(g, a),
        Command::Rbac(a) => rbac_cmd::rbac(g, a),
        // hooks
        Command::Hooks(a) => hooks_cmds::hooks(g, a),
        // scaffolding
        Command::New(a) => new_cmds::new(g, a),
    }
}

//! Command-line interface: argument parsing and dispatch only. Each command group lives in
//! its own module and calls library code; nothing here knows how a step is done.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    #[arg(long, global = true, default_value = ".", value_name = "DIR")]
    pub project: PathBuf,
    /// Environment: selects config/env/<env>.yaml, variables/<env>.yaml and env layers.
    #[arg(long, global = true, env = "KUBES_ENV", default_value = "dev")]
    pub env: String,
    /// App: selects config/app/<app>... and app layers.
    #[arg(long, global = true, env = "KUBES_APP")]
    pub app: Option<String>,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the env's `context`, then the kubeconfig's current one).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// Namespace, overriding the configured one.
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// More output (repeatable).
    #[arg(short = 'v', long = "verbose", global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print only errors.
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
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
    Apply(apply_cmds::ApplyArgs),
    /// Compile and apply, with `--image` setting `docker_image`.
    Deploy(apply_cmds::DeployArgs),
    /// Delete the planned resources, in reverse order.
    Delete(apply_cmds::DeleteArgs),
    /// Show what apply would change (exit 0: nothing, 1: something, 2: error).
    Diff(apply_cmds::DiffArgs),
    /// Delete objects applied before that are no longer planned.
    Prune(apply_cmds::PruneArgs),

    // --- hooks: list, run, inspect ---
    /// Inspect and run the project's WebAssembly hooks.
    Hooks(hooks_cmds::HooksArgs),

    // --- scaffolding: new hook ---
    /// Scaffold something new: `kubes new hook NAME --lang rust|python|js`.
    New(new_cmds::NewArgs),
}

mod apply_cmds;
mod project_cmds;
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
            ExitCode::FAILURE
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
        Command::Apply(a) => apply_cmds::apply(g, a),
        Command::Deploy(a) => apply_cmds::deploy(g, a),
        Command::Delete(a) => apply_cmds::delete(g, a),
        Command::Diff(a) => apply_cmds::diff(g, a),
        Command::Prune(a) => apply_cmds::prune(g, a),
        // hooks
        Command::Hooks(a) => hooks_cmds::hooks(g, a),
        // scaffolding
        Command::New(a) => new_cmds::new(g, a),
    }
}

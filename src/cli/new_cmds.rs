//! `kubes new hook NAME --lang rust|python|js [--dir DIR]`: parse, call `scaffold`, print
//! what was written and how to build and wire it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{GlobalArgs, OutputFormat};
use crate::scaffold::{self, Lang};

#[derive(Debug, Args)]
pub struct NewArgs {
    #[command(subcommand)]
    pub command: NewCommand,
}

#[derive(Debug, Subcommand)]
pub enum NewCommand {
    /// Scaffold a hook project that builds into a component for the kubes:hook world.
    Hook {
        /// The hook's name (a DNS-1123 label, e.g. `notify-slack`).
        name: String,
        /// The hook's language: rust, python or js.
        #[arg(long, default_value = "rust", value_parser = clap::value_parser!(Lang))]
        lang: Lang,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Serialize)]
struct Report {
    name: String,
    lang: String,
    dir: PathBuf,
    files: Vec<String>,
    build_requires: String,
    build_command: String,
    artifact: PathBuf,
    hooks_yaml: String,
}

pub fn new(g: &GlobalArgs, a: NewArgs) -> anyhow::Result<ExitCode> {
    let NewCommand::Hook { name, lang, dir } = a.command;
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let scaffold = scaffold::scaffold(&name, lang)?;
    let written = scaffold::write(&scaffold, &dir)?;
    let report = Report {
        name: scaffold.name.clone(),
        lang: lang.to_string(),
        dir: written.dir.clone(),
        files: written.files.clone(),
        build_requires: scaffold.build.requires.clone(),
        build_command: format!(
            "cd {} && {}",
            scaffold::shell_word(&written.dir),
            scaffold.build.command
        ),
        artifact: written.dir.join(&scaffold.build.artifact),
        hooks_yaml: scaffold::hooks_yaml_snippet(&name),
    };
    if g.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Created hook {} ({}) in {}:",
        report.name,
        report.lang,
        report.dir.display()
    );
    for f in &report.files {
        println!("  {}", report.dir.join(f).display());
    }
    println!();
    println!("Build it:");
    println!("  {}", report.build_command);
    println!("  -> {}", report.artifact.display());
    println!("  (needs {})", report.build_requires);
    println!();
    println!(
        "Wire it: copy the .wasm into your project's hooks/ as hooks/{}.wasm and add to .kubes/config/hooks.yaml:",
        report.name
    );
    print!("{}", report.hooks_yaml);
    Ok(ExitCode::SUCCESS)
}

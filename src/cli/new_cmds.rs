//! `kubes new hook NAME --lang rust|python|js [--dir DIR]`: parse, call `scaffold`, report
//! what was written and how to build and wire it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::GlobalArgs;
use crate::reporter::views::NewHook;
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
        #[arg(long, env = "KUBES_NEW_HOOK_LANG", default_value = "rust", value_parser = clap::value_parser!(Lang))]
        lang: Lang,
        /// Where to write it (default: ./NAME); must not exist or be empty.
        #[arg(long, env = "KUBES_NEW_HOOK_DIR", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

pub fn new(g: &GlobalArgs, a: NewArgs) -> anyhow::Result<ExitCode> {
    let NewCommand::Hook { name, lang, dir } = a.command;
    let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
    let scaffold = scaffold::scaffold(&name, lang)?;
    let written = scaffold::write(&scaffold, &dir)?;
    g.reporter().new_hook(&NewHook {
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
    });
    Ok(ExitCode::SUCCESS)
}

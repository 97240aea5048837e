//! Why a hook could not be loaded or did not succeed. Each case is one a user can act on;
//! the lifecycle adds the hook's name and lifecycle point when it reports one.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::grants::Denial;

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("module {path} does not exist")]
    ModuleMissing { path: PathBuf },

    #[error("module {path} leads outside the project (a symlink or `..`): hooks are loaded only from files inside it")]
    OutsideProject { path: PathBuf },

    #[error("module {path} could not be read: {source}")]
    ModuleUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("module {path} is {size} bytes, more than the limit of {limit} bytes (raise `limits: {{module_size: ...}}` for this hook if it is genuine)")]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },

    #[error("module {path} is not WebAssembly ({detail})")]
    NotWasm { path: PathBuf, detail: String },

    #[error(
        "module {path} is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    NotAComponent { path: PathBuf },

    #[error("module {path} does not fit the kubes:hook world: {}", missing.join("; "))]
    WrongWorld { path: PathBuf, missing: Vec<String> },

    #[error("module {path} failed to compile: {message}")]
    Compile { path: PathBuf, message: String },

    #[error("trapped: {message}{}", backtrace_suffix(backtrace))]
    Trap {
        message: String,
        backtrace: Option<String>,
    },

    #[error("deadline exceeded: stopped after its timeout of {}", humantime::format_duration(*timeout))]
    Deadline { timeout: Duration },

    #[error("memory cap hit: tried to grow memory to {wanted} bytes, the cap is {cap} bytes (raise `memory:` for this hook)")]
    MemoryCap { cap: u64, wanted: u64 },

    #[error("returned an error: {0}")]
    Failed(String),

    #[error("host error: {0}")]
    Host(String),
}

fn backtrace_suffix(bt: &Option<String>) -> String {
    match bt {
        Some(bt) if !bt.trim().is_empty() => format!("\n{}", bt.trim_end()),
        _ => String::new(),
    }
}

/// A failed run: the error, and every cluster call the grants denied during it (often the
/// reason a hook failed).
#[derive(Debug)]
pub struct RunFailure {
    pub error: HookError,
    /// The first denials, in full.
    pub denials: Vec<Denial>,
    /// How many more there were.
    pub more_denials: u64,
    /// The cluster calls the grants allowed, the first ones (see `RunReport::calls`).
    pub calls: Vec<String>,
}

impl From<HookError> for RunFailure {
    fn from(error: HookError) -> Self {
        RunFailure {
            error,
            denials: Vec::new(),
            more_denials: 0,
            calls: Vec::new(),
        }
    }
}

impl fmt::Display for RunFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        for d in &self.denials {
            write!(
                f,
                "\n  denied by grants: {} {} {} in {}",
                d.verb,
                d.resource,
                d.name.as_deref().unwrap_or("*"),
                d.namespace.as_deref().unwrap_or("(cluster)")
            )?;
        }
        if self.more_denials > 0 {
            write!(f, "\n  and {} more denied calls", self.more_denials)?;
        }
        Ok(())
    }
}

impl std::error::Error for RunFailure {}

//! Where hook output goes: every stdout/stderr line and log message of a hook, prefixed with
//! the hook's name; audit lines for denied cluster calls; and the engine's own notices
//! ("Running hook: ..."). The console reporter prints; the memory reporter keeps lines (for
//! `--output json` and tests).

use std::sync::{Arc, Mutex};

use super::grants::Denial;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    Stdout,
    Stderr,
    Debug,
    Info,
    Warn,
    Error,
}

pub trait HookReporter: Send + Sync {
    /// One line a hook printed or logged.
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str);
    /// A cluster call the hook's grants denied.
    fn audit(&self, denial: &Denial);
    /// A line from the engine itself.
    fn note(&self, line: &str);
}

/// `[hook] line` for output, `[hook] level: line` for log messages.
pub fn format_hook_line(hook: &str, kind: OutputKind, line: &str) -> String {
    match kind {
        OutputKind::Stdout | OutputKind::Stderr => format!("[{hook}] {line}"),
        OutputKind::Debug => format!("[{hook}] debug: {line}"),
        OutputKind::Info => format!("[{hook}] info: {line}"),
        OutputKind::Warn => format!("[{hook}] warn: {line}"),
        OutputKind::Error => format!("[{hook}] error: {line}"),
    }
}

pub fn format_audit(denial: &Denial) -> String {
    format!("audit: {denial}")
}

/// Prints to the terminal: hook stdout and info to stdout, hook stderr, warnings, errors and
/// audit lines to stderr. `verbose` shows debug messages.
#[derive(Debug, Default)]
pub struct ConsoleReporter {
    pub verbose: bool,
    pub quiet: bool,
}

impl HookReporter for ConsoleReporter {
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str) {
        let text = format_hook_line(hook, kind, line);
        match kind {
            OutputKind::Debug if !self.verbose => {}
            OutputKind::Stdout | OutputKind::Info | OutputKind::Debug => {
                if !self.quiet {
                    println!("{text}")
                }
            }
            OutputKind::Stderr | OutputKind::Warn | OutputKind::Error => eprintln!("{text}"),
        }
    }

    fn audit(&self, denial: &Denial) {
        eprintln!("{}", format_audit(denial));
    }

    fn note(&self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }
}

/// Keeps every line in order, formatted as the console would print it.
#[derive(Debug, Default, Clone)]
pub struct MemoryReporter {
    lines: Arc<Mutex<Vec<String>>>,
}

impl MemoryReporter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }
}

impl HookReporter for MemoryReporter {
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str) {
        self.push(format_hook_line(hook, kind, line));
    }

    fn audit(&self, denial: &Denial) {
        self.push(format_audit(denial));
    }

    fn note(&self, line: &str) {
        self.push(line.to_string());
    }
}

/// Sends lines to two reporters (e.g. the console and a memory log).
pub struct Tee(pub Arc<dyn HookReporter>, pub Arc<dyn HookReporter>);

impl HookReporter for Tee {
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str) {
        self.0.hook_line(hook, kind, line);
        self.1.hook_line(hook, kind, line);
    }
    fn audit(&self, denial: &Denial) {
        self.0.audit(denial);
        self.1.audit(denial);
    }
    fn note(&self, line: &str) {
        self.0.note(line);
        self.1.note(line);
    }
}

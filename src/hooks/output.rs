//! Where hook output goes: every stdout/stderr line and log message of a hook, prefixed with
//! the hook's name; audit lines for denied cluster calls; and the engine's own notices
//! ("Running hook: ..."). The hook engine speaks to a [`HookReporter`]; in a run that is
//! `crate::reporter::Reporter`, which shows them with everything else the run says (as
//! text or JSON lines). [`MemoryReporter`] keeps lines instead, for tests and benchmarks.
//!
//! Hook text is attacker-controlled: [`escape_controls`] makes it inert, and both
//! renderings apply it.

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

impl OutputKind {
    /// `stdout`, `stderr`, or the log level: what JSON output calls it.
    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Stdout => "stdout",
            OutputKind::Stderr => "stderr",
            OutputKind::Debug => "debug",
            OutputKind::Info => "info",
            OutputKind::Warn => "warn",
            OutputKind::Error => "error",
        }
    }

    /// Whether the text rendering shows it on stderr (stderr, warnings, errors) rather
    /// than stdout (stdout, info, debug).
    pub fn is_error_stream(self) -> bool {
        matches!(
            self,
            OutputKind::Stderr | OutputKind::Warn | OutputKind::Error
        )
    }
}

pub trait HookReporter: Send + Sync {
    /// One line a hook printed or logged.
    fn hook_line(&self, hook: &str, kind: OutputKind, line: &str);
    /// A cluster call the hook's grants denied.
    fn audit(&self, denial: &Denial);
    /// A line from the engine itself.
    fn note(&self, line: &str);
    /// A hook of a run starts at `at` (`after apply on migrate/job`).
    fn hook_started(&self, _hook: &str, _at: &str) {}
    /// A hook of a run ended after `elapsed`: `failure` says why it failed, if it did
    /// (attacker-controlled text: escape it wherever it goes).
    fn hook_ended(
        &self,
        _hook: &str,
        _at: &str,
        _elapsed: std::time::Duration,
        _failure: Option<&str>,
    ) {
    }
}

/// Text from a hook, made inert for a terminal: every C0 control character but tab, DEL,
/// every C1 control character and the Unicode bidirectional overrides are written as escapes
/// (`\x1b`, `\u{9b}`), so a hook cannot move the cursor, erase its `[name]` prefix, forge
/// kubes' own lines, set the clipboard (OSC 52) or reorder what is shown (the class of
/// kubectl's CVE-2021-25743). Applied to every line, whatever the output format.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| {
        (c.is_control() && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(bad) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !bad(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `[hook] line` for output, `[hook] level: line` for log messages; the line escaped
/// (see [`escape_controls`]).
pub fn format_hook_line(hook: &str, kind: OutputKind, line: &str) -> String {
    let line = escape_controls(line);
    match kind {
        OutputKind::Stdout | OutputKind::Stderr => format!("[{hook}] {line}"),
        OutputKind::Debug => format!("[{hook}] debug: {line}"),
        OutputKind::Info => format!("[{hook}] info: {line}"),
        OutputKind::Warn => format!("[{hook}] warn: {line}"),
        OutputKind::Error => format!("[{hook}] error: {line}"),
    }
}

/// `audit: hook=... denied: ...` for a denied cluster call (escaped like hook text: the
/// names in it came from the hook, checked but never trusted).
pub fn format_audit(denial: &Denial) -> String {
    format!("audit: {}", escape_controls(&denial.to_string()))
}

/// Keeps every line in order, formatted as the text rendering prints it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain\ttab"), "plain\ttab");
        assert_eq!(
            escape_controls("\u{1b}[2K\r[kubes] ok\u{7}"),
            "\\x1b[2K\\x0d[kubes] ok\\x07"
        );
        assert_eq!(
            escape_controls("\u{9b}31m\u{202e}x\u{7f}"),
            "\\u{9b}31m\\u{202e}x\\x7f"
        );
        assert_eq!(
            format_hook_line("h", OutputKind::Stdout, "\u{1b}]52;c;eA==\u{7}"),
            "[h] \\x1b]52;c;eA==\\x07"
        );
    }
}
